using System.Numerics;
using MiniGrad.Backends.Cpu;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Ctc;

/// <summary>The kernel tests flip CtcKernel's static thread-count knob, so they run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CtcKernelStaticsCollection
{
    /// <summary>Collection name.</summary>
    public const string Name = "CtcKernel statics";
}

/// <summary>
/// Kernel-level tests of <see cref="CtcKernel"/> against the independent <see cref="CtcReference"/> (the golden
/// cases from libtorch are exercised through the public API elsewhere).
/// </summary>
[Collection(CtcKernelStaticsCollection.Name)]
public sealed class CtcKernelTests
{
    /// <summary>A batch in the kernel's layout: log-probs (T, N, C) row-major, one target per sample.</summary>
    private sealed record Batch(int T, int N, int C, int Blank, double[] LogProbs, int[][] Targets, int[] InputLengths, double[] GradOut);

    private const double F64Tol = 1e-9;

    // ------------------------------------------------------------------------------------------------------------
    // Against the reference
    // ------------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Float64MatchesReferenceOnRandomBatches(int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < 12; i++)
        {
            var b = RandomBatch(rng);
            foreach (bool zeroInfinity in new[] { false, true })
            {
                var (refNll, refGrad) = Reference(b, zeroInfinity);
                var (nll, grad) = RunKernel<double>(b, zeroInfinity);
                string what = Describe(b, seed, i, zeroInfinity);
                AssertAllClose(refNll, nll, F64Tol, F64Tol, "nll " + what);
                AssertAllClose(refGrad, grad, F64Tol, F64Tol, "grad " + what);
            }
        }
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    [InlineData(15)]
    [InlineData(16)]
    public void Float32MatchesReferenceOnRandomBatches(int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < 12; i++)
        {
            // The reference sees exactly the float32 inputs the kernel sees.
            var b = RoundToFloat(RandomBatch(rng));
            var (refNll, refGrad) = Reference(b, zeroInfinity: false);
            var (nll, grad) = RunKernel<float>(b, zeroInfinity: false);
            string what = Describe(b, seed, i, false);
            AssertAllClose(refNll, nll, 1e-4, 1e-4, "nll " + what);
            AssertAllClose(refGrad, grad, 1e-4, 1e-3, "grad " + what);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(5)]
    public void NonZeroBlankAndEveryEmissionPathMatchReference(int blank)
    {
        // Class counts below, inside and above two vectors of lanes exercise the three ways emissions are fetched.
        var rng = new Random(100 + blank);
        foreach (int classes in new[] { 6, 7, 9, 12, 16, 20, 29, 32, 33, 40, 70 })
        {
            if (blank >= classes) continue;
            var b = RandomBatch(rng, classes: classes, blank: blank, n: 3, maxT: 40);
            var (refNll, refGrad) = Reference(b, false);
            var (nll64, grad64) = RunKernel<double>(b, false);
            AssertAllClose(refNll, nll64, F64Tol, F64Tol, $"nll f64 C={classes}");
            AssertAllClose(refGrad, grad64, F64Tol, F64Tol, $"grad f64 C={classes}");
            var bf = RoundToFloat(b);
            var (refNllF, refGradF) = Reference(bf, false);
            var (nll32, grad32) = RunKernel<float>(bf, false);
            AssertAllClose(refNllF, nll32, 1e-4, 1e-4, $"nll f32 C={classes}");
            AssertAllClose(refGradF, grad32, 1e-4, 1e-3, $"grad f32 C={classes}");
        }
    }

