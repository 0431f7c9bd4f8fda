namespace MiniGrad.Backends.Cpu;

/// <summary>Splits index ranges over the cores only when the work is big enough to pay for it.</summary>
internal static class Par
{
    // The cores a thread's kernels may split their work over: Torch.SetNumThreads's count (all cores by default), except
    // on a thread that runs one of several independent parts (Parts), which gets its share. On 2 cores with 2 parts that
    // share is 1 and the kernels run inline, instead of queueing work that no core is free to take.
    [ThreadStatic] static int t_cores;

    /// <summary>How many cores the calling thread's kernels may use.</summary>
    public static int Cores => t_cores > 0 ? t_cores : CpuThreads.Count;

    /// <summary>Runs body over [0, count) in contiguous chunks; inline when count * costPerItem is small.</summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        int workers = Cores;
        long work = count * Math.Max(costPerItem, 1);
        if (workers <= 1 || count < 2 || work < 1 << 16) { body(0, count); return; }
        int chunks = (int)Math.Min(Math.Min(count, workers * 4L), Math.Max(2, work >> 15));
        int simd = Simd.Capture(); // the workers' kernels run at the caller's width
        Team.Run(chunks, workers, c =>
        {
            int start = (int)((long)count * c / chunks), end = (int)((long)count * (c + 1) / chunks);
            using var width = Simd.Restore(simd);
            if (start < end) body(start, end);
        });
    }

    /// <summary>Runs count independent parts side by side, each with an equal share of the calling thread's cores.</summary>
    public static void Parts(int count, Action<int> body)
    {
        int cores = Cores;
        if (count < 2 || cores < 2)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        int share = Math.Max(1, cores / count), simd = Simd.Capture();
        Team.Run(count, cores, i =>
        {
            int outer = t_cores;
            t_cores = share;
            using var width = Simd.Restore(simd);
            try { body(i); }
            finally { t_cores = outer; }
        });
    }
}
