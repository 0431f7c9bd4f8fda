using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// A training step of the speech example's `--data` model (2-layer bidirectional LSTM 160 -> 96, Linear(192, 11),
/// LogSoftmax, CTC over each utterance's lengths, ClipGradNorm(5), Adam; batch 32, in Torch.NewScope()) on batches of
/// one length (T = 100 steps) against batches whose length changes every step, as utterances bucketed by length give
/// (T = 25..175 steps of 40 ms, 1-7 s, in a fixed shuffled order; a mean of 100): the MemoryDiagnoser shows the storage
/// the pool could not serve.
/// </summary>
[Config(typeof(QuickConfig))]
public class VaryingLengthBenchmarks
{
    const int T = 100, MinT = 25, MaxT = 175, N = 32, Features = 160, Classes = 11;

    Lstm lstm = null!;
    Linear proj = null!;
    Adam opt = null!;
    List<Parameter> ps = null!;
    Tensor x = null!, targets = null!;
    int[] lengthOrder = null!;
    readonly int[] targetLengths = Enumerable.Repeat(6, N).ToArray();
    int call;

    [GlobalSetup]
    public void Setup()
    {
        Torch.ManualSeed(0);
        lstm = new Lstm(Features, 96, 2, bidirectional: true);
        proj = new Linear(192, Classes);
        ps = lstm.Parameters().Concat(proj.Parameters()).ToList();
        opt = new Adam(ps, 1e-3);
        x = Torch.Randn(MaxT, N, Features);
        lengthOrder = Enumerable.Range(MinT, MaxT - MinT + 1).ToArray();
        new Random(0).Shuffle(lengthOrder);
        targets = Torch.Randint(1, Classes, [N, 6]);
        Warmup.Run(OneLength);
        // Every length once, so that the pool holds each size class before the measured steps, at any width (30 calls
        // left a slower 128-bit run with lengths first seen while measured: 2.3 MB per step against 0.9 MB).
        foreach (int _ in lengthOrder) VaryingLength();
    }

    [Benchmark(Baseline = true)]
    public void OneLength() => Step(T);

    [Benchmark]
    public void VaryingLength() => Step(lengthOrder[call++ % lengthOrder.Length]);

    /// <summary>A batch of t steps whose utterances end at t, t - 1, ..., t - 31 (at least 12, room for any 6 labels).</summary>
    void Step(int t)
    {
        using var scope = Torch.NewScope();
        opt.ZeroGrad();
        int[] lengths = Enumerable.Range(0, N).Select(i => Math.Max(12, t - i)).ToArray();
        var lp = proj.Forward(lstm.Forward(x.Narrow(0, 0, t), lengths).Output).LogSoftmax(2);
        Functional.CtcLoss(lp, targets, lengths, targetLengths).Backward();
        Functional.ClipGradNorm(ps, 5.0);
        opt.Step();
    }
}
