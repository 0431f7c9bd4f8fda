using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace MiniGrad.Benchmarks;

/// <summary>Short, steady runs: one process, a few warm-ups, ten measured iterations (the machine has 2 cores).</summary>
public sealed class QuickConfig : ManualConfig
{
    public QuickConfig() => AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10));
}
