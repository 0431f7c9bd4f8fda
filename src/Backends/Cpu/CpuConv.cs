using System.Buffers;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// Conv1d, one batch item at a time: the item's windows (im2col) are made right before its GEMMs read them, while they are
// in cache, and each (item, group) GEMM, weight (O_g, C_g k) times windows (C_g k, L_out), writes straight into the output,
// with the bias as its initial value. Items go to the cores, each item's GEMMs then running on one core; with fewer items
// than cores the items run in turn and each GEMM splits over the cores. The backward: per item, W^T dy folded back (col2im)
// into dx; dW = sum over the items of dy_n windows_n^T, its rows split over the cores and each row summed over the items in
// order (GEMMs accumulating), and db likewise: every result has the same bits whatever the core count.
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public (RawTensor Y, RawTensor? Windows) Conv1d(RawTensor x, RawTensor weight, RawTensor? bias, int stride, int dilation, int padLeft, int lOut, int groups, bool keepWindows)
    {
        var g = ConvGeometry.Of("Conv1d", x.Shape, weight, groups, stride, dilation, padLeft, lOut);
        var y = CpuTensor.Alloc([g.N, g.O, lOut], x.DType);
        var cols = keepWindows ? CpuTensor.Alloc([g.N, g.C, g.K, lOut], x.DType) : null;
        if (x.DType == DType.Float32) ConvForward((float[])C(x).Data, (float[])C(weight).Data, (float[]?)(bias is null ? null : C(bias).Data), (float[])y.Data, (float[]?)cols?.Data, g);
        else ConvForward((double[])C(x).Data, (double[])C(weight).Data, (double[]?)(bias is null ? null : C(bias).Data), (double[])y.Data, (double[]?)cols?.Data, g);
        return (y, cols);
    }

    /// <inheritdoc/>
    public (RawTensor? Dx, RawTensor? Dw, RawTensor? Db) Conv1dBackward(RawTensor gy, RawTensor? windows, RawTensor weight, int length, int stride, int dilation, int padLeft, int groups, bool inputGrad, bool biasGrad)
    {
        if (gy.Rank != 3 || gy.Shape[1] != weight.Shape[0] || gy.DType != weight.DType)
            throw new ArgumentException($"Conv1dBackward: the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}) does not fit the weight ({Shapes.Format(weight.Shape)}, {weight.DType}); expected (N, {weight.Shape[0]}, L_out) of its dtype");
        var g = ConvGeometry.Of("Conv1dBackward", [gy.Shape[0], weight.Shape[1] * groups, length], weight, groups, stride, dilation, padLeft, gy.Shape[2]);
        if (windows is not null && !Shapes.Equal(windows.Shape, [g.N, g.C, g.K, g.LOut]))
            throw new ArgumentException($"Conv1dBackward: windows of shape {Shapes.Format(windows.Shape)}; expected [{g.N},{g.C},{g.K},{g.LOut}]");
        var dx = inputGrad ? CpuTensor.Alloc([g.N, g.C, length], gy.DType) : null;
        var dw = windows is not null ? CpuTensor.Alloc(weight.Shape, gy.DType) : null;
        var db = biasGrad ? CpuTensor.Alloc([g.O], gy.DType) : null;
        if (gy.DType == DType.Float32)
            ConvBackward((float[])C(gy).Data, (float[]?)(windows is null ? null : C(windows).Data), (float[])C(weight).Data, (float[]?)dx?.Data, (float[]?)dw?.Data, (float[]?)db?.Data, g);
        else
            ConvBackward((double[])C(gy).Data, (double[]?)(windows is null ? null : C(windows).Data), (double[])C(weight).Data, (double[]?)dx?.Data, (double[]?)dw?.Data, (double[]?)db?.Data, g);
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

    /// <summary>Runs item(n, part) for every batch item: split over the cores (part = the core's index) when there are
    /// enough items, else in turn on this thread (part 0), where the GEMMs split over the cores themselves.</summary>
    static void ForItems(int n, Action<int, int> item)
    {
        int parts = Math.Min(Par.Cores, n);
        if (parts < 2) { for (int i = 0; i < n; i++) item(i, 0); return; }
        Par.Parts(parts, p => { for (int i = n * p / parts, end = n * (p + 1) / parts; i < end; i++) item(i, p); });
    }

    static unsafe void ConvForward<T>(T[] x, T[] w, T[]? bias, T[] y, T[]? cols, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.N == 0) return;
        int itemCols = g.C * g.K * g.LOut, parts = Math.Max(1, Math.Min(Par.Cores, g.N));
        var scratch = new T[parts][]; // per core: one item's windows, when they are not kept
        ForItems(g.N, (n, p) =>
        {
            T[] c = cols ?? (scratch[p] ??= ArrayPool<T>.Shared.Rent(itemCols));
            int c0 = cols is null ? 0 : n * itemCols;
            for (int ch = 0; ch < g.C; ch++)
                UnfoldRow<T>(x.AsSpan((n * g.C + ch) * g.Win.L, g.Win.L), c.AsSpan(c0 + ch * g.K * g.LOut, g.K * g.LOut), g.Win, T.Zero);
            if (bias is not null)
                for (int o = 0; o < g.O; o++) y.AsSpan((n * g.O + o) * g.LOut, g.LOut).Fill(bias[o]);
            fixed (T* pw = w, pc = c, py = y)
                for (int gr = 0; gr < g.Groups; gr++)
                    GemmT(false, false, g.Og, g.LOut, g.CgK, pw + gr * g.Og * g.CgK, g.CgK, pc + c0 + gr * g.CgK * g.LOut, g.LOut,
                        py + (n * g.O + gr * g.Og) * g.LOut, g.LOut, accumulate: bias is not null);
        });
        foreach (var c in scratch) if (c is not null) ArrayPool<T>.Shared.Return(c);
    }

    static unsafe void ConvBackward<T>(T[] gy, T[]? cols, T[] w, T[]? dx, T[]? dw, T[]? db, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.N == 0) { dw?.AsSpan().Clear(); db?.AsSpan().Clear(); return; }
        int itemCols = g.C * g.K * g.LOut, parts = Math.Max(1, Math.Min(Par.Cores, g.N));
        if (dx is not null)
        {
            // Per item and group: the windows' gradient W_g^T dy (C_g k, L_out) into a per-core buffer, folded into dx.
            var scratch = new T[parts][];
            ForItems(g.N, (n, p) =>
            {
                T[] d = scratch[p] ??= ArrayPool<T>.Shared.Rent(g.CgK * g.LOut);
                fixed (T* pw = w, pg = gy, pd = d)
                    for (int gr = 0; gr < g.Groups; gr++)
                    {
                        GemmT(true, false, g.CgK, g.LOut, g.Og, pw + gr * g.Og * g.CgK, g.CgK, pg + (n * g.O + gr * g.Og) * g.LOut, g.LOut, pd, g.LOut, accumulate: false);
                        for (int c = 0; c < g.Cg; c++)
                            FoldRow<T>(d.AsSpan(c * g.K * g.LOut, g.K * g.LOut), dx.AsSpan((n * g.C + gr * g.Cg + c) * g.Win.L, g.Win.L), g.Win);
                    }
            });
            foreach (var d in scratch) if (d is not null) ArrayPool<T>.Shared.Return(d);
        }
        if (dw is null && db is null) return;
        // Rows of dW and db split over the cores; each row sums the items in order, so the split never changes a bit.
        int rowParts = Math.Max(1, Math.Min(Par.Cores, g.O));
        Par.Parts(rowParts, p =>
        {
            int o0 = g.O * p / rowParts, o1 = g.O * (p + 1) / rowParts;
            if (o0 == o1) return;
            if (db is not null)
                for (int o = o0; o < o1; o++)
                {
                    T s = T.Zero;
                    for (int n = 0; n < g.N; n++) s += TP.Sum<T>(gy.AsSpan((n * g.O + o) * g.LOut, g.LOut));
                    db[o] = s;
                }
            if (dw is null) return;
            fixed (T* pg = gy, pc = cols, pw = dw)
                for (int n = 0; n < g.N; n++)
                    for (int gr = o0 / g.Og; gr * g.Og < o1; gr++)
                    {
                        int r0 = Math.Max(o0, gr * g.Og), r1 = Math.Min(o1, (gr + 1) * g.Og);
                        GemmT(false, true, r1 - r0, g.CgK, g.LOut, pg + (n * g.O + r0) * g.LOut, g.LOut, pc + n * itemCols + gr * g.CgK * g.LOut, g.LOut,
                            pw + r0 * g.CgK, g.CgK, accumulate: n > 0);
                    }
        });
    }

    static unsafe void GemmT<T>(bool transA, bool transB, int m, int n, int k, T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Gemm.Sgemm(transA, transB, m, n, k, (float*)a, lda, (float*)b, ldb, (float*)c, ldc, accumulate);
        else Gemm.Dgemm(transA, transB, m, n, k, (double*)a, lda, (double*)b, ldb, (double*)c, ldc, accumulate);
    }
}
