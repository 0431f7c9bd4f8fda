using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;

namespace MiniGrad.Benchmarks;

/// <summary>Short, steady runs: one process, a few warm-ups, ten measured iterations (the machine has 2 cores).</summary>
public sealed class QuickConfig : ManualConfig
{
    public QuickConfig()
    {
        // The same GC settings as Directory.Build.props gives every MiniGrad program (see there why), passed to
        // BenchmarkDotNet's child process explicitly.
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithGcConcurrent(false)
            .WithEnvironmentVariables(new EnvironmentVariable("DOTNET_GCLOHThreshold", "0x2000000"), new EnvironmentVariable("DOTNET_GCRegionSize", "0x2000000")));
        // Median beside Mean (libtorch's oracle reports medians), and allocations with GC counts: the managed heap's
        // cost shows up in the mean.
        AddColumn(StatisticColumn.Median);
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>
/// Runs a long benchmark (tens of ms a call) 30 times before BenchmarkDotNet measures it. Its own warm-up is 3 iterations,
/// which for such a call are 3 calls: the JIT's tiers (quick code, then instrumented, then optimized) need about 20 before
/// the hot kernels run optimized code (measured on the speech step: 635, 523, 300 ... ms, steady at ~75 ms from call 20).
/// </summary>
internal static class Warmup
{
    public static void Run(Action call)
    {
        for (int i = 0; i < 30; i++) call();
    }
}
