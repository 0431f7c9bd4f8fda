using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// The speech example's LSTM (120 = 40 mels x 3 stacked frames -> 96 per direction, bidirectional, batch 32, T = 100)
/// forward + backward in float32 over a padded batch whose utterances run 50..100 frames: without lengths (every
/// sequence runs into the padding) against with lengths (packed semantics: each stops at its own end).
/// </summary>
[Config(typeof(QuickConfig))]
public class LstmPackedBenchmarks
{
    Lstm lstm = null!;
    Tensor x = null!;
    int[] lengths = null!;

    [GlobalSetup]
    public void Setup()
    {
        Torch.ManualSeed(0);
        lstm = new Lstm(120, 96, 1, bidirectional: true);
        x = Torch.Randn(100, 32, 120);
        var g = new Random(0);
        lengths = [100, .. Enumerable.Range(1, 31).Select(_ => g.Next(50, 101))];
        Warmup.Run(Padded);
        Warmup.Run(WithLengths);
    }

    [Benchmark(Baseline = true)]
    public void Padded()
    {
        lstm.Forward(x).Output.Sum().Backward();
        lstm.ZeroGrad();
    }

    [Benchmark]
    public void WithLengths()
    {
        lstm.Forward(x, lengths).Output.Sum().Backward();
        lstm.ZeroGrad();
    }
}
