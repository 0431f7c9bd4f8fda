using System.Numerics;
using MiniGrad.Backends.Cpu;
using Xunit;

namespace MiniGrad.Tests.Ctc;

/// <summary>
/// The CTC kernel gives the same bits at every width this machine accelerates (512, 256, 128 bits and scalar):
/// forward nll and backward gradient, float32 and float64, on shapes that take every path of the kernel.
/// In the kernel statics collection so that no other test turns the parallel batches sequential meanwhile.
/// </summary>
[Collection(CtcKernelStaticsCollection.Name)]
public sealed class CtcWidthTests
{
    /// <summary>One case: log-probs (T, N, C) row-major, a target per sample, input lengths, gradOut.</summary>
    public sealed record Case(string Name, int T, int N, int C, int Blank, double[] LogProbs, int[][] Targets, int[] InputLengths, double[] GradOut)
    {
        /// <inheritdoc/>
        public override string ToString() => Name;
    }

    /// <summary>The narrower widths this machine accelerates (the native one is the reference).</summary>
    /// <summary>The accelerated widths below the native one; where there is none (scalar only), the test is skipped, not
    /// passed with nothing compared.</summary>
    static int[] NarrowerWidths()
    {
        var widths = new[] { 256, 128, 0 }.Where(b => b < Simd.NativeBits).ToArray();
        Assert.SkipWhen(widths.Length == 0, $"only one width here ({Simd.NativeBits} bits): nothing to compare with");
        return widths;
    }

