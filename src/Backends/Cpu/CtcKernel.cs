using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// Handle to the state that <see cref="CtcKernel.Forward{T}"/> saves for <see cref="CtcKernel.Backward{T}"/>.
/// A struct so that a call allocates nothing; it stays usable until Backward (or Release) hands the pooled
/// workspace back, after which every use throws <see cref="InvalidOperationException"/>.
/// </summary>
internal readonly struct CtcSaved<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly CtcWorkspace<T>? _workspace;
    private readonly int _generation;

    internal CtcSaved(CtcWorkspace<T> workspace)
    {
        _workspace = workspace;
        _generation = workspace.Generation;
    }

    /// <summary>True while the saved state may still be passed to Backward.</summary>
    public bool IsAlive => _workspace is not null && Volatile.Read(ref _workspace.Generation) == _generation;

    /// <summary>Batch size the state was computed for.</summary>
    public int Batch => Acquire().Batch;

    /// <summary>Time dimension (T) of the log-probs the state was computed for.</summary>
    public int MaxT => Acquire().MaxT;

    /// <summary>Number of classes (C) of the log-probs the state was computed for.</summary>
    public int Classes => Acquire().Classes;

    internal CtcWorkspace<T> Acquire()
    {
        if (!IsAlive)
        {
            throw new InvalidOperationException(
                "CtcKernel: the saved CTC state was already consumed by Backward or Release (or is default); " +
                "run Forward again, or pass release: false to every Backward but the last.");
        }
        return _workspace!;
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

    /// <summary>Vector width chosen by Forward; Backward must use the same row layout.</summary>
    internal bool Wide;

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
            if (Wide) CtcKernel.ForwardSample<T, Vector512<T>, CtcSimd512<T>>(this, n);
            else CtcKernel.ForwardSample<T, Vector256<T>, CtcSimd256<T>>(this, n);
        };
        BackwardBody = n =>
        {
            if (Wide) CtcKernel.BackwardSample<T, Vector512<T>, CtcSimd512<T>>(this, n);
            else CtcKernel.BackwardSample<T, Vector256<T>, CtcSimd256<T>>(this, n);
        };
    }

    internal void Setup(int maxT, int batch, int classes, int blank, ReadOnlySpan<int> targets,
        ReadOnlySpan<int> targetOffsets, ReadOnlySpan<int> targetLengths, ReadOnlySpan<int> inputLengths)
    {
        MaxT = maxT;
        Batch = batch;
        Classes = classes;
        Blank = blank;
        Wide = CtcKernel.UseVector512;
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
/// width) with a vector of -inf padding on both sides, so that the shifted loads (j-1 forward, j+1 backward) need
/// no branches. Row: [pad | blank W | pad | label W | pad]. Work: skip mask, label tail mask, the label
/// emissions of a frame, a padded copy of a short log-prob row, two beta rows. Ints: label lookup indices (W),
/// class slots (C), distinct classes (W).
/// </summary>
internal readonly struct CtcGeometry
{
    internal readonly int W, Stride, OffB, OffL, TailOff, EOff, RowOff, BetaAOff, BetaBOff, WorkLength;

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
        WorkLength = BetaBOff + Stride;
    }
}

/// <summary>Bounded pool of CTC workspaces, so that repeated Forward/Backward calls stop allocating after warm-up.</summary>
internal static class CtcPool<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const long MaxPooledBytes = 256L << 20;
    private static readonly Lock s_lock = new();
    private static readonly CtcWorkspace<T>?[] s_items = new CtcWorkspace<T>?[4];
    private static int s_count;

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

/// <summary>
/// CTC loss forward and backward on the CPU with PyTorch's semantics (DESIGN.md, "CTC loss — normative
/// semantics") and PyTorch's arithmetic: log space, log-alpha and log-beta not rescaled, and the per-class
/// gradient sums formed by PyTorch's running log-add over the states in descending order. The float32 golden
/// gradients carry libtorch's own rounding (on 700 frames they differ from the exact gradient by ~1e-3 relative,
/// the size of the tolerance), and only the same operations rounded at the same points reproduce them.
/// Speed comes from vectorizing over the states of a frame (recursions) and over frames (gradient sums), and
/// from running samples in parallel; each sample is computed by one thread in a fixed order, so results are
/// bit-identical whatever the thread count (and the same with 256- and 512-bit vectors).
/// </summary>
internal static unsafe class CtcKernel
{
    /// <summary>Upper bound on worker threads (tests set 1 to check thread-count independence); &lt;= 0: all cores.</summary>
    internal static int MaxDegreeOfParallelism = -1;

    /// <summary>Use 512-bit vectors (tests may turn this off to run the 256-bit path); read by each Forward.</summary>
    internal static bool UseVector512 = Vector512.IsHardwareAccelerated && Avx2.IsSupported;

    // Below this many (frame x state) cells in total, starting workers costs more than it saves.
    private const long ParallelThreshold = 24_000;

    private static ParallelOptions? s_options;

