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
        // BenchmarkDotNet's child process explicitly. One job at the machine's own width, or one per width chosen with
        // --width (see Widths).
        var widths = Widths.Selected();
        if (widths.Count == 0)
            AddJob(Job(null, []));
        foreach (var w in widths)
            AddJob(Job(w, Widths.Variables(w)));
        // Median beside Mean (libtorch's oracle reports medians), and allocations with GC counts: the managed heap's
        // cost shows up in the mean.
        AddColumn(StatisticColumn.Median);
        AddDiagnoser(MemoryDiagnoser.Default);
    }

    internal static Job Job(string? id, EnvironmentVariable[] width)
    {
        var job = BenchmarkDotNet.Jobs.Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithGcConcurrent(false)
            .WithEnvironmentVariables([new EnvironmentVariable("DOTNET_GCLOHThreshold", "0x2000000"), new EnvironmentVariable("DOTNET_GCRegionSize", "0x2000000"), .. width]);
        return id is null ? job : job.WithId(id);
    }
}

/// <summary>
/// <see cref="QuickConfig"/>'s job (MiniGrad's GC settings, as the package gives applications) beside one with the
/// runtime's defaults (concurrent GC, 85,000-byte large-object threshold, 4 MB regions: environment variables win over
/// the runtimeconfig the package writes), to show what the settings still buy once tensors come from the pool.
/// </summary>
public sealed class GcSettingsConfig : ManualConfig
{
    public GcSettingsConfig()
    {
        AddJob(QuickConfig.Job("package-gc", []));
        AddJob(BenchmarkDotNet.Jobs.Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithGcConcurrent(true)
            .WithEnvironmentVariables(new EnvironmentVariable("DOTNET_GCLOHThreshold", "0x14C08"), new EnvironmentVariable("DOTNET_GCRegionSize", "0x400000"))
            .WithId("runtime-defaults"));
        AddColumn(StatisticColumn.Median);
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>
/// SIMD widths to benchmark at, each a job whose child process runs with the runtime's instruction sets capped by
/// environment variables: "avx512" (the machine as it is, on an AVX-512 machine), "avx2" (DOTNET_EnableAVX512=0, the
/// .NET 10 name; .NET 8 and 9 read DOTNET_EnableAVX512F, set too), "sse128" (DOTNET_EnableAVX=0: Vector128 accelerated,
/// Vector256 emulated, as on ARM64) and "scalar" (DOTNET_EnableHWIntrinsic=0). Chosen with <c>--width W[,W...]</c> or
/// <c>--width all</c> on the command line (taken off before BenchmarkSwitcher sees the rest), or the environment
/// variable MINIGRAD_BENCH_WIDTH; without either, one job at the machine's native width, as before.
/// </summary>
public static class Widths
{
    public const string EnvironmentName = "MINIGRAD_BENCH_WIDTH";

    public static readonly string[] All = ["avx512", "avx2", "sse128", "scalar"];

    /// <summary>Takes <c>--width X</c> (or <c>--width=X</c>) out of <paramref name="args"/> into MINIGRAD_BENCH_WIDTH.</summary>
    public static string[] TakeOption(string[] args)
    {
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--width")
            {
                if (i + 1 == args.Length) throw new ArgumentException($"--width needs a value: {string.Join(", ", All)} or all");
                Environment.SetEnvironmentVariable(EnvironmentName, args[++i]);
            }
            else if (args[i].StartsWith("--width="))
                Environment.SetEnvironmentVariable(EnvironmentName, args[i]["--width=".Length..]);
            else
                rest.Add(args[i]);
        }
        Selected(); // reject a bad name before any benchmark is built
        return [.. rest];
    }

    /// <summary>The widths named in MINIGRAD_BENCH_WIDTH, in the order of <see cref="All"/>; none when it is unset.</summary>
    public static IReadOnlyList<string> Selected()
    {
        var names = (Environment.GetEnvironmentVariable(EnvironmentName) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var n in names)
            if (n != "all" && !All.Contains(n))
                throw new ArgumentException($"unknown width '{n}': use {string.Join(", ", All)} or all (comma-separated for several)");
        return names.Contains("all") ? All : All.Where(names.Contains).ToArray();
    }

    /// <summary>The environment variables that cap the runtime at <paramref name="width"/>.</summary>
    public static EnvironmentVariable[] Variables(string width) => width switch
    {
        "avx512" => [],
        "avx2" => [new("DOTNET_EnableAVX512", "0"), new("DOTNET_EnableAVX512F", "0")],
        "sse128" => [new("DOTNET_EnableAVX", "0")],
        "scalar" => [new("DOTNET_EnableHWIntrinsic", "0")],
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, null),
    };
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
