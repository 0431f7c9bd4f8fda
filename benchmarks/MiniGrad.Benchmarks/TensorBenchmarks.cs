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
