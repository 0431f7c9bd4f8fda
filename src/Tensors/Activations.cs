namespace MiniGrad;

/// <summary>Elementwise activations with up to two parameters (PyTorch's definitions, including its derivatives at the kinks).</summary>
public enum ActivationOp
{
    /// <summary>x * Phi(x), Phi the standard normal CDF (exact, through erf).</summary>
    Gelu,
    /// <summary>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    GeluTanh,
    /// <summary>x * sigmoid(x).</summary>
    Silu,
    /// <summary>x if x &gt; 0, else p0 * x (p0: negative slope; the slope at 0 is p0).</summary>
    LeakyRelu,
    /// <summary>x if x &gt; 0, else p0 * (e^x - 1) (p0: alpha; the slope at 0 is alpha).</summary>
    Elu,
    /// <summary>log(1 + e^(p0 x)) / p0, but x itself where p0 x &gt; p1 (p0: beta, p1: threshold).</summary>
    Softplus,
    /// <summary>x clamped into [p0, p1]; the gradient passes only strictly inside.</summary>
    Hardtanh,
    /// <summary>log(sigmoid(x)), computed as min(x, 0) - log1p(e^-|x|).</summary>
    LogSigmoid,
}

public partial interface IBackend
{
    /// <summary>Elementwise activation of a floating point tensor; p0 and p1 are the op's parameters (see <see cref="ActivationOp"/>).</summary>
    RawTensor Activation(ActivationOp op, RawTensor x, double p0, double p1);
    /// <summary>Its gradient: gy times the derivative at the input x (same shape and dtype as x).</summary>
    RawTensor ActivationBackward(ActivationOp op, RawTensor x, RawTensor gy, double p0, double p1);
    /// <summary>The gradient of the unary activations in one pass, from the tensor each derivative needs: Relu from its input (gy where x &gt; 0, else 0), Tanh (gy (1 - y y)) and Sigmoid ((gy y) (1 - y)) from their output y; floating point, saved and gy of one shape and dtype.</summary>
    RawTensor UnaryBackward(UnaryOp op, RawTensor saved, RawTensor gy);
}

/// <summary>exp, log and tanh in double: System.Math on the CPU, ILGPU's XMath inside kernels (a struct, so no virtual call).</summary>
internal interface IScalarMath
{
    double Exp(double x);
    double Log(double x);
    double Tanh(double x);
}

/// <summary>System.Math.</summary>
internal struct SystemMath : IScalarMath
{
    public readonly double Exp(double x) => Math.Exp(x);
    public readonly double Log(double x) => Math.Log(x);
    public readonly double Tanh(double x) => Math.Tanh(x);
}

