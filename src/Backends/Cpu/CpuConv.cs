using System.Buffers;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// Conv1d of stride 1 and dilation 1 with 2 to 7 taps and 8 or more channels per group goes by Winograd's transforms
// (CpuWinograd.cs): 2/5 of the multiply-adds for kernel 5. Everything else, one batch item at a time (or, for items of
// under 128 output positions, a block of items side by side: ItemsPerBlock): the item's windows (im2col) are made in a
// per-core buffer right before its GEMMs read them, while they are in cache (never as a whole-batch tensor, five times
// the input: the backward makes them again from x), and each (item, group) GEMM, weight (O_g, C_g k) times windows
// (C_g k, L_out), writes straight into the output, with the bias as its initial value (a block's GEMM writes a buffer
// whose rows then go to the output, bias added). Items go to the cores (each core taking the next item when free), each
// item's GEMMs then running on one core; with fewer items than cores the items run in turn and each GEMM splits over
// the cores. The backward: per item, W^T dy folded back (col2im) into dx; dW = sum over the items (or blocks) of
// dy_n windows_n^T, by slabs of the batch fixed by its size (see ConvBackward); db by rows, each summing the items in
// order: every result has the same bits whatever the core count, and y and dx the same as each item alone.
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public RawTensor Conv1d(RawTensor x, RawTensor weight, RawTensor? bias, int stride, int dilation, int padLeft, int lOut, int groups)
    {
        var g = ConvGeometry.Of("Conv1d", x.Shape, weight, groups, stride, dilation, padLeft, lOut);
        var y = CpuTensor.Alloc([g.N, g.O, lOut], x.DType);
        if (x.DType == DType.Float32) ConvForward((float[])C(x).Data, (float[])C(weight).Data, (float[]?)(bias is null ? null : C(bias).Data), (float[])y.Data, g);
        else ConvForward((double[])C(x).Data, (double[])C(weight).Data, (double[]?)(bias is null ? null : C(bias).Data), (double[])y.Data, g);
        return y;
    }

    /// <inheritdoc/>
    public (RawTensor? Dx, RawTensor? Dw, RawTensor? Db) Conv1dBackward(RawTensor gy, RawTensor? x, RawTensor weight, int length, int stride, int dilation, int padLeft, int groups, bool inputGrad, bool biasGrad)
    {
        if (gy.Rank != 3 || gy.Shape[1] != weight.Shape[0] || gy.DType != weight.DType)
            throw new ArgumentException($"Conv1dBackward: the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}) does not fit the weight ({Shapes.Format(weight.Shape)}, {weight.DType}); expected (N, {weight.Shape[0]}, L_out) of its dtype");
        var g = ConvGeometry.Of("Conv1dBackward", [gy.Shape[0], weight.Shape[1] * groups, length], weight, groups, stride, dilation, padLeft, gy.Shape[2]);
        if (x is not null && (!Shapes.Equal(x.Shape, [g.N, g.C, length]) || x.DType != gy.DType))
            throw new ArgumentException($"Conv1dBackward: the input ({Shapes.Format(x.Shape)}, {x.DType}) does not fit the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}); expected [{g.N},{g.C},{length}] of its dtype");
        var dx = inputGrad ? CpuTensor.Alloc([g.N, g.C, length], gy.DType) : null;
        var dw = x is not null ? CpuTensor.Alloc(weight.Shape, gy.DType) : null;
        var db = biasGrad ? CpuTensor.Alloc([g.O], gy.DType) : null;
        if (gy.DType == DType.Float32)
            ConvBackward((float[])C(gy).Data, (float[]?)(x is null ? null : C(x).Data), (float[])C(weight).Data, (float[]?)dx?.Data, (float[]?)dw?.Data, (float[]?)db?.Data, g);
        else
            ConvBackward((double[])C(gy).Data, (double[]?)(x is null ? null : C(x).Data), (double[])C(weight).Data, (double[]?)dx?.Data, (double[]?)dw?.Data, (double[]?)db?.Data, g);
        return (dx, dw, db);
    }

    /// <summary>Sizes: N items, C input channels (Cg per group), O outputs (Og per group), K taps, windows Win.</summary>
    readonly record struct ConvGeometry(int N, int C, int O, int K, int Groups, int LOut, Win Win)
    {
        public int Cg => C / Groups;
        public int Og => O / Groups;
        public int CgK => Cg * K;

        public static ConvGeometry Of(string op, int[] xShape, RawTensor weight, int groups, int stride, int dilation, int padLeft, int lOut)
        {
            if (xShape.Length != 3 || weight.Rank != 3 || groups <= 0 || weight.Shape[0] % groups != 0 || xShape[1] != weight.Shape[1] * groups || !weight.DType.IsFloating())
                throw new ArgumentException($"{op}: input {Shapes.Format(xShape)} and weight {Shapes.Format(weight.Shape)} ({weight.DType}) with groups = {groups} do not fit; expected (N, C, L) and floating (O, C / groups, kernel), O divisible by groups");
            if (stride <= 0 || dilation <= 0 || padLeft < 0 || lOut < 0)
                throw new ArgumentException($"{op}: got stride {stride}, dilation {dilation}, padLeft {padLeft}, lOut {lOut}; expected stride and dilation > 0 and padLeft, lOut >= 0");
            int k = weight.Shape[2];
            return new(xShape[0], xShape[1], weight.Shape[0], k, groups, lOut, new Win(xShape[2], k, stride, dilation, padLeft, lOut));
        }
    }

    /// <summary>Runs item(n, part) for every batch item (or block of items, n counting blocks): over the cores (part = the
    /// core's index), each taking the next item when it is free (a core another process holds back takes fewer; every
    /// item's result is the same on any core), or in turn on this thread (part 0) when there are fewer items than cores,
    /// the GEMMs then splitting over the cores themselves.</summary>
    static void ForItems(int n, Action<int, int> item)
    {
        int parts = Math.Min(Par.Cores, n);
        if (parts < 2) { for (int i = 0; i < n; i++) item(i, 0); return; }
        int next = -1;
        Par.Parts(parts, p => { for (int i; (i = Interlocked.Increment(ref next)) < n;) item(i, p); });
    }

    static unsafe void ConvForward<T>(T[] x, T[] w, T[]? bias, T[] y, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.N == 0) return;
        if (UsesWinograd(g)) { WinogradForward(x, w, bias, y, g); return; }
        int items = ItemsPerBlock(g), blocks = (g.N + items - 1) / items, ldw = items * g.LOut;
        int parts = Math.Max(1, Math.Min(Par.Cores, blocks));
        // W_g^T (C_g k, O_g) per group, once: the GEMMs then pack W by row copies instead of transposing it for every item.
        var wT = ArrayPool<T>.Shared.Rent(w.Length);
        for (int gr = 0; gr < g.Groups; gr++)
            for (int o = 0; o < g.Og; o++)
                for (int j = 0; j < g.CgK; j++)
                    wT[gr * g.Og * g.CgK + j * g.Og + o] = w[(gr * g.Og + o) * g.CgK + j];
        var scratch = new T[parts][]; // per core: one block's windows
        var outputs = new T[parts][]; // per core, blocks of several items: the GEMM's (O_g, items L_out) before it goes to y
        ForItems(blocks, (blk, p) =>
        {
            int n0 = blk * items, count = Math.Min(items, g.N - n0);
            T[] c = Windows(x, n0, count, ldw, g, scratch[p] ??= ArrayPool<T>.Shared.Rent(g.C * g.K * ldw));
            T[]? tmp = items == 1 ? null : outputs[p] ??= ArrayPool<T>.Shared.Rent(g.Og * ldw);
            if (tmp is null && bias is not null)
                for (int o = 0; o < g.O; o++) y.AsSpan((n0 * g.O + o) * g.LOut, g.LOut).Fill(bias[o]);
            fixed (T* pw = wT, pc = c, py = y, pt = tmp)
                for (int gr = 0; gr < g.Groups; gr++)
                {
                    T* wg = pw + gr * g.Og * g.CgK, cg = pc + gr * g.CgK * ldw;
                    if (pt == null) // one item: straight into y, on top of the bias
                    {
                        GemmT(true, false, g.Og, g.LOut, g.CgK, wg, g.Og, cg, g.LOut, py + (n0 * g.O + gr * g.Og) * g.LOut, g.LOut, accumulate: bias is not null);
                        continue;
                    }
                    // Several short items in one GEMM (their windows side by side), then each item's rows to y with the
                    // bias added: bias + sum, as the one-item path, so the bits are the same either way.
                    GemmT(true, false, g.Og, count * g.LOut, g.CgK, wg, g.Og, cg, ldw, pt, ldw, accumulate: false);
                    for (int i = 0; i < count; i++)
                        for (int o = 0; o < g.Og; o++)
                        {
                            var src = tmp!.AsSpan(o * ldw + i * g.LOut, g.LOut);
                            var dst = y.AsSpan(((n0 + i) * g.O + gr * g.Og + o) * g.LOut, g.LOut);
                            if (bias is null) src.CopyTo(dst);
                            else TP.Add(src, bias[gr * g.Og + o], dst);
                        }
                }
        });
        foreach (var c in scratch) if (c is not null) ArrayPool<T>.Shared.Return(c);
        foreach (var c in outputs) if (c is not null) ArrayPool<T>.Shared.Return(c);
        ArrayPool<T>.Shared.Return(wT);
    }

    // Items shorter than this many output positions go to the GEMMs several at a time, their windows side by side: one
    // GEMM of a few dozen columns per item (9,600 items of L = 40, one channel in, 8 out) cost more in the GEMM's per-call
    // work and its edge tiles than in multiply-adds.
    const int BlockColumns = 256;

    /// <summary>How many items go through one GEMM: 1 from L_out = BlockColumns / 2 up, else enough for BlockColumns columns.</summary>
    static int ItemsPerBlock(ConvGeometry g) => g.LOut * 2 >= BlockColumns || g.N < 2 ? 1 : Math.Min(g.N, BlockColumns / Math.Max(1, g.LOut));

    /// <summary>The windows of items [n0, n0 + count) into buffer: (C K, ldw), item i's (C, K, L_out) windows, as Unfold1d
    /// makes them, in the columns [i L_out, (i + 1) L_out); returns it.</summary>
    static T[] Windows<T>(T[] x, int n0, int count, int ldw, ConvGeometry g, T[] buffer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < count; i++)
            for (int ch = 0; ch < g.C; ch++)
                UnfoldRow<T>(x.AsSpan(((n0 + i) * g.C + ch) * g.Win.L, g.Win.L), buffer.AsSpan(ch * g.K * ldw + i * g.LOut), g.Win, T.Zero, ldw);
        return buffer;
    }

    // The batch is cut into at most MaxSlabs slabs, by its size alone (never by the core count), and the cores take whole
    // slabs: per item dx (W^T dy into a per-core buffer, folded), and the slab's own dW^T, its items' windows_n dy_n^T (the
    // windows made again from x into a per-core buffer) summed in order; then dW = (slab 0 + slab 1 + ...)^T in slab order.
    // Each core packs only its own items' operands (splitting dW by rows instead would make every core transpose every
    // item's windows). dW^T rather than dW: 200 x 128 fills the register tiles better than 128 x 200 (Conv1d 40 -> 128,
    // k 5, one core: 12% faster at AVX-512, 4% at AVX2).
    const int MaxSlabs = 8;

    static unsafe void ConvBackward<T>(T[] gy, T[]? x, T[] w, T[]? dx, T[]? dw, T[]? db, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.N == 0) { dw?.AsSpan().Clear(); db?.AsSpan().Clear(); return; }
        if (UsesWinograd(g)) { WinogradBackward(gy, x, w, dx, dw, db, g); return; }
        int slabs = Math.Min(g.N, MaxSlabs), parts = Math.Min(Par.Cores, slabs), wSize = g.O * g.CgK;
        int items = ItemsPerBlock(g), ldw = items * g.LOut;
        var scratch = new T[Math.Max(1, parts)][];
        var windows = new T[Math.Max(1, parts)][];
        var gathered = new T[Math.Max(1, parts)][]; // blocks of several items: dy's rows of a group, (O_g, items L_out)
        var partial = new T[slabs][]; // per slab and group: dW_g^T (C_g k, O_g)
        if (dx is not null || dw is not null)
            ForSlabs(slabs, parts, (s, p) =>
            {
                T[]? d = dx is null ? null : scratch[p] ??= ArrayPool<T>.Shared.Rent(g.CgK * ldw);
                T[]? acc = dw is null ? null : partial[s] = ArrayPool<T>.Shared.Rent(wSize);
                T[]? win = dw is null ? null : windows[p] ??= ArrayPool<T>.Shared.Rent(g.C * g.K * ldw);
                T[]? gyB = items == 1 ? null : gathered[p] ??= ArrayPool<T>.Shared.Rent(g.Og * ldw);
                int s0 = g.N * s / slabs, s1 = g.N * (s + 1) / slabs;
                fixed (T* pw = w, pg = gy, pd = d, pc = win, pa = acc, pb = gyB)
                    for (int n0 = s0; n0 < s1; n0 += items)
                    {
                        int count = Math.Min(items, s1 - n0), cols = count * g.LOut;
                        if (win is not null) Windows(x!, n0, count, ldw, g, win);
                        for (int gr = 0; gr < g.Groups; gr++)
                        {
                            // The group's dy rows of the block, (O_g, cols) with row stride ld: in place for one item.
                            T* dyB = pg + (n0 * g.O + gr * g.Og) * g.LOut;
                            int ld = g.LOut;
                            if (pb != null)
                            {
                                for (int i = 0; i < count; i++)
                                    for (int o = 0; o < g.Og; o++)
                                        gy.AsSpan(((n0 + i) * g.O + gr * g.Og + o) * g.LOut, g.LOut).CopyTo(gyB.AsSpan(o * ldw + i * g.LOut, g.LOut));
                                dyB = pb;
                                ld = ldw;
                            }
                            if (d is not null)
                            {
                                GemmT(true, false, g.CgK, cols, g.Og, pw + gr * g.Og * g.CgK, g.CgK, dyB, ld, pd, ld, accumulate: false);
                                for (int i = 0; i < count; i++)
                                    for (int c = 0; c < g.Cg; c++)
                                        FoldRow<T>(d.AsSpan(c * g.K * ld + i * g.LOut), dx!.AsSpan(((n0 + i) * g.C + gr * g.Cg + c) * g.Win.L, g.Win.L), g.Win, ld);
                            }
                            if (acc is not null)
                                GemmT(false, true, g.CgK, g.Og, cols, pc + gr * g.CgK * ld, ld, dyB, ld, pa + gr * g.CgK * g.Og, g.Og, accumulate: n0 > s0);
                        }
                    }
            });
        foreach (var d in scratch) if (d is not null) ArrayPool<T>.Shared.Return(d);
        foreach (var c in windows) if (c is not null) ArrayPool<T>.Shared.Return(c);
        foreach (var c in gathered) if (c is not null) ArrayPool<T>.Shared.Return(c);
        if (dw is null && db is null) return;
        // dW^T's rows (group, tap j): the slabs summed in order, then written to dW's column; db's rows, each summing the
        // items in order. Both split over the cores by rows.
        int rowsT = g.Groups * g.CgK;
        Par.For(Math.Max(rowsT, g.O), (long)slabs * g.Og + (db is null ? 0 : g.N * g.LOut * g.O / Math.Max(rowsT, g.O)), (r0, r1) =>
        {
            if (dw is not null)
            {
                var row = new T[g.Og];
                for (int r = r0; r < Math.Min(r1, rowsT); r++)
                {
                    int gr = r / g.CgK, j = r % g.CgK;
                    partial[0].AsSpan(r * g.Og, g.Og).CopyTo(row);
                    for (int s = 1; s < slabs; s++) TP.Add(row, partial[s].AsSpan(r * g.Og, g.Og), row);
                    for (int o = 0; o < g.Og; o++) dw[(gr * g.Og + o) * g.CgK + j] = row[o];
                }
            }
            if (db is not null)
                for (int o = r0; o < Math.Min(r1, g.O); o++) db[o] = BiasGrad(gy, o, g);
        });
        foreach (var a in partial) if (a is not null) ArrayPool<T>.Shared.Return(a);
    }

    /// <summary>db[o]: output channel o's gradient summed over each item in order.</summary>
    static T BiasGrad<T>(T[] gy, int o, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T sum = T.Zero;
        for (int n = 0; n < g.N; n++) sum += TP.Sum<T>(gy.AsSpan((n * g.O + o) * g.LOut, g.LOut));
        return sum;
    }

    /// <summary>Runs slab(s, part) for every slab, each core taking the next one when it is free, or in turn on this thread.</summary>
    static void ForSlabs(int slabs, int parts, Action<int, int> slab)
    {
        if (parts < 2) { for (int s = 0; s < slabs; s++) slab(s, 0); return; }
        int next = -1;
        Par.Parts(parts, p => { for (int s; (s = Interlocked.Increment(ref next)) < slabs;) slab(s, p); });
    }

    static unsafe void GemmT<T>(bool transA, bool transB, int m, int n, int k, T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Gemm.Sgemm(transA, transB, m, n, k, (float*)a, lda, (float*)b, ldb, (float*)c, ldc, accumulate);
        else Gemm.Dgemm(transA, transB, m, n, k, (double*)a, lda, (double*)b, ldb, (double*)c, ldc, accumulate);
    }
}
