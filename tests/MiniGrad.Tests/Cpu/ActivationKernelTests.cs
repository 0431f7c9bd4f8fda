using MiniGrad.Backends.Cpu;

namespace MiniGrad.Tests.Cpu;

/// <summary>
/// The float32 activation kernels on the SIMD layer (every ActivationOp), forward and backward, at every
/// width this machine accelerates: within 1e-6 of the double-precision definition (relative above 1, absolute below),
/// PyTorch's choices at the kinks and thresholds, NaN in NaN out, and the native width's bits at every width and split.
/// </summary>
public class ActivationKernelTests
{
    public static TheoryData<ActivationOp, double, double> Ops => new()
    {
        { ActivationOp.Gelu, 0, 0 }, { ActivationOp.GeluTanh, 0, 0 }, { ActivationOp.Silu, 0, 0 }, { ActivationOp.LeakyRelu, 0.01, 0 }, { ActivationOp.LeakyRelu, -0.5, 0 },
        { ActivationOp.Elu, 1, 0 }, { ActivationOp.Elu, 0.5, 0 }, { ActivationOp.Softplus, 1, 20 }, { ActivationOp.Softplus, 0.5, 10 },
        { ActivationOp.Hardtanh, -1, 1 }, { ActivationOp.Hardtanh, -2, 0.5 }, { ActivationOp.LogSigmoid, 0, 0 },
    };

    static float[] Inputs()
    {
        var rnd = new Random(17);
        var xs = new List<float> { 0f, -0f, 1e-7f, -1e-7f, 1e-3f, -1e-3f, 0.3465736f, -0.3465736f, -0.35f, 0.5f, -0.5f, 1f, -1f, 2f, -2f, 0.499f,
            0.501f, -1.001f, -0.999f, 0.999f, 1.001f, 19.99f, 20f, 20.01f, 40f, 88f, 89f, 100f, -87f, -100f, -104f, -150f, -1e30f, 1e30f, float.NaN };
        for (int i = 0; i < 3000; i++) xs.Add((float)(rnd.NextDouble() * 40 - 20));
        for (int i = 0; i < 3000; i++) xs.Add((float)(rnd.NextDouble() * 4 - 2));
        xs.Add(3f); // an odd length: the last values go through the tail path
        return [.. xs];
    }

    static (float[] Y, float[] Dx) Run(int bits, ActivationOp op, float[] x, float[] g, double p0, double p1)
    {
        var b = Device.Cpu.Backend;
        using var _ = Simd.Limit(bits);
        RawTensor X = b.FromArray(x, [x.Length]), G = b.FromArray(g, [g.Length]);
        return ((float[])b.ToArray(b.Activation(op, X, p0, p1)), (float[])b.ToArray(b.ActivationBackward(op, X, G, p0, p1)));
    }

