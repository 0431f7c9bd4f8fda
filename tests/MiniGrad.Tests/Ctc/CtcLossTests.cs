using MiniGrad.Nn;

namespace MiniGrad.Tests.Ctc;

/// <summary>The public CTC API: every documented error, gradchecks through LogSoftmax, the independent reference.</summary>
public class CtcLossTests
{
    static Tensor LogProbs(int T, int N, int C, DType dtype = DType.Float32, int seed = 1) =>
        Torch.Randn([T, N, C], dtype, generator: new Generator(seed)).LogSoftmax(2);

    static Tensor L(params long[] v) => Torch.Tensor(v);

    static string Error(Action a) => Record.Exception(a)?.Message ?? "no exception";

    [Fact]
    public void ErrorsNameTheArgumentAndValue()
    {
        var lp = LogProbs(50, 4, 6);
        var tg = Torch.Tensor(new long[] { 1, 2, 3, 1, 2, 3, 4, 5, 1, 1, 1, 1 }, 4, 3);
        var il = L(50, 50, 50, 61);
        var tl = L(3, 3, 2, 1);

        Assert.Contains("CtcLoss: input_lengths[3] = 61 exceeds T = 50", Error(() => Functional.CtcLoss(lp, tg, il, tl)));
        il = L(50, 50, 50, 50);
        Assert.Contains("blank = 6 must be in [0, C) = [0, 6)", Error(() => Functional.CtcLoss(lp, tg, il, tl, blank: 6)));
        Assert.Contains("blank = -1", Error(() => Functional.CtcLoss(lp, tg, il, tl, blank: -1)));
        Assert.Contains("input_lengths must be integral", Error(() => Functional.CtcLoss(lp, tg, il.To(DType.Float32), tl)));
        Assert.Contains("target_lengths must be integral", Error(() => Functional.CtcLoss(lp, tg, il, tl.To(DType.Float64))));
        Assert.Contains("targets must be Int32 or Int64", Error(() => Functional.CtcLoss(lp, tg.To(DType.Float32), il, tl)));
        Assert.Contains("log_probs must be 3-D (T, N, C) or 2-D", Error(() => Functional.CtcLoss(lp.Reshape(-1), tg, il, tl)));
        // An empty batch (PyTorch: "log_probs tensor must not be empty"), padded or concatenated targets.
        Assert.Contains("expected a non-empty tensor", Error(() => Functional.CtcLoss(Torch.Randn([4, 0, 3]), Torch.Zeros([0, 1], DType.Int64), Array.Empty<int>(), Array.Empty<int>())));
        Assert.Contains("expected a non-empty tensor", Error(() => Functional.CtcLoss(Torch.Randn([4, 0, 3]), Torch.Zeros([0], DType.Int64), Array.Empty<int>(), Array.Empty<int>())));
        Assert.Contains("log_probs must be 3-D (T, N, C) or 2-D", Error(() => Functional.CtcLoss(lp.Unsqueeze(0), tg, il, tl)));
        Assert.Contains("log_probs must be Float32 or Float64", Error(() => Functional.CtcLoss(lp.To(DType.Int32), tg, il, tl)));
        Assert.Contains("input_lengths must have 4 entries", Error(() => Functional.CtcLoss(lp, tg, L(50, 50, 50), tl)));
        Assert.Contains("target_lengths must have 4 entries", Error(() => Functional.CtcLoss(lp, tg, il, L(3, 3, 2, 1, 1))));
        Assert.Contains("input_lengths[1] = -2 must be non-negative", Error(() => Functional.CtcLoss(lp, tg, L(50, -2, 50, 50), tl)));
        Assert.Contains("target_lengths[2] = -1 must be non-negative", Error(() => Functional.CtcLoss(lp, tg, il, L(3, 3, -1, 1))));
        Assert.Contains("narrower than the longest target (target_lengths max = 4)", Error(() => Functional.CtcLoss(lp, tg, il, L(3, 4, 2, 1))));
        Assert.Contains("concatenated targets have length 5, but sum(target_lengths) = 9", Error(() => Functional.CtcLoss(lp, L(1, 2, 3, 4, 5), il, tl)));
        Assert.Contains("targets[1][2] = 6 must be a class in [0, 6) other than blank = 0",
            Error(() => Functional.CtcLoss(lp, Torch.Tensor(new long[] { 1, 2, 3, 1, 2, 6, 4, 5, 1, 1, 1, 1 }, 4, 3), il, tl)));
        Assert.Contains("targets[0][1] = 0 must be a class in [0, 6) other than blank = 0",
            Error(() => Functional.CtcLoss(lp, Torch.Tensor(new long[] { 1, 0, 3, 1, 2, 3, 4, 5, 1, 1, 1, 1 }, 4, 3), il, tl)));
        Assert.Contains("targets[0][0] = -3 must be a class",
            Error(() => Functional.CtcLoss(lp, Torch.Tensor(new long[] { -3, 2, 3, 1, 2, 3, 4, 5, 1, 1, 1, 1 }, 4, 3), il, tl)));
        Assert.Contains("padded targets must have N = 4 rows", Error(() => Functional.CtcLoss(lp, Torch.Tensor(new long[] { 1, 2, 3, 1, 2, 3 }, 2, 3), il, tl)));
    }

