namespace MiniGrad;

/// <summary>
/// How many threads the CPU kernels may use (PyTorch's intra-op thread count). It lives here, in the bottom layer, so
/// the CPU backend reads it without knowing Autograd; users set it through <c>Torch.SetNumThreads</c>.
/// </summary>
internal static class CpuThreads
{
    static volatile int s_count; // 0: not set, all cores

    /// <summary>The thread count in force: the last one set, or <see cref="Environment.ProcessorCount"/>.</summary>
    public static int Count => s_count > 0 ? s_count : Environment.ProcessorCount;

    /// <summary>Sets the count for the whole process; n must be at least 1.</summary>
    public static void Set(int n)
    {
        if (n < 1)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"SetNumThreads: the number of threads must be at least 1, but got {n}");
        s_count = n;
    }

    /// <summary>Back to the default (every core); for tests.</summary>
    internal static void Reset() => s_count = 0;
}
