using System.Collections.Concurrent;

namespace MiniGrad;

/// <summary>
/// Recycles the storage that backends allocate inside it and nobody owns when it ends. A fused op that works on raw
/// tensors (the recurrent layers run dozens of raw backend calls per step, on worker threads too) opens one around its
/// forward or backward: what it returns is wrapped in tensors or kept for the backward, so it has owners and stays;
/// every other intermediate goes back to the pool for the next call instead of waiting for the garbage collector.
/// The region follows the code into the tasks it starts (an AsyncLocal), so kernels on other cores are covered.
/// Code inside must not hold on to an unowned raw tensor past the region.
/// </summary>
public sealed class ScratchRegion : IDisposable
{
    static readonly AsyncLocal<ScratchRegion?> current = new();
    readonly ScratchRegion? outer;
    readonly ConcurrentQueue<RawTensor> made = new();

    ScratchRegion()
    {
        outer = current.Value;
        current.Value = this;
    }

    /// <summary>Opens a region on this flow of control (nested regions hand their storage to the outermost one's end).</summary>
    public static ScratchRegion Begin() => new();

    /// <summary>Backends call this for each tensor whose storage they allocate; outside a region it does nothing.</summary>
    public static void Track(RawTensor t)
    {
        if (current.Value is { } r) r.made.Enqueue(t);
    }

    /// <summary>Recycles what was allocated inside and has no owner.</summary>
    public void Dispose()
    {
        current.Value = outer;
        while (made.TryDequeue(out var t))
            if (outer is null) t.Recycle();
            else outer.made.Enqueue(t);
    }
}
