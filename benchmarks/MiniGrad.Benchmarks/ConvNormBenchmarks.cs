using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// Conv1d and LayerNorm forward + backward in float32 on the shapes of issue 14 (timed in libtorch by the oracle's
/// conv1d/layernorm bench variants): output.Sum().Backward() with the input requiring grad, then the gradients are
/// cleared (as module.zero_grad() there).
/// </summary>
[Config(typeof(QuickConfig))]
public class ConvNormBenchmarks
{
    Conv1d conv = null!;
    LayerNorm norm = null!;
    Tensor convX = null!, normX = null!;

    [GlobalSetup]
    public void Setup()
    {
        Torch.ManualSeed(0);
        conv = new Conv1d(40, 128, 5);                       // N 16, 40 -> 128 channels, L 300, kernel 5
        convX = Torch.Randn(16, 40, 300).RequiresGrad_();
        norm = new LayerNorm(256);                           // 4800 x 256
        normX = Torch.Randn(4800, 256).RequiresGrad_();
        Warmup.Run(Conv1dForwardBackward);
        Warmup.Run(LayerNormForwardBackward);
    }

    [Benchmark]
    public void Conv1dForwardBackward()
    {
        conv.Forward(convX).Sum().Backward();
        conv.ZeroGrad();
        convX.ZeroGrad();
    }

    [Benchmark]
    public void LayerNormForwardBackward()
    {
        norm.Forward(normX).Sum().Backward();
        norm.ZeroGrad();
        normX.ZeroGrad();
    }
}
