using MiniGrad.Nn;

namespace MiniGrad.Tests.Ilgpu;

/// <summary>
/// The GRU and RNN cell primitives (IBackend.GruCell, RnnCell and their backwards) on the CPU backend and on ILGPU's CPU
/// accelerator against the textbook formulas in float64 on the host, as BackendParityTests does for the LSTM: forward
/// and backward in time, first steps with and without an initial state, the whole batch and a row range (the others
/// untouched), Float64 and Float32; then the modules forward and backward on both backends, and bad calls.
/// </summary>
[Collection("Ilgpu")]
public class RecurrentCellParityTests
{
    const int T = 3, N = 3, Hd = 5;
    static readonly (int T, int Prev, bool WithState)[] Steps = [(1, 0, true), (1, 2, true), (0, -1, true), (2, -1, false)];
    static readonly (int N0, int Count)[] Ranges = [(0, N), (1, N - 1)];

    static double Sig(double v) => 1 / (1 + Math.Exp(-v));
    static double[] V(RawTensor x) => new Tensor(x).ToArray<double>();
    static double[] Row(double[] seq, int t, int width) => seq.Skip(t * N * width).Take(N * width).ToArray();
    static RawTensor Fresh(IBackend b, Tensor x) => b == Device.Cpu.Backend ? Device.Cpu.Backend.FromArray(x.Raw.Backend.ToArray(x.Raw), x.Shape) : x.To(IG.Dev).Raw;
    static RawTensor? Opt(IBackend b, Tensor? x) => x is null ? null : Fresh(b, x);
    /// <summary>The reference on the rows [n0, n0 + count) of a (N, width) block, the old values elsewhere.</summary>
    static double[] Mix(double[] fresh, double[] old, int width, int n0, int count) =>
        old.Select((v, k) => k / width >= n0 && k / width < n0 + count ? fresh[k] : v).ToArray();
    /// <summary>h W^T for every row: h (N, H), wT (H, width).</summary>
    static double[] Project(double[]? h, double[] wT, int width)
    {
        var r = new double[N * width];
        if (h is not null)
            for (int n = 0; n < N; n++)
                for (int k = 0; k < width; k++)
                    for (int m = 0; m < Hd; m++) r[n * width + k] += h[n * Hd + m] * wT[m * width + k];
        return r;
    }

