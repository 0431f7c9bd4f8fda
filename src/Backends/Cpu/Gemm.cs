using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// Dense row-major matrix multiply, C = op(A) * op(B) (or C += ...), in the BLIS/GotoBLAS style:
/// the operands are cut into cache-sized blocks, each block is packed into a contiguous buffer laid
/// out in the order the micro-kernel reads it (transposition is absorbed there), and a register-blocked
/// micro-kernel computes one MR x NR tile of C at a time with fused multiply-adds
/// (14 x 32 fp32 / 14 x 16 fp64 with AVX-512, 6 x 16 / 6 x 8 with AVX2).
/// Results are deterministic: every element of C is summed in the same k order whatever the thread count.
/// </summary>
internal static unsafe class Gemm
{
    // C = op(A) * op(B)  (or C += ... when accumulate). Row-major. op(A) is m x k, op(B) is k x n.
    // transA == false: A is stored m x k with row stride lda; transA == true: A is stored k x m (row stride lda) and op(A) = A^T.
    // Same for B: transB == false: stored k x n (ldb); true: stored n x k, op(B) = B^T. C is m x n with row stride ldc.
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
        => GemmDriver<float>.Run(new GemmProblem<float>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate));

    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double* a, int lda, double* b, int ldb, double* c, int ldc, bool accumulate)
        => GemmDriver<double>.Run(new GemmProblem<double>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate));
}

/// <summary>One GEMM call's operands. A sub-rectangle of C is described by the same type with shifted pointers.</summary>
internal readonly unsafe struct GemmProblem<T> where T : unmanaged
{
    public readonly bool TransA, TransB, Accumulate;
    public readonly int M, N, K, Lda, Ldb, Ldc;
    public readonly T* A, B, C;

    public GemmProblem(bool transA, bool transB, int m, int n, int k, T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        TransA = transA; TransB = transB; Accumulate = accumulate;
        M = m; N = n; K = k; A = a; Lda = lda; B = b; Ldb = ldb; C = c; Ldc = ldc;
    }

    /// <summary>Element (i, p) of op(A).</summary>
    public T* APtr(int i, int p) => TransA ? A + (nint)p * Lda + i : A + (nint)i * Lda + p;

    /// <summary>Element (p, j) of op(B).</summary>
    public T* BPtr(int p, int j) => TransB ? B + (nint)j * Ldb + p : B + (nint)p * Ldb + j;

    /// <summary>The product restricted to rows [i0, i0+rows) and columns [j0, j0+cols) of C; k is untouched.</summary>
    public GemmProblem<T> Sub(int i0, int rows, int j0, int cols)
        => new(TransA, TransB, rows, cols, K, APtr(i0, 0), Lda, BPtr(0, j0), Ldb, C + (nint)i0 * Ldc + j0, Ldc, Accumulate);
}

/// <summary>
/// Blocking, threading and packing. Loop nest (outermost first), for one thread's rectangle of C:
/// <code>
///   ic (MC rows of C)   pc (KC of k)  -> pack A block  mc x kc  (read once per jc, lives in L3)
///     jc (NC cols)                    -> pack B block  kc x nc  (re-read for every MR row panel: L2)
///       ir (MR rows)                  -> A micro-panel kc x MR  (re-read for every NR panel:   L1)
///         jr (NR cols)                -> micro-kernel: MR x NR tile of C in registers
/// </code>
/// The broadcast operand (A) is the one kept in L1, the vector operand (B) streams from L2: a B
/// micro-panel is NR/MR times wider than an A micro-panel, so this keeps the L1-resident panel small.
/// </summary>
internal static unsafe class GemmDriver<T> where T : unmanaged, INumber<T>
{
    // Vector512 kernel when AVX-512 is usable, otherwise the Vector256 kernel (correct everywhere,
    // fast with AVX2). The JIT folds these static readonly values into constants.
    static readonly bool Wide = Vector512.IsHardwareAccelerated;
    static readonly int MR = Wide ? GemmKernel<T>.MR512 : GemmKernel<T>.MR256;
    static readonly int NR = Wide ? GemmKernel<T>.NR512 : GemmKernel<T>.NR256;

