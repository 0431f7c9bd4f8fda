using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

// Forward: one row of log-alpha per frame; and the fetching of a frame's label emissions, which Backward shares.
internal static unsafe partial class CtcKernel
{
    // The hot methods skip tiered compilation: tier-0 code of these generic SIMD bodies is tens of times slower,
    // and a training run would otherwise spend its first calls there.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ForwardSample<T, TV, S>(CtcWorkspace<T> ws, int n)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
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
            TV ok = S.Equal(ninfV, ninfV); // every lane true; a lane is cleared where an emission is NaN

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
                ok = AlphaRow<T, TV, S>(prev, cur, skip, tail, eL, ints, work + g.LseOff, W, offB, offL, mode, ebV, t0, t1, ok);
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
                logLik = T.Log(T.Exp(l1 - m) + T.Exp(l2 - m)) + m; // MathF/Math.Exp and Log
            }
            ws.Nll[n] = nanSeen ? double.NaN : ToDouble(-logLik);
        }
    }

    /// <summary>
    /// One frame's log-alpha row (cur, from prev): blank 2j &lt;- blank 2j, label 2j-1; label 2j+1 &lt;- itself, blank 2j,
    /// label 2j-1 unless a repeat. Returns ok with the lanes cleared where a label emission is NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static TV AlphaRow<T, TV, S>(T* prev, T* cur, T* skip, T* tail, T* eL, int* ints, T* lse, int W, int offB, int offL,
        int mode, TV ebV, TV e0, TV e1, TV ok) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        int V = S.Lanes;
        T* d = lse + 2 * W;
        for (int j0 = 0; j0 < W; j0 += V)
        {
            TV pB = S.Load(prev + offB + j0);
            TV pL = S.Load(prev + offL + j0);
            TV pLm = S.Load(prev + offL + j0 - 1);
            S.Store(SimdMath.LseArgs2<T, TV, S>(pB, pLm, d + j0), lse + j0);
            S.Store(SimdMath.LseArgs3<T, TV, S>(pL, pB, S.Add(pLm, S.Load(skip + j0)), d + W + j0, d + 2 * W + j0), lse + W + j0);
        }
        return FinishRow<T, TV, S>(lse, W, offB, offL, cur, null, null, tail, eL, ints, mode, ebV, e0, e1, ok);
    }

    /// <summary>
    /// The rest of a row's log-add steps once AlphaRow or BetaRow has written the maxima and exponents to lse (2W maxima,
    /// then 3W exponents; SimdMath's three passes): writes the states plus their emissions to cur and, given the frame's
    /// alpha row aRow (in the backward), log alpha + log beta to row (PyTorch's log_alpha_beta, rounded in T; blank states
    /// then label states). Returns ok with the lanes cleared where a label emission is NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static TV FinishRow<T, TV, S>(T* lse, int W, int offB, int offL, T* cur, T* aRow, T* row, T* tail, T* eL, int* ints,
        int mode, TV ebV, TV e0, TV e1, TV ok) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        int V = S.Lanes;
        T* d = lse + 2 * W;
        SimdMath.ExpNonPositiveRow<T, TV, S>(d, 3 * W);
        TV one = S.Splat(T.One);
        for (int j0 = 0; j0 < W; j0 += V)
        {
            TV ev = Emissions<T, TV, S>(mode, e0, e1, ints, tail, eL, j0);
            TV sB = S.Add(one, S.Load(d + j0));
            TV sL = S.Add(S.Add(one, S.Load(d + W + j0)), S.Load(d + 2 * W + j0));
            TV b = S.Add(SimdMath.LseFinish<T, TV, S>(S.Load(lse + j0), sB), ebV);
            TV l = S.Add(SimdMath.LseFinish<T, TV, S>(S.Load(lse + W + j0), sL), ev);
            S.Store(b, cur + offB + j0);
            S.Store(l, cur + offL + j0);
            ok = S.And(ok, S.Equal(ev, ev));
            if (aRow == null) continue;
            S.Store(S.Add(S.Load(aRow + offB + j0), b), row + j0);
            S.Store(S.Add(S.Load(aRow + offL + j0), l), row + W + j0);
        }
        return ok;
    }

    // How a frame's label emissions lp[t][lab[j]] are fetched. Gathers are slow on some CPUs (Zen 4), so with
    // 512-bit vectors (the one width with a fast two-source permute, S.HasLookup) a row of at most 2V classes is held
    // in two registers and looked up; otherwise the emissions are copied into a row buffer once per frame.
    const int EmitTable = 0, EmitShortRow = 1, EmitCopy = 2;

    static int EmissionMode<T, TV, S>(int classes)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
        => !S.HasLookup || classes > 2 * S.Lanes ? EmitCopy : classes < S.Lanes ? EmitShortRow : EmitTable;

    /// <summary>
    /// Prepares frame lr's emissions: the two lookup registers, or the row buffer eL. In the latter case a long row
    /// (many classes) is mostly not in cache, so the lines of the frame processed next (lrNext) are prefetched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LoadEmissions<T, TV, S>(int mode, T* lr, T* lrNext, int C, ReadOnlySpan<int> lab, T* eL,
        T* rowCopy, out TV t0, out TV t1) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        if (S.HasLookup && mode == EmitTable)
        {
            t0 = S.Load(lr);
            t1 = S.Load(lr + C - S.Lanes);
        }
        else if (S.HasLookup && mode == EmitShortRow)
        {
            for (int c = 0; c < C; c++) rowCopy[c] = lr[c];
            t0 = t1 = S.Load(rowCopy);
        }
        else
        {
            CopyEmissions(eL, lr, lab);
            if (lrNext != null && Sse.IsSupported)
            {
                // The next frame's row: line by line where it has fewer lines than there are labels, else label by label.
                if (C * sizeof(T) <= 64 * lab.Length)
                {
                    for (byte* q = (byte*)lrNext; q < (byte*)(lrNext + C); q += 64) Sse.Prefetch0(q);
                    Sse.Prefetch0(lrNext + C - 1);
                }
                else
                {
                    for (int j = 0; j < lab.Length; j++) Sse.Prefetch0(lrNext + lab[j]);
                }
            }
            t0 = t1 = default;
        }
    }

    // A method of its own: inlined into LoadEmissions's callers, its pointers were reloaded from the stack per element.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static void CopyEmissions<T>(T* eL, T* lr, ReadOnlySpan<int> lab) where T : unmanaged
    {
        for (int j = 0; j < lab.Length; j++) eL[j] = lr[lab[j]];
    }

    /// <summary>The label emissions of states j0 .. j0+V-1 (-inf past the last label).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Emissions<T, TV, S>(int mode, TV t0, TV t1, int* ints, T* tail, T* eL, int j0)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
        => !S.HasLookup || mode == EmitCopy ? S.Load(eL + j0) : S.Add(S.Lookup(t0, t1, ints + j0), S.Load(tail + j0));

    /// <summary>
    /// skip[j] = 0 where label j may be entered from label j-1 (the s-2 transition), else -inf; tail[j] = 0 for
    /// real labels and -inf past them; eL = -inf (rows past the labels stay so); ints[j] = where label j's class
    /// sits in the two lookup registers (a real label for the tail, so that a NaN fetched there also shows in
    /// lane 0).
    /// </summary>
    static void PrepareMasks<T>(T* skip, T* tail, T* eL, int* ints, int W, int V, ReadOnlySpan<int> lab,
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
}
