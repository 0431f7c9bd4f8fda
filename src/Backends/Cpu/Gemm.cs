using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// Dense row-major matrix multiply, C = op(A) * op(B) (or C += ...), in the BLIS/GotoBLAS style:
/// the operands are cut into cache-sized blocks, each block is packed into a contiguous buffer laid
/// out in the order the micro-kernel reads it (transposition is absorbed there), and a register-blocked
/// micro-kernel computes one MR x NR tile of C at a time with fused multiply-adds. The kernel is written once
/// over <see cref="ISimd{TV, T}"/> and runs at the width <see cref="Simd.Bits"/> picks, with a register tile per
/// width (<see cref="GemmCall{T}"/>): 14 x 2 vectors at 512 bits (8 x 3 for 2 to 3 vectors of columns), 6 x 2 at 256 (4 x 3
/// for at most 8 rows and at least 256 columns), 8 x 3 at 128 on ARM64, 6 x 2 on SSE and one element at a time.
/// Results are deterministic: every element of C is summed in the same k order (k blocks of KC, whatever the width)
/// whatever the thread count.
/// </summary>
internal static unsafe class Gemm
{
    // C = op(A) * op(B)  (or C += ... when accumulate). Row-major. op(A) is m x k, op(B) is k x n.
    // transA == false: A is stored m x k with row stride lda; transA == true: A is stored k x m (row stride lda) and op(A) = A^T.
    // Same for B: transB == false: stored k x n (ldb); true: stored n x k, op(B) = B^T. C is m x n with row stride ldc.
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        var call = new GemmCall<float>(new GemmProblem<float>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate));
        Simd.Run<float, GemmCall<float>>(ref call);
    }

    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double* a, int lda, double* b, int ldb, double* c, int ldc, bool accumulate)
    {
        var call = new GemmCall<double>(new GemmProblem<double>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate));
        Simd.Run<double, GemmCall<double>>(ref call);
    }
}

