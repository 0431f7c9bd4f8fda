using System.Globalization;

namespace MiniGrad.Nn;

/// <summary>
/// Base of the parameter-free activation modules, so that a <see cref="Sequential"/> can hold them: Forward applies
/// the function through Call, which runs the hooks and records the output shape, like every layer.
/// </summary>
public abstract class Activation : Module, ITensorModule
{
    /// <summary>Applies the activation elementwise (or along Dim for Softmax and LogSoftmax).</summary>
    public Tensor Forward(Tensor x) => Call(x, x =>
    {
        ArgumentNullException.ThrowIfNull(x);
        return Apply(x);
    });

    /// <summary>The function itself.</summary>
    protected abstract Tensor Apply(Tensor x);

    /// <summary>A number as PyTorch prints it in a module's repr (invariant culture, always with a decimal point).</summary>
    internal static string Num(double v)
    {
        var s = v.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') || !double.IsFinite(v) ? s : s + ".0";
    }
}

/// <summary>max(x, 0) (torch.nn.ReLU); the gradient at 0 is 0.</summary>
public sealed class Relu : Activation
{
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Relu();
    /// <inheritdoc/>
    protected override string Describe() => "Relu()";
}

/// <summary>Hyperbolic tangent (torch.nn.Tanh).</summary>
public sealed class Tanh : Activation
{
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Tanh();
    /// <inheritdoc/>
    protected override string Describe() => "Tanh()";
}

/// <summary>Logistic sigmoid (torch.nn.Sigmoid).</summary>
public sealed class Sigmoid : Activation
{
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Sigmoid();
    /// <inheritdoc/>
    protected override string Describe() => "Sigmoid()";
}

/// <summary>x * Phi(x) (torch.nn.GELU), exact (erf) or with the tanh approximation.</summary>
public sealed class Gelu : Activation
{
    /// <summary>Creates the layer; approximate: None (exact, the default) or Tanh.</summary>
    public Gelu(GeluApproximate approximate = GeluApproximate.None)
    {
        if (approximate is not (GeluApproximate.None or GeluApproximate.Tanh))
            throw new ArgumentOutOfRangeException(nameof(approximate), approximate, $"Gelu: approximate = {(int)approximate} is not a GeluApproximate; expected None or Tanh");
        Approximate = approximate;
    }

    /// <summary>How the normal CDF is computed.</summary>
    public GeluApproximate Approximate { get; }
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Gelu(Approximate);
    /// <inheritdoc/>
    protected override string Describe() => $"Gelu(approximate='{(Approximate == GeluApproximate.Tanh ? "tanh" : "none")}')";
}

/// <summary>x * sigmoid(x) (torch.nn.SiLU).</summary>
public sealed class Silu : Activation
{
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Silu();
    /// <inheritdoc/>
    protected override string Describe() => "Silu()";
}

/// <summary>x if x &gt; 0, else negativeSlope * x (torch.nn.LeakyReLU); the gradient at 0 is negativeSlope.</summary>
public sealed class LeakyRelu : Activation
{
    /// <summary>Creates the layer.</summary>
    public LeakyRelu(double negativeSlope = 0.01)
    {
        if (!double.IsFinite(negativeSlope)) throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, $"LeakyRelu: negativeSlope = {negativeSlope} is not finite; expected a finite number");
        NegativeSlope = negativeSlope;
    }

    /// <summary>The slope for x &lt;= 0.</summary>
    public double NegativeSlope { get; }
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.LeakyRelu(NegativeSlope);
    /// <inheritdoc/>
    protected override string Describe() => $"LeakyRelu(negative_slope={Num(NegativeSlope)})";
}

/// <summary>x if x &gt; 0, else alpha * (e^x - 1) (torch.nn.ELU); the gradient at 0 is alpha.</summary>
public sealed class Elu : Activation
{
    /// <summary>Creates the layer.</summary>
    public Elu(double alpha = 1.0)
    {
        if (!double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, $"Elu: alpha = {alpha} is not finite; expected a finite number");
        Alpha = alpha;
    }

    /// <summary>The negative branch's scale.</summary>
    public double Alpha { get; }
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Elu(Alpha);
    /// <inheritdoc/>
    protected override string Describe() => $"Elu(alpha={Num(Alpha)})";
}

/// <summary>log(1 + e^(beta x)) / beta, reverting to x where beta * x &gt; threshold (torch.nn.Softplus).</summary>
public sealed class Softplus : Activation
{
    /// <summary>Creates the layer.</summary>
    public Softplus(double beta = 1.0, double threshold = 20.0)
    {
        if (!double.IsFinite(beta) || beta == 0) throw new ArgumentOutOfRangeException(nameof(beta), beta, $"Softplus: beta = {beta}; expected a finite, nonzero number");
        if (double.IsNaN(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "Softplus: threshold is NaN; expected a number");
        Beta = beta;
        Threshold = threshold;
    }

    /// <summary>The sharpness.</summary>
    public double Beta { get; }
    /// <summary>Above beta * x &gt; Threshold the function is x itself.</summary>
    public double Threshold { get; }
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Softplus(Beta, Threshold);
    /// <inheritdoc/>
    protected override string Describe() => $"Softplus(beta={Num(Beta)}, threshold={Num(Threshold)})";
}

/// <summary>x clamped into [minVal, maxVal] (torch.nn.Hardtanh); the gradient is 0 at and beyond the bounds.</summary>
public sealed class Hardtanh : Activation
{
    /// <summary>Creates the layer.</summary>
    public Hardtanh(double minVal = -1.0, double maxVal = 1.0)
    {
        if (double.IsNaN(minVal)) throw new ArgumentOutOfRangeException(nameof(minVal), minVal, "Hardtanh: minVal is NaN; expected a number");
        if (double.IsNaN(maxVal)) throw new ArgumentOutOfRangeException(nameof(maxVal), maxVal, "Hardtanh: maxVal is NaN; expected a number");
        if (minVal > maxVal) throw new ArgumentException($"Hardtanh: minVal = {minVal} is greater than maxVal = {maxVal}; expected minVal <= maxVal", nameof(minVal));
        MinVal = minVal;
        MaxVal = maxVal;
    }