    [Fact]
    public void GruCellPrimitivesMatchTheFormulasOnBothBackends()
    {
        foreach (var dt in new[] { DType.Float64, DType.Float32 })
        {
            double tol = dt == DType.Float64 ? 1e-10 : 2e-5;
            Tensor R(int seed, params int[] s) => Torch.Randn(s, dt, generator: new Generator(seed));
            var gates = R(1, T, N, 3 * Hd); var seqH = R(2, T, N, Hd); var seqN = R(4, T, N, Hd); var h0 = R(10, N, Hd);
            var whhT = R(8, Hd, 3 * Hd); var whh = R(9, 3 * Hd, Hd); var bias = R(3, 4 * Hd); var dy = R(5, T, N, Hd); var dhIn = R(6, N, Hd);
            var (g0, b0, dh0) = (V(gates.Raw), V(bias.Raw), V(dhIn.Raw));
            foreach (var (t, prev, withState) in Steps)
                foreach (var (n0, count) in Ranges)
                {
                    string what = $"{dt} t={t} prev={prev}{(withState ? "" : " no state")} rows [{n0}, {n0 + count})";
                    var hPrev = prev >= 0 ? Row(V(seqH.Raw), prev, Hd) : withState ? V(h0.Raw) : null;
                    var bs = withState ? b0 : null;
                    var hh = Project(hPrev, V(whhT.Raw), 3 * Hd);
                    var (act, hv, hOut) = (new double[N * 3 * Hd], new double[N * Hd], new double[N * Hd]);
                    for (int r = 0; r < N; r++)
                        for (int j = 0; j < Hd; j++)
                        {
                            int a0 = (t * N + r) * 3 * Hd, q = r * 3 * Hd;
                            double B(int k) => bs?[k] ?? 0;
                            double rg = Sig(g0[a0 + j] + hh[q + j] + B(j)), zg = Sig(g0[a0 + Hd + j] + hh[q + Hd + j] + B(Hd + j));
                            double hn = hh[q + 2 * Hd + j] + B(3 * Hd + j), ng = Math.Tanh(g0[a0 + 2 * Hd + j] + B(2 * Hd + j) + rg * hn);
                            (act[q + j], act[q + Hd + j], act[q + 2 * Hd + j], hv[r * Hd + j]) = (rg, zg, ng, hn);
                            hOut[r * Hd + j] = (1 - zg) * ng + zg * (hPrev?[r * Hd + j] ?? 0);
                        }
                    // The backward from those activations: the hidden side (dr, dz, dn r) into the gates, dn into hn, dh' z + dG W_hh into dh.
                    var (dG, dnOut, dhOut) = (new double[N * 3 * Hd], new double[N * Hd], new double[N * Hd]);
                    var dyT = Row(V(dy.Raw), t, Hd);
                    for (int r = 0; r < N; r++)
                        for (int j = 0; j < Hd; j++)
                        {
                            int q = r * 3 * Hd, k = r * Hd + j;
                            double rg = act[q + j], zg = act[q + Hd + j], ng = act[q + 2 * Hd + j], d = dyT[k] + dh0[k];
                            double dn = d * (1 - zg) * (1 - ng * ng);
                            (dG[q + j], dG[q + Hd + j], dG[q + 2 * Hd + j]) = (dn * hv[k] * rg * (1 - rg), d * ((hPrev?[k] ?? 0) - ng) * zg * (1 - zg), dn * rg);
                            (dnOut[k], dhOut[k]) = (dn, d * zg);
                        }
                    var whhV = V(whh.Raw);
                    for (int r = 0; r < N; r++)
                        for (int j = 0; j < Hd; j++)
                            for (int k = 0; k < 3 * Hd; k++) dhOut[r * Hd + j] += dG[r * 3 * Hd + k] * whhV[k * Hd + j];

                    foreach (var b in new IBackend[] { Device.Cpu.Backend, IG.Backend })
                    {
                        string on = $"{what} on {b.Device}";
                        var (g, hs, hn) = (Fresh(b, gates), Fresh(b, seqH), Fresh(b, seqN));
                        b.GruCell(g, t, prev, hs, hn, withState ? Fresh(b, h0) : null, Fresh(b, whhT), withState ? Fresh(b, bias) : null, n0, count);
                        IG.Close(Mix(act, Row(g0, t, 3 * Hd), 3 * Hd, n0, count), Row(V(g), t, 3 * Hd), tol, $"GruCell activations {on}");
                        IG.Close(Mix(hv, Row(V(seqN.Raw), t, Hd), Hd, n0, count), Row(V(hn), t, Hd), tol, $"GruCell W_hn h + b_hn {on}");
                        IG.Close(Mix(hOut, Row(V(seqH.Raw), t, Hd), Hd, n0, count), Row(V(hs), t, Hd), tol, $"GruCell h' {on}");
                        for (int other = 0; other < T; other++) // only row t is written
                            if (other != t)
                            {
                                IG.Close(Row(V(seqH.Raw), other, Hd), Row(V(hs), other, Hd), 0, $"GruCell leaves row {other} of hs {on}");
                                IG.Close(Row(g0, other, 3 * Hd), Row(V(g), other, 3 * Hd), 0, $"GruCell leaves row {other} of gates {on}");
                            }
                        var dh = Fresh(b, dhIn);
                        // The backward reads the activations of the reference (so that it is checked on its own).
                        var ga = Fresh(b, Torch.Tensor(MixInto(g0, act, t, 3 * Hd, n0, count), T, N, 3 * Hd).To(dt));
                        var na = Fresh(b, Torch.Tensor(MixInto(V(seqN.Raw), hv, t, Hd, n0, count), T, N, Hd).To(dt));
                        b.GruCellBackward(ga, t, prev, hs, na, withState ? Fresh(b, h0) : null, Fresh(b, dy), dh, Fresh(b, whh), n0, count);
                        IG.Close(Mix(dG, Row(g0, t, 3 * Hd), 3 * Hd, n0, count), Row(V(ga), t, 3 * Hd), tol, $"GruCellBackward hidden-side d(pre-activation) {on}");
                        IG.Close(Mix(dnOut, Row(V(seqN.Raw), t, Hd), Hd, n0, count), Row(V(na), t, Hd), tol, $"GruCellBackward dn {on}");
                        IG.Close(Mix(dhOut, dh0, Hd, n0, count), V(dh), tol, $"GruCellBackward dh {on}");
                    }
                }
            // Bad calls are named before any work.
            foreach (var b in new IBackend[] { Device.Cpu.Backend, IG.Backend })
            {
                var (g, hs, hn) = (Fresh(b, gates), Fresh(b, seqH), Fresh(b, seqN));
                var before = V(g);
                var e = Assert.Throws<ArgumentException>(() => b.GruCell(Fresh(b, R(12, T, N, 4 * Hd)), 1, 0, hs, hn, null, Fresh(b, whhT), null, 0, N));
                Assert.Contains($"expected {dt} [{T},{N},{3 * Hd}]", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.GruCell(g, 1, 0, hs, hn, null, Fresh(b, whhT), Fresh(b, R(13, 3 * Hd)), 0, N));
                Assert.Contains("bias is a", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.GruCell(g, 1, 0, hs, Fresh(b, R(14, T, N, Hd + 1)), null, Fresh(b, whhT), null, 0, N));
                Assert.Contains("expected one (T, N, H) shape", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.GruCellBackward(g, 1, 0, hs, hn, null, Fresh(b, dy), Fresh(b, R(15, N, Hd + 1)), null, 0, N));
                Assert.Contains("dh is a", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.GruCell(g, 1, 0, hs, hn, null, Fresh(b, whhT), null, 1, N));
                Assert.Contains($"batch rows [1, 1 + {N}) do not fit a batch of {N}", e.Message);
                IG.Close(before, V(g), 0, $"gates untouched after failed calls on {b.Device}");
            }
        }
    }

