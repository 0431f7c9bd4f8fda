using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Conv1d, the 1-D pools, LayerNorm and BatchNorm1d: the backends' im2col/col2im against a direct reference, float64
/// gradchecks of every op and module on every device, PyTorch's edge rules (padding "same", ceil_mode, count_include_pad,
/// the first maximum, running statistics), module buffers in checkpoints, and an ArgumentException for every bad argument.
/// </summary>
[Collection("Ilgpu")]
public class ConvNormTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    // The fused LayerNorm and CrossEntropy kernels against their composition from plain ops in float64 (autograd for the
    // gradients), with rows long enough for the vector loops and an odd length for the scalar tails, in both dtypes.
    [Theory]
    [MemberData(nameof(Devices))]
    public void FusedLayerNormAndCrossEntropyMatchTheirCompositionInFloat64(string device)
    {
        var dev = Device.Parse(device);
        foreach (var (dtype, cols, tol) in new[] { (DType.Float32, 100, 2e-5), (DType.Float64, 37, 1e-12), (DType.Float32, 1000, 2e-5) })
        {
            // LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b, rows of 3 + 2 shifted far from zero.
            // (The inputs are rounded to dtype first: the reference sees what the kernel sees.)
            Tensor In(Tensor t) => t.To(dtype).To(DType.Float64);
            var x = In(H.Rnd(1, 5, cols) + Torch.Tensor(new double[] { 0, 0, 0, 100, -1e3 }, [5, 1]));
            var (w, b, dy) = (In(H.Rnd(2, cols)), In(H.Rnd(3, cols)), In(H.Rnd(4, 5, cols)));
            Tensor[] Run(Tensor xi, Tensor wi, Tensor bi, Func<Tensor, Tensor, Tensor, Tensor> f, Device d, DType t)
            {
                Tensor L(Tensor v) => v.Detach().To(t).To(d).RequiresGrad_();
                var (xl, wl, bl) = (L(xi), L(wi), L(bi));
                var y = f(xl, wl, bl);
                (y * dy.To(t).To(d)).Sum().Backward();
                return [y, xl.Grad!, wl.Grad!, bl.Grad!];
            }
            var want = Run(x, w, b, (xi, wi, bi) =>
            {
                var xc = xi - xi.Mean([1], keepDim: true);
                return xc / ((xc * xc).Mean([1], keepDim: true) + 1e-5).Sqrt() * wi + bi;
            }, Device.Cpu, DType.Float64);
            var got = Run(x, w, b, (xi, wi, bi) => Functional.LayerNorm(xi, [cols], wi, bi), dev, dtype);
            for (int k = 0; k < 4; k++)
                H.Close(want[k].Arr(), got[k].To(DType.Float64).Arr(), tol * 10);

            // CrossEntropy with class weights and an ignored target.
            var logits = In(H.Rnd(5, 6, cols) * 3);
            var target = Torch.Tensor(new long[] { 0, cols - 1, 7, -100, 3, 7 }, [6]);
            var cw = In(H.Rnd(6, cols).Abs() + 0.5);
            var xr = logits.RequiresGrad_();
            var lp = xr.LogSoftmax(1);
            var t = Torch.Tensor(new long[] { 0, cols - 1, 7, 0, 3, 7 }, [6, 1]);
            var rowW = Torch.Tensor(new long[] { 0, cols - 1, 7, 0, 3, 7 }.Select((c, i) => i == 3 ? 0.0 : cw.Arr()[c]).ToArray(), [6, 1]);
            var refLoss = -(lp.Gather(1, t) * rowW).Sum() / rowW.Sum();
            refLoss.Backward();
            var xg = logits.Detach().To(dtype).To(dev).RequiresGrad_();
            var loss = Functional.CrossEntropy(xg, target.To(dev), cw.To(dtype).To(dev));
            loss.Backward();
            H.Close([refLoss.Item<double>()], [loss.To(DType.Float64).Item<double>()], tol * 10);
            H.Close(xr.Grad!.Arr(), xg.Grad!.To(DType.Float64).Arr(), tol);
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void FusedKernelsRejectBadArguments(string device)
    {
        var b = Device.Parse(device).Backend;
        var x = Torch.Randn(4, 6).To(Device.Parse(device)).Raw;
        RawTensor On(Tensor t) => t.To(Device.Parse(device)).Raw;
        void Bad(Action a, params string[] fragments) => H.Throws<ArgumentException>(a, fragments);
        Bad(() => b.LayerNorm(x, 5, null, null, 1e-5), "cols = 5", "[4,6]");
        Bad(() => b.LayerNorm(x, 6, On(Torch.Randn(5)), null, 1e-5), "weight", "6 Float32");
        Bad(() => b.LayerNorm(On(Torch.Tensor(new long[] { 1, 2 }, 2)), 2, null, null, 1e-5), "Int64");
        var t = On(Torch.Tensor(new long[] { 0, 5, 6, 1 }, 4));
        var rw = On(Torch.Ones(4));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => b.CrossEntropy(x, t, rw));
        Assert.Contains("target[2] = 6", e.Message);
        Assert.Contains("[0, 6)", e.Message);
        Bad(() => b.CrossEntropy(x, On(Torch.Tensor(new[] { 0, 1, 2, 3 }, 4)), rw), "Int32", "Int64");
        Bad(() => b.CrossEntropy(x, On(Torch.Tensor(new long[] { 0, 1, 2, 3 }, 4)), On(Torch.Ones(3))), "rowWeight", "4 Float32");
    }

    // (L, kernel, stride, dilation, padLeft, lOut, pad value)
    public static IEnumerable<object[]> Windows() => TestDevices.Cross(new object[][]
    {
        [7, 3, 1, 1, 0, 5, 0.0], [7, 3, 1, 1, 1, 7, 0.0], [8, 4, 1, 1, 1, 8, 0.0], [9, 3, 2, 2, 2, 5, 0.0],
        [10, 3, 2, 1, 0, 4, 0.0], [5, 2, 3, 1, 1, 3, double.NegativeInfinity], [4, 5, 1, 1, 2, 4, -1.5], [6, 2, 1, 3, 0, 3, 0.0],
        // Rows shorter than the padding, where some taps read only padding ("same" with dilation 3 included).
        [1, 5, 1, 1, 2, 1, 0.0], [2, 7, 1, 1, 3, 2, -1.5], [1, 3, 1, 2, 2, 1, 0.0], [4, 5, 1, 3, 6, 4, 0.0], [1, 4, 1, 1, 1, 1, 0.0],
    });

    [Theory]
    [MemberData(nameof(Windows))]
    public void Unfold1dAndFold1dMatchADirectReference(string device, int l, int kernel, int stride, int dilation, int padLeft, int lOut, double pad)
    {
        var dev = Device.Parse(device);
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
        {
            var x = H.Rnd(1, 2, 3, l).To(dtype);
            var b = dev.Backend;
            var got = b.ToArray(b.Cast(b.Unfold1d(x.To(dev).Raw, kernel, stride, dilation, padLeft, lOut, pad), DType.Float64));
            var xs = x.Arr();
            var want = new double[2 * 3 * kernel * lOut];
            for (int r = 0; r < 6; r++)
                for (int k = 0; k < kernel; k++)
                    for (int t = 0; t < lOut; t++)
                    {
                        int p = t * stride + k * dilation - padLeft;
                        want[(r * kernel + k) * lOut + t] = p >= 0 && p < l ? xs[r * l + p] : pad;
                    }
            H.Close(want, (double[])got, dtype == DType.Float32 ? 1e-6 : 0);

            // Fold1d is Unfold1d's adjoint: <Unfold(x), c> = <x, Fold(c)> (with zero padding), checked element by element.
            var c = H.Rnd(2, 2, 3, kernel, lOut).To(dtype);
            var folded = b.ToArray(b.Cast(b.Fold1d(c.To(dev).Raw, l, stride, dilation, padLeft), DType.Float64));
            var cs = c.Arr();
            var expect = new double[2 * 3 * l];
            for (int r = 0; r < 6; r++)
                for (int k = 0; k < kernel; k++)
                    for (int t = 0; t < lOut; t++)
                    {
                        int p = t * stride + k * dilation - padLeft;
                        if (p >= 0 && p < l) expect[r * l + p] += cs[(r * kernel + k) * lOut + t];
                    }
            H.Close(expect, (double[])folded, dtype == DType.Float32 ? 1e-5 : 1e-14);
        }
    }

    // (C_in, C_out, kernel, stride, padding, dilation, groups, bias, batched)
    public static IEnumerable<object[]> ConvConfigs() => TestDevices.Cross(new object[][]
    {
        [2, 3, 3, 1, "1", 1, 1, true, true], [2, 3, 4, 1, "same", 1, 1, true, true], [4, 4, 3, 2, "2", 2, 2, false, true],
        [3, 6, 3, 1, "same", 2, 3, true, true], [3, 3, 2, 3, "valid", 1, 3, true, false], [2, 2, 1, 2, "0", 1, 1, true, true],
    });

    [Theory]
    [MemberData(nameof(ConvConfigs))]
    public void Conv1dGradChecks(string device, int cin, int cout, int k, int stride, string padding, int dilation, int groups, bool bias, bool batched)
    {
        var dev = Device.Parse(device);
        Padding pad = int.TryParse(padding, out var p) ? p : padding;
        var x = batched ? H.Leaf(dev, 1, 2, cin, 7) : H.Leaf(dev, 1, cin, 7);
        var w = H.Leaf(dev, 2, cout, cin / groups, k);
        var b = H.Leaf(dev, 3, cout);
        var y = Functional.Conv1d(x, w, bias ? b : null, stride, pad, dilation, groups);
        Assert.Equal(dev, y.Device);
        H.Grad(t => Functional.Conv1d(t[0], t[1], bias ? t[2] : null, stride, pad, dilation, groups), x, w, b);
    }

    /// <summary>Conv1d by its definition in float64: y, and dx, dW, db of sum(y * dy) (db zero without a bias).</summary>
    static (double[] Y, double[] Dx, double[] Dw, double[] Db) DirectConv1d(Tensor x, Tensor w, Tensor? b, Tensor dy, int stride, int pad, int dil, int groups)
    {
        int n = x.Shape[0], cin = x.Shape[1], l = x.Shape[2], cout = w.Shape[0], cg = w.Shape[1], k = w.Shape[2], og = cout / groups, lOut = dy.Shape[2];
        double[] xs = x.Arr(), ws = w.Arr(), bs = b?.Arr() ?? new double[cout], dys = dy.Arr();
        var (y, dx, dw, db) = (new double[n * cout * lOut], new double[xs.Length], new double[ws.Length], new double[cout]);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < cout; o++)
                for (int t = 0; t < lOut; t++)
                {
                    double s = bs[o], g = dys[(i * cout + o) * lOut + t];
                    db[o] += g;
                    for (int c = 0; c < cg; c++)
                        for (int j = 0; j < k; j++)
                        {
                            int pos = t * stride + j * dil - pad, xi = (i * cin + o / og * cg + c) * l + pos, wi = (o * cg + c) * k + j;
                            if (pos < 0 || pos >= l) continue;
                            s += ws[wi] * xs[xi];
                            dx[xi] += ws[wi] * g;
                            dw[wi] += xs[xi] * g;
                        }
                    y[(i * cout + o) * lOut + t] = s;
                }
        return (y, dx, dw, db);
    }

    // Geometries the CPU backend runs by Winograd's transforms (stride 1, dilation 1, 2-7 taps, at least 8 channels in and
    // out per group), each against the definition written out in float64: the output, dx, dW and db of sum(y * dy). Kernels
    // 2 to 7 (every transform size), padding 0, "same", and wider than the kernel, groups, a last tile cut short.
    // (N, C_in, C_out, L, kernel, padding, groups, bias)
    public static IEnumerable<object[]> WinogradConfigs() => TestDevices.Cross(new object[][]
    {
        [2, 8, 8, 20, 5, 0, 1, true], [3, 16, 8, 31, 3, 1, 1, false], [1, 9, 10, 16, 2, 0, 1, true], [2, 8, 16, 23, 4, 5, 1, true],
        [2, 16, 16, 40, 6, 3, 2, true], [2, 8, 12, 29, 7, 3, 1, false], [3, 24, 16, 19, 5, 2, 1, true],
        [1, 8, 8, 70000, 5, 2, 1, true], // a row long enough that the CPU backend's buffers are made for the one call
    }, include: (device, c) => !TestDevices.IsSlow(device) || (int)c[3] < 1000);

    [Theory]
    [MemberData(nameof(WinogradConfigs))]
    public void Conv1dByWinogradMatchesTheDirectSums(string device, int n, int cin, int cout, int l, int k, int pad, int groups, bool bias)
    {
        var dev = Device.Parse(device);
        int lOut = l + 2 * pad - k + 1, cg = cin / groups;
        var (x, w, b, dy) = (H.Rnd(1, n, cin, l), H.Rnd(2, cout, cg, k), H.Rnd(3, cout), H.Rnd(4, n, cout, lOut));
        var (y, dx, dw, db) = DirectConv1d(x, w, bias ? b : null, dy, 1, pad, 1, groups);
        foreach (var (dtype, tol) in new[] { (DType.Float64, 1e-11), (DType.Float32, 2e-5) })
        {
            Tensor L(Tensor v) => v.Detach().To(dtype).To(dev).RequiresGrad_();
            var (xl, wl, bl) = (L(x), L(w), L(b));
            var got = Functional.Conv1d(xl, wl, bias ? bl : null, padding: pad, groups: groups);
            (got * dy.To(dtype).To(dev)).Sum().Backward();
            // Float32 against float64 sums of up to 120 products of unit size: a tolerance relative to the sum's scale.
            double scale = dtype == DType.Float32 ? Math.Sqrt(cg * k) : 1;
            H.Close(y, got.To(DType.Float64), tol * scale);
            H.Close(dx, xl.Grad!.To(DType.Float64), tol * scale);
            H.Close(dw, wl.Grad!.To(DType.Float64), tol * scale * Math.Sqrt(n * lOut));
            if (bias) H.Close(db, bl.Grad!.To(DType.Float64), tol * Math.Sqrt(n * lOut));
        }
    }

    // Short items, many of them: the CPU backend puts several items' windows side by side in one GEMM (under 128 output
    // positions). Against the definition in float64 (output, dx, dW, db of sum(y * dy)), with stride, dilation, padding,
    // groups, batches that end in a partial block of items, and slabs of the backward with several blocks each (L = 100:
    // two items a GEMM); in float32 y and dx must have the same bits as each item convolved alone. The last geometry is
    // long enough to go one item at a time, for contrast.
    // (N, C_in, C_out, L, kernel, stride, padding, dilation, groups, bias)
    public static IEnumerable<object[]> ShortItemConfigs() => TestDevices.Cross(new object[][]
    {
        [37, 1, 8, 40, 5, 1, 2, 1, 1, true], [23, 4, 6, 12, 3, 2, 1, 2, 2, false], [50, 3, 3, 9, 2, 1, 0, 1, 3, true],
        [11, 2, 5, 1, 3, 1, 2, 1, 1, true], [30, 2, 3, 100, 3, 1, 1, 1, 1, true], [5, 2, 4, 150, 3, 1, 0, 1, 1, true],
    });

    [Theory]
    [MemberData(nameof(ShortItemConfigs))]
    public void Conv1dOfManyShortItemsMatchesTheDirectSums(string device, int n, int cin, int cout, int l, int k, int stride, int pad, int dil, int groups, bool bias)
    {
        var dev = Device.Parse(device);
        int lOut = (l + 2 * pad - dil * (k - 1) - 1) / stride + 1, cg = cin / groups;
        var (x, w, b, dy) = (H.Rnd(11, n, cin, l), H.Rnd(12, cout, cg, k), H.Rnd(13, cout), H.Rnd(14, n, cout, lOut));
        var (y, dx, dw, db) = DirectConv1d(x, w, bias ? b : null, dy, stride, pad, dil, groups);
        (Tensor Y, Tensor Dx, Tensor Dw, Tensor? Db) Run(Tensor xt, Tensor dyt, DType dtype)
        {
            Tensor L(Tensor v) => v.Detach().To(dtype).To(dev).RequiresGrad_();
            var (xl, wl, bl) = (L(xt), L(w), L(b));
            var got = Functional.Conv1d(xl, wl, bias ? bl : null, stride, pad, dil, groups);
            (got * dyt.To(dtype).To(dev)).Sum().Backward();
            return (got.Detach(), xl.Grad!, wl.Grad!, bias ? bl.Grad : null);
        }
        foreach (var (dtype, tol) in new[] { (DType.Float64, 1e-11), (DType.Float32, 2e-5) })
        {
            var r = Run(x, dy, dtype);
            double scale = dtype == DType.Float32 ? Math.Sqrt(cg * k) : 1;
            H.Close(y, r.Y.To(DType.Float64), tol * scale);
            H.Close(dx, r.Dx.To(DType.Float64), tol * scale);
            H.Close(dw, r.Dw.To(DType.Float64), tol * scale * Math.Sqrt(n * lOut));
            if (bias) H.Close(db, r.Db!.To(DType.Float64), tol * Math.Sqrt(n * lOut));
        }
        var batch = Run(x, dy, DType.Float32);
        for (int i = 0; i < n; i += Math.Max(1, n / 4))
        {
            var alone = Run(x.Narrow(0, i, 1), dy.Narrow(0, i, 1), DType.Float32);
            Assert.Equal(alone.Y.ToArray<float>(), batch.Y.Narrow(0, i, 1).ToArray<float>());
            Assert.Equal(alone.Dx.ToArray<float>(), batch.Dx.Narrow(0, i, 1).ToArray<float>());
        }
    }

    // The float64 gradcheck through the CPU backend's Winograd path (the smallest geometries it takes: 8 channels, a few
    // tiles), one with padding wider than the kernel and groups.
    [Theory]
    [InlineData(3, 0, 1, 14)]
    [InlineData(5, 6, 2, 9)]
    public void Conv1dByWinogradGradChecks(int k, int pad, int groups, int l)
    {
        var (x, w, b) = (H.Leaf(5, 1, 8 * groups, l), H.Leaf(6, 8 * groups, 8, k), H.Leaf(7, 8 * groups));
        H.Grad(t => Functional.Conv1d(t[0], t[1], t[2], padding: pad, groups: groups), x, w, b);
    }

    [Fact]
    public void Conv1dMatchesADirectSum()
    {
        // Depthwise with a channel multiplier, stride 2, dilation 2, padding 1, against the definition written out.
        var x = H.Rnd(4, 2, 2, 9);
        var w = H.Rnd(5, 4, 1, 3);
        var b = H.Rnd(6, 4);
        var y = Functional.Conv1d(x, w, b, stride: 2, padding: 1, dilation: 2, groups: 2);
        int lOut = (9 + 2 - 2 * 2 - 1) / 2 + 1;
        Assert.Equal([2, 4, lOut], y.Shape);
        double[] xs = x.Arr(), ws = w.Arr(), bs = b.Arr();
        var want = new double[2 * 4 * lOut];
        for (int n = 0; n < 2; n++)
            for (int o = 0; o < 4; o++)
                for (int t = 0; t < lOut; t++)
                {
                    double s = bs[o];
                    for (int k = 0; k < 3; k++)
                    {
                        int pos = t * 2 + k * 2 - 1;
                        if (pos >= 0 && pos < 9) s += ws[o * 3 + k] * xs[(n * 2 + o / 2) * 9 + pos];
                    }
                    want[(n * 4 + o) * lOut + t] = s;
                }
        H.Close(want, y, 1e-12);
    }

    [Fact]
    public void Conv1dModuleUsesPyTorchsNamesShapesAndInit()
    {
        var conv = new Conv1d(40, 128, 5, padding: "same", generator: new Generator(1));
        Assert.Equal(["weight", "bias"], conv.NamedParameters().Select(p => p.Name));
        Assert.Equal([128, 40, 5], conv.Weight.Shape);
        double bound = 1 / Math.Sqrt(40 * 5);
        Assert.All(conv.Weight.ToArray<double>().Concat(conv.Bias!.ToArray<double>()), v => Assert.InRange(Math.Abs(v), 0, bound));
        Assert.True(conv.Weight.ToArray<double>().Max() > 0.9 * bound);
        Assert.Equal((2, 2), conv.PaddingAmounts);
        Assert.Equal((1, 2), new Conv1d(1, 1, 4, padding: "same").PaddingAmounts);
        var y = conv.Forward(Torch.Randn(2, 40, 30));
        Assert.Equal([2, 128, 30], y.Shape);
        var dw = new Conv1d(8, 16, 3, groups: 8, bias: false);
        Assert.Equal([16, 1, 3], dw.Weight.Shape);
        Assert.Null(dw.Bias);
        Assert.Equal([16, 10], dw.Forward(Torch.Randn(8, 12)).Shape);
        Assert.Contains("Conv1d(40, 128, kernel_size=(5,), stride=(1,), padding='same')", conv.ToString());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ShortInputsWithWidePaddingWorkAsInPyTorch(string device)
    {
        // A row shorter than the padding, so that some kernel taps read only padding (these threw an out-of-range error).
        var dev = Device.Parse(device);
        var x = Torch.Ones([1, 1, 1], DType.Float64).To(dev).RequiresGrad_();
        var w = H.D([1, 2, 3, 4, 5], 1, 1, 5).To(dev);
        var y = Functional.Conv1d(x, w, H.D([0.5], 1).To(dev), padding: 2);
        H.Close([3.5], y); // torch.conv1d(ones(1,1,1), w, b, padding=2): the middle tap only
        y.Sum().Backward();
        H.Close([3], x.Grad!);
        // "same" with an even kernel pads 1 left and 2 right: the output is tap 1's.
        H.Close([2], Functional.Conv1d(x.Detach(), H.D([1, 2, 3, 4], 1, 1, 4).To(dev), padding: "same"));
        H.Close([1], Functional.MaxPool1d(x.Detach(), 5, 1, 2));
        H.Close([0.2], Functional.AvgPool1d(x.Detach(), 5, 1, 2), 1e-15);
        H.Grad(t => Functional.Conv1d(t[0], t[1], null, 1, 3, 1, 1), H.Leaf(dev, 4, 2, 2, 2), H.Leaf(dev, 5, 3, 2, 7));
        H.Grad(t => Functional.Conv1d(t[0], t[1], null, 1, "same", 3, 1), H.Leaf(dev, 6, 1, 2, 4), H.Leaf(dev, 7, 2, 2, 5));
        H.Grad(t => Functional.MaxPool1d(t[0], 5, 1, 2), H.Leaf(dev, 8, 2, 2, 2));
        H.Grad(t => Functional.AvgPool1d(t[0], 5, 1, 2), H.Leaf(dev, 9, 2, 2, 1));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void PoolsGradCheck(string device)
    {
        var dev = Device.Parse(device);
        var x = H.Leaf(dev, 7, 2, 3, 9);
        H.Grad(t => Functional.MaxPool1d(t[0], 3, 2, 1, 2, ceilMode: true), x);
        H.Grad(t => Functional.MaxPool1d(t[0], 2), x);
        H.Grad(t => Functional.AvgPool1d(t[0], 4, 3, 2, ceilMode: true, countIncludePad: false), x);
        H.Grad(t => Functional.AvgPool1d(t[0], 3, 2, 1, ceilMode: true), x);
        H.Grad(t => new MaxPool1d(3, 1, 1).Forward(t[0]), H.Leaf(dev, 8, 3, 6));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void PoolsFollowPyTorchsRules(string device)
    {
        var dev = Device.Parse(device);
        var x = H.D([1, 5, 5, 2, 0, 3], 1, 1, 6).To(dev).RequiresGrad_();
        // Windows [1 5 5] [5 2 0] and, with ceilMode, the partial [0 3]; a tie sends the gradient to the first maximum.
        Assert.Equal([1, 1, 2], Functional.MaxPool1d(x, 3, 2).Shape);
        var y = Functional.MaxPool1d(x, 3, 2, ceilMode: true);
        H.Close([5, 5, 3], y);
        y.Sum().Backward();
        H.Close([0, 1, 1, 0, 0, 1], x.Grad!);
        // Padding with -infinity never wins: [-inf 1 5] [5 5 2] [2 0 3], and with ceilMode [3 -inf].
        H.Close([5, 5, 3], Functional.MaxPool1d(x, 3, 2, padding: 1));
        H.Close([5, 5, 3, 3], Functional.MaxPool1d(x, 3, 2, padding: 1, ceilMode: true));
        // ceilMode drops a last window that would start in the right padding: floor((5 + 2 - 2 + 1) / 2) + 1 = 4, but (4 - 1) * 2 >= 5 + 1.
        Assert.Equal([1, 1, 3], Functional.MaxPool1d(Torch.Randn(1, 1, 5).To(dev), 2, 2, 1, ceilMode: true).Shape);

        // AvgPool1d, padding 1: [p 1 5] [5 5 2] [2 0 3] and, with ceilMode, [3 p] (the window clipped to the padded input).
        H.Close([2, 4, 5.0 / 3], Functional.AvgPool1d(x, 3, 2, 1), 1e-15);
        H.Close([3, 4, 5.0 / 3], Functional.AvgPool1d(x, 3, 2, 1, countIncludePad: false), 1e-15);
        H.Close([2, 4, 5.0 / 3, 1.5], Functional.AvgPool1d(x, 3, 2, 1, ceilMode: true), 1e-15);
        H.Close([3, 4, 5.0 / 3, 3], Functional.AvgPool1d(x, 3, 2, 1, ceilMode: true, countIncludePad: false), 1e-15);
        // Unbatched (C, L).
        Assert.Equal([1, 3], new AvgPool1d(2).Forward(x.Reshape(1, 6)).Shape);
        Assert.Equal([1, 2], new MaxPool1d(3).Forward(x.Reshape(1, 6)).Shape);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void BatchNormWithEpsZeroLeavesAConstantChannelAtItsBias(string device)
    {
        // PyTorch's batch_norm gives an inverse std of 0 where var + eps is 0: the output is the bias, the gradient 0 (NaN here before).
        var d = Device.Parse(device);
        var x = H.D([2, 5, 2, 6, 2, 7], 3, 2).To(d).RequiresGrad_();
        var y = Functional.BatchNorm(x, null, null, null, H.D([0.5, 0.5], 2).To(d), training: true, eps: 0);
        double s = Math.Sqrt(2.0 / 3);
        H.Close([0.5, 0.5 - 1 / s, 0.5, 0.5, 0.5, 0.5 + 1 / s], y, 1e-12);
        (y * H.D([1, 2, 3, 4, 5, 6], 3, 2).To(d)).Sum().Backward();
        Assert.All(x.Grad!.Arr(), g => Assert.True(double.IsFinite(g)));
        H.Close([0, 0, 0], x.Grad!.Narrow(1, 0, 1).Reshape(3), 0);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void NormsGradCheck(string device)
    {
        var dev = Device.Parse(device);
        H.Grad(t => Functional.LayerNorm(t[0], [4], t[1], t[2]), H.Leaf(dev, 1, 3, 4), H.Leaf(dev, 2, 4), H.Leaf(dev, 3, 4));
        H.Grad(t => Functional.LayerNorm(t[0], [2, 3], t[1], null, 0.1), H.Leaf(dev, 1, 2, 2, 3), H.Leaf(dev, 2, 2, 3));
        H.Grad(t => Functional.LayerNorm(t[0], [5]), H.Leaf(dev, 4, 5));
        H.Grad(t => Functional.BatchNorm(t[0], null, null, t[1], t[2], training: true), H.Leaf(dev, 5, 4, 3), H.Leaf(dev, 6, 3), H.Leaf(dev, 7, 3));
        H.Grad(t => Functional.BatchNorm(t[0], null, null, t[1], t[2], training: true), H.Leaf(dev, 5, 2, 3, 4), H.Leaf(dev, 6, 3), H.Leaf(dev, 7, 3));
        var rm = H.Rnd(dev, 8, 3);
        var rv = (H.Rnd(dev, 9, 3) * H.Rnd(dev, 9, 3) + 0.5);
        H.Grad(t => Functional.BatchNorm(t[0], rm, rv, t[1], t[2]), H.Leaf(dev, 5, 2, 3, 4), H.Leaf(dev, 6, 3), H.Leaf(dev, 7, 3));
        var bn = new BatchNorm1d(3, dtype: DType.Float64).To(dev);
        H.Grad(t => ((BatchNorm1d)bn).Forward(t[0]), H.Leaf(dev, 10, 4, 3, 2));
        var ln = new LayerNorm(6, dtype: DType.Float64).To(dev);
        H.Grad(t => ((LayerNorm)ln).Forward(t[0]), H.Leaf(dev, 11, 2, 6));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void BatchNormTracksRunningStatistics(string device)
    {
        var dev = Device.Parse(device);
        var bn = new BatchNorm1d(2, momentum: null, dtype: DType.Float64);
        bn.To(dev);
        Assert.Equal(["running_mean", "running_var", "num_batches_tracked"], bn.NamedBuffers().Select(b => b.Name));
        Assert.All(bn.Buffers(), b => Assert.Equal(dev, b.Device));
        var a = H.D([1, 10, 3, 20, 5, 30], 3, 2).To(dev);   // channel 0: 1 3 5 (mean 3, unbiased var 4); channel 1: 10 20 30 (20, 100)
        var b2 = H.D([2, 0, 4, 0], 2, 2).To(dev);            // channel 0: 2 4 (3, 2); channel 1: 0 0 (0, 0)
        var y = bn.Forward(a);
        H.Close([-Math.Sqrt(1.5), -Math.Sqrt(1.5), 0, 0, Math.Sqrt(1.5), Math.Sqrt(1.5)], y, 1e-5);
        bn.Forward(b2);
        // momentum null: the cumulative average of the batch statistics.
        H.Close([3, 10], bn.RunningMean!, 1e-12);
        H.Close([3, 50], bn.RunningVar!, 1e-12);
        Assert.Equal(2, bn.NumBatchesTracked!.Item<long>());
        bn.Eval();
        H.Close([0, (10 - 10) / Math.Sqrt(50 + 1e-5)], bn.Forward(H.D([3, 10], 1, 2).To(dev)), 1e-12);
        Assert.Equal(2, bn.NumBatchesTracked!.Item<long>());

        var m = new BatchNorm1d(2, momentum: 0.5, trackRunningStats: false, dtype: DType.Float64);
        Assert.Empty(m.NamedBuffers());
        m.Eval();   // without running statistics eval still uses the batch's
        H.Close([-1, -1, 1, 1], m.Forward(H.D([1, 5, 3, 7], 2, 2)), 1e-5);
    }

    [Fact]
    public void CheckpointsCarryBuffers()
    {
        var dir = Directory.CreateTempSubdirectory("minigrad-bn");
        try
        {
            var path = Path.Combine(dir.FullName, "bn.safetensors");
            var model = new Sequential(new Conv1d(2, 3, 3, dtype: DType.Float64), new BatchNorm1d(3, dtype: DType.Float64));
            ((ITensorModule)model).Forward(H.Rnd(1, 4, 2, 6));
            ((ITensorModule)model).Forward(H.Rnd(2, 4, 2, 6));
            Checkpoint.Save(model, path);
            var fresh = new Sequential(new Conv1d(2, 3, 3, dtype: DType.Float64), new BatchNorm1d(3, dtype: DType.Float64));
            Checkpoint.Load(fresh, path);
            foreach (var ((n1, b1), (n2, b2)) in model.NamedBuffers().Zip(fresh.NamedBuffers()))
            {
                Assert.Equal(n1, n2);
                Assert.Equal(b1.DType, b2.DType);
                Assert.Equal(b1.ToArray<double>(), b2.ToArray<double>());
            }
            Assert.Equal(["1.running_mean", "1.running_var", "1.num_batches_tracked"], fresh.NamedBuffers().Select(b => b.Name));
            Assert.Equal(2, ((BatchNorm1d)fresh.NamedChildren().Last().Module).NumBatchesTracked!.Item<long>());
            Assert.Equal(model.Parameters().Select(p => p.ToArray<double>()), fresh.Parameters().Select(p => p.ToArray<double>()));

            // A checkpoint without the buffers does not load into a module that has them, and changes nothing.
            var untracked = Path.Combine(dir.FullName, "untracked.safetensors");
            Checkpoint.Save(new BatchNorm1d(3, trackRunningStats: false, dtype: DType.Float64), untracked);
            var target = new BatchNorm1d(3, dtype: DType.Float64);
            H.Throws<CheckpointException>(() => Checkpoint.Load(target, untracked), "missing", "'running_mean'", "'num_batches_tracked'");
            H.Throws<CheckpointException>(() => Checkpoint.Load(new BatchNorm1d(3, trackRunningStats: false), path), "unexpected");
            Assert.Equal([0.0, 0, 0], target.RunningMean!.ToArray<double>());
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void BadArgumentsThrowNamingTheArgumentAndChangeNothing()
    {
        var x = Torch.Randn(2, 4, 10);
        var w = Torch.Randn(6, 2, 3);
        void Bad(Action a, string arg, params string[] fragments) => Assert.Equal(arg, H.Throws<ArgumentException>(a, fragments).ParamName);

        Bad(() => new Conv1d(0, 4, 3), "inChannels", "inChannels = 0", "positive");
        Bad(() => new Conv1d(4, 4, 0), "kernelSize", "kernelSize = 0");
        Bad(() => new Conv1d(4, 6, 3, groups: 4), "outChannels", "outChannels = 6", "groups = 4");
        Bad(() => new Conv1d(6, 4, 3, groups: 4), "inChannels", "inChannels = 6");
        Bad(() => new Conv1d(4, 4, 3, stride: 2, padding: "same"), "padding", "'same'", "stride = 2");
        Bad(() => new Conv1d(4, 4, 3, padding: "full"), "padding", "'full'", "\"same\"");
        Bad(() => new Conv1d(4, 4, 3, padding: -1), "padding", "padding = -1");
        Bad(() => new Conv1d(4, 4, 3, dilation: 0), "dilation", "dilation = 0");
        Bad(() => new Conv1d(4, 4, 3, paddingMode: "reflect"), "paddingMode", "'reflect'", "'zeros'");
        Bad(() => Functional.Conv1d(x, w), "input", "4 channels", "expects 2");
        Bad(() => Functional.Conv1d(x, w, groups: 2, stride: 0), "stride", "stride = 0");
        Bad(() => Functional.Conv1d(x, w, Torch.Randn(5), groups: 2), "bias", "[5]", "expected [6]");
        Bad(() => Functional.Conv1d(Torch.Randn(2, 4, 10, 1), w, groups: 2), "input", "[2,4,10,1]");
        Bad(() => Functional.Conv1d(Torch.Randn(2, 4, 2), w, groups: 2, dilation: 2), "input", "shorter than the dilated kernel (5");
        Bad(() => Functional.Conv1d(x, Torch.Randn(6, 2), groups: 2), "weight", "[6,2]");
        Bad(() => Functional.Conv1d(x.To(DType.Float64), w, groups: 2), "input", "Float64");

        Bad(() => new MaxPool1d(3, padding: 2), "padding", "padding = 2", "kernelSize / 2 = 1");
        Bad(() => new MaxPool1d(3, stride: 0), "stride", "stride = 0");
        Bad(() => new AvgPool1d(0), "kernelSize", "kernelSize = 0");
        Bad(() => Functional.MaxPool1d(Torch.Randn(2, 2), 3), "input", "[2,2]", "output length");
        Bad(() => Functional.AvgPool1d(Torch.Randn(10), 3), "input", "[10]");
        Bad(() => Functional.MaxPool1d(x, 3, dilation: -1), "dilation", "dilation = -1");

        Bad(() => new LayerNorm([]), "normalizedShape", "[]");
        Bad(() => new LayerNorm(4, eps: -1), "eps", "eps = -1");
        Bad(() => new LayerNorm(4).Forward(Torch.Randn(3, 5)), "input", "[3,5]", "[4]");
        Bad(() => Functional.LayerNorm(Torch.Randn(3, 4), [4], Torch.Randn(3)), "weight", "[3]");
        Bad(() => new BatchNorm1d(0), "numFeatures", "numFeatures = 0");
        Bad(() => new BatchNorm1d(3, momentum: 1.5), "momentum", "momentum = 1.5");
        Bad(() => Functional.BatchNorm(x, Torch.Zeros(4), null), "runningVar", "both or neither");

        var bn = new BatchNorm1d(4);
        using (Torch.NoGrad()) bn.RunningMean!.Copy_(Torch.Full([4], 0.25));
        Bad(() => bn.Forward(Torch.Randn(2, 3, 5)), "input", "[2,3,5]", "3 channels", "numFeatures = 4");
        Bad(() => bn.Forward(Torch.Randn(1, 4)), "input", "more than 1 value per channel");
        Bad(() => bn.Forward(Torch.Randn(2, 4, 1, 1)), "input", "[2,4,1,1]");
        Assert.Equal([0.25f, 0.25f, 0.25f, 0.25f], bn.RunningMean!.ToArray<float>());
        Assert.Equal([1f, 1, 1, 1], bn.RunningVar!.ToArray<float>());
        Assert.Equal(0, bn.NumBatchesTracked!.Item<long>());
    }
}
