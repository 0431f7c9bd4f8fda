using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public (RawTensor Y, RawTensor Mean, RawTensor Rstd) LayerNorm(RawTensor x, int cols, RawTensor? weight, RawTensor? bias, double eps)
    {
        const string op = "LayerNorm";
        int rows = BackendChecks.Rows(op, x, cols, ("weight", weight, cols), ("bias", bias, cols));
        var sx = In(x, op);
        var (sw, sb) = (weight is null ? sx : In(weight, op), bias is null ? sx : In(bias, op));
        var (y, mean, rstd) = (Alloc(x.Shape, x.DType), Alloc([rows], x.DType), Alloc([rows], x.DType));
        var p = new NormArgs { Rows = rows, Cols = cols, Eps = eps, HasWeight = weight is null ? 0 : 1, HasBias = bias is null ? 0 : 1 };
        if (rows == 0) return (y, mean, rstd);
        if (x.DType == DType.Float32) Ks<float, F32>().NormForward(rows, sx.View<float>(), sw.View<float>(), sb.View<float>(), y.View<float>(), mean.View<float>(), rstd.View<float>(), p);
        else Ks<double, F64>().NormForward(rows, sx.View<double>(), sw.View<double>(), sb.View<double>(), y.View<double>(), mean.View<double>(), rstd.View<double>(), p);
        return (y, mean, rstd);
    }

    /// <inheritdoc/>
    public (RawTensor Dx, RawTensor? DWeight, RawTensor? DBias) LayerNormBackward(RawTensor dy, RawTensor x, RawTensor mean, RawTensor rstd, RawTensor? weight, int cols, bool affineGrads)
    {
        const string op = "LayerNormBackward";
        int rows = BackendChecks.Rows(op, x, cols, ("dy", dy, x.Numel), ("mean", mean, -1), ("rstd", rstd, -1), ("weight", weight, cols));
        var (sg, sx, sm, sr) = (In(dy, op), In(x, op), In(mean, op), In(rstd, op));
        var sw = weight is null ? sx : In(weight, op);
        var dx = Alloc(x.Shape, x.DType);
        var (dw, db) = affineGrads ? (Alloc([cols], x.DType), Alloc([cols], x.DType)) : (null, null);
        var p = new NormArgs { Rows = rows, Cols = cols, HasWeight = weight is null ? 0 : 1 };
        if (x.DType == DType.Float32) Run(Ks<float, F32>());
        else Run(Ks<double, F64>());
        return (dx, dw, db);

        void Run<T, O>(KernelCache<T, O> k) where T : unmanaged where O : struct, INumOps<T>
        {
            if (rows > 0) k.NormBackward(rows, sg.View<T>(), sx.View<T>(), sm.View<T>(), sr.View<T>(), sw.View<T>(), dx.View<T>(), p);
            if (dw is not null) k.NormAffine(cols, sg.View<T>(), sx.View<T>(), sm.View<T>(), sr.View<T>(), dw.View<T>(), db!.View<T>(), p);
        }
    }
}

/// <summary>LayerNorm's geometry and flags, one kernel argument.</summary>
internal struct NormArgs
{
    public int Rows, Cols, HasWeight, HasBias;
    public double Eps;
}

/// <summary>LayerNorm's kernels in double: one thread per row (forward, dx), one per column (dweight, dbias in row order).</summary>
internal static class KNorm
{
    public static void Forward<T, O>(Index1D r, ArrayView<T> x, ArrayView<T> w, ArrayView<T> b, ArrayView<T> y, ArrayView<T> mean, ArrayView<T> rstd, NormArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        long at = (long)(int)r * p.Cols;
        double s = 0, sq = 0;
        for (int j = 0; j < p.Cols; j++) s += o.ToDouble(x[at + j]);
        double m = s / p.Cols;
        for (int j = 0; j < p.Cols; j++) { double d = o.ToDouble(x[at + j]) - m; sq += d * d; }
        double rs = 1.0 / XMath.Sqrt(sq / p.Cols + p.Eps);
        mean[r] = o.FromDouble(m);
        rstd[r] = o.FromDouble(rs);
        for (int j = 0; j < p.Cols; j++)
        {
            double v = (o.ToDouble(x[at + j]) - m) * rs;
            if (p.HasWeight != 0) v *= o.ToDouble(w[j]);
            if (p.HasBias != 0) v += o.ToDouble(b[j]);
            y[at + j] = o.FromDouble(v);
        }
    }

    // dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy weight.
    public static void Backward<T, O>(Index1D r, ArrayView<T> dy, ArrayView<T> x, ArrayView<T> mean, ArrayView<T> rstd, ArrayView<T> w, ArrayView<T> dx, NormArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        long at = (long)(int)r * p.Cols;
        double m = o.ToDouble(mean[r]), rs = o.ToDouble(rstd[r]), a = 0, c = 0;
        for (int j = 0; j < p.Cols; j++)
        {
            double g = o.ToDouble(dy[at + j]) * (p.HasWeight != 0 ? o.ToDouble(w[j]) : 1.0);
            a += g;
            c += g * (o.ToDouble(x[at + j]) - m) * rs;
        }
        double shift = rs * a / p.Cols, scale = rs * c / p.Cols;
        for (int j = 0; j < p.Cols; j++)
        {
            double g = o.ToDouble(dy[at + j]) * (p.HasWeight != 0 ? o.ToDouble(w[j]) : 1.0);
            dx[at + j] = o.FromDouble(g * rs - shift - (o.ToDouble(x[at + j]) - m) * rs * scale);
        }
    }

    public static void Affine<T, O>(Index1D j, ArrayView<T> dy, ArrayView<T> x, ArrayView<T> mean, ArrayView<T> rstd, ArrayView<T> dw, ArrayView<T> db, NormArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        double sw = 0, sb = 0;
        for (int r = 0; r < p.Rows; r++)
        {
            long at = (long)r * p.Cols + j;
            double g = o.ToDouble(dy[at]);
            sw += g * (o.ToDouble(x[at]) - o.ToDouble(mean[r])) * o.ToDouble(rstd[r]);
            sb += g;
        }
        dw[j] = o.FromDouble(sw);
        db[j] = o.FromDouble(sb);
    }
}

internal sealed partial class KernelCache<T, O>
{
    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs>? normForward;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs> NormForward =>
        Get(ref normForward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs>(KNorm.Forward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs>? normBackward;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs> NormBackward =>
        Get(ref normBackward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs>(KNorm.Backward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs>? normAffine;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs> NormAffine =>
        Get(ref normAffine, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, NormArgs>(KNorm.Affine<T, O>));
}