    // Block sizes, chosen for Zen 4 (32 KiB L1d and 1 MiB L2 per core, 32 MiB shared L3) and scaled by the
    // element size so that the packed panels have the same byte size for fp32 and fp64:
    //  KC: an A micro-panel (KC x MR) is re-read for every NR panel and must stay in L1 next to the
    //      streaming B lines and the C tile: 256 x 14 x 4 B = 14 KiB (fp64: 128 x 14 x 8 B).
    //  NC: the packed B block (KC x NC) is re-read for every MR row panel and must stay in L2:
    //      256 x 512 x 4 B = 512 KiB, half of L2, leaving room for the A panels and C lines passing through.
    //  MC: the packed A block (MC x KC) is streamed once per NC block, so it only has to fit in L3;
    //      a large MC means B is packed once per k block for most shapes (2016 x 256 x 4 B ~ 2 MiB).
    // Measured on the target (fp32, one core, n = 256..1024): KC in 192..512 and NC in 256..768 all land
    // within noise (105-110 GFLOP/s, ~93% of the FMA peak), so these are the cache-derived values.
    static readonly int KC = 1024 / sizeof(T);
    static readonly int NC = 512;
    static readonly int MC = 2016 / MR * MR;

    // Below this many multiply-adds a second thread costs more (pool wake-up, duplicated packing) than it
    // saves: at 96^3 two threads were only ~10% faster than one (0.018 vs 0.020 ms); 64^3 takes ~6 us alone.
    const long ParallelThreshold = 96L * 96 * 96;

    // Up to two MR row panels: B is then streamed at most twice, which costs less than packing it.
    static readonly int DirectBMaxRows = 2 * MR;

    // Per-thread packing buffers, grown on demand and kept for the thread's lifetime (no per-call allocation).
    [ThreadStatic] static T* t_aPack;
    [ThreadStatic] static T* t_bPack;
    [ThreadStatic] static T* t_spill;
    [ThreadStatic] static nint t_aCap, t_bCap;

    public static void Run(in GemmProblem<T> p)
    {
        if (p.M == 0 || p.N == 0)
            return;
        if (p.K == 0)
        {
            if (!p.Accumulate)
                ZeroC(p);
            return;
        }

        int threads = ThreadCount(p);
        if (threads <= 1)
            RunSingle(p);
        else
            RunParallel(p, threads);
    }

    static int ThreadCount(in GemmProblem<T> p)
    {
        long work = (long)p.M * p.N * p.K;
        if (work < ParallelThreshold)
            return 1;
        // Split only in whole micro-tiles along the larger dimension; the work per thread must stay
        // above the threshold too.
        long maxByWork = work / ParallelThreshold;
        int tiles = p.N >= p.M ? (p.N + NR - 1) / NR : (p.M + MR - 1) / MR;
        return (int)Math.Min(Math.Min(Par.Cores, maxByWork), tiles); // Par.Cores: 1 inside one of two parts on 2 cores
    }

