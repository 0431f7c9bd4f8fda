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
