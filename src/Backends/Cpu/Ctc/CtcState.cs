using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// Handle to the state that <see cref="CtcKernel.Forward{T}"/> saves for <see cref="CtcKernel.Backward{T}"/>.
/// A struct so that a call allocates nothing; it stays usable until Backward (or Release) hands the pooled
/// workspace back, after which every use throws <see cref="InvalidOperationException"/>. Dispose hands it back unused (the
/// CTC node does so when no graph records it); after Backward it does nothing.
/// </summary>
internal readonly struct CtcSaved<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly CtcWorkspace<T>? workspace;
    readonly int generation;

    internal CtcSaved(CtcWorkspace<T> workspace)
    {
        this.workspace = workspace;
        generation = workspace.Generation;
    }

    /// <summary>True while the saved state may still be passed to Backward.</summary>
    public bool IsAlive => workspace is not null && Volatile.Read(ref workspace.Generation) == generation;

    /// <summary>Batch size the state was computed for.</summary>
    public int Batch => Acquire().Batch;

    /// <summary>Time dimension (T) of the log-probs the state was computed for.</summary>
    public int MaxT => Acquire().MaxT;

    /// <summary>Number of classes (C) of the log-probs the state was computed for.</summary>
    public int Classes => Acquire().Classes;

    public void Dispose() => CtcKernel.Release(this);

    internal CtcWorkspace<T> Acquire()
    {
        if (!IsAlive)
        {
            throw new InvalidOperationException(
                "CtcKernel: the saved CTC state was already consumed by Backward or Release (or is default); " +
                "run Forward again, or pass release: false to every Backward but the last.");
        }
        return workspace!;
    }
}

/// <summary>Pooled per-call storage: copies of the lengths and targets, per-sample alpha tables and scratch.</summary>
internal sealed unsafe class CtcWorkspace<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Bumped whenever the workspace goes back to the pool, invalidating outstanding handles.</summary>
    internal int Generation;

    internal int Batch, MaxT, Classes, Blank;
    internal int[] InputLengths = [], TargetLengths = [], LabelOffsets = [], Labels = [];

    /// <summary>Per-sample negative log-likelihood (the T value, widened), reused by Backward.</summary>
    internal double[] Nll = [];

    internal CtcSampleBuffers<T>[] Samples = [];

    /// <summary>
    /// Vector width in bits (<see cref="Simd.Bits"/>) chosen by Forward on the calling thread: the workers must not read
    /// Simd.Bits themselves, since <see cref="Simd.Limit"/> is per thread. Backward uses the same, as the rows' layout
    /// depends on it.
    /// </summary>
    internal int Bits;

    // Raw pointers of the caller's pinned spans, valid only while a Forward/Backward call runs; the worker
    // delegates cannot capture spans.
    internal T* Lp;
    internal T* Grad;
    internal T* GradOut;
    internal bool ZeroInfinity;

    internal readonly Action<int> ForwardBody;
    internal readonly Action<int> BackwardBody;

    internal CtcWorkspace()
    {
        ForwardBody = n =>
        {
            switch (Bits)
            {
                case 512: CtcKernel.ForwardSample<T, Vector512<T>, Simd512<T>>(this, n); break;
                case 256: CtcKernel.ForwardSample<T, Vector256<T>, Simd256<T>>(this, n); break;
                case 128: CtcKernel.ForwardSample<T, Vector128<T>, Simd128<T>>(this, n); break;
                default: CtcKernel.ForwardSample<T, T, SimdScalar<T>>(this, n); break;
            }
        };
        BackwardBody = n =>
        {
            switch (Bits)
            {
                case 512: CtcKernel.BackwardSample<T, Vector512<T>, Simd512<T>>(this, n); break;
                case 256: CtcKernel.BackwardSample<T, Vector256<T>, Simd256<T>>(this, n); break;
                case 128: CtcKernel.BackwardSample<T, Vector128<T>, Simd128<T>>(this, n); break;
                default: CtcKernel.BackwardSample<T, T, SimdScalar<T>>(this, n); break;
            }
        };
    }

    internal void Setup(int maxT, int batch, int classes, int blank, ReadOnlySpan<int> targets,
        ReadOnlySpan<int> targetOffsets, ReadOnlySpan<int> targetLengths, ReadOnlySpan<int> inputLengths)
    {
        MaxT = maxT;
        Batch = batch;
        Classes = classes;
        Blank = blank;
        Bits = Simd.Bits;
        if (InputLengths.Length < batch)
        {
            InputLengths = new int[batch];
            TargetLengths = new int[batch];
            LabelOffsets = new int[batch];
            Nll = new double[batch];
        }
        if (Samples.Length < batch)
        {
            var grown = new CtcSampleBuffers<T>[batch];
            Array.Copy(Samples, grown, Samples.Length);
            for (int i = Samples.Length; i < batch; i++) grown[i] = new CtcSampleBuffers<T>();
            Samples = grown;
        }
        int total = 0;
        for (int n = 0; n < batch; n++) total += targetLengths[n];
        if (Labels.Length < total) Labels = new int[total];
        int offset = 0;
        for (int n = 0; n < batch; n++)
        {
            int len = targetLengths[n];
            InputLengths[n] = inputLengths[n];
            TargetLengths[n] = len;
            LabelOffsets[n] = offset;
            targets.Slice(targetOffsets[n], len).CopyTo(Labels.AsSpan(offset, len));
            offset += len;
        }
    }

    internal long RetainedBytes()
    {
        long bytes = 4L * Labels.Length;
        foreach (var s in Samples) bytes += s.RetainedBytes();
        return bytes;
    }
}

