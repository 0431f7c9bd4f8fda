namespace MiniGrad.Backends.Cpu;

/// <summary>Splits index ranges over the cores only when the work is big enough to pay for it.</summary>
internal static class Par
{
    /// <summary>Runs body over [0, count) in contiguous chunks; inline when count * costPerItem is small.</summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        int workers = Environment.ProcessorCount;
        long work = count * Math.Max(costPerItem, 1);
        if (workers <= 1 || count < 2 || work < 1 << 16) { body(0, count); return; }
        int chunks = (int)Math.Min(Math.Min(count, workers * 4L), Math.Max(2, work >> 15));
        Parallel.For(0, chunks, c =>
        {
            int start = (int)((long)count * c / chunks), end = (int)((long)count * (c + 1) / chunks);
            if (start < end) body(start, end);
        });
    }
}
