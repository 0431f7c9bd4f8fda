namespace MiniGrad.Tests.Cpu;

/// <summary>
/// The CPU softmax kernels for every row-length class: rows shorter than a vector, whole vectors, a vector plus a
/// ragged tail (the overlapping-last-vector path), long rows, and a strided axis. Forward and backward against a plain
/// double loop, in float32 and float64, with -inf entries, all -inf rows and NaN rows.
/// </summary>
public class SoftmaxKernelTests
{
    public static TheoryData<int, int> RowShapes => new()
    {
        { 7, 3 }, { 5, 4 }, { 9, 7 }, { 33, 8 }, { 17, 9 }, { 200, 11 }, { 9, 15 }, { 300, 16 }, { 4800, 29 },
        { 5, 31 }, { 7, 32 }, { 3, 33 }, { 70, 100 }, { 3, 1024 }, { 2, 1025 }, { 2, 5000 },
    };

    [Theory]
    [MemberData(nameof(RowShapes))]
    public void ForwardAndBackwardMatchReference(int rows, int d)
    {
        foreach (int bits in SimdTests.WidthList)
        {
            using var width = MiniGrad.Backends.Cpu.Simd.Limit(bits); // every width this machine accelerates
            foreach (var dt in new[] { DType.Float32, DType.Float64 })
                foreach (bool log in new[] { true, false })
                    Check(rows, d, dt, log);
        }
    }

    static void Check(int rows, int d, DType dt, bool log)
    {
        var gen = new Generator(rows * 7919 + d);
        double[] x = (Torch.Randn([rows, d], DType.Float64, generator: gen) * 3.0).ToArray<double>();
        double[] g = Torch.Randn([rows, d], DType.Float64, generator: gen).ToArray<double>();
        x[0] = double.NegativeInfinity;                                             // one -inf entry
        if (rows > 2) for (int j = 0; j < d; j++) x[d + j] = double.NegativeInfinity; // an all -inf row: NaN, as in PyTorch
        if (rows > 3) x[2 * d + d / 2] = double.NaN;                                 // a NaN poisons its row only

        var xt = Torch.Tensor(x, [rows, d]).To(dt).RequiresGrad_();
        var y = log ? xt.LogSoftmax(1) : xt.Softmax(1);
        y.Backward(Torch.Tensor(g, [rows, d]).To(dt));
        double[] ya = y.ToArray<double>(), ga = xt.Grad!.ToArray<double>();

        double tol = dt == DType.Float32 ? 2e-5 : 1e-12;
        for (int r = 0; r < rows; r++)
        {
            var (yr, gr) = Reference(x.AsSpan(r * d, d), g.AsSpan(r * d, d), log);
            for (int j = 0; j < d; j++)
            {
                string at = $"{dt} {(log ? "log" : "")}softmax {rows}x{d} row {r} col {j}";
                Near(yr[j], ya[r * d + j], tol, "y " + at);
                Near(gr[j], ga[r * d + j], tol * Math.Max(1, d / 64.0), "grad " + at);
            }
        }
    }

    static (double[] y, double[] gx) Reference(ReadOnlySpan<double> x, ReadOnlySpan<double> g, bool log)
    {
        int d = x.Length;
        double max = double.NegativeInfinity;
        foreach (var v in x) max = double.IsNaN(v) || double.IsNaN(max) ? double.NaN : Math.Max(max, v);
        if (double.IsNegativeInfinity(max)) max = 0;
        double s = 0;
        foreach (var v in x) s += Math.Exp(v - max);
        var y = new double[d]; var gx = new double[d];
        for (int j = 0; j < d; j++) y[j] = log ? x[j] - max - Math.Log(s) : Math.Exp(x[j] - max) / s;
        double sg = 0, dot = 0;
        for (int j = 0; j < d; j++) { sg += g[j]; dot += g[j] * y[j]; }
        for (int j = 0; j < d; j++) gx[j] = log ? g[j] - Math.Exp(y[j]) * sg : y[j] * (g[j] - dot);
        return (y, gx);
    }

    static void Near(double e, double a, double tol, string what)
    {
        if (double.IsNaN(e)) { Assert.True(double.IsNaN(a), $"{what}: expected NaN, got {a}"); return; }
        if (double.IsInfinity(e)) { Assert.True(e == a, $"{what}: expected {e}, got {a}"); return; }
        Assert.True(Math.Abs(e - a) <= tol * Math.Max(1, Math.Abs(e)), $"{what}: expected {e:R}, got {a:R}");
    }
}
