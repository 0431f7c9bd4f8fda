namespace MiniGrad.Tests.Ilgpu;

/// <summary>
/// The op suite run on two backends: every op family forward and backward through the public Tensor API on the CPU
/// backend and on ILGPU's CPU accelerator, from the same inputs, compared elementwise (float64 tight, float32 ~1e-5).
/// </summary>
[Collection("Ilgpu")]
public class BackendParityTests
{
    static Tensor Idx(Device d, long[] v, params int[] shape) => Torch.Tensor(v, shape).To(d);

    static Tensor Pos(Tensor x) => x.Abs() + 0.5;

    // name -> (function, input shapes)
    static readonly Dictionary<string, (Func<Tensor[], Tensor> F, int[][] Shapes)> Ops = new()
    {
        ["add_broadcast"] = (x => x[0] + x[1], [[2, 3, 4], [3, 1]]),
        ["sub_broadcast"] = (x => x[0] - x[1], [[4], [2, 3, 4]]),
        ["mul_broadcast"] = (x => x[0] * x[1], [[2, 1, 4], [3, 1]]),
        ["div"] = (x => x[0] / Pos(x[1]), [[3, 4], [3, 4]]),
        ["pow"] = (x => Pos(x[0]).Pow(x[1]), [[3, 4], [4]]),
        ["pow_scalar"] = (x => x[0].Pow(2.0), [[3, 4]]),
        ["exp"] = (x => x[0].Exp(), [[3, 5]]),
        ["log"] = (x => Pos(x[0]).Log(), [[3, 5]]),
        ["sqrt"] = (x => Pos(x[0]).Sqrt(), [[3, 5]]),
        ["abs_neg_sign"] = (x => x[0].Abs() - x[0].Neg() * x[0].Sign(), [[3, 5]]),
        ["tanh"] = (x => x[0].Tanh(), [[3, 5]]),
        ["sigmoid"] = (x => x[0].Sigmoid(), [[3, 5]]),
        ["relu"] = (x => x[0].Relu(), [[3, 5]]),
        ["clamp"] = (x => x[0].Clamp(-0.5, 0.7), [[4, 5]]),
        ["where_compare"] = (x => Torch.Where(x[0].Gt(x[1]), x[0], x[1] * 2), [[3, 4], [4]]),
        ["sum_dim"] = (x => x[0].Sum(1), [[2, 3, 4]]),
        ["sum_all"] = (x => x[0].Sum(), [[3, 7]]),
        ["mean_dims"] = (x => x[0].Mean([0, 2], keepDim: true), [[2, 3, 4]]),
        ["max_min"] = (x => x[0].Max([1]) - x[0].Min([0]).Sum(), [[3, 5]]),
        ["matmul"] = (x => x[0].MatMul(x[1]), [[3, 6], [6, 5]]),
        ["matmul_batched"] = (x => x[0].MatMul(x[1]), [[2, 3, 5], [2, 5, 4]]),
        ["matmul_broadcast"] = (x => x[0].MatMul(x[1]), [[2, 3, 5], [5, 7]]),
        ["matmul_transposed"] = (x => x[0].Transpose(0, 1).MatMul(x[1].Transpose(0, 1)), [[5, 3], [4, 5]]),
        ["matmul_big_tile"] = (x => x[0].MatMul(x[1]), [[17, 19], [19, 18]]),
        ["permute"] = (x => x[0].Permute(2, 0, 1), [[2, 3, 4]]),
        ["expand"] = (x => x[0].Expand(2, 3, 4), [[3, 1]]),
        ["narrow"] = (x => x[0].Narrow(1, 1, 2), [[3, 4, 2]]),
        ["cat"] = (x => Torch.Cat([x[0], x[1]], 1), [[2, 3, 2], [2, 1, 2]]),
        ["stack_select"] = (x => Torch.Stack([x[0], x[1]], 0).Select(2, 1), [[2, 3], [2, 3]]),
        ["index_select"] = (x => x[0].IndexSelect(0, Idx(x[0].Device, [2, 0, 2, 1], 4)), [[3, 4]]),
        ["index_select_dim1"] = (x => x[0].IndexSelect(1, Idx(x[0].Device, [1, 1, 0], 3)), [[2, 3, 2]]),
        ["gather"] = (x => x[0].Gather(1, Idx(x[0].Device, [0, 2, 2, 1, 3, 3], 3, 2)), [[3, 4]]),
        ["softmax_last"] = (x => x[0].Softmax(-1), [[3, 7]]),
        ["softmax_dim0"] = (x => x[0].Softmax(0), [[5, 3]]),
        ["log_softmax"] = (x => x[0].LogSoftmax(2), [[4, 2, 9]]),
        ["log_softmax_long_row"] = (x => x[0].LogSoftmax(1), [[2, 40]]),
    };