    static void Near(double want, float got, string what)
    {
        if (double.IsNaN(want)) { Assert.True(float.IsNaN(got), $"{what} = {got}; expected NaN"); return; }
        Assert.True(Math.Abs(got - want) <= 1e-6 * Math.Max(1, Math.Abs(want)), $"{what} = {got:R}; expected {want:R}");
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Float32KernelsMatchDoublePrecisionAndTheNativeWidthBitForBit(ActivationOp op, double p0, double p1)
    {
        var x = Inputs();
        var rnd = new Random(3);
        var g = x.Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        var (yN, dN) = Run(Simd.NativeBits, op, x, g, p0, p1);
        foreach (int bits in SimdTests.WidthList)
        {
            var (y, dx) = Run(bits, op, x, g, p0, p1);
            for (int i = 0; i < x.Length; i++)
            {
                // The reference with the parameters rounded to float32, as PyTorch's float32 kernels (and these) use them.
                Near(ActivationMath<SystemMath>.Forward(op, x[i], (float)p0, (float)p1), y[i], $"{op}({x[i]:R}) at {bits} bits");
                Near(ActivationMath<SystemMath>.Backward(op, x[i], g[i], (float)p0, (float)p1), dx[i], $"{op}'({x[i]:R}) * {g[i]:R} at {bits} bits");
                // Without FMA (the scalar leg) a multiply-add rounds twice at every width alike, but differs from the fused native run.
                if (!Simd.HasFma) continue;
                Assert.True(BitConverter.SingleToInt32Bits(y[i]) == BitConverter.SingleToInt32Bits(yN[i]) || float.IsNaN(y[i]) && float.IsNaN(yN[i]), $"{op}({x[i]:R}): {y[i]:R} at {bits} bits, {yN[i]:R} native");
                Assert.True(BitConverter.SingleToInt32Bits(dx[i]) == BitConverter.SingleToInt32Bits(dN[i]) || float.IsNaN(dx[i]) && float.IsNaN(dN[i]), $"{op}'({x[i]:R}): {dx[i]:R} at {bits} bits, {dN[i]:R} native");
            }
        }
    }

    [Fact]
    public void KinksAndSplitsAreThoseOfTheScalarDefinition()
    {
        var b = Device.Cpu.Backend;
        float[] At(ActivationOp op, float[] x, double p0, double p1, bool grad)
        {
            RawTensor X = b.FromArray(x, [x.Length]);
            var r = grad ? b.ActivationBackward(op, X, b.FromArray(Enumerable.Repeat(1f, x.Length).ToArray(), [x.Length]), p0, p1) : b.Activation(op, X, p0, p1);
            return (float[])b.ToArray(r);
        }
        Assert.Equal([0.2f, 1f], At(ActivationOp.LeakyRelu, [0f, 1e-30f], 0.2, 0, grad: true));      // the negative slope at 0
        Assert.Equal([0.7f, 1f], At(ActivationOp.Elu, [0f, 1e-30f], 0.7, 0, grad: true));            // alpha * e^0 at 0
        Assert.Equal([0f, 1f, 0f], At(ActivationOp.Hardtanh, [-1f, 0f, 1f], -1, 1, grad: true));      // 0 at the bounds
        Assert.True(float.IsNaN(At(ActivationOp.Hardtanh, [float.NaN], -1, 1, grad: false)[0]));       // a clamp passes NaN
        // A large array splits over the cores; its elements equal those of one small call each.
        var x = Enumerable.Range(0, 200_001).Select(i => (float)Math.Sin(i) * 9).ToArray();
        var big = At(ActivationOp.Silu, x, 0, 0, grad: false);
        var small = At(ActivationOp.Silu, x[..37], 0, 0, grad: false);
        Assert.Equal(small, big[..37]);
        Assert.Equal(At(ActivationOp.Silu, x[^29..], 0, 0, grad: false), big[^29..]);
    }

    static long[] Bits(Array a) => a is float[] f ? [.. f.Select(v => (long)BitConverter.SingleToInt32Bits(v))] : [.. ((double[])a).Select(BitConverter.DoubleToInt64Bits)];

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void FusedReluTanhSigmoidGradientsEqualTheComposedOnesBitForBit(DType dtype)
    {
        // The fused pass keeps the composed formulas' operations and roundings: g (1 - y y), (g y) (1 - y), and for Relu
        // PyTorch's threshold_backward, 0 where x <= 0 and g elsewhere (NaN included).
        var b = Device.Cpu.Backend;
        var rnd = new Random(9);
        var v = new List<double> { 0, -0.0, double.NaN, 1e-30, -1e-30, 1, -1 };
        for (int i = 0; i < 1000; i++) v.Add(rnd.NextDouble() * 12 - 6);
        RawTensor Make(IEnumerable<double> xs) => Torch.Tensor([.. xs], [v.Count]).To(dtype).Raw;
        var x = Make(v);
        var g = Make(v.Select(_ => rnd.NextDouble() * 2 - 1));
        RawTensor S(double c) => b.Full([], dtype, c);
        foreach (int bits in SimdTests.WidthList)
        {
            using var _ = Simd.Limit(bits);
            foreach (var (op, y, want) in new[]
            {
                (UnaryOp.Relu, x, b.Where(b.Binary(BinaryOp.Le, x, S(0)), S(0), g)),
                (UnaryOp.Tanh, b.Unary(UnaryOp.Tanh, x), (RawTensor?)null),
                (UnaryOp.Sigmoid, b.Unary(UnaryOp.Sigmoid, x), null),
            })
            {
                var expected = want ?? (op == UnaryOp.Tanh
                    ? b.Binary(BinaryOp.Mul, g, b.Binary(BinaryOp.Sub, S(1), b.Binary(BinaryOp.Mul, y, y)))
                    : b.Binary(BinaryOp.Mul, b.Binary(BinaryOp.Mul, g, y), b.Binary(BinaryOp.Sub, S(1), y)));
                var got = b.UnaryBackward(op, y, g);
                Assert.Equal(Bits(b.ToArray(expected)), Bits(b.ToArray(got)));
            }
        }
    }
}