    [Fact]
    public void PaddingIsNeverRead()
    {
        var lp = LogProbs(20, 2, 5);
        var clean = Torch.Tensor(new long[] { 1, 2, 0, 0, 3, 3, 4, 0 }, 2, 4);
        var dirty = Torch.Tensor(new long[] { 1, 2, 99, -7, 3, 3, 4, 0 }, 2, 4);
        var a = Functional.CtcLoss(lp, clean, [20, 18], [2, 3], reduction: Reduction.None).ToArray<float>();
        var b = Functional.CtcLoss(lp, dirty, [20, 18], [2, 3], reduction: Reduction.None).ToArray<float>();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(float.IsFinite(v) && v > 0));
    }

    [Fact]
    public void ModuleOptionsMatchFunctional()
    {
        var lp = LogProbs(12, 3, 5);
        var tg = Torch.Tensor(new long[] { 1, 2, 2, 3, 4, 1 }, 3, 2);
        var ctc = new CtcLoss(blank: 0, reduction: Reduction.Sum);
        var m = ctc.Forward(lp, tg, [12, 10, 8], [2, 2, 1]).Item<float>();
        var f = Functional.CtcLoss(lp, tg, [12, 10, 8], [2, 2, 1], reduction: Reduction.Sum).Item<float>();
        Assert.Equal(f, m);
        var none = Functional.CtcLoss(lp, tg, [12, 10, 8], [2, 2, 1], reduction: Reduction.None).ToArray<float>();
        Assert.Equal(none.Sum(), m, 4);
        var mean = Functional.CtcLoss(lp, tg, [12, 10, 8], [2, 2, 1]).Item<float>();
        Assert.Equal((none[0] / 2 + none[1] / 2 + none[2] / 1) / 3, mean, 4);
    }

    public static TheoryData<string, int, int, int, int[], int[], int[][], int, Reduction> GradCases() => new()
    {
        { "repeats", 8, 2, 4, [8, 8], [3, 2], [[1, 1, 2], [3, 3]], 0, Reduction.Mean },
        { "blank not 0", 7, 2, 5, [7, 6], [2, 3], [[0, 1], [3, 0, 1]], 2, Reduction.Sum },
        { "variable lengths", 9, 3, 4, [9, 5, 3], [2, 1, 0], [[1, 2], [3], []], 0, Reduction.None },
        { "blank last", 6, 1, 4, [6], [3], [[1, 2, 1]], 3, Reduction.Mean },
    };

    [Theory]
    [MemberData(nameof(GradCases))]
    public void GradCheckThroughLogSoftmax(string name, int T, int N, int C, int[] il, int[] tl, int[][] targets, int blank, Reduction reduction)
    {
        int S = Math.Max(1, targets.Max(t => t.Length));
        var padded = new long[N * S];
        for (int n = 0; n < N; n++) for (int s = 0; s < targets[n].Length; s++) padded[n * S + s] = targets[n][s];
        var tg = Torch.Tensor(padded, N, S);
        var x = Torch.Randn([T, N, C], DType.Float64, generator: new Generator(7), requiresGrad: true);
        Assert.True(GradCheck.Check(a => Functional.CtcLoss(a[0].LogSoftmax(2), tg, il, tl, blank, reduction), [x]), name);
    }

    [Fact]
    public void GradCheckUnbatchedAndConcatenated()
    {
        var x = Torch.Randn([6, 4], DType.Float64, generator: new Generator(3), requiresGrad: true);
        Assert.True(GradCheck.Check(a => Functional.CtcLoss(a[0].LogSoftmax(1), L(1, 3), Torch.Tensor(new long[] { 6 }, []), Torch.Tensor(new long[] { 2 }, [])), [x]));
        var y = Torch.Randn([7, 2, 4], DType.Float64, generator: new Generator(4), requiresGrad: true);
        Assert.True(GradCheck.Check(a => Functional.CtcLoss(a[0].LogSoftmax(2), L(1, 2, 3, 3, 1), [7, 7], [2, 3]), [y]));
    }

    [Fact]
    public void GradientFlowsThroughLogSoftmaxIntoItsInput()
    {
        var w = Torch.Randn([3, 5], requiresGrad: true, generator: new Generator(2));
        var feats = Torch.Randn([10, 2, 3], generator: new Generator(5));
        var lp = feats.MatMul(w).LogSoftmax(2);
        var loss = Functional.CtcLoss(lp, Torch.Tensor(new long[] { 1, 2, 3, 4 }, 2, 2), [10, 9], [2, 2]);
        loss.Backward();
        Assert.NotNull(w.Grad);
        Assert.True(w.Grad!.Abs().Sum().Item<float>() > 0);
        // The CTC node sits in the graph between the reduction and LogSoftmax.
        var seen = new List<string>();
        var stack = new Stack<Function>([loss.GradFn!]);
        while (stack.Count > 0)
        {
            var f = stack.Pop();
            seen.Add(f.Name);
            foreach (var next in f.NextFunctions.OfType<Function>()) stack.Push(next);
        }
        Assert.Contains("CtcLossBackward", seen);
        Assert.Contains("LogSoftmaxBackward", seen);
    }

    [Fact]
    public void FramesPastInputLengthGetZeroGradient()
    {
        var x = Torch.Randn([10, 2, 4], requiresGrad: true, generator: new Generator(8));
        Functional.CtcLoss(x.LogSoftmax(2), Torch.Tensor(new long[] { 1, 2, 3, 1 }, 2, 2), [10, 6], [2, 2]).Backward();
        var g = x.Grad!.ToArray<float>();
        for (int t = 6; t < 10; t++) for (int c = 0; c < 4; c++) Assert.Equal(0f, g[(t * 2 + 1) * 4 + c]);
        Assert.Contains(g, v => v != 0);
    }

    [Fact]
    public void RetainedGraphGivesTheSameGradientTwice()
    {
        var x = Torch.Randn([10, 2, 4], requiresGrad: true, generator: new Generator(8));
        var loss = Functional.CtcLoss(x.LogSoftmax(2), Torch.Tensor(new long[] { 1, 2, 3, 1 }, 2, 2), [10, 6], [2, 2]);
        loss.Backward(retainGraph: true);
        var first = x.Grad!.ToArray<float>();
        loss.Backward();
        var second = x.Grad!.ToArray<float>();
        for (int i = 0; i < first.Length; i++) Assert.Equal(2 * first[i], second[i], 5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void MatchesIndependentReference(int seed)
    {
        var rng = new Random(seed);
        int T = rng.Next(1, 30), N = rng.Next(1, 5), C = rng.Next(2, 8), blank = rng.Next(C);
        var x = Torch.Randn([T, N, C], DType.Float64, generator: new Generator(seed), requiresGrad: true);
        var lp = x.LogSoftmax(2);
        var il = Enumerable.Range(0, N).Select(_ => rng.Next(0, T + 1)).ToArray();
        var targets = il.Select(l => Enumerable.Range(0, rng.Next(0, Math.Max(1, l / 2 + 2)))
            .Select(_ => { int c; do c = rng.Next(C); while (c == blank); return c; }).ToArray()).ToArray();
        var tl = targets.Select(t => t.Length).ToArray();
        var concat = Torch.Tensor(targets.SelectMany(t => t.Select(v => (long)v)).ToArray(), [tl.Sum()]);
        var loss = Functional.CtcLoss(lp, concat, il, tl, blank, Reduction.None, zeroInfinity: true);
        loss.Sum().Backward();
        var lpv = lp.ToArray<double>();
        var got = loss.ToArray<double>();
        var grad = x.Grad!.ToArray<double>();
        for (int n = 0; n < N; n++)
        {
            var sample = new double[T * C];
            for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) sample[t * C + c] = lpv[(t * N + n) * C + c];
            var (nll, refGrad) = CtcReference.Sample(sample, T, C, targets[n], il[n], blank);
            if (double.IsInfinity(nll)) { Assert.Equal(0, got[n]); continue; }
            Assert.True(Math.Abs(nll - got[n]) <= 1e-9 * Math.Max(1, nll), $"sample {n}: reference {nll}, got {got[n]}");
            // The reference's gradient is w.r.t. log-probs (PyTorch's formula); chain it through LogSoftmax.
            for (int t = 0; t < T; t++)
            {
                double s = 0;
                for (int c = 0; c < C; c++) s += refGrad[t * C + c];
                for (int c = 0; c < C; c++)
                {
                    double expected = refGrad[t * C + c] - Math.Exp(sample[t * C + c]) * s;
                    Assert.True(Math.Abs(expected - grad[(t * N + n) * C + c]) <= 1e-8, $"sample {n} t {t} c {c}: {expected} vs {grad[(t * N + n) * C + c]}");
                }
            }
        }
    }

    [Fact]
    public void LongFloat32SequenceStaysFiniteAndAccurate()
    {
        const int T = 5000, C = 29, L = 1000;
        var x64 = Torch.Randn([T, 1, C], DType.Float64, generator: new Generator(11)).LogSoftmax(2);
        var rng = new Random(3);
        var target = Torch.Tensor(Enumerable.Range(0, L).Select(_ => (long)rng.Next(1, C)).ToArray(), 1, L);
        double l64 = Functional.CtcLoss(x64, target, [T], [L], reduction: Reduction.Sum).Item<double>();
        double l32 = Functional.CtcLoss(x64.To(DType.Float32), target, [T], [L], reduction: Reduction.Sum).Item<double>();
        Assert.True(double.IsFinite(l32));
        Assert.True(Math.Abs(l32 - l64) <= 1e-4 * Math.Abs(l64), $"float32 {l32} vs float64 {l64}");
    }
}