    public static TheoryData<string, DType> Cases()
    {
        var d = new TheoryData<string, DType>();
        foreach (var k in Ops.Keys) { d.Add(k, DType.Float64); d.Add(k, DType.Float32); }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchCpu(string op, DType dtype)
    {
        var (f, shapes) = Ops[op];
        Run(op, f, shapes, dtype);
    }

    internal static void Run(string op, Func<Tensor[], Tensor> f, int[][] shapes, DType dtype)
    {
        double tol = dtype == DType.Float64 ? 1e-10 : 2e-5;
        var cpu = shapes.Select((s, i) => Torch.Randn(s, dtype, generator: new Generator(100 + i)).RequiresGrad_()).ToArray();
        var dev = cpu.Select(x => x.Detach().To(IG.Dev).RequiresGrad_()).ToArray();
        var yc = f(cpu);
        var yd = f(dev);
        Assert.Equal(IG.Dev, yd.Device);
        Assert.Equal(yc.Shape, yd.Shape);
        IG.Close(yc.ToArray<double>(), yd.ToArray<double>(), tol, $"{op} {dtype} forward");
        var w = Torch.Randn(yc.Shape, dtype, generator: new Generator(7));
        (yc * w).Sum().Backward();
        (yd * w.To(IG.Dev)).Sum().Backward();
        for (int i = 0; i < cpu.Length; i++)
        {
            Assert.NotNull(cpu[i].Grad);
            Assert.Equal(IG.Dev, dev[i].Grad!.Device);
            IG.Close(cpu[i].Grad!.ToArray<double>(), dev[i].Grad!.ToArray<double>(), tol, $"{op} {dtype} grad[{i}]");
        }
    }

    [Fact]
    public void IntegerBoolAndCastOpsMatchCpu()
    {
        var a = Torch.Randint(-5, 5, [3, 4]);
        var b = Torch.Randint(-5, 5, [4]);
        var da = a.To(IG.Dev); var db = b.To(IG.Dev);
        Assert.Equal((a + b).ToArray<long>(), (da + db).ToArray<long>());
        Assert.Equal((a * b - a).ToArray<long>(), (da * db - da).ToArray<long>());
        Assert.Equal(a.Abs().ToArray<long>(), da.Abs().ToArray<long>());
        Assert.Equal(a.Sum(1).ToArray<long>(), da.Sum(1).ToArray<long>());
        Assert.Equal(a.Lt(b).ToArray<bool>(), da.Lt(db).ToArray<bool>());
        Assert.Equal(a.Eq(b).ToArray<bool>(), da.Eq(db).ToArray<bool>());
        Assert.Equal(a.Ge(b).ToArray<bool>(), da.Ge(db).ToArray<bool>());
        Assert.Equal(a.To(DType.Int32).ToArray<int>(), da.To(DType.Int32).ToArray<int>());
        Assert.Equal(a.Clamp(-2, 3).ToArray<long>(), da.Clamp(-2, 3).ToArray<long>());
        var x = Torch.Randn([3, 5], DType.Float32, generator: new Generator(3)) * 4;
        var dx = x.To(IG.Dev);
        Assert.Equal(x.To(DType.Int64).ToArray<long>(), dx.To(DType.Int64).ToArray<long>());
        Assert.Equal(x.ArgMax(1).ToArray<long>(), dx.ArgMax(1).ToArray<long>());
        Assert.Equal(x.Gt(0).ToArray<bool>(), dx.Gt(0).ToArray<bool>());
        Assert.Equal(x.Gt(0).To(DType.Float64).ToArray<double>(), dx.Gt(0).To(DType.Float64).ToArray<double>());
        Assert.Equal(x.To(DType.Float64).ToArray<double>(), dx.To(DType.Float64).ToArray<double>());
        var bools = Torch.Tensor(new[] { true, false, true }, 3);
        Assert.Equal(bools.ToArray<bool>(), bools.To(IG.Dev).ToArray<bool>());
        Assert.Equal(Torch.Full([2, 3], 2.5, DType.Float64).ToArray<double>(), Torch.Full([2, 3], 2.5, DType.Float64, IG.Dev).ToArray<double>());
        Assert.Equal(Torch.Arange(7).ToArray<long>(), Torch.Arange(7, device: IG.Dev).ToArray<long>());
    }

    [Fact]
    public void RawPrimitivesIndexAddAndScatterAddMatchCpu()
    {
        var cpu = Device.Cpu.Backend; var dev = IG.Backend;
        var src = Torch.Randn([4, 3], DType.Float64, generator: new Generator(5));
        var idx = Torch.Tensor(new long[] { 2, 0, 2, 1 }, 4);
        var c1 = cpu.IndexAdd([3, 3], 0, idx.Raw, src.Raw);
        var d1 = dev.IndexAdd([3, 3], 0, idx.To(IG.Dev).Raw, src.To(IG.Dev).Raw);
        IG.Close((double[])cpu.ToArray(c1), (double[])dev.ToArray(d1), 1e-12, "IndexAdd");
        var gi = Torch.Tensor(new long[] { 0, 2, 2, 1, 3, 3, 0, 0 }, 2, 4);
        var gs = Torch.Randn([2, 4], DType.Float32, generator: new Generator(6));
        var c2 = cpu.ScatterAdd([2, 5], 1, gi.Raw, gs.Raw);
        var d2 = dev.ScatterAdd([2, 5], 1, gi.To(IG.Dev).Raw, gs.To(IG.Dev).Raw);
        IG.Close(((float[])cpu.ToArray(c2)).Select(v => (double)v).ToArray(), ((float[])dev.ToArray(d2)).Select(v => (double)v).ToArray(), 1e-6, "ScatterAdd");
        var i32 = Torch.Tensor(new[] { 1, 0, 1 }, 3);
        var c3 = cpu.IndexSelect(src.Raw, 1, i32.Raw);
        var d3 = dev.IndexSelect(src.To(IG.Dev).Raw, 1, i32.To(IG.Dev).Raw);
        IG.Close((double[])cpu.ToArray(c3), (double[])dev.ToArray(d3), 0, "IndexSelect int32");
    }

    // One LSTM step by the textbook formulas in float64 on the host: z = gates[t] + h W_hh^T + b, (i, f, g, o), c' = f c + i g, h' = o tanh(c').
    static (double[] H, double[] C, double[] Act) CellReference(double[] gates, int t, double[]? h, double[]? c, double[] whhT, double[]? bias, int n, int hid)
    {
        double Sig(double v) => 1 / (1 + Math.Exp(-v));
        var (hOut, cOut, act) = (new double[n * hid], new double[n * hid], new double[n * 4 * hid]);
        for (int r = 0; r < n; r++)
        {
            var z = new double[4 * hid];
            for (int k = 0; k < 4 * hid; k++)
            {
                z[k] = gates[(t * n + r) * 4 * hid + k] + (bias?[k] ?? 0);
                if (h is not null) for (int m = 0; m < hid; m++) z[k] += h[r * hid + m] * whhT[m * 4 * hid + k];
            }
            for (int j = 0; j < hid; j++)
            {
                double i = Sig(z[j]), f = Sig(z[hid + j]), g = Math.Tanh(z[2 * hid + j]), o = Sig(z[3 * hid + j]);
                cOut[r * hid + j] = f * (c?[r * hid + j] ?? 0) + i * g;
                hOut[r * hid + j] = o * Math.Tanh(cOut[r * hid + j]);
                (act[r * 4 * hid + j], act[r * 4 * hid + hid + j], act[r * 4 * hid + 2 * hid + j], act[r * 4 * hid + 3 * hid + j]) = (i, f, g, o);
            }
        }
        return (hOut, cOut, act);
    }

    [Fact]
    public void LstmCellPrimitivesMatchCpuAndTheFormulas()
    {
        foreach (var dt in new[] { DType.Float64, DType.Float32 })
        {
            double tol = dt == DType.Float64 ? 1e-10 : 2e-5;
            const int T = 3, N = 3, H = 5;
            Tensor R(int seed, params int[] s) => Torch.Randn(s, dt, generator: new Generator(seed));
            var gates = R(1, T, N, 4 * H); var seqH = R(2, T, N, H); var seqC = R(4, T, N, H); var h0 = R(10, N, H); var c0 = R(11, N, H);
            var whhT = R(8, H, 4 * H); var bias = R(3, 4 * H); var whh = R(9, 4 * H, H); var dy = R(5, T, N, H); var dhIn = R(6, N, H); var dcIn = R(7, N, H);
            var cpu = Device.Cpu.Backend; var dev = IG.Backend;
            double[] V(RawTensor x) => new Tensor(x).ToArray<double>();
            double[] Row(double[] seq, int t) => seq.Skip(t * N * H).Take(N * H).ToArray();
            RawTensor Fresh(IBackend b, Tensor x) => b == cpu ? cpu.FromArray(x.Raw.Backend.ToArray(x.Raw), x.Shape) : x.To(IG.Dev).Raw;
            RawTensor? Opt(IBackend b, Tensor? x) => x is null ? null : Fresh(b, x);
            // (t, prev): a forward-in-time step, a backward-in-time step, and first steps with and without an initial state;
            // each over the whole batch and over the rows [1, N) only (a packed batch's active rows), the others untouched.
            foreach (var (t, prev, withState) in new[] { (1, 0, true), (1, 2, true), (0, -1, true), (2, -1, false) })
            foreach (var (n0, count) in new[] { (0, N), (1, N - 1) })
            {
                string what = $"{dt} t={t} prev={prev}{(withState ? "" : " no state")} rows [{n0}, {n0 + count})";
                var hPrev = prev >= 0 ? Row(V(seqH.Raw), prev) : withState ? V(h0.Raw) : null;
                var cPrev = prev >= 0 ? Row(V(seqC.Raw), prev) : withState ? V(c0.Raw) : null;
                var bs = withState ? bias : null;
                var (hRef, cRef, actRef) = CellReference(V(gates.Raw), t, hPrev, cPrev, V(whhT.Raw), bs is null ? null : V(bs.Raw), N, H);
                // Expected after the call: the reference on the rows [n0, n0 + count) of a (N, width) block, the old values elsewhere.
                double[] Mix(double[] fresh, double[] old, int width) =>
                    old.Select((v, k) => k / width >= n0 && k / width < n0 + count ? fresh[k] : v).ToArray();
                double[] GatesRow(double[] g) => g.Skip(t * N * 4 * H).Take(N * 4 * H).ToArray();
                var runs = new List<(RawTensor G, RawTensor Hs, RawTensor Cs, RawTensor Dh, RawTensor Dc)>();
                foreach (var b in new[] { cpu, dev })
                {
                    var (g, hs, cs) = (Fresh(b, gates), Fresh(b, seqH), Fresh(b, seqC));
                    b.LstmCell(g, t, prev, hs, cs, withState ? Fresh(b, h0) : null, withState ? Fresh(b, c0) : null, Fresh(b, whhT), Opt(b, bs), n0, count);
                    string on = $"{what} on {b.Device}";
                    IG.Close(Mix(hRef, Row(V(seqH.Raw), t), H), Row(V(hs), t), tol, $"LstmCell h' {on}");
                    IG.Close(Mix(cRef, Row(V(seqC.Raw), t), H), Row(V(cs), t), tol, $"LstmCell c' {on}");
                    IG.Close(Mix(actRef, GatesRow(V(gates.Raw)), 4 * H), GatesRow(V(g)), tol, $"LstmCell activations {on}");
                    for (int other = 0; other < T; other++) // only row t is written
                        if (other != t)
                        {
                            IG.Close(Row(V(seqH.Raw), other), Row(V(hs), other), 0, $"LstmCell leaves row {other} of hs {on}");
                            IG.Close(Row(V(seqC.Raw), other), Row(V(cs), other), 0, $"LstmCell leaves row {other} of cs {on}");
                        }
                    var actAfter = GatesRow(V(g));
                    var (dh, dc) = (Fresh(b, dhIn), Fresh(b, dcIn));
                    b.LstmCellBackward(g, t, prev, cs, withState ? Fresh(b, c0) : null, Fresh(b, dy), dh, dc, Fresh(b, whh), n0, count);
                    // dh is now d(pre-activation) of row t times W_hh on the rows, computed here independently.
                    var rowT = new Tensor(g).Select(0, t).To(Device.Cpu);
                    IG.Close(Mix(rowT.MatMul(whh).ToArray<double>(), V(dhIn.Raw), H), V(dh), tol, $"LstmCellBackward dh = dG W_hh {on}");
                    // dc' f for the previous c: with f from the reference activations and dc' recomputed from the formula.
                    var dcExp = new double[N * H];
                    var dzExp = new double[N * 4 * H];
                    var (dyT, dhV, dcV, cNew) = (Row(V(dy.Raw), t), V(dhIn.Raw), V(dcIn.Raw), cRef);
                    for (int r = 0; r < N; r++)
                        for (int j = 0; j < H; j++)
                        {
                            int k = r * H + j, a0 = r * 4 * H;
                            double gi = actRef[a0 + j], gf = actRef[a0 + H + j], gg = actRef[a0 + 2 * H + j], go = actRef[a0 + 3 * H + j];
                            double s = Math.Tanh(cNew[k]), dhk = dyT[k] + dhV[k], dct = dcV[k] + dhk * go * (1 - s * s);
                            dcExp[k] = dct * gf;
                            (dzExp[a0 + j], dzExp[a0 + H + j]) = (dct * gg * gi * (1 - gi), dct * (cPrev?[k] ?? 0) * gf * (1 - gf));
                            (dzExp[a0 + 2 * H + j], dzExp[a0 + 3 * H + j]) = (dct * gi * (1 - gg * gg), dhk * s * go * (1 - go));
                        }
                    IG.Close(Mix(dcExp, dcV, H), V(dc), tol, $"LstmCellBackward dc {on}");
                    IG.Close(Mix(dzExp, actAfter, 4 * H), GatesRow(V(g)), tol, $"LstmCellBackward d(pre-activation) {on}");
                    runs.Add((g, hs, cs, dh, dc));
                }
                IG.Close(V(runs[0].G), V(runs[1].G), tol, $"LstmCellBackward d(pre-activation) {what}: cpu vs ilgpu");
                // Without W_hh (the first step when h0 needs no gradient) dh is left as it was.
                var dhKeep = Fresh(cpu, dhIn);
                cpu.LstmCellBackward(Fresh(cpu, gates), t, prev, Fresh(cpu, seqC), null, Fresh(cpu, dy), dhKeep, Fresh(cpu, dcIn), null, n0, count);
                IG.Close(V(dhIn.Raw), V(dhKeep), 0, $"LstmCellBackward without whh keeps dh {what}");
            }
            // Bad calls are named before any work: prev == t, a row past the end, mismatched buffers.
            foreach (var b in new[] { cpu, dev })
            {
                var (g, hs, cs) = (Fresh(b, gates), Fresh(b, seqH), Fresh(b, seqC));
                var before = V(g);
                var e = Assert.Throws<ArgumentException>(() => b.LstmCell(g, 1, 1, hs, cs, null, null, Fresh(b, whhT), null, 0, N));
                Assert.Contains("step 1 after row 1", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCell(g, T, 0, hs, cs, null, null, Fresh(b, whhT), null, 0, N));
                Assert.Contains($"expected 0 <= t < {T}", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCell(g, 1, 0, hs, Fresh(b, R(12, T, N + 1, H)), null, null, Fresh(b, whhT), null, 0, N));
                Assert.Contains("expected one (T, N, H) shape", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCell(g, 1, 0, Fresh(b, R(14, N, H)), Fresh(b, R(15, N, H)), null, null, Fresh(b, whhT), null, 0, N));
                Assert.Contains("expected one (T, N, H) shape", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCell(g, 1, 0, hs, cs, null, null, Fresh(b, whh.Narrow(0, 0, 2 * H)), null, 0, N));
                Assert.Contains("whhT is a", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCellBackward(g, 1, 0, cs, null, Fresh(b, dy), Fresh(b, R(13, N, H + 1)), Fresh(b, dcIn), null, 0, N));
                Assert.Contains("dh is a", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCell(g, 1, 0, hs, cs, null, null, Fresh(b, whhT), null, 1, N));
                Assert.Contains($"batch rows [1, 1 + {N}) do not fit a batch of {N}", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.LstmCellBackward(g, 1, 0, cs, null, Fresh(b, dy), Fresh(b, dhIn), Fresh(b, dcIn), null, -1, 1));
                Assert.Contains("batch rows [-1, -1 + 1)", e.Message);
                IG.Close(before, V(g), 0, $"gates untouched after failed calls on {b.Device}");
            }
        }
    }

    [Fact]
    public void LstmModuleForwardAndBackwardMatchCpu()
    {
        var lc = new MiniGrad.Nn.Lstm(3, 4, numLayers: 2, generator: new Generator(11));
        var ld = new MiniGrad.Nn.Lstm(3, 4, numLayers: 2, generator: new Generator(11));
        ld.To(IG.Dev);
        var x = Torch.Randn([5, 2, 3], DType.Float32, generator: new Generator(12));
        var (yc, _) = lc.Forward(x);
        var (yd, _) = ld.Forward(x.To(IG.Dev));
        IG.Close(yc.ToArray<double>(), yd.ToArray<double>(), 2e-5, "Lstm output");
        yc.Pow(2.0).Sum().Backward();
        yd.Pow(2.0).Sum().Backward();
        var pc = lc.Parameters().ToList(); var pd = ld.Parameters().ToList();
        for (int i = 0; i < pc.Count; i++) IG.Close(pc[i].Grad!.ToArray<double>(), pd[i].Grad!.ToArray<double>(), 2e-5, $"Lstm grad {i}");
    }

    [Fact]
    public void GradCheckOnIlgpu()
    {
        Tensor L(int seed, params int[] s) => Torch.Randn(s, DType.Float64, IG.Dev, generator: new Generator(seed)).RequiresGrad_();
        Assert.True(GradCheck.Check(x => (x[0].MatMul(x[1]).Tanh() * x[2]).Sum(), [L(1, 3, 4), L(2, 4, 2), L(3, 2)]));
        Assert.True(GradCheck.Check(x => x[0].LogSoftmax(1).Gather(1, Torch.Tensor(new long[] { 0, 2, 1 }, 3, 1).To(IG.Dev)).Sum(), [L(4, 3, 4)]));
        Assert.True(GradCheck.Check(x => (x[0].Sigmoid() * x[1].Exp()).Mean([0]).Sum(), [L(5, 2, 3), L(6, 3)]));
    }

    [Fact]
    public void MixedDevicesThrowNamingBoth()
    {
        var a = Torch.Randn([2, 2]);
        var b = Torch.Randn([2, 2]).To(IG.Dev);
        var e = Assert.ThrowsAny<ArgumentException>(() => a + b);
        Assert.Contains("cpu", e.Message);
        Assert.Contains("ilgpu-cpu", e.Message);
        // The backend itself also refuses a foreign tensor, naming both devices.
        var e2 = Assert.ThrowsAny<ArgumentException>(() => IG.Backend.Binary(BinaryOp.Add, a.Raw, b.Raw));
        Assert.Contains("cpu", e2.Message);
        Assert.Contains("ilgpu-cpu", e2.Message);
    }

    [Fact]
    public void DeviceNamesResolve()
    {
        Assert.Equal("ilgpu-cpu", IG.Dev.Type);
        Assert.True(BackendRegistry.Get(IG.Dev) is MiniGrad.Backends.Ilgpu.IlgpuBackend);
        var auto = Device.Parse("auto");
        Assert.Contains(auto.Type, new[] { "cuda", "opencl", "cpu" });
    }
}
