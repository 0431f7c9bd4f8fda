using MiniGrad.Backends.Cpu;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Cpu;

/// <summary>
/// The GRU and RNN cell kernels at every SIMD width up to the machine's (and scalar): a bidirectional two-layer Gru and a
/// relu Rnn, forward and backward with lengths, give the same output and gradients as at the native width (Float32 within
/// rounding, Float64 to 1e-12). H = 19 runs each width's vector loop and its scalar tail.
/// </summary>
public class RecurrentWidthTests
{
    static double[][] Run(string kind, DType dtype)
    {
        var m = Nn.GruRnnGradCheckTests.Make(kind, 5, 19, 2, true, false, true, 7, dtype);
        var x = Torch.Randn([6, 3, 5], dtype, generator: new Generator(8)).RequiresGrad_();
        var h0 = Torch.Randn([4, 3, 19], dtype, generator: new Generator(9)).RequiresGrad_();
        var (y, h) = Nn.GruRnnGradCheckTests.Run(m, x, [6, 2, 5], h0);
        ((y * y).Sum() + h.Sum()).Backward();
        return [y.ToArray<double>(), h.ToArray<double>(), x.Grad!.ToArray<double>(), h0.Grad!.ToArray<double>(), .. m.Parameters().Select(p => p.Grad!.ToArray<double>())];
    }

    [Theory]
    [MemberData(nameof(SimdTests.Widths), MemberType = typeof(SimdTests))]
    public void GruAndRnnMatchTheNativeWidth(int bits)
    {
        foreach (var kind in new[] { "gru", "relu", "tanh" })
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            {
                var native = Run(kind, dtype);
                double[][] narrow;
                using (Simd.Limit(bits)) narrow = Run(kind, dtype);
                double tol = dtype == DType.Float64 ? 1e-12 : 2e-5;
                for (int i = 0; i < native.Length; i++)
                    for (int j = 0; j < native[i].Length; j++)
                        Assert.True(Math.Abs(native[i][j] - narrow[i][j]) <= tol * Math.Max(1, Math.Abs(native[i][j])),
                            $"{kind} {dtype} at {bits} bits, result {i}[{j}]: native {native[i][j]:R}, {bits} bits {narrow[i][j]:R}");
            }
    }
}
