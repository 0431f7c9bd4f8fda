using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// Conv1d and LayerNorm forward + backward in float32 on the shapes of issue 14 (timed in libtorch by the oracle's
/// conv1d/layernorm bench variants): output.Sum().Backward() with the input requiring grad, then the gradients are
/// cleared (as module.zero_grad() there). Conv1dManyShortItems: a Conv1d over many short items (9,600 of 40 positions,
/// 1 -> 8 channels, kernel 5, padding 2: a front end over mel bands), as `benchmarks/versus-libtorch` times it.
/// </summary>
[Config(typeof(QuickConfig))]
public class ConvNormBenchmarks
{
    Conv1d conv = null!, shortConv = null!;
    LayerNorm norm = null!;
    Tensor convX = null!, normX = null!, shortX = null!;

    [GlobalSetup]
    public void Setup()
    {
        Torch.ManualSeed(0);
        conv = new Conv1d(40, 128, 5);                       // N 16, 40 -> 128 channels, L 300, kernel 5
        convX = Torch.Randn(16, 40, 300).RequiresGrad_();
        norm = new LayerNorm(256);                           // 4800 x 256
        normX = Torch.Randn(4800, 256).RequiresGrad_();
        shortConv = new Conv1d(1, 8, 5, padding: 2);
        shortX = Torch.Randn(9600, 1, 40).RequiresGrad_();
        Warmup.Run(Conv1dForwardBackward);
        Warmup.Run(Conv1dManyShortItems);
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
    public void Conv1dManyShortItems()
    {
        shortConv.Forward(shortX).Sum().Backward();
        shortConv.ZeroGrad();
        shortX.ZeroGrad();
    }

    [Benchmark]
    public void LayerNormForwardBackward()
    {
        norm.Forward(normX).Sum().Backward();
        norm.ZeroGrad();
        normX.ZeroGrad();
    }
}
