namespace MiniGrad;

/// <summary>How <see cref="Tensor.Gelu"/> computes the normal CDF (PyTorch's approximate argument).</summary>
public enum GeluApproximate
{
    /// <summary>Exactly, through erf ("none").</summary>
    None,
    /// <summary>0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ("tanh").</summary>
    Tanh,
}

// The activations beyond the unary primitives (Relu, Tanh, Sigmoid are in Elementwise.cs): one backend op each way,
// whose formulas, forward and derivative side by side, are in src/Tensors/Activations.cs.
public partial class Tensor
{
    /// <summary>x * Phi(x) (torch.nn.functional.gelu); approximate: Tanh for the tanh form.</summary>
    public Tensor Gelu(GeluApproximate approximate = GeluApproximate.None)
    {
        if (approximate is not (GeluApproximate.None or GeluApproximate.Tanh))
            throw new ArgumentOutOfRangeException(nameof(approximate), approximate, $"Gelu: approximate = {(int)approximate} is not a GeluApproximate; expected None or Tanh");
        return ActivationFn.Apply(this, approximate == GeluApproximate.Tanh ? ActivationOp.GeluTanh : ActivationOp.Gelu, "Gelu");
    }

    /// <summary>x * sigmoid(x) (torch.nn.functional.silu).</summary>
    public Tensor Silu() => ActivationFn.Apply(this, ActivationOp.Silu, "Silu");

    /// <summary>x if x &gt; 0, else negativeSlope * x; at 0 the gradient is negativeSlope, as in PyTorch.</summary>
    public Tensor LeakyRelu(double negativeSlope = 0.01)
    {
        Finite("LeakyRelu", nameof(negativeSlope), negativeSlope);
        return ActivationFn.Apply(this, ActivationOp.LeakyRelu, "LeakyRelu", negativeSlope);
    }

    /// <summary>x if x &gt; 0, else alpha * (e^x - 1); at 0 the gradient is alpha, as in PyTorch.</summary>
    public Tensor Elu(double alpha = 1.0)
    {
        Finite("Elu", nameof(alpha), alpha);
        return ActivationFn.Apply(this, ActivationOp.Elu, "Elu", alpha);
    }

    /// <summary>log(1 + e^(beta x)) / beta, reverting to x where beta * x &gt; threshold (torch.nn.functional.softplus).</summary>
    public Tensor Softplus(double beta = 1.0, double threshold = 20.0)
    {
        Finite("Softplus", nameof(beta), beta);
        if (beta == 0) throw new ArgumentOutOfRangeException(nameof(beta), beta, "Softplus: beta = 0 divides by zero; expected a nonzero beta");
        if (double.IsNaN(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "Softplus: threshold is NaN; expected a number");
        return ActivationFn.Apply(this, ActivationOp.Softplus, "Softplus", beta, threshold);
    }

    /// <summary>x clamped into [minVal, maxVal]; the gradient passes only strictly inside (0 at the bounds, as in PyTorch).</summary>
    public Tensor Hardtanh(double minVal = -1.0, double maxVal = 1.0)
    {
        if (double.IsNaN(minVal)) throw new ArgumentOutOfRangeException(nameof(minVal), minVal, "Hardtanh: minVal is NaN; expected a number");
        if (double.IsNaN(maxVal)) throw new ArgumentOutOfRangeException(nameof(maxVal), maxVal, "Hardtanh: maxVal is NaN; expected a number");
        if (minVal > maxVal) throw new ArgumentException($"Hardtanh: minVal = {minVal} is greater than maxVal = {maxVal}; expected minVal <= maxVal", nameof(minVal));
        return ActivationFn.Apply(this, ActivationOp.Hardtanh, "Hardtanh", minVal, maxVal);
    }

    /// <summary>log(sigmoid(x)), computed stably as min(x, 0) - log1p(e^-|x|).</summary>
    public Tensor LogSigmoid() => ActivationFn.Apply(this, ActivationOp.LogSigmoid, "LogSigmoid");

    static void Finite(string op, string arg, double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(arg, value, $"{op}: {arg} = {value} is not finite; expected a finite number");
    }
}

sealed class ActivationFn(ActivationOp op, double p0, double p1) : Function
{
    public override string Name => op + "Backward";

    public static Tensor Apply(Tensor x, ActivationOp op, string name, double p0 = 0, double p1 = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!x.DType.IsFloating()) throw new ArgumentException($"{name}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)", nameof(x));
        var raw = x.Backend.Activation(op, x.Raw, p0, p1);
        return Record(raw, () => { var f = new ActivationFn(op, p0, p1); f.Save(x.Detach()); return f; }, x);
    }

    protected internal override Tensor?[] Backward(Tensor g) => [new Tensor(g.Backend.ActivationBackward(op, Saved(0).Raw, g.Raw, p0, p1))];
}
