using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// GRU forward + backward in float32 on the shapes `shared/oracle/run.sh bench gru` times in libtorch (issue 14's
/// I40 H128 T100 N16, one layer and two bidirectional layers): output.Sum().Backward(), then the gradients are cleared
/// (as gru.zero_grad() there).
/// </summary>
[Config(typeof(QuickConfig))]
public class GruBenchmarks
{
    Gru gru = null!;
    Tensor x = null!;

    /// <summary>I, H, T, N, layers, bidirectional.</summary>
    [Params("40,128,100,16,1,false", "40,128,100,16,2,true")] public string Shape = "";

    [GlobalSetup]
    public void Setup()
    {
        var p = Shape.Split(',');
        int I = int.Parse(p[0]), H = int.Parse(p[1]), T = int.Parse(p[2]), N = int.Parse(p[3]), layers = int.Parse(p[4]);
        Torch.ManualSeed(0);
        gru = new Gru(I, H, layers, bidirectional: bool.Parse(p[5]));
        x = Torch.Randn(T, N, I);
        Warmup.Run(ForwardBackward);
    }

    [Benchmark]
    public void ForwardBackward()
    {
        gru.Forward(x).Output.Sum().Backward();
        gru.ZeroGrad();
    }
}