/// <summary>One sample's log-alpha table (one row per frame) and scratch; Backward only reads the table.</summary>
internal sealed class CtcSampleBuffers<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal T[] Alpha = [];
    internal T[] Work = [];
    internal int[] Ints = [];
    internal T[] ClassAcc = [];
    internal T[] Block = [];
    internal T[] RowBlock = [];

    internal void Ensure(int rows, in CtcGeometry g, int classes)
    {
        long alphaLen = (long)rows * g.Stride;
        if (alphaLen > Array.MaxLength)
        {
            throw new InvalidOperationException(
                $"CtcKernel: the alpha table for one sample ({rows} frames x {g.Stride} states) exceeds the largest array.");
        }
        if (Alpha.Length < alphaLen) Alpha = GC.AllocateUninitializedArray<T>((int)alphaLen);
        if (Work.Length < g.WorkLength) Work = new T[g.WorkLength];
        int ints = g.W + classes + g.W;
        if (Ints.Length < ints) Ints = new int[ints];
    }

    internal void EnsureBackward(int accumulators, int block)
    {
        if (ClassAcc.Length < accumulators) ClassAcc = new T[accumulators];
        if (Block.Length < block) Block = new T[block];
        if (RowBlock.Length < block) RowBlock = new T[block];
    }

    internal long RetainedBytes() =>
        (long)Unsafe.SizeOf<T>() * (Alpha.Length + Work.Length + ClassAcc.Length + Block.Length + RowBlock.Length) +
        4L * Ints.Length;
}

/// <summary>
/// Layout of one sample's rows. The 2L+1 extended-target states are split into blank states (j = s/2, L+1 of
/// them) and label states (j = (s-1)/2, L of them), each in a segment of W lanes (L+1 rounded up to the vector
/// width, which may be 1) with a vector of -inf padding on both sides, so that the shifted loads (j-1 forward, j+1
/// backward) need no branches. Row: [pad | blank W | pad | label W | pad]. Work: skip mask, label tail mask, the label
/// emissions of a frame, a padded copy of a short log-prob row, two beta rows, and a row's log-add maxima (2W, blank
/// states then label states) and exponents (3W: the blank states', then the label states' two). Ints: label lookup indices (W),
/// class slots (C), distinct classes (W).
/// </summary>
internal readonly struct CtcGeometry
{
    internal readonly int W, Stride, OffB, OffL, TailOff, EOff, RowOff, BetaAOff, BetaBOff, LseOff, WorkLength;

    internal CtcGeometry(int targetLength, int lanes)
    {
        W = (targetLength + 1 + lanes - 1) / lanes * lanes;
        OffB = lanes;
        OffL = 2 * lanes + W;
        Stride = 3 * lanes + 2 * W;
        TailOff = W + 2 * lanes;
        EOff = TailOff + W + lanes;
        RowOff = EOff + W + lanes;
        BetaAOff = RowOff + lanes;
        BetaBOff = BetaAOff + Stride;
        LseOff = BetaBOff + Stride;
        WorkLength = LseOff + 5 * W;
    }
}

/// <summary>Bounded pool of CTC workspaces, so that repeated Forward/Backward calls stop allocating after warm-up.</summary>
internal static class CtcPool<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    const long MaxPooledBytes = 256L << 20;
    static readonly Lock s_lock = new();
    static readonly CtcWorkspace<T>?[] s_items = new CtcWorkspace<T>?[4];
    static int s_count;

    internal static CtcWorkspace<T> Rent()
    {
        lock (s_lock)
        {
            if (s_count > 0)
            {
                var w = s_items[--s_count]!;
                s_items[s_count] = null;
                return w;
            }
        }
        return new CtcWorkspace<T>();
    }

    internal static unsafe void Return(CtcWorkspace<T> w)
    {
        Interlocked.Increment(ref w.Generation);
        w.Lp = null;
        w.Grad = null;
        w.GradOut = null;
        // A workspace sized for one huge call is left to the GC rather than kept alive by the pool.
        if (w.RetainedBytes() > MaxPooledBytes) return;
        lock (s_lock)
        {
            if (s_count < s_items.Length) s_items[s_count++] = w;
        }
    }
}
