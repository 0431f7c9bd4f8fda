namespace MiniGrad.Backends.Ilgpu;

// im2col and col2im along the last dim (Conv1d and the 1-D pools), one thread per output element.
public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public RawTensor Unfold1d(RawTensor x, int kernel, int stride, int dilation, int padLeft, int lOut, double padValue)
    {
        var s = In(x, "Unfold1d");
        BackendChecks.Window("Unfold1d", x, 3, kernel, stride, dilation, padLeft, lOut);
        var d = Alloc([x.Shape[0], x.Shape[1], kernel, lOut], x.DType);
        var a = new WindowArgs { L = x.Shape[2], Kernel = kernel, Stride = stride, Dilation = dilation, PadLeft = padLeft, LOut = lOut };
        int n = d.Numel;
        if (n == 0) return d;
        if (x.DType == DType.Float32) Ks<float, F32>().Unfold1d(n, s.View<float>(), d.View<float>(), a, (float)padValue);
        else Ks<double, F64>().Unfold1d(n, s.View<double>(), d.View<double>(), a, padValue);
        return d;
    }

    /// <inheritdoc/>
    public RawTensor Fold1d(RawTensor cols, int length, int stride, int dilation, int padLeft)
    {
        var s = In(cols, "Fold1d");
        BackendChecks.Window("Fold1d", cols, 4, cols.Rank == 4 ? cols.Shape[2] : 1, stride, dilation, padLeft, length);
        var d = Alloc([cols.Shape[0], cols.Shape[1], length], cols.DType);
        var a = new WindowArgs { L = length, Kernel = cols.Shape[2], Stride = stride, Dilation = dilation, PadLeft = padLeft, LOut = cols.Shape[3] };
        int n = d.Numel;
        if (n == 0) return d;
        if (cols.DType == DType.Float32) Ks<float, F32>().Fold1d(n, s.View<float>(), d.View<float>(), a);
        else Ks<double, F64>().Fold1d(n, s.View<double>(), d.View<double>(), a);
        return d;
    }
}

// Conv1d from the primitives above: windows, one batched GEMM per (item, group), the bias by a broadcast add; the backward
// the two GEMMs, col2im, and sums over the batch (and time, for the bias).
public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public RawTensor Conv1d(RawTensor x, RawTensor weight, RawTensor? bias, int stride, int dilation, int padLeft, int lOut, int groups)
    {
        int n = x.Shape[0], c = x.Shape[1], o = weight.Shape[0], k = weight.Shape[2];
        var cols = Unfold1d(x, k, stride, dilation, padLeft, lOut, 0);
        var y = MatMul(weight.Reshape([groups, o / groups, c / groups * k]), cols.Reshape([n, groups, c / groups * k, lOut]), false, false).Reshape([n, o, lOut]);
        return bias is null ? y : Binary(BinaryOp.Add, y, bias.Reshape([o, 1]));
    }

    /// <inheritdoc/>
    public (RawTensor? Dx, RawTensor? Dw, RawTensor? Db) Conv1dBackward(RawTensor gy, RawTensor? x, RawTensor weight, int length, int stride, int dilation, int padLeft, int groups, bool inputGrad, bool biasGrad)
    {
        int n = gy.Shape[0], o = weight.Shape[0], cg = weight.Shape[1], k = weight.Shape[2], lOut = gy.Shape[2];
        var g4 = gy.Reshape([n, groups, o / groups, lOut]);
        var w3 = weight.Reshape([groups, o / groups, cg * k]);
        var dx = inputGrad ? Fold1d(MatMul(w3, g4, true, false).Reshape([n, cg * groups, k, lOut]), length, stride, dilation, padLeft) : null;
        RawTensor? dw = null;
        if (x is not null)
        {
            var cols = Unfold1d(x, k, stride, dilation, padLeft, lOut, 0).Reshape([n, groups, cg * k, lOut]);
            dw = Reduce(ReduceOp.Sum, MatMul(g4, cols, false, true), 0).Reshape(weight.Shape);
        }
        var db = biasGrad ? Reduce(ReduceOp.Sum, Reduce(ReduceOp.Sum, gy, 2), 0).Reshape([o]) : null;
        return (dx, dw, db);
    }
}
