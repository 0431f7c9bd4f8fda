using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// The CPU kernels' fork-join, as OpenMP's thread team: background threads that, after a job, spin a little while for
/// the next one before they sleep. A kernel's parallel section is often only tens of microseconds long and follows the
/// last one closely (an LSTM's forward and backward make dozens of them); the thread pool's hand-over costs about 3 us a
/// section on 2 cores (with spikes past 15), a spinning team's 0.26 us (ForkJoinBenchmarks). Each thread of a job has a
/// home range of the items (the caller the first, helper k the k-th), so that item i runs on the same core from one
/// section to the next and finds its data in that core's cache (a CTC sample's forward state in its backward, a chunk
/// of a tensor in the next elementwise op); a thread that is done takes the others' items one at a time, so a helper
/// that wakes late only leaves its items to the others. Which thread runs an item never changes what the item
/// computes, so results stay bit-identical.
/// </summary>
internal static class Team
{
    /// <summary>How long a helper keeps looking for the next job before it sleeps.</summary>
    static readonly long SpinTicks = Stopwatch.Frequency / 5_000; // 200 us

    sealed class Job
    {
        const int Stride = 16; // the ranges' counters a cache line apart
        public readonly int Count, Threads;
        public readonly long Serial = Interlocked.Increment(ref s_serial);
        public readonly Action<int> Body;
        public readonly ExecutionContext? Context = ExecutionContext.Capture(); // the caller's AsyncLocals (its ScratchRegion)
        readonly int[] next; // range r's next item at next[r * Stride]
        public int Done;
        public Exception? Error;

        public Job(int count, int threads, Action<int> body)
        {
            (Count, Threads, Body, next) = (count, threads, body, new int[threads * Stride]);
            for (int r = 0; r < threads; r++) next[r * Stride] = Start(r);
        }

        int Start(int range) => (int)((long)Count * range / Threads);

        /// <summary>Runs the items of range home, then what is left of the others; once an item failed, skips the rest.</summary>
        public void Work(int home)
        {
            for (int k = 0; k < Threads; k++)
            {
                int r = (home + k) % Threads, end = Start(r + 1), i;
                while ((i = Interlocked.Increment(ref next[r * Stride]) - 1) < end)
                {
                    try { if (Volatile.Read(ref Error) is null) Body(i); }
                    catch (Exception e) { Interlocked.CompareExchange(ref Error, e, null); }
                    Interlocked.Increment(ref Done);
                }
            }
        }
    }

    static readonly object s_gate = new();
    static Job? s_job; // the job at work, null between jobs (so nothing keeps its closure alive); helpers join it
    static long s_serial; // the last job's number
    static int s_busy, s_sleepers, s_threads;

    /// <summary>
    /// Runs body(i) for every i in [0, count) on at most <paramref name="threads"/> threads, the caller among them, and
    /// returns when all are done. An item's exception is rethrown here as it was thrown (the items not yet started are
    /// skipped). When the team is already at work for another caller (a nested or concurrent section), the thread pool
    /// runs the items instead.
    /// </summary>
    public static void Run(int count, int threads, Action<int> body)
    {
        threads = Math.Min(Math.Min(threads, count), Environment.ProcessorCount); // a spinning helper per core at most
        if (threads <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        if (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            RunOnPool(count, threads, body);
            return;
        }
        try
        {
            Grow(threads - 1);
            var job = new Job(count, threads, body);
            Interlocked.Exchange(ref s_job, job); // a full fence: the count below is read after the job is visible
            if (Volatile.Read(ref s_sleepers) > 0) // so a helper that missed the job is counted here
                lock (s_gate) Monitor.PulseAll(s_gate);
            job.Work(0);
            var spin = new SpinWait();
            while (Volatile.Read(ref job.Done) < count) spin.SpinOnce(sleep1Threshold: -1);
            if (job.Error is { } e) ExceptionDispatchInfo.Throw(e);
        }
        finally
        {
            Volatile.Write(ref s_job, null);
            Volatile.Write(ref s_busy, 0);
        }
    }

    static void RunOnPool(int count, int threads, Action<int> body)
    {
        try { Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body); }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); // the item's own exception, as if it had run inline
        }
    }

    /// <summary>Starts helpers until there are <paramref name="helpers"/> (they live as long as the process).</summary>
    static void Grow(int helpers)
    {
        while (s_threads < helpers)
        {
            s_threads++;
            int id = s_threads;
            new Thread(() => Help(id)) { IsBackground = true, Name = "MiniGrad CPU " + id }.Start();
        }
    }

    /// <summary>Helper <paramref name="id"/> (1, 2, ...): joins each job of more than id threads, from its own range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // optimized from the start: precise about which locals are live
    static void Help(int id)
    {
        ContextCallback work = job => ((Job)job!).Work(id);
        for (long seen = 0; ; ) seen = Serve(id, seen, work);
    }

    /// <summary>Waits for the next job and takes part in it; returns its number. The job is referenced only in here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long Serve(int id, long seen, ContextCallback work)
    {
        var job = Wait(seen);
        if (id < job.Threads)
        {
            if (job.Context is null) job.Work(id);
            else ExecutionContext.Run(job.Context, work, job);
        }
        return job.Serial;
    }

    /// <summary>The next job after number <paramref name="seen"/>: spins for <see cref="SpinTicks"/>, then sleeps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static Job Wait(long seen)
    {
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        for (int n = 0; ; n++)
        {
            var job = Volatile.Read(ref s_job);
            if (job is not null && job.Serial != seen) return job;
            if ((n & 63) != 0 || Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(8);
                continue;
            }
            lock (s_gate)
            {
                Interlocked.Increment(ref s_sleepers); // counted before the last look, so a job published now pulses
                while ((job = Volatile.Read(ref s_job)) is null || job.Serial == seen) Monitor.Wait(s_gate);
                Interlocked.Decrement(ref s_sleepers);
                return job;
            }
        }
    }
}
