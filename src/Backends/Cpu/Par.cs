using System.Runtime.ExceptionServices;

namespace MiniGrad.Backends.Cpu;

/// <summary>Splits index ranges over the cores only when the work is big enough to pay for it.</summary>
internal static class Par
{
    // Set on the threads that run one of several independent parts (RunParts): every core already has a part, so the
    // kernels a part calls run inline instead of queueing work that no core is free to take.
    [ThreadStatic] static bool t_inPart;

    /// <summary>True on a thread running a part of <see cref="Parts"/>: kernels should not split their work.</summary>
    public static bool InPart => t_inPart;

    /// <summary>Runs body over [0, count) in contiguous chunks; inline when count * costPerItem is small.</summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        int workers = Environment.ProcessorCount;
        long work = count * Math.Max(costPerItem, 1);
        if (workers <= 1 || count < 2 || work < 1 << 16 || t_inPart) { body(0, count); return; }
        int chunks = (int)Math.Min(Math.Min(count, workers * 4L), Math.Max(2, work >> 15));
        Parallel.For(0, chunks, c =>
        {
            int start = (int)((long)count * c / chunks), end = (int)((long)count * (c + 1) / chunks);
            if (start < end) body(start, end);
        });
    }

    /// <summary>Runs count independent parts, one per core where there are several cores; the kernels inside run inline.</summary>
    public static void Parts(int count, Action<int> body)
    {
        if (count < 2 || Environment.ProcessorCount <= 1 || t_inPart)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            Parallel.For(0, count, i =>
            {
                t_inPart = true;
                try { body(i); }
                finally { t_inPart = false; }
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); // the part's own exception, as if it had run inline
        }
    }
}