    /// <summary>The lower bound.</summary>
    public double MinVal { get; }
    /// <summary>The upper bound.</summary>
    public double MaxVal { get; }
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Hardtanh(MinVal, MaxVal);
    /// <inheritdoc/>
    protected override string Describe() => $"Hardtanh(min_val={Num(MinVal)}, max_val={Num(MaxVal)})";
}

/// <summary>log(sigmoid(x)) (torch.nn.LogSigmoid), computed stably.</summary>
public sealed class LogSigmoid : Activation
{
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.LogSigmoid();
    /// <inheritdoc/>
    protected override string Describe() => "LogSigmoid()";
}

/// <summary>exp(x) / sum(exp(x)) along dim (torch.nn.Softmax); dim is required (PyTorch's implicit choice is deprecated).</summary>
public sealed class Softmax(int dim) : Activation
{
    /// <summary>The dim normalized over (negative counts from the end).</summary>
    public int Dim { get; } = dim;
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.Softmax(Dim);
    /// <inheritdoc/>
    protected override string Describe() => $"Softmax(dim={Dim})";
}

/// <summary>x - logsumexp(x) along dim (torch.nn.LogSoftmax).</summary>
public sealed class LogSoftmax(int dim) : Activation
{
    /// <summary>The dim normalized over (negative counts from the end).</summary>
    public int Dim { get; } = dim;
    /// <inheritdoc/>
    protected override Tensor Apply(Tensor x) => x.LogSoftmax(Dim);
    /// <inheritdoc/>
    protected override string Describe() => $"LogSoftmax(dim={Dim})";
}

public static partial class Functional
{
    /// <summary>max(x, 0) (torch.nn.functional.relu).</summary>
    public static Tensor Relu(Tensor input) => NotNull(input).Relu();
    /// <summary>Hyperbolic tangent (torch.tanh).</summary>
    public static Tensor Tanh(Tensor input) => NotNull(input).Tanh();
    /// <summary>Logistic sigmoid (torch.sigmoid).</summary>
    public static Tensor Sigmoid(Tensor input) => NotNull(input).Sigmoid();
    /// <summary>x * Phi(x) (torch.nn.functional.gelu).</summary>
    public static Tensor Gelu(Tensor input, GeluApproximate approximate = GeluApproximate.None) => NotNull(input).Gelu(approximate);
    /// <summary>x * sigmoid(x) (torch.nn.functional.silu).</summary>
    public static Tensor Silu(Tensor input) => NotNull(input).Silu();
    /// <summary>x if x &gt; 0, else negativeSlope * x (torch.nn.functional.leaky_relu).</summary>
    public static Tensor LeakyRelu(Tensor input, double negativeSlope = 0.01) => NotNull(input).LeakyRelu(negativeSlope);
    /// <summary>x if x &gt; 0, else alpha * (e^x - 1) (torch.nn.functional.elu).</summary>
    public static Tensor Elu(Tensor input, double alpha = 1.0) => NotNull(input).Elu(alpha);
    /// <summary>log(1 + e^(beta x)) / beta, x itself where beta * x &gt; threshold (torch.nn.functional.softplus).</summary>
    public static Tensor Softplus(Tensor input, double beta = 1.0, double threshold = 20.0) => NotNull(input).Softplus(beta, threshold);
    /// <summary>Clamp into [minVal, maxVal] with a zero gradient at the bounds (torch.nn.functional.hardtanh).</summary>
    public static Tensor Hardtanh(Tensor input, double minVal = -1.0, double maxVal = 1.0) => NotNull(input).Hardtanh(minVal, maxVal);
    /// <summary>log(sigmoid(x)) (torch.nn.functional.logsigmoid).</summary>
    public static Tensor LogSigmoid(Tensor input) => NotNull(input).LogSigmoid();
    /// <summary>Softmax along dim (torch.nn.functional.softmax).</summary>
    public static Tensor Softmax(Tensor input, int dim) => NotNull(input).Softmax(dim);
    /// <summary>Log-softmax along dim (torch.nn.functional.log_softmax).</summary>
    public static Tensor LogSoftmax(Tensor input, int dim) => NotNull(input).LogSoftmax(dim);

    static Tensor NotNull(Tensor input, string name = "input")
    {
        ArgumentNullException.ThrowIfNull(input, name);
        return input;
    }
}
