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

    /// <summary>A parameter of U(-bound, bound) draws: PyTorch's default for Linear (bound 1/sqrt(in)) and LSTM (1/sqrt(hidden)).</summary>
    internal static Parameter UniformParameter(int[] shape, double bound, DType dtype, Generator? generator) =>
        new(Uniform(shape, -bound, bound, dtype, generator: generator));
}