    /// <summary>The cases by name.</summary>
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases()) data.Add(c.Name);
        return data;
    }

    static IEnumerable<Case> Cases()
    {
        // C below every vector width (short rows: padded copies, WriteExpRow's short-row path), including C = 1.
        yield return Make("C=1 L=0", seed: 1, T: 9, N: 2, C: 1, blank: 0, lengths: [0, 0]);
        yield return Make("C=3", seed: 2, T: 23, N: 4, C: 3, blank: 0, lengths: [5, 0, 9, 1]);
        yield return Make("C=5 blank=4", seed: 3, T: 31, N: 3, C: 5, blank: 4, lengths: [7, 12, 3]);
        // Between one and two 512-bit float vectors (the lookup table at 512 bits), and the benchmark's alphabet.
        yield return Make("C=20", seed: 4, T: 40, N: 3, C: 20, blank: 0, lengths: [17, 30, 1]);
        yield return Make("C=29", seed: 5, T: 61, N: 5, C: 29, blank: 0, lengths: [40, 20, 0, 33, 2]);
        // Many classes: the emissions copied per frame (EmitCopy) at every width.
        yield return Make("C=1000", seed: 6, T: 45, N: 3, C: 1000, blank: 0, lengths: [30, 12, 0]);
        // L = 0 everywhere; input length 0 with and without a target.
        yield return Make("L=0", seed: 7, T: 17, N: 3, C: 7, blank: 2, lengths: [0, 0, 0]);
        yield return Make("input length 0", seed: 8, T: 12, N: 3, C: 7, blank: 0, lengths: [3, 0, 4], inputLengths: [0, 0, 12]);
        // Infeasible: more frames needed than there are (repeats need a blank between them); zeroInfinity decides.
        yield return Make("infeasible", seed: 9, T: 6, N: 3, C: 6, blank: 0, lengths: [6, 4, 2], inputLengths: [6, 3, 6], alphabet: 1);
        // -inf log-probs: a blank column, a label class, and a whole frame of one sample.
        var ninf = Make("-inf", seed: 10, T: 33, N: 3, C: 9, blank: 0, lengths: [10, 6, 4]);
        for (int t = 0; t < ninf.T; t += 3) ninf.LogProbs[(t * ninf.N + 0) * ninf.C + 0] = double.NegativeInfinity;
        for (int t = 0; t < ninf.T; t++) ninf.LogProbs[(t * ninf.N + 1) * ninf.C + ninf.Targets[1][0]] = double.NegativeInfinity;
        for (int c = 0; c < ninf.C; c++) ninf.LogProbs[(5 * ninf.N + 2) * ninf.C + c] = double.NegativeInfinity;
        yield return ninf;
        // NaN: in a label class inside the input length, in an unused class, and past the input length.
        var nan = Make("NaN", seed: 11, T: 27, N: 3, C: 40, blank: 0, lengths: [9, 5, 7], inputLengths: [27, 27, 20]);
        nan.LogProbs[(4 * nan.N + 0) * nan.C + nan.Targets[0][2]] = double.NaN;
        int unused = Enumerable.Range(1, nan.C - 1).First(c => !nan.Targets[1].Contains(c));
        nan.LogProbs[(8 * nan.N + 1) * nan.C + unused] = double.NaN;
        nan.LogProbs[(24 * nan.N + 2) * nan.C + nan.Targets[2][0]] = double.NaN;
        yield return nan;
        // Enough work that the samples run in parallel, with uneven lengths.
        yield return Make("parallel", seed: 12, T: 150, N: 12, C: 29, blank: 0,
            lengths: [40, 1, 0, 75, 33, 12, 40, 60, 2, 20, 39, 41], inputLengths: [150, 150, 90, 150, 100, 37, 150, 149, 1, 150, 120, 150]);
    }

    static Case Make(string name, int seed, int T, int N, int C, int blank, int[] lengths, int[]? inputLengths = null, int alphabet = 0)
    {
        var rng = new Random(seed);
        var lp = new double[T * N * C];
        for (int r = 0; r < T * N; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < C; c++) max = Math.Max(max, lp[r * C + c] = 3 * Normal(rng));
            for (int c = 0; c < C; c++) sum += Math.Exp(lp[r * C + c] - max);
            for (int c = 0; c < C; c++) lp[r * C + c] = (float)(lp[r * C + c] - max - Math.Log(sum));
        }
        var labels = Enumerable.Range(0, C).Where(c => c != blank).ToArray();
        int a = alphabet > 0 ? alphabet : labels.Length;
        var targets = lengths.Select(L => Enumerable.Range(0, L).Select(_ => labels[rng.Next(a)]).ToArray()).ToArray();
        var gradOut = Enumerable.Range(0, N).Select(_ => (double)(float)(rng.NextDouble() * 3 - 1)).ToArray();
        return new Case(name, T, N, C, blank, lp, targets, inputLengths ?? Enumerable.Repeat(T, N).ToArray(), gradOut);
    }

    static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    static (long[] Nll, long[] Grad) Run<T>(Case k, bool zeroInfinity) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var offsets = new int[k.N];
        for (int s = 1; s < k.N; s++) offsets[s] = offsets[s - 1] + k.Targets[s - 1].Length;
        var lp = k.LogProbs.Select(T.CreateTruncating).ToArray();
        var nll = new T[k.N];
        var grad = new T[lp.Length];
        grad.AsSpan().Fill(T.CreateTruncating(12345.0));
        var saved = CtcKernel.Forward<T>(lp, k.T, k.N, k.C, k.Targets.SelectMany(x => x).ToArray(), offsets,
            k.Targets.Select(x => x.Length).ToArray(), k.InputLengths, k.Blank, nll);
        CtcKernel.Backward<T>(lp, saved, k.GradOut.Select(T.CreateTruncating).ToArray(), zeroInfinity, grad);
        return (nll.Select(Bits).ToArray(), grad.Select(Bits).ToArray());
    }

    static long Bits<T>(T x) where T : IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) ? BitConverter.SingleToInt32Bits(float.CreateTruncating(x)) : BitConverter.DoubleToInt64Bits(double.CreateTruncating(x));

    static void AssertSameBits(long[] want, long[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(want[i] == got[i], $"{what}: element {i} has bits {got[i]:X} at this width, {want[i]:X} at {Simd.NativeBits} bits");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Float32GivesTheSameBitsAtEveryWidth(string name) => SameBitsAtEveryWidth<float>(name, NarrowerWidths());

    /// <summary>
    /// float64 takes exp and log from the runtime (SimdMath's composites do for float64): Vector512.Exp, Vector256.Exp and
    /// Vector128.Exp are separate implementations that differ in the last bit on a few arguments (measured here: 0.1% of
    /// the gradient's elements between two vector widths; the nll agreed), and at scalar width Math.Exp and Math.Log (the
    /// C runtime's) differ on more. So float64 is held to 1e-12 at every width, with NaN and infinities in the same places;
    /// bit-identical float64 across widths would need float64 exp and log composites in SimdMath.
    /// </summary>
    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Float64AgreesTo1e12AtEveryWidth(string name)
    {
        var k = Cases().Single(c => c.Name == name);
        foreach (bool zeroInfinity in new[] { false, true })
        {
            var (nll, grad) = Run<double>(k, zeroInfinity);
            foreach (int bits in NarrowerWidths())
            {
                using (Simd.Limit(bits))
                {
                    var (nllW, gradW) = Run<double>(k, zeroInfinity);
                    string what = $"Double {name} zeroInfinity={zeroInfinity} at {bits} bits";
                    AssertClose(nll, nllW, "nll " + what);
                    AssertClose(grad, gradW, "grad " + what);
                }
            }
        }
    }

    static void AssertClose(long[] want, long[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
        {
            double w = BitConverter.Int64BitsToDouble(want[i]), g = BitConverter.Int64BitsToDouble(got[i]);
            if (!double.IsFinite(w) || !double.IsFinite(g))
                Assert.True(want[i] == got[i] || double.IsNaN(w) && double.IsNaN(g), $"{what}: element {i} is {g:R}, {w:R} at {Simd.NativeBits} bits");
            else
                Assert.True(Math.Abs(w - g) <= 1e-12 * Math.Max(1, Math.Abs(w)), $"{what}: element {i} is {g:R}, {w:R} at {Simd.NativeBits} bits");
        }
    }

    void SameBitsAtEveryWidth<T>(string name, int[] widths) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = Cases().Single(c => c.Name == name);
        foreach (bool zeroInfinity in new[] { false, true })
        {
            var (nll, grad) = Run<T>(k, zeroInfinity);
            foreach (int bits in widths)
            {
                using (Simd.Limit(bits))
                {
                    Assert.Equal(bits, Simd.Bits);
                    var (nllW, gradW) = Run<T>(k, zeroInfinity);
                    string what = $"{typeof(T).Name} {name} zeroInfinity={zeroInfinity} at {bits} bits";
                    AssertSameBits(nll, nllW, "nll " + what);
                    AssertSameBits(grad, gradW, "grad " + what);
                }
            }
        }
    }
}
