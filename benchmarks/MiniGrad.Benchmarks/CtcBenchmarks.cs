using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// CTC forward + backward in float32 on the shapes `run.sh bench ctc` times in libtorch: random log_softmax inputs,
/// full-length inputs, targets of length L drawn from [1, C).
/// </summary>
[Config(typeof(QuickConfig))]
public class CtcBenchmarks
{
    Tensor x = null!, targets = null!;
    int[] inputLengths = [], targetLengths = [];

    [Params("150,32,29,40", "500,32,29,100", "1000,16,29,200", "200,16,1000,50")] public string TNCL = "";

    [GlobalSetup]
    public void Setup()
    {
        var p = TNCL.Split(',').Select(int.Parse).ToArray();
        int T = p[0], N = p[1], C = p[2], L = p[3];
        Torch.ManualSeed(0);
        x = Torch.Randn(T, N, C).LogSoftmax(2).Detach().RequiresGrad_();
        targets = Torch.Randint(1, C, [N, L]);
        inputLengths = Enumerable.Repeat(T, N).ToArray();
        targetLengths = Enumerable.Repeat(L, N).ToArray();
    }

    [Benchmark]
    public void ForwardBackward()
    {
        Functional.CtcLoss(x, targets, inputLengths, targetLengths).Backward();
        x.Grad = null;
    }
}
