using System.Buffers;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// Conv1d of stride 1 and dilation 1 with 2 to 7 taps and 8 or more channels per group goes by Winograd's transforms
// (CpuWinograd.cs): 2/5 of the multiply-adds for kernel 5. Everything else, one batch item at a time: the item's
// windows (im2col) are made in a per-core buffer right before its GEMMs read them, while they are in cache (never as a
// whole-batch tensor, five times the input: the backward makes them again from x), and each (item, group) GEMM, weight
// (O_g, C_g k) times windows (C_g k, L_out), writes straight into the output, with the bias as its initial value. Items
// go to the cores (each core taking the next item when free), each item's GEMMs then running on one core; with fewer
// items than cores the items run in turn and each GEMM splits over the cores. The backward: per item, W^T dy folded
// back (col2im) into dx; dW = sum over the items of dy_n windows_n^T, by slabs of the batch fixed by its size (see
// ConvBackward); db by rows, each summing the items in order: every result has the same bits whatever the core count.
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

    /// <summary>Runs item(n, part) for every batch item: over the cores (part = the core's index), each taking the next item
    /// when it is free (a core another process holds back takes fewer; every item's result is the same on any core), or in
    /// turn on this thread (part 0) when there are fewer items than cores, the GEMMs then splitting over the cores themselves.</summary>
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
        int parts = Math.Max(1, Math.Min(Par.Cores, g.N));
        // W_g^T (C_g k, O_g) per group, once: the GEMMs then pack W by row copies instead of transposing it for every item.
        var wT = ArrayPool<T>.Shared.Rent(w.Length);
        for (int gr = 0; gr < g.Groups; gr++)
            for (int o = 0; o < g.Og; o++)
                for (int j = 0; j < g.CgK; j++)
                    wT[gr * g.Og * g.CgK + j * g.Og + o] = w[(gr * g.Og + o) * g.CgK + j];
        var scratch = new T[parts][]; // per core: one item's windows
        ForItems(g.N, (n, p) =>
        {
            T[] c = Windows(x, n, g, scratch[p] ??= ArrayPool<T>.Shared.Rent(g.C * g.K * g.LOut));
            if (bias is not null)
                for (int o = 0; o < g.O; o++) y.AsSpan((n * g.O + o) * g.LOut, g.LOut).Fill(bias[o]);
            fixed (T* pw = wT, pc = c, py = y)
                for (int gr = 0; gr < g.Groups; gr++)
                    GemmT(true, false, g.Og, g.LOut, g.CgK, pw + gr * g.Og * g.CgK, g.Og, pc + gr * g.CgK * g.LOut, g.LOut,
                        py + (n * g.O + gr * g.Og) * g.LOut, g.LOut, accumulate: bias is not null);
        });
        foreach (var c in scratch) if (c is not null) ArrayPool<T>.Shared.Return(c);
        ArrayPool<T>.Shared.Return(wT);
    }

    /// <summary>Item n's windows (C, K, L_out), as Unfold1d makes them, into buffer; returns it.</summary>
    static T[] Windows<T>(T[] x, int n, ConvGeometry g, T[] buffer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int ch = 0; ch < g.C; ch++)
            UnfoldRow<T>(x.AsSpan((n * g.C + ch) * g.Win.L, g.Win.L), buffer.AsSpan(ch * g.K * g.LOut, g.K * g.LOut), g.Win, T.Zero);
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
        var scratch = new T[Math.Max(1, parts)][];
        var windows = new T[Math.Max(1, parts)][];
        var partial = new T[slabs][]; // per slab and group: dW_g^T (C_g k, O_g)
        if (dx is not null || dw is not null)
            ForSlabs(slabs, parts, (s, p) =>
            {
                T[]? d = dx is null ? null : scratch[p] ??= ArrayPool<T>.Shared.Rent(g.CgK * g.LOut);
                T[]? acc = dw is null ? null : partial[s] = ArrayPool<T>.Shared.Rent(wSize);
                T[]? win = dw is null ? null : windows[p] ??= ArrayPool<T>.Shared.Rent(g.C * g.K * g.LOut);
                int n0 = g.N * s / slabs, n1 = g.N * (s + 1) / slabs;
                fixed (T* pw = w, pg = gy, pd = d, pc = win, pa = acc)
                    for (int n = n0; n < n1; n++)
                    {
                        if (win is not null) Windows(x!, n, g, win);
                        for (int gr = 0; gr < g.Groups; gr++)
                        {
                            T* gyNg = pg + (n * g.O + gr * g.Og) * g.LOut;
                            if (d is not null)
                            {
                                GemmT(true, false, g.CgK, g.LOut, g.Og, pw + gr * g.Og * g.CgK, g.CgK, gyNg, g.LOut, pd, g.LOut, accumulate: false);
                                for (int c = 0; c < g.Cg; c++)
                                    FoldRow<T>(d.AsSpan(c * g.K * g.LOut, g.K * g.LOut), dx!.AsSpan((n * g.C + gr * g.Cg + c) * g.Win.L, g.Win.L), g.Win);
                            }
                            if (acc is not null)
                                GemmT(false, true, g.CgK, g.Og, g.LOut, pc + gr * g.CgK * g.LOut, g.LOut, gyNg, g.LOut, pa + gr * g.CgK * g.Og, g.Og, accumulate: n > n0);
                        }
                    }
            });
        foreach (var d in scratch) if (d is not null) ArrayPool<T>.Shared.Return(d);
        foreach (var c in windows) if (c is not null) ArrayPool<T>.Shared.Return(c);
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
