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
