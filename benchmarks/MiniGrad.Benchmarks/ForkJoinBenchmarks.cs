using BenchmarkDotNet.Attributes;
using MiniGrad.Backends.Cpu;

namespace MiniGrad.Benchmarks;

/// <summary>
/// What one parallel section costs the CPU kernels: two items, each a sum over its half of a float32 vector, through the
/// kernels' fork-join team (<see cref="Team"/>), through the thread pool's Parallel.For (what the kernels used before),
/// and on the calling thread alone. Items = 0 floats measures the hand-over by itself.
/// </summary>
[Config(typeof(QuickConfig))]
public class ForkJoinBenchmarks
{
    float[] data = null!;
    readonly float[] sums = new float[2];
    Action<int> item = null!;
    ParallelOptions options = null!;

    [Params(0, 16384)] public int Floats;

    [GlobalSetup]
    public void Setup()
    {
        data = Enumerable.Range(0, Floats).Select(i => (float)i).ToArray();
        int half = Floats / 2;
        item = i => sums[i] = System.Numerics.Tensors.TensorPrimitives.Sum(data.AsSpan(i * half, half));
        options = new ParallelOptions { MaxDegreeOfParallelism = 2 };
    }

    [Benchmark(Baseline = true)] public void Team2() => Team.Run(2, 2, item);

    [Benchmark] public void ThreadPool2() => Parallel.For(0, 2, options, item);

    [Benchmark] public void OneThread() { item(0); item(1); }
}