    /// <summary>
    /// Computes the per-sample negative log-likelihood into <paramref name="nll"/> (+inf for infeasible samples,
    /// NaN when a NaN log-prob of the sample's blank or labels lies within its input length) and returns the
    /// state Backward needs. Inputs are assumed validated: logProbs is (maxT, batch, classes) row-major, labels lie
    /// in [0, classes) and differ from blank, inputLengths lie in [0, maxT].
    /// </summary>
    public static CtcSaved<T> Forward<T>(ReadOnlySpan<T> logProbs, int maxT, int batch, int classes,
        ReadOnlySpan<int> targets, ReadOnlySpan<int> targetOffsets, ReadOnlySpan<int> targetLengths,
        ReadOnlySpan<int> inputLengths, int blank, Span<T> nll) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        if (logProbs.Length < (long)maxT * batch * classes || nll.Length < batch || inputLengths.Length < batch ||
            targetLengths.Length < batch || targetOffsets.Length < batch)
        {
            throw new ArgumentException(
                $"CtcKernel.Forward: buffers too small for T={maxT}, N={batch}, C={classes} " +
                $"(logProbs {logProbs.Length}, nll {nll.Length}, inputLengths {inputLengths.Length}, " +
                $"targetLengths {targetLengths.Length}, targetOffsets {targetOffsets.Length}).");
        }
        var ws = CtcPool<T>.Rent();
        ws.Setup(maxT, batch, classes, blank, targets, targetOffsets, targetLengths, inputLengths);
        long work = 0;
        for (int n = 0; n < batch; n++) work += (long)ws.InputLengths[n] * (ws.TargetLengths[n] + 1);
        fixed (T* lp = logProbs)
        {
            ws.Lp = lp;
            try
            {
                Run(batch, work, ws.ForwardBody);
            }
            finally
            {
                ws.Lp = null;
            }
        }
        for (int n = 0; n < batch; n++) nll[n] = FromDouble<T>(ws.Nll[n]);
        return new CtcSaved<T>(ws);
    }

    /// <summary>
    /// Writes d(sum_n gradOut[n] * nll[n]) / d(activations) in PyTorch's form into <paramref name="grad"/>
    /// ((T, N, C), fully overwritten): (exp(lp) - exp(log(sum alpha*beta) + nll - lp)) * gradOut[n], 0 for frames
    /// past the input length and for samples with input length 0; for an infinite nll, NaN (or 0 with
    /// <paramref name="zeroInfinity"/>). With <paramref name="release"/> (the default) the saved state goes back
    /// to the pool and <paramref name="saved"/> becomes unusable; pass false to keep it for another Backward.
    /// </summary>
    public static void Backward<T>(ReadOnlySpan<T> logProbs, CtcSaved<T> saved, ReadOnlySpan<T> gradOut,
        bool zeroInfinity, Span<T> grad, bool release = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        var ws = saved.Acquire();
        long size = (long)ws.MaxT * ws.Batch * ws.Classes;
        if (logProbs.Length < size || grad.Length < size || gradOut.Length < ws.Batch)
        {
            throw new ArgumentException(
                $"CtcKernel.Backward: buffers too small for T={ws.MaxT}, N={ws.Batch}, C={ws.Classes} " +
                $"(logProbs {logProbs.Length}, grad {grad.Length}, gradOut {gradOut.Length}).");
        }
        long work = 0;
        for (int n = 0; n < ws.Batch; n++)
            work += (long)ws.InputLengths[n] * (ws.TargetLengths[n] + 1) + (long)ws.MaxT * ws.Classes / 8;
        fixed (T* lp = logProbs)
        fixed (T* g = grad)
        fixed (T* go = gradOut)
        {
            ws.Lp = lp;
            ws.Grad = g;
            ws.GradOut = go;
            ws.ZeroInfinity = zeroInfinity;
            try
            {
                Run(ws.Batch, work, ws.BackwardBody);
            }
            finally
            {
                ws.Lp = null;
                ws.Grad = null;
                ws.GradOut = null;
            }
        }
        if (release) CtcPool<T>.Return(ws);
    }

    /// <summary>Returns a saved state that Backward will not use to the pool (optional; otherwise the GC takes it).</summary>
    public static void Release<T>(CtcSaved<T> saved) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (saved.IsAlive) CtcPool<T>.Return(saved.Acquire());
    }

    private static void CheckType<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"CtcKernel: element type {typeof(T).Name} is not supported (float32 and float64 are).");
    }

    private static void Run(int batch, long work, Action<int> body)
    {
        int dop = MaxDegreeOfParallelism > 0 ? MaxDegreeOfParallelism : Environment.ProcessorCount;
        if (batch <= 1 || dop <= 1 || work < ParallelThreshold)
        {
            for (int n = 0; n < batch; n++) body(n);
            return;
        }
        if (MaxDegreeOfParallelism > 0)
        {
            var options = s_options;
            if (options is null || options.MaxDegreeOfParallelism != dop)
                s_options = options = new ParallelOptions { MaxDegreeOfParallelism = dop };
            Parallel.For(0, batch, options, body);
        }
        else
        {
            Parallel.For(0, batch, body);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Forward: one row of log-alpha per frame.
    // ---------------------------------------------------------------------------------------------------------

    // The hot methods skip tiered compilation: tier-0 code of these generic SIMD bodies is tens of times slower,
    // and a training run would otherwise spend its first calls there.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ForwardSample<T, TV, S>(CtcWorkspace<T> ws, int n)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
    {
        int il = ws.InputLengths[n], L = ws.TargetLengths[n];
        if (il == 0)
        {
            ws.Nll[n] = L == 0 ? 0.0 : double.PositiveInfinity;
            return;
        }
        int V = S.Lanes, C = ws.Classes, blank = ws.Blank;
        var g = new CtcGeometry(L, V);
        var buffers = ws.Samples[n];
        buffers.Ensure(il, g, C);
        ReadOnlySpan<int> lab = ws.Labels.AsSpan(ws.LabelOffsets[n], L);
        T ninf = T.NegativeInfinity;
        TV ninfV = S.Splat(ninf);
        int W = g.W, offB = g.OffB, offL = g.OffL, stride = g.Stride;
        T* lpBase = ws.Lp + (nint)n * C;
        nint rowStep = (nint)ws.Batch * C;

        fixed (T* alpha = buffers.Alpha)
        fixed (T* work = buffers.Work)
        fixed (int* ints = buffers.Ints)
        {
            T* skip = work;
            T* tail = work + g.TailOff;
            T* eL = work + g.EOff;
            T* rowCopy = work + g.RowOff;
            int mode = EmissionMode<T, TV, S>(C);
            PrepareMasks(skip, tail, eL, ints, W, V, lab, blank, C, mode);

            // Frame 0: only the first blank and the first label are reachable.
            new Span<T>(alpha, stride).Fill(ninf);
            T a0 = lpBase[blank];
            T a1 = L > 0 ? lpBase[lab[0]] : ninf;
            alpha[offB] = a0;
            alpha[offL] = a1;
            bool nanSeen = T.IsNaN(a0) || T.IsNaN(a1);
            TV ok = S.AllBitsSet;

            for (int t = 1; t < il; t++)
            {
                T* lr = lpBase + t * rowStep;
                T eb = lr[blank];
                nanSeen |= T.IsNaN(eb);
                T* prev = alpha + (nint)(t - 1) * stride;
                T* cur = prev + stride;
                S.Store(ninfV, cur);
                S.Store(ninfV, cur + offB + W);
                S.Store(ninfV, cur + offL + W);
                TV ebV = S.Splat(eb);
                LoadEmissions<T, TV, S>(mode, lr, t + 1 < il ? lr + rowStep : null, C, lab, eL, rowCopy, out TV t0, out TV t1);
                for (int j0 = 0; j0 < W; j0 += V)
                {
                    TV pB = S.Load(prev + offB + j0);
                    TV pL = S.Load(prev + offL + j0);
                    TV pLm = S.Load(prev + offL + j0 - 1);
                    TV ev = Emissions<T, TV, S>(mode, t0, t1, ints, tail, eL, j0);
                    // blank 2j <- blank 2j, label 2j-1; label 2j+1 <- itself, blank 2j, label 2j-1 unless a repeat.
                    S.Store(S.Add(S.Lse2(pB, pLm), ebV), cur + offB + j0);
                    S.Store(S.Add(S.Lse3(pL, pB, S.Add(pLm, S.Load(skip + j0))), ev), cur + offL + j0);
                    ok = S.AndNotNaN(ok, ev);
                }
            }
            nanSeen |= !S.AllSet(ok);

            T* last = alpha + (nint)(il - 1) * stride;
            T logLik;
            if (L == 0)
            {
                logLik = last[offB];
            }
            else
            {
                // Eq. (8) as PyTorch evaluates it in T; every frame's gradient depends on this value.
                T l1 = last[offB + L], l2 = last[offL + L - 1];
                T m = l1 > l2 ? l1 : l2;
                if (T.IsNegativeInfinity(m)) m = T.Zero;
                logLik = ScalarLog(ScalarExp(l1 - m) + ScalarExp(l2 - m)) + m;
            }
            ws.Nll[n] = nanSeen ? double.NaN : ToDouble(-logLik);
        }
    }

    // How a frame's label emissions lp[t][lab[j]] are fetched. Gathers are slow on some CPUs (Zen 4), so with
    // 512-bit vectors a row of at most 2V classes is held in two registers and looked up with a two-source
    // permute; otherwise the emissions are copied into a row buffer once per frame.
    private const int EmitTable = 0, EmitShortRow = 1, EmitCopy = 2;

    private static int EmissionMode<T, TV, S>(int classes)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
        => !S.HasLookup || classes > 2 * S.Lanes ? EmitCopy : classes < S.Lanes ? EmitShortRow : EmitTable;

    /// <summary>
    /// Prepares frame lr's emissions: the two lookup registers, or the row buffer eL. In the latter case a long row
    /// (many classes) is mostly not in cache, so the lines of the frame processed next (lrNext) are prefetched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadEmissions<T, TV, S>(int mode, T* lr, T* lrNext, int C, ReadOnlySpan<int> lab, T* eL,
        T* rowCopy, out TV t0, out TV t1) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
    {
        if (mode == EmitTable)
        {
            t0 = S.Load(lr);
            t1 = S.Load(lr + C - S.Lanes);
        }
        else if (mode == EmitShortRow)
        {
            for (int c = 0; c < C; c++) rowCopy[c] = lr[c];
            t0 = t1 = S.Load(rowCopy);
        }
        else
        {
            for (int j = 0; j < lab.Length; j++) eL[j] = lr[lab[j]];
            if (lrNext != null && Sse.IsSupported)
                for (int j = 0; j < lab.Length; j++) Sse.Prefetch0(lrNext + lab[j]);
            t0 = t1 = default;
        }
    }

    /// <summary>The label emissions of states j0 .. j0+V-1 (-inf past the last label).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Emissions<T, TV, S>(int mode, TV t0, TV t1, int* ints, T* tail, T* eL, int j0)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
        => mode == EmitCopy ? S.Load(eL + j0) : S.Add(S.Lookup(t0, t1, ints + j0), S.Load(tail + j0));

    /// <summary>
    /// skip[j] = 0 where label j may be entered from label j-1 (the s-2 transition), else -inf; tail[j] = 0 for
    /// real labels and -inf past them; eL = -inf (rows past the labels stay so); ints[j] = where label j's class
    /// sits in the two lookup registers (a real label for the tail, so that a NaN fetched there also shows in
    /// lane 0).
    /// </summary>
    private static void PrepareMasks<T>(T* skip, T* tail, T* eL, int* ints, int W, int V, ReadOnlySpan<int> lab,
        int blank, int C, int mode) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int L = lab.Length;
        for (int j = 0; j < W + 2 * V; j++)
            skip[j] = j >= 1 && j < L && lab[j] != lab[j - 1] ? T.Zero : T.NegativeInfinity;
        for (int j = 0; j < W + V; j++)
        {
            tail[j] = j < L ? T.Zero : T.NegativeInfinity;
            eL[j] = T.NegativeInfinity;
        }
        int filler = L > 0 ? lab[0] : blank;
        for (int j = 0; j < W; j++)
        {
            int c = j < L ? lab[j] : filler;
            // In table mode the second register holds classes C-V .. C-1.
            ints[j] = mode == EmitTable && c >= V ? c - C + 2 * V : c;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Backward, by blocks of frames from the end: phase 1 runs the beta recursion over the block's frames, writes
    // log alpha + log beta row by row and transposes the rows in V x V tiles into a column-major block ([state]
    // [frame]); phase 2 forms PyTorch's per-class running log-adds across the block's frames from contiguous loads
    // (gathers are slow on some CPUs) and writes the gradient rows.
    // ---------------------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardSample<T, TV, S>(CtcWorkspace<T> ws, int n)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
    {
        int il = ws.InputLengths[n], L = ws.TargetLengths[n], C = ws.Classes, blank = ws.Blank;
        nint rowStep = (nint)ws.Batch * C;
        T* gBase = ws.Grad + (nint)n * C;
        for (int t = il; t < ws.MaxT; t++) new Span<T>(gBase + t * rowStep, C).Clear();
        if (il == 0) return;

        double nll = ws.Nll[n];
        if (!double.IsFinite(nll))
        {
            // PyTorch: exp(-inf + inf) is NaN for every class; zero_infinity zeroes the sample instead.
            T fill = ws.ZeroInfinity && double.IsPositiveInfinity(nll) ? T.Zero : T.NaN;
            for (int t = 0; t < il; t++) new Span<T>(gBase + t * rowStep, C).Fill(fill);
            return;
        }

        int V = S.Lanes, G = S.ChainGroups, B = V * G;
        var g = new CtcGeometry(L, V);
        var buffers = ws.Samples[n];
        ReadOnlySpan<int> lab = ws.Labels.AsSpan(ws.LabelOffsets[n], L);
        T ninf = T.NegativeInfinity;
        TV ninfV = S.Splat(ninf);
        int W = g.W, offB = g.OffB, offL = g.OffL, stride = g.Stride;
        T* lpBase = ws.Lp + (nint)n * C;
        T gr = ws.GradOut[n];

        // The classes of the target, each once, and the accumulator slot of each.
        int nDistinct = 0;
        fixed (int* ints = buffers.Ints)
        {
            int* slotOf = ints + W;
            int* distinct = ints + W + C;
            new Span<int>(slotOf, C).Fill(-1);
            for (int j = 0; j < L; j++)
            {
                int c = lab[j];
                if (slotOf[c] < 0)
                {
                    slotOf[c] = nDistinct;
                    distinct[nDistinct++] = c;
                }
            }
        }
        // Row block: frame lane's row at [lane * 2W], blank states then label states. Column block: blank state j
        // at [j * B + lane], label state j at [(W + j) * B + lane].
        buffers.EnsureBackward(Math.Max(nDistinct, 1) * B, 2 * W * B);

        fixed (T* alpha = buffers.Alpha)
        fixed (T* work = buffers.Work)
        fixed (int* ints = buffers.Ints)
        fixed (T* acc = buffers.ClassAcc)
        fixed (T* blk = buffers.Block)
        fixed (T* rows = buffers.RowBlock)
        {
            T* skip = work;
            T* tail = work + g.TailOff;
            T* eL = work + g.EOff;
            T* rowCopy = work + g.RowOff;
            int mode = EmissionMode<T, TV, S>(C);
            T* next = work + g.BetaAOff;
            T* cur = work + g.BetaBOff;
            int* slotOf = ints + W;
            int* distinct = ints + W + C;
            T* blkL = blk + (nint)W * B;
            TV* tile = stackalloc TV[V];
            int W2 = 2 * W;

            // Last frame: beta is the emission on the two final states and -inf elsewhere.
            int tl = il - 1;
            T* lr = lpBase + tl * rowStep;
            T b0 = lr[blank];
            T b1 = L > 0 ? lr[lab[L - 1]] : ninf;
            new Span<T>(next, stride).Fill(ninf);
            new Span<T>(cur, stride).Fill(ninf);
            next[offB + L] = b0;
            if (L > 0) next[offL + L - 1] = b1;

            // Frame f of a group is lp row f; a group cut short by the input length repeats its last frame, so that
            // no lane reads past the log-probs.
            int* lpIdxFull = stackalloc int[V];
            int* lpIdxPart = stackalloc int[V];
            for (int i = 0; i < V; i++) lpIdxFull[i] = (int)(i * rowStep);
            TV nllV = S.Splat(FromDouble<T>(nll));
            TV grV = S.Splat(gr);

            for (int t0 = tl / B * B; t0 >= 0; t0 -= B)
            {
                int tEnd = Math.Min(t0 + B, il);
                // Frames past the input length in the last block take part in the sums as -inf.
                if (tEnd - t0 < B) new Span<T>(rows + (nint)(tEnd - t0) * W2, (B - (tEnd - t0)) * W2).Fill(ninf);

                // Phase 1, t descending over the block.
                for (int t = tEnd - 1; t >= t0; t--)
                {
                    T* aRow = alpha + (nint)t * stride;
                    T* row = rows + (nint)(t - t0) * W2;
                    if (t == tl)
                    {
                        // PyTorch seeds the sums of the last frame with just the two final states.
                        new Span<T>(row, W2).Fill(ninf);
                        row[L] = aRow[offB + L] + b0;
                        if (L > 0) row[W + L - 1] = aRow[offL + L - 1] + b1;
                        continue;
                    }
                    lr = lpBase + t * rowStep;
                    TV ebV = S.Splat(lr[blank]);
                    LoadEmissions<T, TV, S>(mode, lr, t > 0 ? lr - rowStep : null, C, lab, eL, rowCopy, out TV e0, out TV e1);
                    for (int j0 = 0; j0 < W; j0 += V)
                    {
                        TV nB = S.Load(next + offB + j0);
                        TV nL = S.Load(next + offL + j0);
                        TV nB1 = S.Load(next + offB + j0 + 1);
                        TV nL1 = S.Load(next + offL + j0 + 1);
                        TV ev = Emissions<T, TV, S>(mode, e0, e1, ints, tail, eL, j0);
                        // blank 2j <- blank 2j, label 2j+1; label 2j+1 <- itself, blank 2j+2, label 2j+3 unless a repeat.
                        TV bB = S.Add(S.Lse2(nB, nL), ebV);
                        TV bL = S.Add(S.Lse3(nL, nB1, S.Add(nL1, S.Load(skip + j0 + 1))), ev);
                        S.Store(bB, cur + offB + j0);
                        S.Store(bL, cur + offL + j0);
                        // PyTorch's log_alpha_beta, rounded in T.
                        S.Store(S.Add(S.Load(aRow + offB + j0), bB), row + j0);
                        S.Store(S.Add(S.Load(aRow + offL + j0), bL), row + W + j0);
                    }
                    T* swap = next;
                    next = cur;
                    cur = swap;
                }

                int groups = (tEnd - t0 + V - 1) / V;
                for (int k = 0; k < groups; k++)
                {
                    T* src = rows + (nint)k * V * W2;
                    T* dst = blk + k * V;
                    for (int j0 = 0; j0 < W2; j0 += V)
                    {
                        for (int f = 0; f < V; f++) tile[f] = S.Load(src + (nint)f * W2 + j0);
                        S.Transpose(tile);
                        for (int i = 0; i < V; i++) S.Store(tile[i], dst + (nint)(j0 + i) * B);
                    }
                }

                // Phase 2: lane i of group k is frame t0 + k V + i. The running log-add over s descending (blank
                // j = L..0, labels j = L-1..0) is a long dependency chain, so the G groups advance together.
                // States j > t (not yet reachable) or j < L - 1 - (il - 1 - t) (unable to finish) are -inf in every
                // frame of the block, and a log-add step with -inf leaves the sum unchanged bit for bit: skipped.
                int jHi = Math.Min(L, tEnd - 1), jLo = Math.Max(0, L - 1 - (il - 1 - t0));
                TV c0 = ninfV, c1 = ninfV, c2 = ninfV, c3 = ninfV;
                for (int i = 0; i < nDistinct * G; i++) S.Store(ninfV, acc + i * V);
                for (int j = jHi; j >= jLo; j--)
                {
                    T* xb = blk + (nint)j * B;
                    c0 = S.ChainLogAdd(c0, S.Load(xb));
                    if (groups > 1) c1 = S.ChainLogAdd(c1, S.Load(xb + V));
                    if (G > 2 && groups > 2)
                    {
                        c2 = S.ChainLogAdd(c2, S.Load(xb + 2 * V));
                        if (groups > 3) c3 = S.ChainLogAdd(c3, S.Load(xb + 3 * V));
                    }
                    if (j == L) continue;
                    T* xl = blkL + (nint)j * B;
                    T* a = acc + slotOf[lab[j]] * B;
                    S.Store(S.ChainLogAdd(S.Load(a), S.Load(xl)), a);
                    if (groups > 1) S.Store(S.ChainLogAdd(S.Load(a + V), S.Load(xl + V)), a + V);
                    if (G > 2 && groups > 2)
                    {
                        S.Store(S.ChainLogAdd(S.Load(a + 2 * V), S.Load(xl + 2 * V)), a + 2 * V);
                        if (groups > 3) S.Store(S.ChainLogAdd(S.Load(a + 3 * V), S.Load(xl + 3 * V)), a + 3 * V);
                    }
                }

                for (int k = 0; k < groups; k++)
                {
                    int tk = t0 + k * V;
                    int frames = Math.Min(V, il - tk);
                    T* lp0 = lpBase + tk * rowStep;
                    T* g0 = gBase + tk * rowStep;
                    int* lpIdx = lpIdxFull;
                    if (frames < V)
                    {
                        for (int i = 0; i < V; i++) lpIdxPart[i] = (int)(Math.Min(i, frames - 1) * rowStep);
                        lpIdx = lpIdxPart;
                    }
                    for (int f = 0; f < frames; f++) WriteExpRow<T, TV, S>(g0 + f * rowStep, lp0 + f * rowStep, C, grV);
                    // (exp(lp) - exp(lcab + nll - lp)) * gr for the blank and each target class; where lcab = -inf this
                    // equals what WriteExpRow wrote.
                    TV cb = k == 0 ? c0 : k == 1 ? c1 : k == 2 ? c2 : c3;
                    ScatterColumn<T, TV, S>(g0 + blank, S.GradTerm(S.Gather(lp0 + blank, lpIdx), cb, nllV, grV), frames, rowStep);
                    for (int i = 0; i < nDistinct; i++)
                    {
                        int c = distinct[i];
                        TV lcab = S.Load(acc + i * B + k * V);
                        ScatterColumn<T, TV, S>(g0 + c, S.GradTerm(S.Gather(lp0 + c, lpIdx), lcab, nllV, grV), frames, rowStep);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScatterColumn<T, TV, S>(T* dst, TV v, int frames, nint rowStep)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
    {
        for (int f = 0; f < frames; f++) dst[f * rowStep] = S.Element(v, f);
    }

    /// <summary>dst[c] = exp(lp[c]) * gr, NaN where lp is -inf (PyTorch computes exp(-inf - -inf) there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WriteExpRow<T, TV, S>(T* dst, T* lp, int C, TV gr)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ICtcSimd<TV, T>
    {
        int V = S.Lanes;
        if (C < V)
        {
            // Through a padded copy, so that every width computes the same exp.
            T* tmp = stackalloc T[V];
            for (int c = 0; c < C; c++) tmp[c] = lp[c];
            S.Store(S.ExpTimes(S.Load(tmp), gr), tmp);
            for (int c = 0; c < C; c++) dst[c] = tmp[c];
            return;
        }
        int i = 0;
        while (true)
        {
            S.Store(S.ExpTimes(S.Load(lp + i), gr), dst + i);
            if (i == C - V) break;
            i = Math.Min(i + V, C - V); // the last vector overlaps; rewriting equal values is harmless
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ScalarExp<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            float r = MathF.Exp(Unsafe.As<T, float>(ref x));
            return Unsafe.As<float, T>(ref r);
        }
        double rd = Math.Exp(Unsafe.As<T, double>(ref x));
        return Unsafe.As<double, T>(ref rd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ScalarLog<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            float r = MathF.Log(Unsafe.As<T, float>(ref x));
            return Unsafe.As<float, T>(ref r);
        }
        double rd = Math.Log(Unsafe.As<T, double>(ref x));
        return Unsafe.As<double, T>(ref rd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double ToDouble<T>(T x) where T : unmanaged
        => typeof(T) == typeof(float) ? Unsafe.As<T, float>(ref x) : Unsafe.As<T, double>(ref x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T FromDouble<T>(double x) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float f = (float)x;
            return Unsafe.As<float, T>(ref f);
        }
        return Unsafe.As<double, T>(ref x);
    }
}

/// <summary>
/// The vector operations the CTC kernel is written against, so that one body serves 512-bit and 256-bit vectors
/// (static abstract members: the JIT specializes and inlines them per struct, no virtual calls). The log-sum-exp
/// steps keep PyTorch's rounding points: log(sum of exps relative to the max) + max, then + emission.
/// </summary>
internal unsafe interface ICtcSimd<TV, T> where TV : unmanaged where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Elements per vector.</summary>
    static abstract int Lanes { get; }

    /// <summary>Vectors of frames whose gradient sums advance together (to hide the log-add latency).</summary>
    static abstract int ChainGroups { get; }

    /// <summary>A vector with every bit set (the all-true mask).</summary>
    static abstract TV AllBitsSet { get; }

    /// <summary>Unaligned load of V elements.</summary>
    static abstract TV Load(T* p);

    /// <summary>Unaligned store of V elements.</summary>
    static abstract void Store(TV v, T* p);

    /// <summary>x in every lane.</summary>
    static abstract TV Splat(T x);

    /// <summary>Lane-wise a + b.</summary>
    static abstract TV Add(TV a, TV b);

    /// <summary>Lane i of v.</summary>
    static abstract T Element(TV v, int i);

    /// <summary>Lane i = p[idx[i]].</summary>
    static abstract TV Gather(T* p, int* idx);

    /// <summary>Whether <see cref="Lookup"/> is available (a two-source permute).</summary>
    static abstract bool HasLookup { get; }

    /// <summary>Lane i = element idx[i] of the 2V-element table (t0, t1).</summary>
    static abstract TV Lookup(TV t0, TV t1, int* idx);

    /// <summary>Transposes the V x V matrix whose rows are rows[0..V) in place.</summary>
    static abstract void Transpose(TV* rows);

    /// <summary>ok with the lanes where v is NaN cleared.</summary>
    static abstract TV AndNotNaN(TV ok, TV v);

    /// <summary>True when every lane of ok is still set.</summary>
    static abstract bool AllSet(TV ok);

    /// <summary>log(exp(a) + exp(b)); -inf when both are -inf.</summary>
    static abstract TV Lse2(TV a, TV b);

    /// <summary>log(exp(a) + exp(b) + exp(c)); -inf when all are -inf.</summary>
    static abstract TV Lse3(TV a, TV b, TV c);

    /// <summary>PyTorch's running log-add step: x if lcab = -inf, else log(1 + exp(min - max)) + max.</summary>
    static abstract TV ChainLogAdd(TV lcab, TV x);

    /// <summary>exp(lp) * gr, NaN where lp = -inf.</summary>
    static abstract TV ExpTimes(TV lp, TV gr);

    /// <summary>(exp(lp) - exp(lcab + nll - lp)) * gr, NaN where lp = -inf.</summary>
    static abstract TV GradTerm(TV lp, TV lcab, TV nll, TV gr);
}

/// <summary>256-bit implementation (AVX2, or the portable fallback where Vector256 is not accelerated).</summary>
internal readonly unsafe struct CtcSimd256<T> : ICtcSimd<Vector256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector256<T>.Count;
    public static int ChainGroups => 4;
    public static Vector256<T> AllBitsSet => Vector256<T>.AllBitsSet;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Load(T* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Splat(T x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Element(Vector256<T> v, int i) => v.GetElement(i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Gather(T* p, int* idx)
    {
        if (Avx2.IsSupported)
        {
            if (typeof(T) == typeof(float)) return Avx2.GatherVector256((float*)p, Vector256.Load(idx), 4).As<float, T>();
            return Avx2.GatherVector256((double*)p, Vector128.Load(idx), 8).As<double, T>();
        }
        if (typeof(T) == typeof(float))
        {
            float* f = (float*)p;
            return Vector256.Create(f[idx[0]], f[idx[1]], f[idx[2]], f[idx[3]], f[idx[4]], f[idx[5]], f[idx[6]], f[idx[7]]).As<float, T>();
        }
        double* d = (double*)p;
        return Vector256.Create(d[idx[0]], d[idx[1]], d[idx[2]], d[idx[3]]).As<double, T>();
    }

    public static bool HasLookup => false;

    public static Vector256<T> Lookup(Vector256<T> t0, Vector256<T> t1, int* idx) => throw new NotSupportedException();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(Vector256<T>* rows)
    {
        if (Avx512F.VL.IsSupported)
        {
            // log2(V) butterfly stages; stage h swaps the off-diagonal h x h blocks of every 2h x 2h block.
            if (typeof(T) == typeof(float))
            {
                var r = (Vector256<float>*)rows;
                Stage(r, 4, Vector256.Create(0, 1, 2, 3, 8, 9, 10, 11), Vector256.Create(4, 5, 6, 7, 12, 13, 14, 15));
                Stage(r, 2, Vector256.Create(0, 1, 8, 9, 4, 5, 12, 13), Vector256.Create(2, 3, 10, 11, 6, 7, 14, 15));
                Stage(r, 1, Vector256.Create(0, 8, 2, 10, 4, 12, 6, 14), Vector256.Create(1, 9, 3, 11, 5, 13, 7, 15));
            }
            else
            {
                var r = (Vector256<double>*)rows;
                Stage(r, 2, Vector256.Create(0L, 1, 4, 5), Vector256.Create(2L, 3, 6, 7));
                Stage(r, 1, Vector256.Create(0L, 4, 2, 6), Vector256.Create(1L, 5, 3, 7));
            }
            return;
        }
        if (Avx.IsSupported)
        {
            if (typeof(T) == typeof(float)) TransposeAvx((Vector256<float>*)rows);
            else TransposeAvx((Vector256<double>*)rows);
            return;
        }
        T* m = (T*)rows;
        int n = Vector256<T>.Count;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                (m[i * n + j], m[j * n + i]) = (m[j * n + i], m[i * n + j]);
    }

    /// <summary>The classic AVX 8 x 8 transpose: interleave pairs, then quads, then swap 128-bit halves.</summary>
    private static void TransposeAvx(Vector256<float>* r)
    {
        var t0 = Avx.UnpackLow(r[0], r[1]);
        var t1 = Avx.UnpackHigh(r[0], r[1]);
        var t2 = Avx.UnpackLow(r[2], r[3]);
        var t3 = Avx.UnpackHigh(r[2], r[3]);
        var t4 = Avx.UnpackLow(r[4], r[5]);
        var t5 = Avx.UnpackHigh(r[4], r[5]);
        var t6 = Avx.UnpackLow(r[6], r[7]);
        var t7 = Avx.UnpackHigh(r[6], r[7]);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        r[0] = Avx.Permute2x128(u0, u4, 0x20);
        r[1] = Avx.Permute2x128(u1, u5, 0x20);
        r[2] = Avx.Permute2x128(u2, u6, 0x20);
        r[3] = Avx.Permute2x128(u3, u7, 0x20);
        r[4] = Avx.Permute2x128(u0, u4, 0x31);
        r[5] = Avx.Permute2x128(u1, u5, 0x31);
        r[6] = Avx.Permute2x128(u2, u6, 0x31);
        r[7] = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>The AVX 4 x 4 transpose of doubles.</summary>
    private static void TransposeAvx(Vector256<double>* r)
    {
        var t0 = Avx.UnpackLow(r[0], r[1]);
        var t1 = Avx.UnpackHigh(r[0], r[1]);
        var t2 = Avx.UnpackLow(r[2], r[3]);
        var t3 = Avx.UnpackHigh(r[2], r[3]);
        r[0] = Avx.Permute2x128(t0, t2, 0x20);
        r[1] = Avx.Permute2x128(t1, t3, 0x20);
        r[2] = Avx.Permute2x128(t0, t2, 0x31);
        r[3] = Avx.Permute2x128(t1, t3, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage(Vector256<float>* r, int h, Vector256<int> lo, Vector256<int> hi)
    {
        for (int i = 0; i < 8; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.VL.PermuteVar8x32x2(a, lo, b);
            r[i + h] = Avx512F.VL.PermuteVar8x32x2(a, hi, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage(Vector256<double>* r, int h, Vector256<long> lo, Vector256<long> hi)
    {
        for (int i = 0; i < 4; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.VL.PermuteVar4x64x2(a, lo, b);
            r[i + h] = Avx512F.VL.PermuteVar4x64x2(a, hi, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> AndNotNaN(Vector256<T> ok, Vector256<T> v) => ok & Vector256.Equals(v, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllSet(Vector256<T> ok) => Vector256.ExtractMostSignificantBits(ok) == (1u << Vector256<T>.Count) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Lse2(Vector256<T> a, Vector256<T> b)
    {
        var m = Vector256.MaxNative(a, b);
        var d = Vector256.MinNative(a, b) - m;
        var r = Log(Vector256<T>.One + ExpNeg(d)) + m;
        var ninf = Vector256.Create(T.NegativeInfinity);
        return Vector256.ConditionalSelect(Vector256.Equals(m, ninf), ninf, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Lse3(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        var hi = Vector256.MaxNative(a, b);
        var lo = Vector256.MinNative(a, b);
        var m = Vector256.MaxNative(hi, c);
        var mid = Vector256.MinNative(hi, c);
        var r = Log(Vector256<T>.One + ExpNeg(mid - m) + ExpNeg(lo - m)) + m;
        var ninf = Vector256.Create(T.NegativeInfinity);
        return Vector256.ConditionalSelect(Vector256.Equals(m, ninf), ninf, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ChainLogAdd(Vector256<T> lcab, Vector256<T> x)
    {
        var mx = Vector256.MaxNative(lcab, x);
        var d = Vector256.MinNative(lcab, x) - mx;
        var r = Log(Vector256<T>.One + ExpNeg(d)) + mx;
        return Vector256.ConditionalSelect(Vector256.Equals(lcab, Vector256.Create(T.NegativeInfinity)), x, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ExpTimes(Vector256<T> lp, Vector256<T> gr)
    {
        var r = ExpFull(lp) * gr;
        return Vector256.ConditionalSelect(Vector256.Equals(lp, Vector256.Create(T.NegativeInfinity)), Vector256.Create(T.NaN), r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> GradTerm(Vector256<T> lp, Vector256<T> lcab, Vector256<T> nll, Vector256<T> gr)
    {
        var r = (ExpFull(lp) - ExpFull(lcab + nll - lp)) * gr;
        return Vector256.ConditionalSelect(Vector256.Equals(lp, Vector256.Create(T.NegativeInfinity)), Vector256.Create(T.NaN), r);
    }

    // float: Cephes-style exp/log (about 1 ulp); double: the runtime's accurate Vector256.Exp/Log.

    /// <summary>exp(x) for x &lt;= 0 (or -inf, or NaN); results below float's normal range come out as ~1e-38, not 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> ExpNeg(Vector256<T> x)
    {
        if (typeof(T) == typeof(float)) return ExpCore(x.AsSingle(), false).As<float, T>();
        return Vector256.Exp(x.AsDouble()).As<double, T>();
    }

    /// <summary>exp(x) over the whole range: 0 below, +inf above float's range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> ExpFull(Vector256<T> x)
    {
        if (typeof(T) == typeof(float))
        {
            var xf = x.AsSingle();
            var r = ExpCore(xf, true);
            r = Vector256.ConditionalSelect(Vector256.LessThan(xf, Vector256.Create(CtcConst.MinArg)), Vector256<float>.Zero, r);
            r = Vector256.ConditionalSelect(Vector256.GreaterThan(xf, Vector256.Create(CtcConst.OverflowArg)), Vector256.Create(float.PositiveInfinity), r);
            return r.As<float, T>();
        }
        return Vector256.Exp(x.AsDouble()).As<double, T>();
    }

    /// <summary>log(x) for positive normal x (here always 1 + a sum of exps, in [1, 3]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Log(Vector256<T> x)
    {
        if (typeof(T) == typeof(float)) return LogCore(x.AsSingle()).As<float, T>();
        return Vector256.Log(x.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpCore(Vector256<float> x, bool clampHigh)
    {
        x = Vector256.MaxNative(x, Vector256.Create(CtcConst.MinArg));
        if (clampHigh) x = Vector256.MinNative(x, Vector256.Create(CtcConst.MaxArg));
        // n = round(x / ln2) via the 1.5 * 2^23 trick: the low mantissa bits of t hold n.
        var magic = Vector256.Create(CtcConst.Magic);
        var t = Vector256.FusedMultiplyAdd(x, Vector256.Create(CtcConst.Log2E), magic);
        var n = t - magic;
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(CtcConst.NegLn2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(CtcConst.NegLn2Lo), r);
        var p = Vector256.Create(CtcConst.E6);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(CtcConst.E5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(CtcConst.E4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(CtcConst.E3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(CtcConst.E2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(CtcConst.E1));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        var scale = ((t.AsInt32() << 23) + Vector256.Create(127 << 23)).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LogCore(Vector256<float> x)
    {
        // x = 2^k f with f in [sqrt(1/2), sqrt(2)); log x = k ln2 + log1p(f - 1).
        var bits = x.AsInt32();
        var k = Vector256.ShiftRightArithmetic(bits - Vector256.Create(CtcConst.SqrtHalfBits), 23);
        var u = (bits - (k << 23)).AsSingle() - Vector256<float>.One;
        var z = u * u;
        var p = Vector256.Create(CtcConst.L9);
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L8));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L7));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L6));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L5));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L4));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L3));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L2));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(CtcConst.L1));
        var kf = Vector256.ConvertToSingle(k);
        var y = p * u * z;
        y = Vector256.FusedMultiplyAdd(kf, Vector256.Create(CtcConst.Ln2Lo), y);
        y = Vector256.FusedMultiplyAdd(z, Vector256.Create(-0.5f), y);
        return Vector256.FusedMultiplyAdd(kf, Vector256.Create(CtcConst.Ln2Hi), u + y);
    }
}

/// <summary>512-bit implementation (AVX-512); per lane the same operations as <see cref="CtcSimd256{T}"/>, so the same results.</summary>
internal readonly unsafe struct CtcSimd512<T> : ICtcSimd<Vector512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector512<T>.Count;
    public static int ChainGroups => 2;
    public static Vector512<T> AllBitsSet => Vector512<T>.AllBitsSet;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Load(T* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Splat(T x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Element(Vector512<T> v, int i) => v.GetElement(i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Gather(T* p, int* idx)
    {
        // .NET exposes no 512-bit gather; two 256-bit ones.
        if (typeof(T) == typeof(float))
        {
            var lo = Avx2.GatherVector256((float*)p, Vector256.Load(idx), 4);
            var hi = Avx2.GatherVector256((float*)p, Vector256.Load(idx + 8), 4);
            return Vector512.Create(lo, hi).As<float, T>();
        }
        var dlo = Avx2.GatherVector256((double*)p, Vector128.Load(idx), 8);
        var dhi = Avx2.GatherVector256((double*)p, Vector128.Load(idx + 4), 8);
        return Vector512.Create(dlo, dhi).As<double, T>();
    }

    public static bool HasLookup => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Lookup(Vector512<T> t0, Vector512<T> t1, int* idx)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.PermuteVar16x32x2(t0.AsSingle(), Vector512.Load(idx), t1.AsSingle()).As<float, T>();
        var li = Avx512F.ConvertToVector512Int64(Vector256.Load(idx));
        return Avx512F.PermuteVar8x64x2(t0.AsDouble(), li, t1.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(Vector512<T>* rows)
    {
        // log2(V) butterfly stages; stage h swaps the off-diagonal h x h blocks of every 2h x 2h block.
        if (typeof(T) == typeof(float))
        {
            var r = (Vector512<float>*)rows;
            Stage(r, 8, Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
            Stage(r, 4, Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                Vector512.Create(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31));
            Stage(r, 2, Vector512.Create(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                Vector512.Create(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31));
            Stage(r, 1, Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                Vector512.Create(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
        }
        else
        {
            var r = (Vector512<double>*)rows;
            Stage(r, 4, Vector512.Create(0L, 1, 2, 3, 8, 9, 10, 11), Vector512.Create(4L, 5, 6, 7, 12, 13, 14, 15));
            Stage(r, 2, Vector512.Create(0L, 1, 8, 9, 4, 5, 12, 13), Vector512.Create(2L, 3, 10, 11, 6, 7, 14, 15));
            Stage(r, 1, Vector512.Create(0L, 8, 2, 10, 4, 12, 6, 14), Vector512.Create(1L, 9, 3, 11, 5, 13, 7, 15));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage(Vector512<float>* r, int h, Vector512<int> lo, Vector512<int> hi)
    {
        for (int i = 0; i < 16; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.PermuteVar16x32x2(a, lo, b);
            r[i + h] = Avx512F.PermuteVar16x32x2(a, hi, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage(Vector512<double>* r, int h, Vector512<long> lo, Vector512<long> hi)
    {
        for (int i = 0; i < 8; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.PermuteVar8x64x2(a, lo, b);
            r[i + h] = Avx512F.PermuteVar8x64x2(a, hi, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> AndNotNaN(Vector512<T> ok, Vector512<T> v) => ok & Vector512.Equals(v, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllSet(Vector512<T> ok) => Vector512.ExtractMostSignificantBits(ok) == (1ul << Vector512<T>.Count) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Lse2(Vector512<T> a, Vector512<T> b)
    {
        var m = Vector512.MaxNative(a, b);
        var d = Vector512.MinNative(a, b) - m;
        var r = Log(Vector512<T>.One + Exp(d)) + m;
        var ninf = Vector512.Create(T.NegativeInfinity);
        return Vector512.ConditionalSelect(Vector512.Equals(m, ninf), ninf, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Lse3(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        var hi = Vector512.MaxNative(a, b);
        var lo = Vector512.MinNative(a, b);
        var m = Vector512.MaxNative(hi, c);
        var mid = Vector512.MinNative(hi, c);
        var r = Log(Vector512<T>.One + Exp(mid - m) + Exp(lo - m)) + m;
        var ninf = Vector512.Create(T.NegativeInfinity);
        return Vector512.ConditionalSelect(Vector512.Equals(m, ninf), ninf, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ChainLogAdd(Vector512<T> lcab, Vector512<T> x)
    {
        var mx = Vector512.MaxNative(lcab, x);
        var d = Vector512.MinNative(lcab, x) - mx;
        var r = Log(Vector512<T>.One + Exp(d)) + mx;
        return Vector512.ConditionalSelect(Vector512.Equals(lcab, Vector512.Create(T.NegativeInfinity)), x, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ExpTimes(Vector512<T> lp, Vector512<T> gr)
    {
        var r = Exp(lp) * gr;
        return Vector512.ConditionalSelect(Vector512.Equals(lp, Vector512.Create(T.NegativeInfinity)), Vector512.Create(T.NaN), r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> GradTerm(Vector512<T> lp, Vector512<T> lcab, Vector512<T> nll, Vector512<T> gr)
    {
        var r = (Exp(lp) - Exp(lcab + nll - lp)) * gr;
        return Vector512.ConditionalSelect(Vector512.Equals(lp, Vector512.Create(T.NegativeInfinity)), Vector512.Create(T.NaN), r);
    }

    /// <summary>exp(x): float32 by <see cref="FastMath"/> (the same Cephes expf as Simd256's, scaled by VSCALEFPS: 0 below
    /// float's range, +inf above), double by the runtime's Vector512.Exp.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Exp(Vector512<T> x) => FastMath.Exp(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Log(Vector512<T> x)
    {
        if (typeof(T) == typeof(float)) return LogCore(x.AsSingle()).As<float, T>();
        return Vector512.Log(x.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LogCore(Vector512<float> x)
    {
        var bits = x.AsInt32();
        var k = Vector512.ShiftRightArithmetic(bits - Vector512.Create(CtcConst.SqrtHalfBits), 23);
        var u = (bits - (k << 23)).AsSingle() - Vector512<float>.One;
        var z = u * u;
        var p = Vector512.Create(CtcConst.L9);
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L8));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L7));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L6));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L5));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L4));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L3));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L2));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(CtcConst.L1));
        var kf = Vector512.ConvertToSingle(k);
        var y = p * u * z;
        y = Vector512.FusedMultiplyAdd(kf, Vector512.Create(CtcConst.Ln2Lo), y);
        y = Vector512.FusedMultiplyAdd(z, Vector512.Create(-0.5f), y);
        return Vector512.FusedMultiplyAdd(kf, Vector512.Create(CtcConst.Ln2Hi), u + y);
    }
}

/// <summary>Constants of the float32 exp/log approximations (Cephes expf/logf).</summary>
internal static class CtcConst
{
    internal const float MinArg = -87.33654f;     // ln(float.MinNormal): keeps 2^n a normal float
    internal const float MaxArg = 88.0f;          // keeps n <= 127
    internal const float OverflowArg = 88.72283f; // ln(float.MaxValue)
    internal const float Magic = 12582912f;       // 1.5 * 2^23
    internal const float Log2E = 1.44269504088896341f;
    internal const float Ln2Hi = 0.693359375f;
    internal const float NegLn2Hi = -0.693359375f;
    internal const float NegLn2Lo = 2.12194440e-4f;  // ln2 = Ln2Hi + Ln2Lo
    internal const float Ln2Lo = -2.12194440e-4f;
    internal const float E6 = 1.9875691500E-4f, E5 = 1.3981999507E-3f, E4 = 8.3334519073E-3f;
    internal const float E3 = 4.1665795894E-2f, E2 = 1.6666665459E-1f, E1 = 5.0000001201E-1f;
    internal const int SqrtHalfBits = 0x3F3504F3;
    internal const float L9 = 7.0376836292E-2f, L8 = -1.1514610310E-1f, L7 = 1.1676998740E-1f;
    internal const float L6 = -1.2420140846E-1f, L5 = 1.4249322787E-1f, L4 = -1.6668057665E-1f;
    internal const float L3 = 2.0000714765E-1f, L2 = -2.4999993993E-1f, L1 = 3.3333331174E-1f;
}