    [Fact]
    public void UnnormalizedInputsUsePyTorchsGradientFormula()
    {
        // Not log-softmax outputs: the gradient is still exp(lp) - sum(alpha beta) / (P exp(lp)), as in PyTorch.
        var rng = new Random(7);
        var b = RandomBatch(rng, classes: 5, blank: 0, n: 3, maxT: 20, minT: 20, normalize: false, fullLengths: true, maxL: 6);
        b = b with { LogProbs = b.LogProbs.Select(x => x + 0.5).ToArray() };
        var (refNll, refGrad) = Reference(b, false);
        var (nll, grad) = RunKernel<double>(b, false);
        AssertAllClose(refNll, nll, F64Tol, F64Tol, "nll");
        AssertAllClose(refGrad, grad, F64Tol, F64Tol, "grad");
        Assert.Contains(nll, v => v < 0); // P > 1 is possible when the inputs are not normalized
    }

    // ------------------------------------------------------------------------------------------------------------
    // Edge cases
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void EmptyTargetsZeroLengthInputsAndInfeasibleSamples()
    {
        var rng = new Random(3);
        int T = 8, C = 4;
        var lp = LogSoftmaxRows(rng, T * 6, C, 1.5);
        var b = new Batch(T, 6, C, 0, lp,
            [[], [], [1, 2], [1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3]],
            [T, 0, 0, 6, 5, T],
            [1.0, 1.0, 0.5, 1.0, 2.0, -1.0]);
        var (nll, grad) = RunKernel<double>(b, zeroInfinity: false);
        var (refNll, refGrad) = Reference(b, false);
        AssertAllClose(refNll, nll, F64Tol, F64Tol, "nll");
        AssertAllClose(refGrad, grad, F64Tol, F64Tol, "grad");

        Assert.True(double.IsFinite(nll[0]) && nll[0] > 0);            // L = 0: only blanks
        Assert.Equal(0.0, nll[1]);                                     // input length 0, empty target
        Assert.Equal(double.PositiveInfinity, nll[2]);                 // input length 0, non-empty target
        Assert.True(double.IsFinite(nll[3]));                          // 1 1 2 2 needs exactly 6 frames
        Assert.Equal(double.PositiveInfinity, nll[4]);                 // one frame short
        Assert.True(double.IsFinite(nll[5]));                          // 3 3 3 needs 5 of the 8 frames
        for (int t = 0; t < T; t++)
        {
            for (int c = 0; c < C; c++)
            {
                Assert.Equal(0.0, grad[(t * 6 + 1) * C + c]);          // input length 0: gradient 0
                Assert.Equal(0.0, grad[(t * 6 + 2) * C + c]);
                double g4 = grad[(t * 6 + 4) * C + c];
                if (t < 5) Assert.True(double.IsNaN(g4), "an infinite loss has NaN gradients within its input length");
                else Assert.Equal(0.0, g4);
            }
        }

        var (nllZ, gradZ) = RunKernel<double>(b, zeroInfinity: true);
        Assert.Equal(double.PositiveInfinity, nllZ[4]); // the caller zeroes the loss
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) Assert.Equal(0.0, gradZ[(t * 6 + 4) * C + c]);
        AssertAllClose(grad.Where((_, i) => i / C % 6 != 4).ToArray(), gradZ.Where((_, i) => i / C % 6 != 4).ToArray(), 0, 0, "other samples unchanged");
    }

    [Fact]
    public void FramesPastTheInputLengthAreIgnoredAndGetZeroGradient()
    {
        var rng = new Random(5);
        var b = RandomBatch(rng, classes: 6, blank: 2, n: 4, maxT: 30);
        var (nll, grad) = RunKernel<double>(b, false);
        // Garbage (NaN, +inf) in the padding frames must change nothing.
        var poisoned = (double[])b.LogProbs.Clone();
        for (int t = 0; t < b.T; t++)
            for (int n = 0; n < b.N; n++)
                if (t >= b.InputLengths[n])
                    for (int c = 0; c < b.C; c++) poisoned[(t * b.N + n) * b.C + c] = c % 2 == 0 ? double.NaN : double.PositiveInfinity;
        var (nll2, grad2) = RunKernel<double>(b with { LogProbs = poisoned }, false);
        Assert.Equal(nll, nll2);
        Assert.Equal(grad, grad2);
        for (int t = 0; t < b.T; t++)
            for (int n = 0; n < b.N; n++)
                if (t >= b.InputLengths[n])
                    for (int c = 0; c < b.C; c++) Assert.Equal(0.0, grad[(t * b.N + n) * b.C + c]);
    }

    [Fact]
    public void MinusInfinityLogProbsGiveNaNGradientsLikePyTorch()
    {
        // A masked class (log-prob -inf) keeps the loss finite; PyTorch's exp(res + nll - lp) is exp(-inf + inf) there.
        var rng = new Random(9);
        var b = RandomBatch(rng, classes: 6, blank: 0, n: 2, maxT: 12, fullLengths: true, maxL: 3, minT: 12);
        b = b with { Targets = [[1, 2], [2, 1, 2]] };
        var lp = (double[])b.LogProbs.Clone();
        for (int t = 0; t < b.T; t++)
            for (int n = 0; n < b.N; n++) lp[(t * b.N + n) * b.C + 5] = double.NegativeInfinity;
        b = b with { LogProbs = lp };
        var (refNll, refGrad) = Reference(b, false);
        var (nll, grad) = RunKernel<double>(b, false);
        AssertAllClose(refNll, nll, F64Tol, F64Tol, "nll");
        AssertAllClose(refGrad, grad, F64Tol, F64Tol, "grad");
        Assert.All(nll, v => Assert.True(double.IsFinite(v)));
        Assert.True(double.IsNaN(grad[5]));
        var (nll32, grad32) = RunKernel<float>(RoundToFloat(b), false);
        AssertAllClose(refNll, nll32, 1e-4, 1e-4, "nll f32");
        AssertAllClose(refGrad, grad32, 1e-4, 1e-3, "grad f32");
    }

    [Fact]
    public void NaNInATargetClassPoisonsOnlyThatSample()
    {
        var rng = new Random(21);
        var b = RandomBatch(rng, classes: 5, blank: 0, n: 2, maxT: 10, fullLengths: true, maxL: 2, minT: 10);
        b = b with { Targets = [[1, 2], [3]] };
        var lp = (double[])b.LogProbs.Clone();
        lp[(4 * b.N + 0) * b.C + 2] = double.NaN; // sample 0's label 2 at frame 4
        lp[(4 * b.N + 1) * b.C + 4] = double.NaN; // sample 1, class 4: not in its target
        var (nll, grad) = RunKernel<double>(b with { LogProbs = lp }, false);
        Assert.True(double.IsNaN(nll[0]));
        Assert.True(double.IsFinite(nll[1]));
        for (int t = 0; t < b.T; t++)
        {
            Assert.True(double.IsNaN(grad[(t * b.N + 0) * b.C + 1]));
            Assert.True(double.IsFinite(grad[(t * b.N + 1) * b.C + 3]));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Long inputs, determinism, the saved state
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void LongFloat32SequenceStaysFiniteAndCloseToFloat64()
    {
        var rng = new Random(2024);
        int T = 5000, C = 29, L = 1000;
        var lp = LogSoftmaxRows(rng, T, C, 2.0);
        var target = Enumerable.Range(0, L).Select(_ => rng.Next(1, C)).ToArray();
        var b = new Batch(T, 1, C, 0, lp, [target], [T], [1.0]);
        var (nll64, grad64) = RunKernel<double>(b, false);
        var (nll32, grad32) = RunKernel<float>(RoundToFloat(b), false);
        Assert.True(double.IsFinite(nll64[0]), $"float64 nll {nll64[0]}");
        Assert.True(double.IsFinite(nll32[0]), $"float32 nll {nll32[0]}");
        Assert.True(Math.Abs(nll32[0] - nll64[0]) <= 1e-4 * Math.Abs(nll64[0]), $"float32 {nll32[0]} vs float64 {nll64[0]}");
        // The float32 gradient carries the rounding of unscaled log-probabilities in the ten thousands, exactly as
        // PyTorch's float32 kernel does (a transcription of PyTorch's algorithm is off by the same 0.034 here).
        double worst = 0;
        for (int i = 0; i < grad64.Length; i++) worst = Math.Max(worst, Math.Abs(grad32[i] - grad64[i]));
        Assert.True(worst < 0.1, $"float32 gradient off by {worst}");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(12)]
    [InlineData(29)]
    [InlineData(40)]
    public void ResultsAreBitIdenticalAcrossRunsThreadCountsAndVectorWidths(int classes)
    {
        var rng = new Random(77 + classes);
        var b = RoundToFloat(RandomBatch(rng, classes: classes, blank: 0, n: 7, maxT: 120, minT: 60, maxL: 40));
        var (nllA, gradA) = RunKernel<float>(b, false);
        var (nllB, gradB) = RunKernel<float>(b, false);
        Assert.Equal(nllA, nllB);
        Assert.Equal(gradA, gradB);
        var (nllD, gradD) = RunKernel<double>(b, false);

        int savedDop = CtcKernel.MaxDegreeOfParallelism;
        try
        {
            CtcKernel.MaxDegreeOfParallelism = 1;
            var (nll1, grad1) = RunKernel<float>(b, false);
            Assert.Equal(nllA, nll1);
            Assert.Equal(gradA, grad1);
        }
        finally
        {
            CtcKernel.MaxDegreeOfParallelism = savedDop;
        }

        // Every narrower width runs the same per-lane operations (CtcWidthTests covers the widths at length).
        foreach (int bits in new[] { 256, 128, 0 })
        {
            if (bits >= Simd.Bits) continue;
            using (Simd.Limit(bits))
            {
                var (nllW, gradW) = RunKernel<float>(b, false);
                Assert.Equal(nllA, nllW);
                Assert.Equal(gradA, gradW);
                var (nllWD, gradWD) = RunKernel<double>(b, false);
                AssertAllClose(nllD, nllWD, 1e-12, 1e-12, "nll f64 across widths");
                AssertAllClose(gradD, gradWD, 1e-12, 1e-12, "grad f64 across widths");
            }
        }
    }

    [Fact]
    public void SavedStateIsConsumedByBackwardUnlessRetained()
    {
        var rng = new Random(31);
        var b = RoundToFloat(RandomBatch(rng, classes: 7, blank: 1, n: 3, maxT: 25, fullLengths: true));
        var (lp, targets, offsets, lengths) = Flatten<float>(b);
        var nll = new float[b.N];
        var gradOut = b.GradOut.Select(x => (float)x).ToArray();
        var saved = CtcKernel.Forward<float>(lp, b.T, b.N, b.C, targets, offsets, lengths, b.InputLengths, b.Blank, nll);
        Assert.True(saved.IsAlive);
        Assert.Equal(b.N, saved.Batch);

        var g1 = new float[lp.Length];
        var g2 = new float[lp.Length];
        CtcKernel.Backward<float>(lp, saved, gradOut, false, g1, release: false);
        Assert.True(saved.IsAlive);
        CtcKernel.Backward<float>(lp, saved, gradOut, false, g2);
        Assert.Equal(g1, g2);
        Assert.False(saved.IsAlive);
        Assert.Throws<InvalidOperationException>(() => CtcKernel.Backward<float>(lp, saved, gradOut, false, g2));

        // A handle stays dead even when its workspace is rented again by a later Forward.
        var again = CtcKernel.Forward<float>(lp, b.T, b.N, b.C, targets, offsets, lengths, b.InputLengths, b.Blank, nll);
        Assert.False(saved.IsAlive);
        Assert.True(again.IsAlive);
        CtcKernel.Release(again);
        Assert.False(again.IsAlive);
        Assert.Throws<InvalidOperationException>(() => default(CtcSaved<float>).Acquire());
    }

    [Fact]
    public void RepeatedCallsAllocateNothingAfterWarmUp()
    {
        var rng = new Random(41);
        var b = RoundToFloat(RandomBatch(rng, classes: 29, blank: 0, n: 4, maxT: 60, fullLengths: true));
        var (lp, targets, offsets, lengths) = Flatten<float>(b);
        var nll = new float[b.N];
        var grad = new float[lp.Length];
        var gradOut = b.GradOut.Select(x => (float)x).ToArray();
        int savedDop = CtcKernel.MaxDegreeOfParallelism;
        try
        {
            CtcKernel.MaxDegreeOfParallelism = 1; // Parallel.For itself allocates a little per call
            for (int i = 0; i < 3; i++)
                CtcKernel.Backward<float>(lp, CtcKernel.Forward<float>(lp, b.T, b.N, b.C, targets, offsets, lengths, b.InputLengths, b.Blank, nll), gradOut, false, grad);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++)
                CtcKernel.Backward<float>(lp, CtcKernel.Forward<float>(lp, b.T, b.N, b.C, targets, offsets, lengths, b.InputLengths, b.Blank, nll), gradOut, false, grad);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally
        {
            CtcKernel.MaxDegreeOfParallelism = savedDop;
        }
    }

    [Fact]
    public void ALossWithoutAGraphHandsItsStateBack()
    {
        // Without a node to consume it, the state went to the GC and every call allocated new alpha tables (here
        // 2 x 400 frames x at least 65 row entries x 4 bytes, over 200 KB a call at any width); now it goes back to the
        // pool. The bound leaves room for a few workspaces taken by tests running beside this one.
        var lp = Torch.Randn([400, 2, 10], generator: new Generator(5)).LogSoftmax(2);
        var targets = Torch.Randint(1, 10, [2, 30], generator: new Generator(6));
        int[] il = [400, 400], tl = [30, 30];
        int savedDop = CtcKernel.MaxDegreeOfParallelism;
        try
        {
            CtcKernel.MaxDegreeOfParallelism = 1; // the samples on this thread, where the allocations are counted
            for (int i = 0; i < 3; i++) Functional.CtcLoss(lp, targets, il, tl);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) Functional.CtcLoss(lp, targets, il, tl);
            long perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;
            Assert.True(perCall < 100_000, $"a CTC loss without a graph allocated {perCall} bytes a call");
        }
        finally
        {
            CtcKernel.MaxDegreeOfParallelism = savedDop;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    private static Batch RandomBatch(Random rng, int? classes = null, int? blank = null, int? n = null, int maxT = 50,
        bool normalize = true, bool fullLengths = false, int maxL = 20, int minT = 1)
    {
        int T = rng.Next(minT, maxT + 1);
        int C = classes ?? (rng.Next(3) switch { 0 => rng.Next(2, 8), 1 => rng.Next(8, 20), _ => rng.Next(20, 45) });
        int N = n ?? rng.Next(1, 7);
        int bl = blank ?? (rng.Next(3) == 0 ? 0 : rng.Next(C));
        double scale = 0.5 + rng.NextDouble() * 3.5;
        var lp = normalize ? LogSoftmaxRows(rng, T * N, C, scale) : Enumerable.Range(0, T * N * C).Select(_ => Normal(rng) * scale).ToArray();
        var targets = new int[N][];
        var inputLengths = new int[N];
        var gradOut = new double[N];
        for (int s = 0; s < N; s++)
        {
            // A small alphabet makes repeats (and the s-2 rule) common.
            var labels = Enumerable.Range(0, C).Where(c => c != bl).ToArray();
            int alphabet = rng.Next(2) == 0 ? Math.Min(labels.Length, rng.Next(1, 4)) : labels.Length;
            int L = rng.Next(5) == 0 ? 0 : rng.Next(0, Math.Min(maxL, T + 2) + 1);
            targets[s] = Enumerable.Range(0, L).Select(_ => labels[rng.Next(alphabet)]).ToArray();
            int r = rng.Next(20);
            inputLengths[s] = fullLengths ? T : r == 0 ? 0 : r < 10 ? T : rng.Next(1, T + 1);
            gradOut[s] = rng.NextDouble() * 3 - 1;
        }
        return new Batch(T, N, C, bl, lp, targets, inputLengths, gradOut);
    }

    private static double[] LogSoftmaxRows(Random rng, int rows, int C, double scale)
    {
        var lp = new double[rows * C];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < C; c++) max = Math.Max(max, lp[r * C + c] = Normal(rng) * scale);
            double sum = 0;
            for (int c = 0; c < C; c++) sum += Math.Exp(lp[r * C + c] - max);
            double log = max + Math.Log(sum);
            for (int c = 0; c < C; c++) lp[r * C + c] -= log;
        }
        return lp;
    }

    private static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static Batch RoundToFloat(Batch b) => b with
    {
        LogProbs = b.LogProbs.Select(x => (double)(float)x).ToArray(),
        GradOut = b.GradOut.Select(x => (double)(float)x).ToArray(),
    };

    private static (T[] Lp, int[] Targets, int[] Offsets, int[] Lengths) Flatten<T>(Batch b) where T : IFloatingPointIeee754<T>
    {
        var offsets = new int[b.N];
        for (int s = 1; s < b.N; s++) offsets[s] = offsets[s - 1] + b.Targets[s - 1].Length;
        return (b.LogProbs.Select(T.CreateTruncating).ToArray(), b.Targets.SelectMany(x => x).ToArray(), offsets,
            b.Targets.Select(x => x.Length).ToArray());
    }

    private static (double[] Nll, double[] Grad) RunKernel<T>(Batch b, bool zeroInfinity) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (lp, targets, offsets, lengths) = Flatten<T>(b);
        var nll = new T[b.N];
        var grad = new T[lp.Length];
        grad.AsSpan().Fill(T.CreateTruncating(12345.0)); // Backward must overwrite every element
        var saved = CtcKernel.Forward<T>(lp, b.T, b.N, b.C, targets, offsets, lengths, b.InputLengths, b.Blank, nll);
        CtcKernel.Backward<T>(lp, saved, b.GradOut.Select(T.CreateTruncating).ToArray(), zeroInfinity, grad);
        return (nll.Select(double.CreateTruncating).ToArray(), grad.Select(double.CreateTruncating).ToArray());
    }

    /// <summary>The reference per sample, weighted by gradOut and laid out like the kernel's output.</summary>
    private static (double[] Nll, double[] Grad) Reference(Batch b, bool zeroInfinity)
    {
        var nll = new double[b.N];
        var grad = new double[b.LogProbs.Length];
        for (int s = 0; s < b.N; s++)
        {
            var sample = new double[b.T * b.C];
            for (int t = 0; t < b.T; t++)
                Array.Copy(b.LogProbs, (t * b.N + s) * b.C, sample, t * b.C, b.C);
            var (l, g) = CtcReference.Sample(sample, b.T, b.C, b.Targets[s], b.InputLengths[s], b.Blank);
            nll[s] = l;
            bool zero = zeroInfinity && double.IsPositiveInfinity(l);
            for (int t = 0; t < b.T; t++)
                for (int c = 0; c < b.C; c++)
                    grad[(t * b.N + s) * b.C + c] = zero ? 0.0 : g[t * b.C + c] * b.GradOut[s];
        }
        return (nll, grad);
    }

    private static void AssertAllClose(double[] expected, double[] actual, double abs, double rel, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? e == a
                : Math.Abs(e - a) <= abs + rel * Math.Abs(e);
            Assert.True(ok, $"{what}: element {i} expected {e:R}, got {a:R}");
        }
    }

    private static string Describe(Batch b, int seed, int i, bool zeroInfinity) =>
        $"(seed {seed} case {i}: T={b.T} N={b.N} C={b.C} blank={b.Blank} L=[{string.Join(",", b.Targets.Select(x => x.Length))}] " +
        $"il=[{string.Join(",", b.InputLengths)}] zeroInfinity={zeroInfinity})";
}
