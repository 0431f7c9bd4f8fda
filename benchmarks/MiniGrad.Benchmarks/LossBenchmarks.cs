using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// CrossEntropy forward + backward in float32 on the shape (N 4800 = a 16 x 300 frame batch, C 1000 classes),
/// class-index targets, mean reduction: loss.Backward(), then the gradient is cleared (as x.grad = None in libtorch).
/// </summary>
[Config(typeof(QuickConfig))]
public class CrossEntropyBenchmarks
{
    Tensor x = null!, target = null!;

    /// <summary>N, C.</summary>
    [Params("4800,1000")] public string Shape = "";

    [GlobalSetup]
    public void Setup()
    {
        var p = Shape.Split(',');
        int N = int.Parse(p[0]), C = int.Parse(p[1]);
        Torch.ManualSeed(0);
        x = Torch.Randn([N, C], requiresGrad: true);
        target = Torch.Randint(0, C, [N]);
        Warmup.Run(ForwardBackward);
    }

    [Benchmark]
    public void ForwardBackward()
    {
        Functional.CrossEntropy(x, target).Backward();
        x.ZeroGrad();
    }
}
