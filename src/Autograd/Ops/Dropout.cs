using System.Numerics;

namespace MiniGrad;

public partial class Tensor
{
    /// <summary>
    /// Zeroes each element with probability p and scales the rest by 1/(1-p) while training; identity otherwise.
    /// The mask comes from the generator (the default one when null), so a seeded run repeats exactly.
    /// </summary>
    public Tensor Dropout(double p, bool training = true, Generator? generator = null)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, $"Dropout: probability has to be between 0 and 1, but got {p}");
        if (!DType.IsFloating()) throw new ArgumentException($"Dropout: expected a floating point tensor, but dtype is {DType}");
        if (!training || p == 0) return this;
        if (p == 1) return this * 0.0;
        var g = generator ?? Torch.DefaultGenerator;
        double scale = 1 / (1 - p);
        // The mask in the tensor's own dtype (float32: the scale rounded once, as a cast of the double mask would).
        Array keep = DType == DType.Float32 ? DropoutMask(g, p, (float)scale) : DropoutMask(g, p, scale);
        return this * new Tensor(Backend.FromArray(keep, Raw.Shape));
    }

    T[] DropoutMask<T>(Generator g, double p, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var keep = GC.AllocateUninitializedArray<T>(Numel);
        g.FillKeepMask<T>(keep, p, scale);
        return keep;
    }
}