    /// <summary>
    /// Gives each thread a disjoint vertical (or horizontal) strip of C. Every element of C is then
    /// computed by exactly one thread with the same kernel and the same k order as in a
    /// single-threaded run, so the result is bit-identical whatever the thread count.
    /// </summary>
    static void RunParallel(GemmProblem<T> p, int threads)
    {
        bool splitN = p.N >= p.M;
        int unit = splitN ? NR : MR;
        int units = ((splitN ? p.N : p.M) + unit - 1) / unit;
        Parallel.For(0, threads, t =>
        {
            int u0 = (int)((long)units * t / threads), u1 = (int)((long)units * (t + 1) / threads);
            int extent = splitN ? p.N : p.M;
            int start = u0 * unit, len = Math.Min(u1 * unit, extent) - start;
            if (len <= 0)
                return;
            RunSingle(splitN ? p.Sub(0, p.M, start, len) : p.Sub(start, len, 0, p.N));
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunSingle(in GemmProblem<T> p)
    {
        // Equal-sized row blocks (whole MR panels), so m = MC + a few rows does not cost a second pass over B.
        int mcStep = RoundUp(CeilDiv(p.M, CeilDiv(p.M, MC)), MR);
        int kcMax = Math.Min(KC, p.K), ncMax = Math.Min(NC, RoundUp(p.N, NR));
        T* aPack = Buffer(ref t_aPack, ref t_aCap, (nint)mcStep * kcMax);
        T* bPack = Buffer(ref t_bPack, ref t_bCap, (nint)ncMax * kcMax);
        T* spill = t_spill != null ? t_spill : t_spill = (T*)NativeMemory.AlignedAlloc((nuint)(GemmKernel<T>.MaxTile * sizeof(T)), 64);
        // With few rows, B is read by one or two row panels only: packing it would cost about as much as using it
        // (16 x 128 x 512, an LSTM step: 7.6 of 30 us), so the kernel reads B's rows in place when they are
        // contiguous. The k order per element is the packed path's, so results are bit-identical either way.
        bool directB = Wide && !p.TransB && p.M <= DirectBMaxRows;
        // 15 or 16 rows (a batch of 16) as 8 + 8 rather than 14 + 2: two 8-row kernels cost less than a 14-row one plus a
        // nearly empty one, which loads as much of B for 1/7 of the work.
        int panelRows = Wide && p.M > MR && p.M <= 16 ? 8 : MR;

        for (int ic = 0; ic < p.M; ic += mcStep)
        {
            int mc = Math.Min(mcStep, p.M - ic);
            for (int pc = 0; pc < p.K; pc += KC)
            {
                int kc = Math.Min(KC, p.K - pc);
                // The first k block overwrites C unless the caller asked to accumulate.
                bool overwrite = pc == 0 && !p.Accumulate;
                PackA(p, ic, pc, mc, kc, panelRows, aPack);
                T* cBlock = p.C + (nint)ic * p.Ldc;
                if (directB)
                {
                    // Whole NR panels straight from B; only the ragged last panel is packed (zero padded).
                    int full = p.N / NR * NR;
                    if (full > 0)
                        MacroKernel(mc, full, kc, aPack, panelRows, p.BPtr(pc, 0), 1, p.Ldb, cBlock, p.Ldc, overwrite, spill);
                    if (full < p.N)
                    {
                        PackB(p, pc, full, kc, p.N - full, bPack);
                        MacroKernel(mc, p.N - full, kc, aPack, panelRows, bPack, kc, NR, cBlock + full, p.Ldc, overwrite, spill);
                    }
                    continue;
                }
                for (int jc = 0; jc < p.N; jc += NC)
                {
                    int nc = Math.Min(NC, p.N - jc);
                    PackB(p, pc, jc, kc, nc, bPack);
                    MacroKernel(mc, nc, kc, aPack, panelRows, bPack, kc, NR, cBlock + jc, p.Ldc, overwrite, spill);
                }
            }
        }
    }

    /// <summary>
    /// All tiles of one mc x nc block of C, from packed A (mc x kc, panelRows rows per MR-wide panel) and B (kc x nc):
    /// packed (column j's panel at b + j * kc, NR values per k step: bColStep = kc, bRowStep = NR) or in place
    /// (bColStep = 1, bRowStep = ldb). Packed B: row panels outer, so the A micro-panel stays in L1 while B streams from
    /// L2. B in place (one or two row panels): column panels outer, so the second reader of a B panel finds it in L1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void MacroKernel(int mc, int nc, int kc, T* aPack, int panelRows, T* b, int bColStep, int bRowStep, T* c, int ldc, bool overwrite, T* spill)
    {
        if (bColStep == 1)
        {
            for (int jr = 0; jr < nc; jr += NR)
                for (int ir = 0; ir < mc; ir += panelRows)
                    Tile(ir, jr, mc, nc, kc, aPack, panelRows, b + jr, bRowStep, c, ldc, overwrite, spill);
            return;
        }
        for (int ir = 0; ir < mc; ir += panelRows)
            for (int jr = 0; jr < nc; jr += NR)
                Tile(ir, jr, mc, nc, kc, aPack, panelRows, b + (nint)jr * kc, bRowStep, c, ldc, overwrite, spill);
    }

    /// <summary>The tile of C at (ir, jr), by the kernel for its row count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tile(int ir, int jr, int mc, int nc, int kc, T* aPack, int panelRows, T* bPanel, int bRowStep, T* c, int ldc, bool overwrite, T* spill)
    {
        int rows = Math.Min(panelRows, mc - ir), cols = Math.Min(NR, nc - jr);
        T* aPanel = aPack + (nint)(ir / panelRows) * MR * kc, cTile = c + (nint)ir * ldc + jr;
        if (!Wide)
            GemmKernel<T>.Kernel256(kc, aPanel, bPanel, cTile, ldc, rows, cols, overwrite, spill);
        else if (rows > 8)
            GemmKernel<T>.Kernel512<Rows14>(kc, aPanel, bPanel, bRowStep, cTile, ldc, rows, cols, overwrite, spill);
        else if (rows > 4)
            GemmKernel<T>.Kernel512<Rows8>(kc, aPanel, bPanel, bRowStep, cTile, ldc, rows, cols, overwrite, spill);
        else
            GemmKernel<T>.Kernel512<Rows4>(kc, aPanel, bPanel, bRowStep, cTile, ldc, rows, cols, overwrite, spill);
    }

    /// <summary>
    /// Packs op(A)[ic.., pc..] (mc x kc) as consecutive MR-row micro-panels (or panelRows rows each, padded to MR),
    /// each stored k-major (MR values per k step), rows past the panel's padded with zeros so the kernel never needs
    /// a row count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackA(in GemmProblem<T> p, int ic, int pc, int mc, int kc, int panelRows, T* dst)
    {
        if (panelRows < MR) // short panels: one group of rows per MR-wide panel
        {
            for (int r = 0; r < mc; r += panelRows, dst += (nint)MR * kc)
                PackA(p, ic + r, pc, Math.Min(panelRows, mc - r), kc, MR, dst);
            return;
        }
        if (p.TransA)
            PackAlongRows(p.APtr(ic, pc), p.Lda, kc, mc, MR, dst); // stored k x m: op(A) rows are contiguous per k
        else
            PackAcrossRows(p.APtr(ic, pc), p.Lda, kc, mc, MR, dst); // stored m x k: transpose while packing
    }

    /// <summary>Packs op(B)[pc.., jc..] (kc x nc) as consecutive NR-column micro-panels, k-major, zero padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackB(in GemmProblem<T> p, int pc, int jc, int kc, int nc, T* dst)
    {
        if (p.TransB)
            PackAcrossRows(p.BPtr(pc, jc), p.Ldb, kc, nc, NR, dst); // stored n x k: transpose while packing
        else
            PackAlongRows(p.BPtr(pc, jc), p.Ldb, kc, nc, NR, dst); // stored k x n: copy row pieces
    }

    /// <summary>
    /// Source row kk (at src + kk * ld) holds the kk-th k step of all `extent` panel elements:
    /// copy it piecewise, width elements into each panel. Rows are read sequentially (prefetch friendly),
    /// the writes land in the L2-sized pack buffer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PackAlongRows(T* src, int ld, int kc, int extent, int width, T* dst)
    {
        int full = extent / width, rest = extent - full * width;
        nint panelSize = (nint)width * kc;
        for (int kk = 0; kk < kc; kk++, src += ld)
        {
            T* s = src, d = dst + (nint)kk * width;
            for (int q = 0; q < full; q++, s += width, d += panelSize)
                Unsafe.CopyBlockUnaligned(d, s, (uint)(width * sizeof(T)));
            if (rest > 0)
                CopyPadded(s, d, rest, width);
        }
    }

    /// <summary>
    /// Source row r (at src + r * ld) holds element r of the panels for all kc steps: transpose it into
    /// dst[kk * width + r], padding the last panel with zero rows. Whole V x V blocks (V = lanes per
    /// Vector512) go through a vector transpose; the k tail, and everything without AVX-512, is scalar.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PackAcrossRows(T* src, int ld, int kc, int extent, int width, T* dst)
    {
        int v = Vector512<T>.Count;
        bool vector = GemmTranspose<T>.IsSupported;
        for (int r0 = 0; r0 < extent; r0 += width, dst += (nint)width * kc, src += (nint)width * ld)
        {
            int rows = Math.Min(width, extent - r0), kk = 0;
            if (vector)
            {
                for (; kk + v <= kc; kk += v)
                {
                    // Row groups in descending order: a group whose V-lane stores run past the panel width
                    // spills into the next k step's first lanes, which group 0 then overwrites.
                    for (int g = (width - 1) / v * v; g >= 0; g -= v)
                        GemmTranspose<T>.Block(src + (nint)g * ld + kk, ld, Math.Max(0, rows - g), dst + (nint)kk * width + g, width);
                }
            }
            for (int r = 0; r < rows; r++)
                Strided(src + (nint)r * ld + kk, dst + (nint)kk * width + r, kc - kk, width);
            for (int r = rows; r < width; r++)
                StridedZero(dst + (nint)kk * width + r, kc - kk, width);
        }
    }

    /// <summary>dst[0..count) = src[0..count), dst[count..width) = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void CopyPadded(T* src, T* dst, int count, int width)
    {
        int i = 0;
        for (; i < count; i++)
            dst[i] = src[i];
        for (; i < width; i++)
            dst[i] = T.Zero;
    }

    /// <summary>dst[i * stride] = src[i] for i in [0, count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Strided(T* src, T* dst, int count, int stride)
    {
        for (int i = 0; i < count; i++, dst += stride)
            *dst = src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void StridedZero(T* dst, int count, int stride)
    {
        for (int i = 0; i < count; i++, dst += stride)
            *dst = T.Zero;
    }

    static void ZeroC(in GemmProblem<T> p)
    {
        for (int i = 0; i < p.M; i++)
            new Span<T>(p.C + (nint)i * p.Ldc, p.N).Clear();
    }

    static int RoundUp(int x, int multiple) => CeilDiv(x, multiple) * multiple;

    static int CeilDiv(int x, int y) => (x + y - 1) / y;

    static T* Buffer(ref T* buffer, ref nint capacity, nint elements)
    {
        elements += GemmTranspose<T>.Overrun;
        if (capacity < elements)
        {
            NativeMemory.AlignedFree(buffer);
            buffer = (T*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(T)), 64);
            capacity = elements;
        }
        return buffer;
    }
}

/// <summary>
/// V x V transpose of row vectors (V = Vector512&lt;T&gt;.Count) for the packing of operands whose panel
/// elements are rows of the source. log2(V) stages; the stage of half-size h swaps the off-diagonal
/// h x h blocks of every 2h x 2h tile, i.e. swaps bit h of the row and column indices, with one
/// two-source permute (vpermt2ps / vpermt2pd) per output row.
/// </summary>
internal static unsafe class GemmTranspose<T> where T : unmanaged, INumber<T>
{
    // Only used alongside the Vector512 kernel (whose panel widths it is tested with).
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported
        && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>Elements a block store may write past the end of a packed panel buffer.</summary>
    public const int Overrun = 64;

    // Permute indices, two per stage (low and high output row of each pair), largest h first.
    static readonly Vector512<T>[] s_index = BuildIndices();

    /// <summary>
    /// Reads rows x V elements (row r at src + r * ld, rows past `rows` read as zero) and writes the
    /// transpose: V lanes (one per source row) at dst + j * width for j in [0, V). Lanes past `width`
    /// spill into the next line; the caller's write order makes that harmless.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(T* src, int ld, int rows, T* dst, int width)
    {
        // Written out for 16 rows (float); the double instantiation (8 rows) drops rows 8-15 and the first stage.
        bool wide = Vector512<T>.Count == 16;
        Vector512<T>[] index = s_index; // first, so that a class-init helper call cannot sit among live vectors
        Vector512<T> r0 = Row(src, ld, 0, rows), r1 = Row(src, ld, 1, rows), r2 = Row(src, ld, 2, rows), r3 = Row(src, ld, 3, rows),
            r4 = Row(src, ld, 4, rows), r5 = Row(src, ld, 5, rows), r6 = Row(src, ld, 6, rows), r7 = Row(src, ld, 7, rows);
        Vector512<T> r8 = default, r9 = default, rA = default, rB = default, rC = default, rD = default, rE = default, rF = default;
        Vector512<T> lo, hi;
        int s = 0;
        if (wide)
        {
            r8 = Row(src, ld, 8, rows); r9 = Row(src, ld, 9, rows); rA = Row(src, ld, 10, rows); rB = Row(src, ld, 11, rows);
            rC = Row(src, ld, 12, rows); rD = Row(src, ld, 13, rows); rE = Row(src, ld, 14, rows); rF = Row(src, ld, 15, rows);
            (lo, hi) = (index[0], index[1]);
            s = 2;
            (r0, r8) = (Permute(r0, lo, r8), Permute(r0, hi, r8)); (r1, r9) = (Permute(r1, lo, r9), Permute(r1, hi, r9));
            (r2, rA) = (Permute(r2, lo, rA), Permute(r2, hi, rA)); (r3, rB) = (Permute(r3, lo, rB), Permute(r3, hi, rB));
            (r4, rC) = (Permute(r4, lo, rC), Permute(r4, hi, rC)); (r5, rD) = (Permute(r5, lo, rD), Permute(r5, hi, rD));
            (r6, rE) = (Permute(r6, lo, rE), Permute(r6, hi, rE)); (r7, rF) = (Permute(r7, lo, rF), Permute(r7, hi, rF));
        }
        (lo, hi) = (index[s], index[s + 1]); s += 2;  // h = 4
        (r0, r4) = (Permute(r0, lo, r4), Permute(r0, hi, r4)); (r1, r5) = (Permute(r1, lo, r5), Permute(r1, hi, r5));
        (r2, r6) = (Permute(r2, lo, r6), Permute(r2, hi, r6)); (r3, r7) = (Permute(r3, lo, r7), Permute(r3, hi, r7));
        if (wide)
        {
            (r8, rC) = (Permute(r8, lo, rC), Permute(r8, hi, rC)); (r9, rD) = (Permute(r9, lo, rD), Permute(r9, hi, rD));
            (rA, rE) = (Permute(rA, lo, rE), Permute(rA, hi, rE)); (rB, rF) = (Permute(rB, lo, rF), Permute(rB, hi, rF));
        }
        (lo, hi) = (index[s], index[s + 1]); s += 2;  // h = 2
        (r0, r2) = (Permute(r0, lo, r2), Permute(r0, hi, r2)); (r1, r3) = (Permute(r1, lo, r3), Permute(r1, hi, r3));
        (r4, r6) = (Permute(r4, lo, r6), Permute(r4, hi, r6)); (r5, r7) = (Permute(r5, lo, r7), Permute(r5, hi, r7));
        if (wide)
        {
            (r8, rA) = (Permute(r8, lo, rA), Permute(r8, hi, rA)); (r9, rB) = (Permute(r9, lo, rB), Permute(r9, hi, rB));
            (rC, rE) = (Permute(rC, lo, rE), Permute(rC, hi, rE)); (rD, rF) = (Permute(rD, lo, rF), Permute(rD, hi, rF));
        }
        (lo, hi) = (index[s], index[s + 1]);          // h = 1
        (r0, r1) = (Permute(r0, lo, r1), Permute(r0, hi, r1)); (r2, r3) = (Permute(r2, lo, r3), Permute(r2, hi, r3));
        (r4, r5) = (Permute(r4, lo, r5), Permute(r4, hi, r5)); (r6, r7) = (Permute(r6, lo, r7), Permute(r6, hi, r7));
        if (wide)
        {
            (r8, r9) = (Permute(r8, lo, r9), Permute(r8, hi, r9)); (rA, rB) = (Permute(rA, lo, rB), Permute(rA, hi, rB));
            (rC, rD) = (Permute(rC, lo, rD), Permute(rC, hi, rD)); (rE, rF) = (Permute(rE, lo, rF), Permute(rE, hi, rF));
        }

        Store(r0, dst, width, 0); Store(r1, dst, width, 1); Store(r2, dst, width, 2); Store(r3, dst, width, 3);
        Store(r4, dst, width, 4); Store(r5, dst, width, 5); Store(r6, dst, width, 6); Store(r7, dst, width, 7);
        if (wide)
        {
            Store(r8, dst, width, 8); Store(r9, dst, width, 9); Store(rA, dst, width, 10); Store(rB, dst, width, 11);
            Store(rC, dst, width, 12); Store(rD, dst, width, 13); Store(rE, dst, width, 14); Store(rF, dst, width, 15);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<T> Row(T* src, int ld, int r, int rows) => r < rows ? Vector512.Load(src + (nint)r * ld) : Vector512<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(Vector512<T> row, T* dst, int width, int j) => Vector512.Store(row, dst + (nint)j * width);

    /// <summary>Lane c of the result is lane idx[c] of the 2V-lane concatenation (a, b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<T> Permute(Vector512<T> a, Vector512<T> idx, Vector512<T> b)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.PermuteVar16x32x2(a.AsSingle(), idx.AsInt32(), b.AsSingle()).As<float, T>();
        return Avx512F.PermuteVar8x64x2(a.AsDouble(), idx.AsInt64(), b.AsDouble()).As<double, T>();
    }

    static Vector512<T>[] BuildIndices()
    {
        int n = Vector512<T>.Count;
        var result = new List<Vector512<T>>();
        for (int h = n / 2; h >= 1; h >>= 1)
        {
            // Row i (bit h clear) takes the low h-blocks of rows i and i+h; row i+h takes their high h-blocks.
            result.Add(Index(c => (c & h) == 0 ? c : n + c - h));
            result.Add(Index(c => (c & h) == 0 ? c + h : n + c));
        }
        return result.ToArray();
    }

    static Vector512<T> Index(Func<int, int> lane)
    {
        int n = Vector512<T>.Count;
        if (sizeof(T) == 4)
        {
            int* x = stackalloc int[16];
            for (int c = 0; c < n; c++)
                x[c] = lane(c);
            return Vector512.Load(x).As<int, T>();
        }
        long* y = stackalloc long[8];
        for (int c = 0; c < n; c++)
            y[c] = lane(c);
        return Vector512.Load(y).As<long, T>();
    }
}

/// <summary>A compile-time row count for the micro-kernel (static abstract, so the JIT folds it per struct type).</summary>
internal interface IRowCount { static abstract int Count { get; } }
internal struct Rows14 : IRowCount { public static int Count => 14; }
internal struct Rows8 : IRowCount { public static int Count => 8; }
internal struct Rows4 : IRowCount { public static int Count => 4; }

/// <summary>
/// Micro-kernels: C[0..MR, 0..NR) (+)= sum over k of Apanel[k, 0..MR) outer Bpanel[k, 0..NR), with the
/// whole tile held in vector registers. Per k step: load the NR-wide row of B (two vectors), then for
/// every one of the MR rows broadcast one A value and issue two FMAs.
/// </summary>
internal static unsafe class GemmKernel<T> where T : unmanaged, INumber<T>
{
    // AVX-512 has 32 vector registers: 14 x 2 accumulators + 2 B vectors + 1 broadcast = 31, no spills
    // (checked in the JIT disassembly). 28 independent FMA chains per k step hide the FMA latency, and
    // 16 loads per 28 FMAs keep the load ports well below saturation. Measured: ~93% of the FMA peak of
    // one Zen 4 core (single thread 105-110 of 116 GFLOP/s fp32).
    public const int MR512 = 14;
    public static int NR512 => 2 * Vector512<T>.Count;

    // AVX2 has 16 registers: 6 x 2 accumulators + 2 B vectors + 1 broadcast.
    public const int MR256 = 6;
    public static int NR256 => 2 * Vector256<T>.Count;

    public static int MaxTile => Math.Max(MR512 * NR512, MR256 * NR256);

    /// <summary>
    /// Asks for the C tile's cache lines at the start of the k loop, so that the read-modify-write at the end
    /// (which otherwise misses to L3 or memory: C is row-strided and touched once per KC block) overlaps the FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchTile(T* c, int ldc, int rows, int cols)
    {
        if (!Sse.IsSupported)
            return;
        for (int i = 0; i < rows; i++, c += ldc)
        {
            Sse.Prefetch0(c);
            Sse.Prefetch0(c + cols - 1);
        }
    }

    // Vector512/256.FusedMultiplyAdd exist only for float and double; the typeof test is resolved by the JIT
    // per instantiation, so these compile to a single vfmadd231ps/pd.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    /// <summary>
    /// R.Count x (2 x Vector512) tile, R.Count &lt;= 14. The A panel is always packed MR512 wide; the shorter
    /// instantiations only serve the last row panel of a block, so that e.g. m = 256 = 18 x 14 + 4 does not
    /// spend a full 14-row kernel on 4 rows. The JIT specializes the method per R and drops the unused rows.
    /// rows/cols give the valid part of the tile (edge tiles). Row k of the B panel is at b + k * ldb: ldb = NR
    /// when B is packed, B's own row stride when it is read in place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel512<R>(int kc, T* a, T* b, int ldb, T* c, int ldc, int rows, int cols, bool overwrite, T* spill)
        where R : struct, IRowCount
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default,
            c90 = default, c91 = default, cA0 = default, cA1 = default, cB0 = default, cB1 = default,
            cC0 = default, cC1 = default, cD0 = default, cD1 = default;
        PrefetchTile(c, ldc, Math.Min(rows, R.Count), 2 * w);

        for (int p = 0; p < kc; p++, a += MR512, b += ldb)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w), x;
            { x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); }
            if (R.Count > 1) { x = Vector512.Create(a[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); }
            if (R.Count > 2) { x = Vector512.Create(a[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); }
            if (R.Count > 3) { x = Vector512.Create(a[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); }
            if (R.Count > 4) { x = Vector512.Create(a[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41); }
            if (R.Count > 5) { x = Vector512.Create(a[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51); }
            if (R.Count > 6) { x = Vector512.Create(a[6]); c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61); }
            if (R.Count > 7) { x = Vector512.Create(a[7]); c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71); }
            if (R.Count > 8) { x = Vector512.Create(a[8]); c80 = Fma(x, b0, c80); c81 = Fma(x, b1, c81); }
            if (R.Count > 9) { x = Vector512.Create(a[9]); c90 = Fma(x, b0, c90); c91 = Fma(x, b1, c91); }
            if (R.Count > 10) { x = Vector512.Create(a[10]); cA0 = Fma(x, b0, cA0); cA1 = Fma(x, b1, cA1); }
            if (R.Count > 11) { x = Vector512.Create(a[11]); cB0 = Fma(x, b0, cB0); cB1 = Fma(x, b1, cB1); }
            if (R.Count > 12) { x = Vector512.Create(a[12]); cC0 = Fma(x, b0, cC0); cC1 = Fma(x, b1, cC1); }
            if (R.Count > 13) { x = Vector512.Create(a[13]); cD0 = Fma(x, b0, cD0); cD1 = Fma(x, b1, cD1); }
        }

        // Full tiles go straight to C; edge tiles go through a scratch tile and a scalar copy of the valid part.
        bool full = rows == R.Count && cols == 2 * w;
        T* dst = full ? c : spill;
        nint ld = full ? ldc : 2 * w;
        bool ow = overwrite || !full;
        Store(dst + 0 * ld, c00, c01, ow);
        if (R.Count > 1) Store(dst + 1 * ld, c10, c11, ow);
        if (R.Count > 2) Store(dst + 2 * ld, c20, c21, ow);
        if (R.Count > 3) Store(dst + 3 * ld, c30, c31, ow);
        if (R.Count > 4) Store(dst + 4 * ld, c40, c41, ow);
        if (R.Count > 5) Store(dst + 5 * ld, c50, c51, ow);
        if (R.Count > 6) Store(dst + 6 * ld, c60, c61, ow);
        if (R.Count > 7) Store(dst + 7 * ld, c70, c71, ow);
        if (R.Count > 8) Store(dst + 8 * ld, c80, c81, ow);
        if (R.Count > 9) Store(dst + 9 * ld, c90, c91, ow);
        if (R.Count > 10) Store(dst + 10 * ld, cA0, cA1, ow);
        if (R.Count > 11) Store(dst + 11 * ld, cB0, cB1, ow);
        if (R.Count > 12) Store(dst + 12 * ld, cC0, cC1, ow);
        if (R.Count > 13) Store(dst + 13 * ld, cD0, cD1, ow);
        if (!full)
            WriteEdge(spill, 2 * w, c, ldc, rows, cols, overwrite);
    }

    /// <summary>6 x (2 x Vector256) tile, the same scheme for machines without AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel256(int kc, T* a, T* b, T* c, int ldc, int rows, int cols, bool overwrite, T* spill)
    {
        const int mr = MR256;
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;

        for (int p = 0; p < kc; p++, a += mr, b += 2 * w)
        {
            Vector256<T> b0 = Vector256.Load(b), b1 = Vector256.Load(b + w), x;
            x = Vector256.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
        }

        bool full = rows == mr && cols == 2 * w;
        T* dst = full ? c : spill;
        int ld = full ? ldc : 2 * w;
        bool ow = overwrite || !full;
        Store(dst, c00, c01, ow); dst += ld;
        Store(dst, c10, c11, ow); dst += ld;
        Store(dst, c20, c21, ow); dst += ld;
        Store(dst, c30, c31, ow); dst += ld;
        Store(dst, c40, c41, ow); dst += ld;
        Store(dst, c50, c51, ow);
        if (!full)
            WriteEdge(spill, 2 * w, c, ldc, rows, cols, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(T* dst, Vector512<T> lo, Vector512<T> hi, bool overwrite)
    {
        T* dst1 = dst + Vector512<T>.Count;
        if (!overwrite)
        {
            lo += Vector512.Load(dst);
            hi += Vector512.Load(dst1);
        }
        Vector512.Store(lo, dst);
        Vector512.Store(hi, dst1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(T* dst, Vector256<T> lo, Vector256<T> hi, bool overwrite)
    {
        T* dst1 = dst + Vector256<T>.Count;
        if (!overwrite)
        {
            lo += Vector256.Load(dst);
            hi += Vector256.Load(dst1);
        }
        Vector256.Store(lo, dst);
        Vector256.Store(hi, dst1);
    }

    /// <summary>Copies the valid rows x cols corner of a scratch tile into C (partial tiles at the matrix edges).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void WriteEdge(T* tile, int ldt, T* c, int ldc, int rows, int cols, bool overwrite)
    {
        for (int i = 0; i < rows; i++, tile += ldt, c += ldc)
        {
            for (int j = 0; j < cols; j++)
                c[j] = overwrite ? tile[j] : c[j] + tile[j];
        }
    }
}