    /// <summary>seq with row t's rows [n0, n0 + count) replaced by rows of fresh (an (N, width) block).</summary>
    static double[] MixInto(double[] seq, double[] fresh, int t, int width, int n0, int count)
    {
        var r = (double[])seq.Clone();
        for (int n = n0; n < n0 + count; n++)
            for (int k = 0; k < width; k++) r[(t * N + n) * width + k] = fresh[n * width + k];
        return r;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RnnCellPrimitivesMatchTheFormulasOnBothBackends(bool relu)
    {
        foreach (var dt in new[] { DType.Float64, DType.Float32 })
        {
            double tol = dt == DType.Float64 ? 1e-10 : 2e-5;
            Tensor R(int seed, params int[] s) => Torch.Randn(s, dt, generator: new Generator(seed));
            var g0 = V(R(1, T, N, Hd).Raw);
            g0[(2 * N + 1) * Hd] = 0; // a pre-activation of exactly 0 (step 2 has no state or bias): relu's derivative there is 0
            var gates = Torch.Tensor(g0, T, N, Hd).To(dt);
            var seqH = R(2, T, N, Hd); var h0 = R(10, N, Hd); var whhT = R(8, Hd, Hd); var whh = R(9, Hd, Hd); var bias = R(3, Hd);
            var dy = R(5, T, N, Hd); var dhIn = R(6, N, Hd);
            var dh0 = V(dhIn.Raw);
            foreach (var (t, prev, withState) in Steps)
                foreach (var (n0, count) in Ranges)
                {
                    string what = $"{dt} relu={relu} t={t} prev={prev}{(withState ? "" : " no state")} rows [{n0}, {n0 + count})";
                    var hPrev = prev >= 0 ? Row(V(seqH.Raw), prev, Hd) : withState ? V(h0.Raw) : null;
                    var hh = Project(hPrev, V(whhT.Raw), Hd);
                    var b0 = V(bias.Raw);
                    var y = new double[N * Hd];
                    for (int k = 0; k < N * Hd; k++)
                    {
                        double z = g0[t * N * Hd + k] + hh[k] + (withState ? b0[k % Hd] : 0);
                        y[k] = relu ? Math.Max(z, 0) : Math.Tanh(z);
                    }
                    var dyT = Row(V(dy.Raw), t, Hd);
                    var dz = y.Select((v, k) => (dyT[k] + dh0[k]) * (relu ? (v > 0 ? 1 : 0) : 1 - v * v)).ToArray();
                    var whhV = V(whh.Raw);
                    var dhOut = new double[N * Hd];
                    for (int r = 0; r < N; r++)
                        for (int j = 0; j < Hd; j++)
                            for (int k = 0; k < Hd; k++) dhOut[r * Hd + j] += dz[r * Hd + k] * whhV[k * Hd + j];

                    foreach (var b in new IBackend[] { Device.Cpu.Backend, IG.Backend })
                    {
                        string on = $"{what} on {b.Device}";
                        var (g, hs) = (Fresh(b, gates), Fresh(b, seqH));
                        b.RnnCell(g, t, prev, hs, withState ? Fresh(b, h0) : null, Fresh(b, whhT), withState ? Fresh(b, bias) : null, relu, n0, count);
                        IG.Close(Mix(y, Row(g0, t, Hd), Hd, n0, count), Row(V(g), t, Hd), tol, $"RnnCell activation {on}");
                        IG.Close(Mix(y, Row(V(seqH.Raw), t, Hd), Hd, n0, count), Row(V(hs), t, Hd), tol, $"RnnCell h' {on}");
                        for (int other = 0; other < T; other++)
                            if (other != t) IG.Close(Row(V(seqH.Raw), other, Hd), Row(V(hs), other, Hd), 0, $"RnnCell leaves row {other} of hs {on}");
                        var ga = Fresh(b, Torch.Tensor(MixInto(g0, y, t, Hd, n0, count), T, N, Hd).To(dt));
                        var dh = Fresh(b, dhIn);
                        b.RnnCellBackward(ga, t, Fresh(b, dy), dh, Fresh(b, whh), relu, n0, count);
                        IG.Close(Mix(dz, Row(g0, t, Hd), Hd, n0, count), Row(V(ga), t, Hd), tol, $"RnnCellBackward d(pre-activation) {on}");
                        IG.Close(Mix(dhOut, dh0, Hd, n0, count), V(dh), tol, $"RnnCellBackward dh {on}");
                        var dhKeep = Fresh(b, dhIn); // without W_hh dh is left as it was
                        b.RnnCellBackward(Fresh(b, gates), t, Fresh(b, dy), dhKeep, null, relu, n0, count);
                        IG.Close(dh0, V(dhKeep), 0, $"RnnCellBackward without whh keeps dh {on}");
                    }
                }
            foreach (var b in new IBackend[] { Device.Cpu.Backend, IG.Backend })
            {
                var (g, hs) = (Fresh(b, gates), Fresh(b, seqH));
                var e = Assert.Throws<ArgumentException>(() => b.RnnCell(g, 1, 1, hs, null, Fresh(b, whhT), null, relu, 0, N));
                Assert.Contains("step 1 after row 1", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.RnnCell(g, 1, 0, hs, null, Fresh(b, R(11, Hd, 2 * Hd)), null, relu, 0, N));
                Assert.Contains("whhT is a", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.RnnCellBackward(g, T, Fresh(b, dy), Fresh(b, dhIn), null, relu, 0, N));
                Assert.Contains($"expected 0 <= t < {T}", e.Message);
                e = Assert.Throws<ArgumentException>(() => b.RnnCellBackward(g, 1, Fresh(b, dy), Fresh(b, dhIn), null, relu, -1, 1));
                Assert.Contains("batch rows [-1, -1 + 1)", e.Message);
            }
        }
    }

    [Theory]
    [InlineData("gru")]
    [InlineData("relu")]
    public void ModulesForwardAndBackwardMatchCpu(string kind)
    {
        RnnBase Make() => kind == "gru" ? new Gru(3, 4, numLayers: 2, bidirectional: true, generator: new Generator(11))
            : new Rnn(3, 4, 2, Nonlinearity.Relu, bidirectional: true, generator: new Generator(11));
        var (mc, md) = (Make(), Make());
        md.To(IG.Dev);
        var x = Torch.Randn([5, 3, 3], DType.Float32, generator: new Generator(12));
        int[] lengths = [5, 2, 4];
        var (yc, hc) = Nn.GruRnnGradCheckTests.Run(mc, x, lengths, null);
        var (yd, hd) = Nn.GruRnnGradCheckTests.Run(md, x.To(IG.Dev), lengths, null);
        IG.Close(yc.ToArray<double>(), yd.ToArray<double>(), 2e-5, $"{kind} output");
        IG.Close(hc.ToArray<double>(), hd.ToArray<double>(), 2e-5, $"{kind} h_n");
        (yc.Pow(2.0).Sum() + hc.Sum()).Backward();
        (yd.Pow(2.0).Sum() + hd.Sum()).Backward();
        var pc = mc.Parameters().ToList(); var pd = md.Parameters().ToList();
        for (int i = 0; i < pc.Count; i++) IG.Close(pc[i].Grad!.ToArray<double>(), pd[i].Grad!.ToArray<double>(), 2e-5, $"{kind} grad {i}");
    }
}
