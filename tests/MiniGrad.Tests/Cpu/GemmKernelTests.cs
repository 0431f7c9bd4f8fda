using System;
using MiniGrad.Backends.Cpu;
using Xunit;

namespace MiniGrad.Tests.Cpu;

/// <summary>
/// Checks the packed GEMM kernel, at every width this machine accelerates (and scalar), against a naive reference
/// accumulated in double from the same inputs; the tolerance per element is a forward error bound scaled by k:
/// |C - ref| &lt;= c * k * eps * (|op(A)| |op(B)|)_ij (+ |C0| * eps when accumulating).
/// </summary>
public unsafe class GemmKernelTests
{
    // Shapes chosen to hit: single elements, sizes below/at/above the micro-tile (MR x NR fp32 = 14 x 32 at 512 bits,
    // 6 x 16 at 256, 6 x 8 (SSE) or 8 x 12 (NEON) at 128, 6 x 2 scalar), edge panels in every dimension, several k blocks
    // (KC = 256 fp32 / 128 fp64), multi-threaded splits.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 1, 7, 1 }, { 7, 1, 7 }, { 7, 7, 7 }, { 1, 1, 257 }, { 33, 1, 257 }, { 1, 33, 257 },
        { 33, 33, 33 }, { 33, 257, 7 }, { 257, 33, 7 }, { 64, 64, 64 }, { 257, 7, 33 }, { 15, 17, 300 },
        { 100, 130, 90 }, { 257, 257, 257 }, { 300, 97, 530 },
        // few rows: B read in place (whole panels) or packed (the ragged one); 16 rows as two 8-row panels
        { 16, 70, 300 }, { 28, 64, 33 }, { 15, 33, 7 }, { 12, 25, 40 }, { 9, 13, 70 },
        // at most 8 rows and C at least 256 wide: 4 x 3 tiles at 256 bits (an LSTM step's half batch), with an edge panel
        { 8, 512, 128 }, { 5, 300, 40 },
        // up to 32 rows B is read in place (several row panels at every width), from 33 rows it is packed
        { 32, 100, 300 }, { 33, 64, 40 },
    };

    /// <summary>The widths to test here: every accelerated one up to the native width, and scalar (as SimdTests).</summary>
    static IEnumerable<int> Widths() => new[] { 512, 256, 128, 0 }.Where(bits => bits <= Simd.NativeBits);

    public static TheoryData<int> WidthData() => new(Widths());

    [Theory]
    [MemberData(nameof(ShapesWithModes))]
    public void SgemmMatchesReference(int bits, int m, int n, int k, bool transA, bool transB, bool accumulate, int pad)
    {
        using var _ = Simd.Limit(bits);
        CheckSingle(m, n, k, transA, transB, accumulate, pad);
    }

    [Theory]
    [MemberData(nameof(ShapesWithModes))]
    public void DgemmMatchesReference(int bits, int m, int n, int k, bool transA, bool transB, bool accumulate, int pad)
    {
        using var _ = Simd.Limit(bits);
        CheckDouble(m, n, k, transA, transB, accumulate, pad);
    }

    // A few explicit cases, including non-tight leading dimensions on every operand.
    static readonly (int M, int N, int K, bool TransA, bool TransB, bool Accumulate, int Pad)[] SingleCases =
    [
        (33, 1, 257, false, false, false, 0), (33, 1, 257, true, true, true, 3), (1, 257, 33, false, true, false, 5),
        (257, 257, 1, true, false, true, 1), (7, 33, 257, true, true, false, 17), (520, 530, 270, false, false, false, 7),
        (270, 600, 300, true, true, true, 2),
        (75, 40, 128, false, false, false, 0), (40, 48, 74, true, false, true, 3), // 8 x 3 tiles at 512 bits (33-48 columns)
    ];

    static readonly (int M, int N, int K, bool TransA, bool TransB, bool Accumulate, int Pad)[] DoubleCases =
    [
        (33, 1, 257, false, false, false, 0), (33, 1, 257, true, true, true, 3), (1, 257, 33, false, true, false, 5),
        (7, 33, 257, true, true, false, 17), (270, 600, 300, true, false, true, 2),
        (30, 20, 50, false, true, false, 1), // 8 x 3 tiles at 512 bits (17-24 columns)
    ];

    public static TheoryData<int, int, int, int, bool, bool, bool, int> SingleExplicit() => AtEveryWidth(SingleCases);

    public static TheoryData<int, int, int, int, bool, bool, bool, int> DoubleExplicit() => AtEveryWidth(DoubleCases);

    [Theory]
    [MemberData(nameof(SingleExplicit))]
    public void SgemmExplicitCases(int bits, int m, int n, int k, bool transA, bool transB, bool accumulate, int pad)
    {
        using var _ = Simd.Limit(bits);
        CheckSingle(m, n, k, transA, transB, accumulate, pad);
    }

    [Theory]
    [MemberData(nameof(DoubleExplicit))]
    public void DgemmExplicitCases(int bits, int m, int n, int k, bool transA, bool transB, bool accumulate, int pad)
    {
        using var _ = Simd.Limit(bits);
        CheckDouble(m, n, k, transA, transB, accumulate, pad);
    }

    public static TheoryData<int, int, int, int, bool, bool, bool, int> ShapesWithModes()
    {
        var cases = new List<(int, int, int, bool, bool, bool, int)>();
        int i = 0;
        foreach (var row in Shapes)
        {
            var (m, n, k) = row.Data;
            foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                // Alternate accumulate (flipping the pattern every shape, so each transpose combination sees
                // both values) and the leading-dimension padding.
                bool acc = ((i + i / 4) & 1) == 1;
                int pad = (i % 3) switch { 0 => 0, 1 => 1, _ => 13 };
                cases.Add((m, n, k, ta, tb, acc, pad));
                i++;
            }
        }
        return AtEveryWidth(cases);
    }

    static TheoryData<int, int, int, int, bool, bool, bool, int> AtEveryWidth(IEnumerable<(int M, int N, int K, bool TransA, bool TransB, bool Accumulate, int Pad)> cases)
    {
        var data = new TheoryData<int, int, int, int, bool, bool, bool, int>();
        foreach (int bits in Widths())
            foreach (var c in cases)
                data.Add(bits, c.M, c.N, c.K, c.TransA, c.TransB, c.Accumulate, c.Pad);
        return data;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void KZeroClearsOrKeepsC(bool transA, bool transB)
    {
        const int m = 9, n = 35;
        var c = Fill(new Random(1), m * n);
        var cf = Array.ConvertAll(c, x => (float)x);
        var a = new double[1];
        var af = new float[1];
        fixed (double* pa = a, pc = c)
        {
            Gemm.Dgemm(transA, transB, m, n, 0, pa, transA ? m : 0, pa, transB ? 0 : n, pc, n, accumulate: true);
            Assert.Equal(Fill(new Random(1), m * n), c);
            Gemm.Dgemm(transA, transB, m, n, 0, pa, transA ? m : 0, pa, transB ? 0 : n, pc, n, accumulate: false);
            Assert.All(c, x => Assert.Equal(0.0, x));
        }
        fixed (float* pa = af, pc = cf)
        {
            Gemm.Sgemm(transA, transB, m, n, 0, pa, 1, pa, 1, pc, n, accumulate: true);
            Assert.Equal(Array.ConvertAll(Fill(new Random(1), m * n), x => (float)x), cf);
            Gemm.Sgemm(transA, transB, m, n, 0, pa, 1, pa, 1, pc, n, accumulate: false);
            Assert.All(cf, x => Assert.Equal(0f, x));
        }
    }

    [Theory]
    [InlineData(0, 5, 7)]
    [InlineData(5, 0, 7)]
    [InlineData(0, 0, 0)]
    public void EmptyOutputTouchesNothing(int m, int n, int k)
    {
        // C has one sentinel element; with m or n == 0 it must not be written (and A/B must not be read).
        var c = new[] { 42f };
        var cd = new[] { 42.0 };
        var a = new float[Math.Max(1, m * k)];
        var b = new float[Math.Max(1, k * n)];
        var ad = new double[a.Length];
        var bd = new double[b.Length];
        fixed (float* pa = a, pb = b, pc = c)
            Gemm.Sgemm(false, false, m, n, k, pa, Math.Max(k, 1), pb, Math.Max(n, 1), pc, Math.Max(n, 1), false);
        fixed (double* pa = ad, pb = bd, pc = cd)
            Gemm.Dgemm(true, true, m, n, k, pa, Math.Max(m, 1), pb, Math.Max(k, 1), pc, Math.Max(n, 1), true);
        Assert.Equal(42f, c[0]);
        Assert.Equal(42.0, cd[0]);
    }

    static readonly (int M, int N, int K, bool TransA, bool TransB)[] RepeatCases =
        [(257, 263, 511, false, false), (515, 97, 300, true, false), (64, 1030, 129, false, true), (31, 45, 700, true, true)];

    public static TheoryData<int, int, int, int, bool, bool> RepeatData()
    {
        var data = new TheoryData<int, int, int, int, bool, bool>();
        foreach (int bits in Widths())
            foreach (var c in RepeatCases)
                data.Add(bits, c.M, c.N, c.K, c.TransA, c.TransB);
        return data;
    }

    [Theory]
    [MemberData(nameof(RepeatData))]
    public void ResultsAreBitIdenticalAcrossRunsAndThreadCounts(int bits, int m, int n, int k, bool transA, bool transB)
    {
        var rng = new Random(7);
        var a = Array.ConvertAll(Fill(rng, m * k), x => (float)x);
        var b = Array.ConvertAll(Fill(rng, k * n), x => (float)x);
        var ad = Fill(rng, m * k);
        var bd = Fill(rng, k * n);
        int lda = transA ? m : k, ldb = transB ? k : n;
        // Three runs: two with every core (a product this large splits across threads when there are several), and one
        // inside a Par.Parts part with one core to itself (single-threaded). The width limit is per thread: set in each.
        var c = new float[3][];
        var d = new double[3][];
        for (int run = 0; run < 3; run++)
        {
            var cr = c[run] = new float[m * n];
            var dr = d[run] = new double[m * n];
            void Multiply()
            {
                using var _ = Simd.Limit(bits);
                fixed (float* pa = a, pb = b, pc = cr)
                    Gemm.Sgemm(transA, transB, m, n, k, pa, lda, pb, ldb, pc, n, false);
                fixed (double* pa = ad, pb = bd, pc = dr)
                    Gemm.Dgemm(transA, transB, m, n, k, pa, lda, pb, ldb, pc, n, false);
            }
            if (run < 2)
                Multiply();
            else
                Par.Parts(Math.Max(2, Environment.ProcessorCount), part => { if (part == 0) Multiply(); });
        }
        for (int run = 1; run < 3; run++)
        {
            Assert.True(c[0].AsSpan().SequenceEqual(c[run]), $"Sgemm results differ between run 0 and run {run} at {bits} bits");
            Assert.True(d[0].AsSpan().SequenceEqual(d[run]), $"Dgemm results differ between run 0 and run {run} at {bits} bits");
        }
    }

    [Theory]
    [MemberData(nameof(WidthData))]
    public void SingleRowOfOutputMatchesLargeProductRow(int bits)
    {
        // The same C element computed in a 1 x n product (single-threaded, edge tiles, B read in place), in a 16 x n
        // product (two 8-row panels at 512 bits, B in place), in an 8 x n product (4 x 3 tiles at 256 bits) and in a large
        // m x n product (multi-threaded, full tiles, B packed) must be bit-identical: the k order never depends on the
        // split, the tile or the packing.
        using var _ = Simd.Limit(bits);
        const int m = 300, n = 280, k = 700;
        var rng = new Random(3);
        var a = Array.ConvertAll(Fill(rng, m * k), x => (float)x);
        var b = Array.ConvertAll(Fill(rng, k * n), x => (float)x);
        var full = new float[m * n];
        var row = new float[n];
        var sixteen = new float[16 * n];
        var eight = new float[8 * n];
        fixed (float* pa = a, pb = b, pf = full, pr = row, ps = sixteen, pe = eight)
        {
            Gemm.Sgemm(false, false, m, n, k, pa, k, pb, n, pf, n, false);
            Gemm.Sgemm(false, false, 1, n, k, pa + 123 * k, k, pb, n, pr, n, false);
            Gemm.Sgemm(false, false, 16, n, k, pa + 120 * k, k, pb, n, ps, n, false);
            Gemm.Sgemm(false, false, 8, n, k, pa + 200 * k, k, pb, n, pe, n, false);
        }
        Assert.True(full.AsSpan(123 * n, n).SequenceEqual(row));
        Assert.True(full.AsSpan(120 * n, 16 * n).SequenceEqual(sixteen));
        Assert.True(full.AsSpan(200 * n, 8 * n).SequenceEqual(eight));
    }

    static void CheckSingle(int m, int n, int k, bool transA, bool transB, bool accumulate, int pad)
    {
        var rng = new Random(m * 7919 + n * 104729 + k * 31 + (transA ? 1 : 0) + (transB ? 2 : 0));
        var s = Setup(rng, m, n, k, transA, transB, pad);
        var a = Array.ConvertAll(s.A, x => (float)x);
        var b = Array.ConvertAll(s.B, x => (float)x);
        var c = Array.ConvertAll(s.C, x => (float)x);
        fixed (float* pa = a, pb = b, pc = c)
            Gemm.Sgemm(transA, transB, m, n, k, pa, s.Lda, pb, s.Ldb, pc, s.Ldc, accumulate);
        // The reference uses the float-rounded inputs (exact in double).
        var reference = Reference(Array.ConvertAll(a, x => (double)x), Array.ConvertAll(b, x => (double)x), s, m, n, k, transA, transB);
        Verify(Array.ConvertAll(c, x => (double)x), Array.ConvertAll(s.C, x => (double)(float)x), reference, s, m, n, k, accumulate, 1.2e-7);
    }

    static void CheckDouble(int m, int n, int k, bool transA, bool transB, bool accumulate, int pad)
    {
        var rng = new Random(m * 7919 + n * 104729 + k * 31 + (transA ? 1 : 0) + (transB ? 2 : 0) + 5);
        var s = Setup(rng, m, n, k, transA, transB, pad);
        var c = (double[])s.C.Clone();
        fixed (double* pa = s.A, pb = s.B, pc = c)
            Gemm.Dgemm(transA, transB, m, n, k, pa, s.Lda, pb, s.Ldb, pc, s.Ldc, accumulate);
        var reference = Reference(s.A, s.B, s, m, n, k, transA, transB);
        Verify(c, s.C, reference, s, m, n, k, accumulate, 2.3e-16);
    }

    sealed record Operands(double[] A, int Lda, double[] B, int Ldb, double[] C, int Ldc);

    static Operands Setup(Random rng, int m, int n, int k, bool transA, bool transB, int pad)
    {
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
        // Padding elements are NaN: reading them anywhere would poison the result.
        var a = Fill(rng, aRows * lda);
        var b = Fill(rng, bRows * ldb);
        var c = Fill(rng, m * ldc);
        Poison(a, aRows, aCols, lda);
        Poison(b, bRows, bCols, ldb);
        return new Operands(a, lda, b, ldb, c, ldc);
    }

    /// <summary>Naive reference accumulated in double: (op(A) op(B), |op(A)| |op(B)|), both m x n row-major.</summary>
    static (double[] Product, double[] AbsProduct) Reference(double[] a, double[] b, Operands s,
        int m, int n, int k, bool transA, bool transB)
    {
        var product = new double[m * n];
        var abs = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, sumAbs = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = transA ? a[p * s.Lda + i] : a[i * s.Lda + p];
                    double y = transB ? b[j * s.Ldb + p] : b[p * s.Ldb + j];
                    sum += x * y;
                    sumAbs += Math.Abs(x * y);
                }
                product[i * n + j] = sum;
                abs[i * n + j] = sumAbs;
            }
        }
        return (product, abs);
    }

    static void Verify(double[] actual, double[] initialC, (double[] Product, double[] AbsProduct) reference, Operands s,
        int m, int n, int k, bool accumulate, double eps)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double c0 = initialC[i * s.Ldc + j];
                double expected = reference.Product[i * n + j] + (accumulate ? c0 : 0);
                double bound = 2 * (k + 2) * eps * (reference.AbsProduct[i * n + j] + (accumulate ? Math.Abs(c0) : 0)) + 1e-30;
                double got = actual[i * s.Ldc + j];
                if (!(Math.Abs(got - expected) <= bound))
                    Assert.Fail($"C[{i},{j}] = {got}, expected {expected} (bound {bound}) for m={m} n={n} k={k}");
            }
            // Padding columns of C must be untouched.
            for (int j = n; j < s.Ldc; j++)
                Assert.Equal(initialC[i * s.Ldc + j], actual[i * s.Ldc + j]);
        }
    }

    static double[] Fill(Random rng, int count)
    {
        var x = new double[count];
        for (int i = 0; i < x.Length; i++)
            x[i] = rng.NextDouble() * 2 - 1;
        return x;
    }

    static void Poison(double[] x, int rows, int cols, int ld)
    {
        for (int r = 0; r < rows; r++)
            for (int c = cols; c < ld; c++)
                x[r * ld + c] = double.NaN;
    }
}
