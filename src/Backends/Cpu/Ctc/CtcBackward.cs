using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

// Backward, by blocks of frames from the end: phase 1 runs the beta recursion over the block's frames, writes
// log alpha + log beta row by row and transposes the rows in V x V tiles into a column-major block ([state]
// [frame]); phase 2 forms PyTorch's per-class running log-adds across the block's frames from contiguous loads
// (gathers are slow on some CPUs) and writes the gradient rows.
internal static unsafe partial class CtcKernel
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardSample<T, TV, S>(CtcWorkspace<T> ws, int n)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
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

        int V = S.Lanes, B = V * ChainGroups<TV>();
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
            T* chains = stackalloc T[5 * B]; // the blank's sums, then ChainSums's scratch
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
                    // Frames run backward through the alpha table, which the hardware's prefetchers do not follow.
                    if (t > 0 && Sse.IsSupported)
                        for (byte* q = (byte*)(aRow - stride); q < (byte*)aRow; q += 64) Sse.Prefetch0(q);
                    BetaRow<T, TV, S>(next, cur, aRow, row, skip, tail, eL, ints, work + g.LseOff, W, offB, offL, mode, ebV, e0, e1);
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
                        S.Transpose(src + j0, W2, V, dst + (nint)j0 * B, B);
                }

                // Phase 2: the running log-adds across the block's frames, then the gradient rows.
                int jHi = Math.Min(L, tEnd - 1), jLo = Math.Max(0, L - 1 - (il - 1 - t0));
                ChainSums<T, TV, S>(blk, blkL, acc, chains, slotOf, lab, L, jHi, jLo, nDistinct);

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
                    ClassColumns<T, TV, S>(lp0, g0, lpIdx, S.Load(chains + k * V), acc + k * V, distinct, nDistinct, blank, frames, rowStep, B, nllV, grV);
                }
            }
        }
    }

    // Phase 1's recursion, phase 2's sums and the gradient columns are methods of their own: inlined into one body, the
    // composites exceed the JIT's inlining budget at the widths whose ScaleB is more than one instruction (256 and 128
    // bits), and calls to Fma and friends are left in the hot loops (1.7x slower at 256 bits).

    /// <summary>Vectors of frames whose sums advance together in phase 2, to hide the log-add latency: 4, or 2 at 512 bits
    /// (32 frames a block already; with 64, T = 150's last block would be mostly lanes past the input; measured 5% faster
    /// there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int ChainGroups<TV>() where TV : unmanaged => Unsafe.SizeOf<TV>() == 64 ? 2 : 4;

    /// <summary>
    /// One frame's beta row (cur, from next): blank 2j &lt;- blank 2j, label 2j+1; label 2j+1 &lt;- itself, blank 2j+2,
    /// label 2j+3 unless a repeat; and the frame's log alpha + log beta row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static void BetaRow<T, TV, S>(T* next, T* cur, T* aRow, T* row, T* skip, T* tail, T* eL, int* ints, T* lse, int W, int offB,
        int offL, int mode, TV ebV, TV e0, TV e1) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        int V = S.Lanes;
        T* d = lse + 2 * W;
        for (int j0 = 0; j0 < W; j0 += V)
        {
            TV nB = S.Load(next + offB + j0);
            TV nL = S.Load(next + offL + j0);
            TV nB1 = S.Load(next + offB + j0 + 1);
            TV nL1 = S.Load(next + offL + j0 + 1);
            S.Store(SimdMath.LseArgs2<T, TV, S>(nB, nL, d + j0), lse + j0);
            S.Store(SimdMath.LseArgs3<T, TV, S>(nL, nB1, S.Add(nL1, S.Load(skip + j0 + 1)), d + W + j0, d + 2 * W + j0), lse + W + j0);
        }
        FinishRow<T, TV, S>(lse, W, offB, offL, cur, aRow, row, tail, eL, ints, mode, ebV, e0, e1, default);
    }

    /// <summary>
    /// Phase 2: lane i of group k is frame t0 + k V + i. The running log-add over s descending (blank j = L..0, labels
    /// j = L-1..0) is a long dependency chain, so the sums of all the block's frames advance together, the blank's and
    /// label j's side by side, each step in SimdMath's three passes over the 2B sums. States j > t (not yet reachable) or
    /// j &lt; L - 1 - (il - 1 - t) (unable to finish) are -inf in every frame of the block, and a log-add step with -inf
    /// leaves the sum unchanged bit for bit: skipped. The blank's sums go to chains[0, B), each class's to acc; chains[B,
    /// 5B) is scratch. Groups past the frames of a block cut short are computed too, on whatever the block holds there,
    /// and not used.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static void ChainSums<T, TV, S>(T* blk, T* blkL, T* acc, T* chains, int* slotOf, ReadOnlySpan<int> lab, int L,
        int jHi, int jLo, int nDistinct) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        int V = S.Lanes, B = V * ChainGroups<TV>();
        TV ninfV = S.Splat(T.NegativeInfinity);
        TV one = S.Splat(T.One);
        for (int i = 0; i < B; i += V) S.Store(ninfV, chains + i);
        for (int i = 0; i < nDistinct * B; i += V) S.Store(ninfV, acc + i);
        T* m = chains + B, d = chains + 3 * B;
        for (int j = jHi; j >= jLo; j--)
        {
            // Sum i of the step: the blank's for i < B, label j's class's for i >= B (none for j = L).
            T* xb = blk + (nint)j * B;
            T* xl = blkL + (nint)j * B;
            T* a = j < L ? acc + slotOf[lab[j]] * B : null;
            int n = a == null ? B : 2 * B;
            for (int i = 0; i < B; i += V)
            {
                S.Store(SimdMath.LseArgs2<T, TV, S>(S.Load(chains + i), S.Load(xb + i), d + i), m + i);
                if (a != null) S.Store(SimdMath.LseArgs2<T, TV, S>(S.Load(a + i), S.Load(xl + i), d + B + i), m + B + i);
            }
            SimdMath.ExpNonPositiveRow<T, TV, S>(d, n);
            for (int i = 0; i < B; i += V)
            {
                S.Store(SimdMath.ChainFinish<T, TV, S>(S.Load(chains + i), S.Load(xb + i), S.Load(m + i), S.Add(one, S.Load(d + i))), chains + i);
                if (a != null)
                    S.Store(SimdMath.ChainFinish<T, TV, S>(S.Load(a + i), S.Load(xl + i), S.Load(m + B + i), S.Add(one, S.Load(d + B + i))), a + i);
            }
        }
    }

    /// <summary>
    /// (exp(lp) - exp(lcab + nll - lp)) * gr for the blank (lcab from cb) and each target class (from acc) in the frames of
    /// one group; where lcab = -inf this equals what WriteExpRow wrote.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    static void ClassColumns<T, TV, S>(T* lp0, T* g0, int* lpIdx, TV cb, T* acc, int* distinct, int nDistinct, int blank,
        int frames, nint rowStep, int B, TV nllV, TV grV) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        ScatterColumn<T, TV, S>(g0 + blank, SimdMath.GradTerm<T, TV, S>(S.Gather(lp0 + blank, lpIdx), cb, nllV, grV), frames, rowStep);
        for (int i = 0; i < nDistinct; i++)
        {
            int c = distinct[i];
            TV lcab = S.Load(acc + i * B);
            ScatterColumn<T, TV, S>(g0 + c, SimdMath.GradTerm<T, TV, S>(S.Gather(lp0 + c, lpIdx), lcab, nllV, grV), frames, rowStep);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void ScatterColumn<T, TV, S>(T* dst, TV v, int frames, nint rowStep)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        for (int f = 0; f < frames; f++) dst[f * rowStep] = S.Element(v, f);
    }

    /// <summary>dst[c] = exp(lp[c]) * gr, NaN where lp is -inf (PyTorch computes exp(-inf - -inf) there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void WriteExpRow<T, TV, S>(T* dst, T* lp, int C, TV gr)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        int V = S.Lanes;
        if (C < V)
        {
            // Through a padded copy, so that every width computes the same exp.
            T* tmp = stackalloc T[V];
            for (int c = 0; c < C; c++) tmp[c] = lp[c];
            S.Store(SimdMath.ExpTimes<T, TV, S>(S.Load(tmp), gr), tmp);
            for (int c = 0; c < C; c++) dst[c] = tmp[c];
            return;
        }
        int i = 0;
        while (true)
        {
            S.Store(SimdMath.ExpTimes<T, TV, S>(S.Load(lp + i), gr), dst + i);
            if (i == C - V) break;
            i = Math.Min(i + V, C - V); // the last vector overlaps; rewriting equal values is harmless
        }
    }
}
