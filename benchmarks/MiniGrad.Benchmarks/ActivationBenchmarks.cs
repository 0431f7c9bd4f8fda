using BenchmarkDotNet.Attributes;

namespace MiniGrad.Benchmarks;

/// <summary>
/// Elementwise activations forward + backward over 2^20 float32 values (y.Sum().Backward() with the input requiring grad):
/// the float32 kernels on the SIMD layer (the parametrized ones) and the fused Relu/Tanh gradients.
/// </summary>
[Config(typeof(QuickConfig))]
public class ActivationBenchmarks
{
    Tensor x = null!;
    Func<Tensor, Tensor> f = null!;

    [Params("Relu", "Tanh", "Silu", "GeluTanh", "LogSigmoid")] public string Op = "";

    [GlobalSetup]
    public void Setup()
    {
        Torch.ManualSeed(0);
        x = (Torch.Randn(1 << 20) * 3.0).Detach().RequiresGrad_();
        f = Op switch
        {
            "Relu" => t => t.Relu(),
            "Tanh" => t => t.Tanh(),
            "Silu" => t => t.Silu(),
            "GeluTanh" => t => t.Gelu(GeluApproximate.Tanh),
            _ => t => t.LogSigmoid(),
        };
        Warmup.Run(ForwardBackward);
    }

    [Benchmark]
    public void ForwardBackward()
    {
        f(x).Sum().Backward();
        x.ZeroGrad();
    }
}
