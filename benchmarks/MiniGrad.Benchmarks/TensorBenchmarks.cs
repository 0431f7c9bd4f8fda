using BenchmarkDotNet.Attributes;

namespace MiniGrad.Benchmarks;

/// <summary>Square float32 GEMM, the shapes `shared/oracle/run.sh bench gemm` times in libtorch.</summary>
[Config(typeof(QuickConfig))]
public class GemmBenchmarks
{
    Tensor a = null!, b = null!;

    [Params(64, 256, 512, 1024)] public int N;

    [GlobalSetup] public void Setup() { a = Torch.Randn(N, N); b = Torch.Randn(N, N); }

    // The output is disposed, as libtorch's bench frees each call's in a DisposeScope: the next call reuses its storage.
    [Benchmark] public void MatMul() { using var c = a.MatMul(b); }
}

/// <summary>LogSoftmax over the last dim at the shapes `run.sh bench logsoftmax` uses.</summary>
[Config(typeof(QuickConfig))]
public class LogSoftmaxBenchmarks
{
    Tensor x = null!;

    [Params("4800x29", "1024x32000")] public string Shape = "";

    [GlobalSetup]
    public void Setup()
    {
        var s = Shape.Split('x').Select(int.Parse).ToArray();
        x = Torch.Randn(s);
    }

    [Benchmark] public void LogSoftmax() { using var y = x.LogSoftmax(1); }
}

/// <summary>Elementwise add of two 1M-element float32 vectors.</summary>
[Config(typeof(QuickConfig))]
public class ElementwiseBenchmarks
{
    Tensor a = null!, b = null!;

    [GlobalSetup] public void Setup() { a = Torch.Randn(1 << 20); b = Torch.Randn(1 << 20); }

    [Benchmark] public void Add() { using var c = a + b; }
}

/// <summary>Dropout(0.3) on the speech recipe's LSTM output (66 frames x 32 utterances x 192), float32: the mask's draws,
/// its tensor and the product, inside a scope as the examples train.</summary>
[Config(typeof(QuickConfig))]
public class DropoutBenchmarks
{
    Tensor x = null!;
    readonly Generator g = new(0);

    [GlobalSetup] public void Setup() => x = Torch.Randn(66, 32, 192);

    [Benchmark] public void Dropout() { using var scope = Torch.NewScope(); _ = x.Dropout(0.3, generator: g); }
}