/// <summary>
/// The one definition of every <see cref="ActivationOp"/>, forward and derivative side by side, in double (float32
/// tensors are computed in double and rounded once). Both backends run exactly this code, the ILGPU one inside its kernels.
/// </summary>
internal static class ActivationMath<M> where M : struct, IScalarMath
{
    const double Sqrt1_2 = 0.70710678118654752440;     // 1 / sqrt(2)
    const double InvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi): the normal density's constant
    const double Sqrt2OverPi = 0.79788456080286535588; // sqrt(2 / pi)
    const double Kappa = 0.044715;                     // the tanh approximation's cubic coefficient

    /// <summary>y = f(x).</summary>
    public static double Forward(ActivationOp op, double x, double p0, double p1)
    {
        var m = default(M);
        switch (op)
        {
            case ActivationOp.Gelu: return x * Phi(x);
            case ActivationOp.GeluTanh: return 0.5 * x * (1 + m.Tanh(Sqrt2OverPi * (x + Kappa * x * x * x)));
            case ActivationOp.Silu: return x / (1 + m.Exp(-x));
            case ActivationOp.LeakyRelu: return x > 0 ? x : x * p0;
            case ActivationOp.Elu: return x <= 0 ? p0 * ExpM1(x) : x;
            case ActivationOp.Softplus: return x * p0 > p1 ? x : Log1P(m.Exp(x * p0)) / p0;
            case ActivationOp.Hardtanh: return x < p0 ? p0 : x > p1 ? p1 : x; // NaN passes through, as in a clamp
            default: return Math.Min(x, 0) - Log1P(m.Exp(-Math.Abs(x)));  // LogSigmoid
        }
    }

    /// <summary>dy/dx times g, with PyTorch's choice at each kink (the comments name it).</summary>
    public static double Backward(ActivationOp op, double x, double g, double p0, double p1)
    {
        var m = default(M);
        switch (op)
        {
            case ActivationOp.Gelu: return g * (Phi(x) + x * InvSqrt2Pi * m.Exp(-0.5 * x * x));
            case ActivationOp.GeluTanh:
            {
                double t = m.Tanh(Sqrt2OverPi * (x + Kappa * x * x * x));
                return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Sqrt2OverPi * (1 + 3 * Kappa * x * x));
            }
            case ActivationOp.Silu:
            {
                double s = 1 / (1 + m.Exp(-x));
                return g * s * (1 + x * (1 - s));
            }
            case ActivationOp.LeakyRelu: return x > 0 ? g : g * p0;             // at 0: the negative slope
            case ActivationOp.Elu: return x <= 0 ? g * p0 * m.Exp(x) : g;       // at 0: alpha * e^0
            case ActivationOp.Softplus: return x * p0 > p1 ? g : g / (1 + m.Exp(-x * p0)); // at the threshold: the log1p branch
            case ActivationOp.Hardtanh: return x <= p0 || x >= p1 ? 0 : g;      // 0 at the bounds
            default:                                                            // LogSigmoid: sigmoid(-x), stably
            {
                double z = m.Exp(-Math.Abs(x));
                return x < 0 ? g / (1 + z) : g * (z / (1 + z));
            }
        }
    }

    /// <summary>The standard normal CDF, 0.5 erfc(-x / sqrt 2): accurate in the left tail too, where 1 + erf(x) cancels.</summary>
    static double Phi(double x) => 0.5 * Erfc(-x * Sqrt1_2);

    /// <summary>erf(x) to about 1e-15 relative.</summary>
    public static double Erf(double x)
    {
        double a = Math.Abs(x);
        if (a < 2) return ErfSeries(x);
        double r = 1 - ErfcFraction(a);
        return x < 0 ? -r : r;
    }

    /// <summary>erfc(x) = 1 - erf(x), accurate relative to itself for large x (about 1e-13 there, set by rounding x^2).</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x >= 2) return ErfcFraction(x);
        if (x <= -2) return 2 - ErfcFraction(-x);
        return 1 - ErfSeries(x);
    }

    // erf(x) = 2/sqrt(pi) e^(-x^2) sum_n (2x^2)^n x / (1 * 3 * ... * (2n+1)): every term positive, so nothing cancels;
    // below |x| = 2 about 35 terms reach 1e-17 of the sum.
    static double ErfSeries(double x)
    {
        double x2 = x * x, term = x, sum = x;
        for (int n = 1; n < 60; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) <= 1e-17 * Math.Abs(sum)) break;
        }
        return 1.1283791670955125739 * default(M).Exp(-x2) * sum; // 2 / sqrt(pi)
    }

    // erfc(x) = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + 2 / ...)))) for x >= 2, evaluated from
    // the 60th level up (converged to rounding there, checked against MathNet in the tests).
    static double ErfcFraction(double x)
    {
        double f = x;
        for (int k = 60; k >= 1; k--) f = x + 0.5 * k / f;
        return 0.56418958354775628695 * default(M).Exp(-x * x) / f; // 1 / sqrt(pi)
    }

    /// <summary>log(1 + x) without losing small x (Kahan's trick: the rounding of 1 + x cancels in the ratio).</summary>
    static double Log1P(double x)
    {
        double u = 1 + x;
        return u == 1 ? x : u == double.PositiveInfinity ? u : default(M).Log(u) * x / (u - 1);
    }

    /// <summary>e^x - 1 without losing small x (Kahan's trick).</summary>
    static double ExpM1(double x)
    {
        var m = default(M);
        double u = m.Exp(x);
        if (u == 1) return x;
        double um1 = u - 1;
        return um1 == -1 ? -1 : u == double.PositiveInfinity ? u : um1 * x / m.Log(u);
    }
}