/// <summary>
/// Picks the register tile for the width <see cref="Simd.Run{T, K}"/> chose, once per call (worker threads inherit it):
/// as many accumulators as the registers allow, next to the B vectors and the broadcast A value. With 16 registers and at
/// most 8 rows (an LSTM step's half batch, 8 x 128 by 128 x 512), 6 x 2 tiles would leave two 4-row panels of 8
/// accumulators each, just the FMA latency's worth; 4 x 3 keeps 12 in flight (that step: 13.8 instead of 15.8 us at AVX2).
/// Every element of C is still summed in the same k order, so the tile changes no bits.
/// </summary>
internal readonly unsafe struct GemmCall<T>(GemmProblem<T> problem) : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
    {
        if (S.Lanes > 1 && sizeof(TV) == 64 && problem.N > 2 * S.Lanes && problem.N <= 3 * S.Lanes)
            GemmDriver<T, TV, S, Tile8x3>.Run(problem);  // AVX-512, 2 to 3 vectors of columns (33-48 floats): 8 x 3 fill them, 14 x 2 not
        else if (S.Lanes > 1 && sizeof(TV) == 64)
            GemmDriver<T, TV, S, Tile14x2>.Run(problem); // AVX-512, 32 registers: 28 accumulators + 2 B + 1 broadcast
        else if (S.Lanes > 1 && sizeof(TV) == 16 && AdvSimd.Arm64.IsSupported)
            GemmDriver<T, TV, S, Tile8x3>.Run(problem);  // NEON, 32 registers: 24 accumulators + 3 B + 1 broadcast
        else if (S.Lanes > 1 && sizeof(TV) == 32 && problem.M <= 8 && problem.N >= 256)
            GemmDriver<T, TV, S, Tile4x3>.Run(problem);  // AVX2, a few rows (a recurrent step): 12 accumulators in 4 x 3, not 8 in 4 x 2
        else
            GemmDriver<T, TV, S, Tile6x2>.Run(problem);  // AVX2, SSE, scalar (16 registers): 12 + 2 B + 1 broadcast (+ 1 product without FMA)
    }
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
internal static unsafe class GemmDriver<T, TV, S, P>
    where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> where P : struct, IGemmTile
{
    // The register tile: MR rows of C by NR columns (P.Vectors vectors). Static abstract members: the JIT folds them once
    // it inlines these (in the large driver methods its budget ran out, and NR was a call per tile).
    static int MR { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => P.Count; }
    static int NR { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => P.Vectors * S.Lanes; }

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
    // The narrower tiles keep them (not tuned separately): their A micro-panels are smaller still, and B streams from
    // L2 at more bytes per multiply-add (64 B per 96 at 256 bits, against 128 B per 448) but well within L2's bandwidth.
    static readonly int KC = 1024 / sizeof(T);
    static readonly int NC = 512 / NR * NR;
    static readonly int MC = 2016 / MR * MR;

    // Below this many multiply-adds a second thread costs more (pool wake-up, duplicated packing) than it
    // saves: at 96^3 two threads were only ~10% faster than one (0.018 vs 0.020 ms); 64^3 takes ~6 us alone.
    const long ParallelThreshold = 96L * 96 * 96;

    // Up to 32 rows (a recurrent step's batch) B is read in place: the kernel takes B's column panels outermost, so each
    // panel (kc x NR) is read from memory once and from L1 by the other row panels, which costs less than packing B.
    // Measured on one core, 16 x 128 by 128 x 512: 30 -> 23 us at AVX2 (where this was 2 x 6 rows); 32 x 128 by
    // 128 x 512: 52 -> 46 us at AVX2, 28.5 -> 22.2 us at AVX-512 (2 x 14 rows). 48 rows at AVX2 were slower in place.
    const int DirectBMaxRows = 32;

    /// <summary>Elements a transposed block's stores may write past the end of a packed panel buffer.</summary>
    const int Overrun = 64;

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
        else if (p.N >= p.M && p.M > DirectBMaxRows && PackedASize(p) / ARep * sizeof(T) <= MaxPackedABytes)
            RunStrips(p, threads);
        else
            RunParallel(p, threads);
    }

    // The largest whole packed op(A) a thread keeps for RunStrips (n = 1024 fp32: 4.2 MB, twice that where ARep = 2);
    // larger products split as before.
    const int MaxPackedABytes = 8 << 20;

    /// <summary>Elements of the whole op(A) packed block by block: MC-row blocks by KC-deep blocks (RunSingle's blocks).</summary>
    static nint PackedASize(in GemmProblem<T> p)
    {
        int mcStep = McStep(p.M), kcMax = Math.Min(KC, p.K);
        return (nint)CeilDiv(p.M, mcStep) * CeilDiv(p.K, KC) * ABlockSize(mcStep, kcMax, PanelRows(p.M));
    }

    static nint ABlockSize(int mcStep, int kc, int panelRows) => (nint)CeilDiv(mcStep, panelRows) * MR * kc * ARep;

    // Copies of each packed A value (GemmKernel.ARep): 2 on SSE, where the kernel broadcasts a stored pair.
    static int ARep { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => GemmKernel<T, TV, S, P>.ARep; }

    /// <summary>
    /// Columns of C in strips of whole NR panels (one per thread, at most NC wide), handed out one at a time to whichever
    /// thread asks next, so that a worker that starts late (the pool's wake-up, a core busy elsewhere) leaves its strip to
    /// a thread that is free instead of finishing last. A thread packs op(A) block by block during its first strip (as
    /// RunSingle does) and keeps the blocks for its later strips; B is packed strip by strip. A strip runs RunSingle's loops
    /// on its columns: every element of C gets the same kernel and k order as in one thread.
    /// </summary>
    static void RunStrips(GemmProblem<T> p, int threads)
    {
        int units = CeilDiv(p.N, NR);
        int stripUnits = Math.Clamp(CeilDiv(units, threads), 1, Math.Max(1, NC / NR));
        int strips = CeilDiv(units, stripUnits);
        var next = new StrongBox<int>(0);
        Team.Run(threads, threads, _ =>
        {
            T* aAll = null;
            int s;
            while ((s = Interlocked.Increment(ref next.Value) - 1) < strips)
            {
                bool pack = aAll == null;
                if (pack)
                    aAll = Buffer(ref t_aPack, ref t_aCap, PackedASize(p));
                int j0 = s * stripUnits * NR;
                RunStrip(p, aAll, pack, j0, Math.Min(stripUnits * NR, p.N - j0));
            }
        });
    }

    /// <summary>
    /// Columns [j0, j0 + cols) of C: RunSingle's loops on those columns, with op(A)'s blocks at aAll one after another (ic,
    /// then pc), packed here first when packA. Ascending order: a transposed block's stores past its end land in the next
    /// block, packed after it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunStrip(in GemmProblem<T> p, T* aAll, bool packA, int j0, int cols)
    {
        int mcStep = McStep(p.M), kcMax = Math.Min(KC, p.K), panelRows = PanelRows(p.M);
        nint block = ABlockSize(mcStep, kcMax, panelRows);
        T* bPack = Buffer(ref t_bPack, ref t_bCap, (nint)Math.Min(NC, RoundUp(cols, NR)) * kcMax);
        T* spill = Spill();
        T* aBlock = aAll;
        for (int ic = 0; ic < p.M; ic += mcStep)
        {
            int mc = Math.Min(mcStep, p.M - ic);
            for (int pc = 0; pc < p.K; pc += KC, aBlock += block)
            {
                int kc = Math.Min(KC, p.K - pc);
                bool overwrite = pc == 0 && !p.Accumulate;
                if (packA)
                    PackA(p, ic, pc, mc, kc, panelRows, aBlock);
                for (int jc = j0; jc < j0 + cols; jc += NC)
                {
                    int nc = Math.Min(NC, j0 + cols - jc);
                    PackB(p, pc, jc, kc, nc, bPack);
                    MacroKernel(mc, nc, kc, aBlock, panelRows, bPack, kc, NR, p.C + (nint)ic * p.Ldc + jc, p.Ldc, overwrite, spill);
                }
            }
        }
    }

    // Equal-sized row blocks (whole MR panels), so m = MC + a few rows does not cost a second pass over B.
    static int McStep(int m) => RoundUp(CeilDiv(m, CeilDiv(m, MC)), MR);

    // 15 or 16 rows (a batch of 16) as 8 + 8 rather than 14 + 2: two 8-row kernels cost less than a 14-row one plus a
    // nearly empty one, which loads as much of B for 1/7 of the work. Likewise 7 or 8 rows (half a batch of 16) as
    // 4 + 4 rather than 6 + 2 with 6-row tiles.
    static int PanelRows(int m) => MR > 8 && m > MR && m <= 16 ? 8 : MR < 8 && m > MR && m <= 8 ? 4 : MR;

    static T* Spill() => t_spill != null ? t_spill : t_spill = (T*)NativeMemory.AlignedAlloc((nuint)(MR * NR * sizeof(T)), 64);

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
        Team.Run(threads, threads, t =>
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
        int mcStep = McStep(p.M);
        int kcMax = Math.Min(KC, p.K), ncMax = Math.Min(NC, RoundUp(p.N, NR));
        T* aPack = Buffer(ref t_aPack, ref t_aCap, (nint)mcStep * kcMax * ARep);
        T* bPack = Buffer(ref t_bPack, ref t_bCap, (nint)ncMax * kcMax);
        T* spill = Spill();
        // With few rows (DirectBMaxRows), B is read by a few row panels only: packing it would cost about as much as using
        // it (16 x 128 x 512, an LSTM step: 7.6 of 30 us), so the kernel reads B's rows in place when they are
        // contiguous. The k order per element is the packed path's, so results are bit-identical either way.
        bool directB = !p.TransB && p.M <= DirectBMaxRows;
        int panelRows = PanelRows(p.M);

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
                    if (full < p.N && full > 0)
                    {
                        // The ragged last columns: the kernel reads B's last NR columns in place (overlapping the panel
                        // before) and writes only the new ones, instead of packing a zero-padded panel (8 x 128 by
                        // 128 x 512 at AVX2, an LSTM step: 11.3-11.8 -> 10.4-11.0 us on one core).
                        for (int ir = 0; ir < mc; ir += panelRows)
                            Tile(ir, 0, mc, p.N - full, kc, aPack, panelRows, p.BPtr(pc, p.N - NR), p.Ldb, cBlock + full, p.Ldc, overwrite, spill, NR - (p.N - full));
                    }
                    else if (full < p.N)
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
    /// L2. B in place (a few row panels): column panels outer, so the later readers of a B panel find it in L1.
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

    /// <summary>
    /// The tile of C at (ir, jr), by the kernel for its row count: the full MR rows, or 8 or 4 where that is fewer, so that
    /// e.g. m = 256 = 18 x 14 + 4 does not spend a 14-row kernel on the last 4 rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tile(int ir, int jr, int mc, int nc, int kc, T* aPack, int panelRows, T* bPanel, int bRowStep, T* c, int ldc, bool overwrite, T* spill, int skip = 0)
    {
        int rows = Math.Min(panelRows, mc - ir), cols = Math.Min(NR, nc - jr);
        T* aPanel = aPack + (nint)(ir / panelRows) * MR * kc * ARep, cTile = c + (nint)ir * ldc + jr;
        if (rows <= 4 && MR > 4)
            GemmKernel<T, TV, S, P>.Run<Rows4>(kc, aPanel, bPanel, bRowStep, cTile, ldc, rows, cols, overwrite, spill, skip);
        else if (rows <= 8 && MR > 8)
            GemmKernel<T, TV, S, P>.Run<Rows8>(kc, aPanel, bPanel, bRowStep, cTile, ldc, rows, cols, overwrite, spill, skip);
        else
            GemmKernel<T, TV, S, P>.Run<P>(kc, aPanel, bPanel, bRowStep, cTile, ldc, rows, cols, overwrite, spill, skip);
    }

    /// <summary>
    /// Packs op(A)[ic.., pc..] (mc x kc) as consecutive MR-row micro-panels (or panelRows rows each, padded to MR),
    /// each stored k-major (MR values per k step), rows past the panel's padded with zeros so the kernel never needs
    /// a row count; then every value twice where ARep = 2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackA(in GemmProblem<T> p, int ic, int pc, int mc, int kc, int panelRows, T* dst)
    {
        int panels = 0;
        if (panelRows < MR) // short panels: one group of rows per MR-wide panel
        {
            for (int r = 0; r < mc; r += panelRows, panels++)
                PackPanels(p, ic + r, pc, Math.Min(panelRows, mc - r), kc, dst + (nint)panels * MR * kc);
        }
        else
        {
            PackPanels(p, ic, pc, mc, kc, dst);
            panels = CeilDiv(mc, MR);
        }
        if (ARep == 2)
            Pair(dst, (nint)panels * MR * kc);
    }

    /// <summary>op(A)[ic.., pc..] (mc x kc) as MR-row micro-panels, one value per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PackPanels(in GemmProblem<T> p, int ic, int pc, int mc, int kc, T* dst)
    {
        if (p.TransA)
            PackAlongRows(p.APtr(ic, pc), p.Lda, kc, mc, MR, dst); // stored k x m: op(A) rows are contiguous per k
        else
            PackAcrossRows(p.APtr(ic, pc), p.Lda, kc, mc, MR, dst); // stored m x k: transpose while packing
    }

    /// <summary>
    /// Writes each of the count values at buf twice, in place (buf[2i] = buf[2i + 1] = old buf[i]): from the end down, so
    /// that every value is read before a write reaches it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pair(T* buf, nint count)
    {
        float* f = (float*)buf; // ARep = 2 only for float on SSE
        nint i = count - 1;
        for (; i >= count / 4 * 4; i--)
            f[2 * i] = f[2 * i + 1] = f[i];
        for (i -= 3; i >= 0; i -= 4)
        {
            var v = Sse.LoadVector128(f + i);
            Sse.Store(f + 2 * i, Sse.UnpackLow(v, v));
            Sse.Store(f + 2 * i + 4, Sse.UnpackHigh(v, v));
        }
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
    /// Source row kk (at src + kk * ld) holds the kk-th k step of all `extent` panel elements: each panel takes `width`
    /// elements from every row. Panel by panel, so the writes run straight through the pack buffer: k step by k step
    /// across all panels scattered them over every panel's lines (an LSTM's weight gradient dG^T x, 800 x 512 by 800 x 40,
    /// took 0.90 ms instead of 0.51 at AVX2), while the rows read stay in L1 for the next panels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PackAlongRows(T* src, int ld, int kc, int extent, int width, T* dst)
    {
        for (int q = 0; q < extent; q += width, src += width)
        {
            int count = Math.Min(width, extent - q);
            T* s = src;
            for (int kk = 0; kk < kc; kk++, s += ld, dst += width)
            {
                if (count == width)
                    Unsafe.CopyBlockUnaligned(dst, s, (uint)(width * sizeof(T)));
                else
                    CopyPadded(s, dst, count, width);
            }
        }
    }

    /// <summary>
    /// Source row r (at src + r * ld) holds element r of the panels for all kc steps: transpose it into
    /// dst[kk * width + r], padding the last panel with zero rows. Whole V x V blocks (V = lanes per vector)
    /// go through the width's vector transpose; the k tail (and everything at the scalar width) is element-wise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackAcrossRows(T* src, int ld, int kc, int extent, int width, T* dst)
    {
        int v = S.Lanes;
        for (int r0 = 0; r0 < extent; r0 += width, dst += (nint)width * kc, src += (nint)width * ld)
        {
            int rows = Math.Min(width, extent - r0), kk = 0;
            if (v > 1)
            {
                for (; kk + v <= kc; kk += v)
                {
                    // Row groups in descending order: a group whose V-lane stores run past the panel width
                    // spills into the next k step's first lanes, which group 0 then overwrites.
                    for (int g = (width - 1) / v * v; g >= 0; g -= v)
                        S.Transpose(src + (nint)g * ld + kk, ld, rows - g, dst + (nint)kk * width + g, width);
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
        int i = 0, v = S.Lanes;
        for (; i + v <= count; i += v) S.Store(S.Load(src + i), dst + i);
        for (; i < count; i++)
            dst[i] = src[i];
        for (; i + v <= width; i += v) S.Store(S.Splat(T.Zero), dst + i);
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
        elements += Overrun;
        if (capacity < elements)
        {
            NativeMemory.AlignedFree(buffer);
            buffer = (T*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(T)), 64);
            capacity = elements;
        }
        return buffer;
    }
}

/// <summary>A compile-time row count for the micro-kernel (static abstract, so the JIT folds it per struct type).</summary>
internal interface IRowCount { static abstract int Count { get; } }
internal struct Rows8 : IRowCount { public static int Count => 8; }
internal struct Rows4 : IRowCount { public static int Count => 4; }

/// <summary>A register tile: <see cref="IRowCount.Count"/> rows (at most 14) by <see cref="Vectors"/> vectors (2 or 3).</summary>
internal interface IGemmTile : IRowCount { static abstract int Vectors { get; } }
internal struct Tile14x2 : IGemmTile { public static int Count => 14; public static int Vectors => 2; }
internal struct Tile8x3 : IGemmTile { public static int Count => 8; public static int Vectors => 3; }
internal struct Tile6x2 : IGemmTile { public static int Count => 6; public static int Vectors => 2; }
internal struct Tile4x3 : IGemmTile { public static int Count => 4; public static int Vectors => 3; }

/// <summary>
/// The micro-kernel: C[0..rows, 0..cols) (+)= sum over k of Apanel[k, 0..MR) outer Bpanel[k, 0..NR), with the
/// whole tile held in vector registers. Per k step: load the NR-wide row of B (P.Vectors vectors), then for
/// every row broadcast one A value and issue one FMA per B vector.
/// </summary>
internal static unsafe class GemmKernel<T, TV, S, P>
    where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> where P : struct, IGemmTile
{
    // AVX-512 has 32 vector registers: 14 x 2 accumulators + 2 B vectors + 1 broadcast = 31, no spills
    // (checked in the JIT disassembly). 28 independent FMA chains per k step hide the FMA latency, and
    // 16 loads per 28 FMAs keep the load ports well below saturation. Measured: ~93% of the FMA peak of
    // one Zen 4 core (single thread 105-110 of 116 GFLOP/s fp32). The other tiles follow the same rule for
    // their register files (GemmCall).

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

    /// <summary>
    /// R.Count x (P.Vectors vectors) tile, R.Count &lt;= P.Count. The A panel is always packed P.Count wide; the shorter
    /// instantiations only serve the last row panel of a block. The JIT specializes the method per R and P and drops the
    /// unused rows and vectors. rows/cols give the valid part of the tile (edge tiles): its first
    /// rows rows, and cols columns from column skip on. Row k of the B panel is at
    /// b + k * ldb: ldb = NR when B is packed, B's own row stride when it is read in place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<R>(int kc, T* a, T* b, int ldb, T* c, int ldc, int rows, int cols, bool overwrite, T* spill, int skip = 0)
        where R : struct, IRowCount
    {
        int w = S.Lanes, nr = P.Vectors * w;
        bool three = P.Vectors > 2;
        TV c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default,
            c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default,
            c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default,
            c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default,
            c80 = default, c81 = default, c90 = default, c91 = default, cA0 = default, cA1 = default,
            cB0 = default, cB1 = default, cC0 = default, cC1 = default, cD0 = default, cD1 = default;
        PrefetchTile(c, ldc, Math.Min(rows, R.Count), nr);

        nint bStep = ldb; // widened once, not per k step
        for (int p = 0; p < kc; p++, a += P.Count * ARep, b += bStep)
        {
            TV b0 = S.Load(b), b1 = S.Load(b + w), b2 = three ? S.Load(b + 2 * w) : default, x;
            { x = Broadcast(a, 0); c00 = S.Fma(x, b0, c00); c01 = S.Fma(x, b1, c01); if (three) c02 = S.Fma(x, b2, c02); }
            if (R.Count > 1) { x = Broadcast(a, 1); c10 = S.Fma(x, b0, c10); c11 = S.Fma(x, b1, c11); if (three) c12 = S.Fma(x, b2, c12); }
            if (R.Count > 2) { x = Broadcast(a, 2); c20 = S.Fma(x, b0, c20); c21 = S.Fma(x, b1, c21); if (three) c22 = S.Fma(x, b2, c22); }
            if (R.Count > 3) { x = Broadcast(a, 3); c30 = S.Fma(x, b0, c30); c31 = S.Fma(x, b1, c31); if (three) c32 = S.Fma(x, b2, c32); }
            if (R.Count > 4) { x = Broadcast(a, 4); c40 = S.Fma(x, b0, c40); c41 = S.Fma(x, b1, c41); if (three) c42 = S.Fma(x, b2, c42); }
            if (R.Count > 5) { x = Broadcast(a, 5); c50 = S.Fma(x, b0, c50); c51 = S.Fma(x, b1, c51); if (three) c52 = S.Fma(x, b2, c52); }
            if (R.Count > 6) { x = Broadcast(a, 6); c60 = S.Fma(x, b0, c60); c61 = S.Fma(x, b1, c61); if (three) c62 = S.Fma(x, b2, c62); }
            if (R.Count > 7) { x = Broadcast(a, 7); c70 = S.Fma(x, b0, c70); c71 = S.Fma(x, b1, c71); if (three) c72 = S.Fma(x, b2, c72); }
            // Rows 8-13 exist only in two-vector tiles (14 x 3 would not fit in 32 registers).
            if (R.Count > 8) { x = Broadcast(a, 8); c80 = S.Fma(x, b0, c80); c81 = S.Fma(x, b1, c81); }
            if (R.Count > 9) { x = Broadcast(a, 9); c90 = S.Fma(x, b0, c90); c91 = S.Fma(x, b1, c91); }
            if (R.Count > 10) { x = Broadcast(a, 10); cA0 = S.Fma(x, b0, cA0); cA1 = S.Fma(x, b1, cA1); }
            if (R.Count > 11) { x = Broadcast(a, 11); cB0 = S.Fma(x, b0, cB0); cB1 = S.Fma(x, b1, cB1); }
            if (R.Count > 12) { x = Broadcast(a, 12); cC0 = S.Fma(x, b0, cC0); cC1 = S.Fma(x, b1, cC1); }
            if (R.Count > 13) { x = Broadcast(a, 13); cD0 = S.Fma(x, b0, cD0); cD1 = S.Fma(x, b1, cD1); }
        }

        // Full tiles go straight to C; edge tiles go through a scratch tile and a scalar copy of the valid part.
        bool full = rows == R.Count && cols == nr;
        T* dst = full ? c : spill;
        nint ld = full ? ldc : nr;
        bool ow = overwrite || !full;
        Store(dst + 0 * ld, c00, c01, c02, ow);
        if (R.Count > 1) Store(dst + 1 * ld, c10, c11, c12, ow);
        if (R.Count > 2) Store(dst + 2 * ld, c20, c21, c22, ow);
        if (R.Count > 3) Store(dst + 3 * ld, c30, c31, c32, ow);
        if (R.Count > 4) Store(dst + 4 * ld, c40, c41, c42, ow);
        if (R.Count > 5) Store(dst + 5 * ld, c50, c51, c52, ow);
        if (R.Count > 6) Store(dst + 6 * ld, c60, c61, c62, ow);
        if (R.Count > 7) Store(dst + 7 * ld, c70, c71, c72, ow);
        if (R.Count > 8) Store(dst + 8 * ld, c80, c81, default, ow);
        if (R.Count > 9) Store(dst + 9 * ld, c90, c91, default, ow);
        if (R.Count > 10) Store(dst + 10 * ld, cA0, cA1, default, ow);
        if (R.Count > 11) Store(dst + 11 * ld, cB0, cB1, default, ow);
        if (R.Count > 12) Store(dst + 12 * ld, cC0, cC1, default, ow);
        if (R.Count > 13) Store(dst + 13 * ld, cD0, cD1, default, ow);
        if (!full)
            WriteEdge(spill + skip, nr, c, ldc, rows, cols, overwrite);
    }

    /// <summary>
    /// Copies of each value in the packed A panels: 2 for float on x64 without AVX (SSE, 128 bits), where one MOVDDUP
    /// loads a stored pair as the broadcast, SSE having no broadcast load (MOVSS + SHUFPS otherwise): 42 instead of 48
    /// instructions per k step of the 6 x 2 tile, 10-14% less time (256 x 256 x 256, 16 x 256 x 768, one core). NEON and
    /// the wider widths broadcast in one instruction. Packing writes the pairs after the panels (PackA).
    /// </summary>
    public static int ARep
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => typeof(T) == typeof(float) && sizeof(TV) == 16 && Sse3.IsSupported && !Avx.IsSupported ? 2 : 1;
    }

    /// <summary>Row i's A value of the k step at a, in every lane (ARep = 2: the pair a[2i], a[2i + 1] holds it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Broadcast(T* a, int i)
    {
        if (ARep == 2)
        {
            var v = Vector128.Create(((double*)a)[i]).AsSingle();
            return Unsafe.As<Vector128<float>, TV>(ref v);
        }
        return S.Splat(a[i]);
    }

    /// <summary>One row of the tile: P.Vectors vectors at dst, added to what is there unless overwrite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(T* dst, TV v0, TV v1, TV v2, bool overwrite)
    {
        int w = S.Lanes;
        if (!overwrite)
        {
            v0 = S.Add(v0, S.Load(dst));
            v1 = S.Add(v1, S.Load(dst + w));
            if (P.Vectors > 2)
                v2 = S.Add(v2, S.Load(dst + 2 * w));
        }
        S.Store(v0, dst);
        S.Store(v1, dst + w);
        if (P.Vectors > 2)
            S.Store(v2, dst + 2 * w);
    }

    /// <summary>
    /// Copies the valid rows x cols corner of a scratch tile into C (partial tiles at the matrix edges), whole vectors first.
    /// Edge tiles are common where C is narrow (40 columns are a 24- and a 16-column tile at AVX-512): element by element,
    /// this copy held 15-20% of the samples of a Conv1d forward that ran one 40-column GEMM per item.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void WriteEdge(T* tile, int ldt, T* c, int ldc, int rows, int cols, bool overwrite)
    {
        int w = S.Lanes;
        for (int i = 0; i < rows; i++, tile += ldt, c += ldc)
        {
            int j = 0;
            for (; j + w <= cols; j += w)
                S.Store(overwrite ? S.Load(tile + j) : S.Add(S.Load(c + j), S.Load(tile + j)), c + j);
            for (; j < cols; j++)
                c[j] = overwrite ? tile[j] : c[j] + tile[j];
        }
    }
}
