namespace MiniGrad.Nn;

/// <summary>Parameter initialization (torch.nn.init) with an optional generator, so that a seeded model repeats exactly.</summary>
public static class Init
{
    /// <summary>Fills t in place with U(low, high) draws (torch.nn.init.uniform_); returns t.</summary>
    public static Tensor Uniform_(Tensor t, double low, double high, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (!(low <= high)) throw new ArgumentException($"Init.Uniform_: expected low <= high, but got low = {low}, high = {high}", nameof(high));
        using (Torch.NoGrad())
            return t.Copy_(Uniform(t.Shape, low, high, t.DType, t.Device, generator));
    }

    /// <summary>A new tensor of U(low, high) draws.</summary>
    public static Tensor Uniform(int[] shape, double low, double high, DType dtype = DType.Float32, Device? device = null, Generator? generator = null) =>
        Torch.Rand(shape, dtype, device, generator: generator) * (high - low) + low;

    /// <summary>Fills t in place with N(mean, std^2) draws (torch.nn.init.normal_); returns t.</summary>
    public static Tensor Normal_(Tensor t, double mean = 0, double std = 1, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (!(std >= 0) || double.IsInfinity(std)) throw new ArgumentException($"Init.Normal_: std = {std}; expected a finite number >= 0", nameof(std));
        using (Torch.NoGrad())
            return t.Copy_(Torch.Randn(t.Shape, t.DType, t.Device, generator: generator) * std + mean);
    }

    /// <summary>Glorot's uniform init (torch.nn.init.xavier_uniform_): U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)); returns t.</summary>
    public static Tensor XavierUniform_(Tensor t, double gain = 1, Generator? generator = null)
    {
        var (fanIn, fanOut) = Fans("Init.XavierUniform_", t);
        double b = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Uniform_(t, -b, b, generator);
    }

    /// <summary>Glorot's normal init (torch.nn.init.xavier_normal_): N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)); returns t.</summary>
    public static Tensor XavierNormal_(Tensor t, double gain = 1, Generator? generator = null)
    {
        var (fanIn, fanOut) = Fans("Init.XavierNormal_", t);
        return Normal_(t, 0, gain * Math.Sqrt(2.0 / (fanIn + fanOut)), generator);
    }

    /// <summary>He's uniform init (torch.nn.init.kaiming_uniform_): U(-b, b), b = gain sqrt(3 / fan), fan = fan_in (or
    /// fan_out with fanOut: true), gain = CalculateGain(nonlinearity, a); returns t.</summary>
    public static Tensor KaimingUniform_(Tensor t, double a = 0, bool fanOut = false, string nonlinearity = "leaky_relu", Generator? generator = null)
    {
        var (fi, fo) = Fans("Init.KaimingUniform_", t);
        double b = CalculateGain(nonlinearity, a) * Math.Sqrt(3.0 / (fanOut ? fo : fi));
        return Uniform_(t, -b, b, generator);
    }

    /// <summary>He's normal init (torch.nn.init.kaiming_normal_): N(0, std^2), std = gain / sqrt(fan); returns t.</summary>
    public static Tensor KaimingNormal_(Tensor t, double a = 0, bool fanOut = false, string nonlinearity = "leaky_relu", Generator? generator = null)
    {
        var (fi, fo) = Fans("Init.KaimingNormal_", t);
        return Normal_(t, 0, CalculateGain(nonlinearity, a) / Math.Sqrt(fanOut ? fo : fi), generator);
    }

    /// <summary>The recommended gain for a nonlinearity (torch.nn.init.calculate_gain): linear, conv1d, sigmoid 1; tanh 5/3;
    /// relu sqrt(2); leaky_relu sqrt(2 / (1 + slope^2)) with negative slope param (0.01 when not given, as PyTorch's); selu 3/4.</summary>
    public static double CalculateGain(string nonlinearity, double? param = null) => nonlinearity switch
    {
        "linear" or "identity" or "conv1d" or "sigmoid" => 1,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2),
        "leaky_relu" => Math.Sqrt(2 / (1 + (param ?? 0.01) * (param ?? 0.01))),
        "selu" => 0.75,
        _ => throw new ArgumentException($"Init.CalculateGain: unknown nonlinearity '{nonlinearity}'; expected linear, conv1d, sigmoid, tanh, relu, leaky_relu or selu", nameof(nonlinearity)),
    };

    /// <summary>PyTorch's fans: fan_in = size(1) x receptive field, fan_out = size(0) x receptive field (the product of
    /// the dims after the first two), for tensors of at least 2 dims.</summary>
    static (double FanIn, double FanOut) Fans(string op, Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank < 2 || t.Numel == 0)
            throw new ArgumentException($"{op}: the tensor has shape {Shapes.Format(t.Shape)}; fan in and fan out need at least 2 non-empty dims (a weight, not a bias)", nameof(t));
        double receptive = t.Shape.Skip(2).Aggregate(1.0, (p, x) => p * x);
        return (t.Shape[1] * receptive, t.Shape[0] * receptive);
    }

    /// <summary>A parameter of U(-bound, bound) draws: PyTorch's default for Linear (bound 1/sqrt(in)) and LSTM (1/sqrt(hidden)).</summary>
    internal static Parameter UniformParameter(int[] shape, double bound, DType dtype, Generator? generator) =>
        new(Uniform(shape, -bound, bound, dtype, generator: generator));
}
