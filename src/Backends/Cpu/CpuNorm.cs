using System.Numerics;
using System.Runtime.CompilerServices;

namespace MiniGrad.Backends.Cpu;

// Layer normalization, fused: per row one vector pass for the mean, one for the variance (two passes: accurate for rows
// far from zero, where sum(x^2) - n mean^2 would cancel) and one writing y; the backward reads each row twice (its two sums,
// then dx) and, for the affine gradients, every column once down the rows, so that each column's sum runs in row order
// whatever the split over the cores. Rows go to static methods over ISimd (one code for every width).
public sealed partial class CpuBackend
{
    // Par.For work per row element: a few vector operations, so rows are split over the cores from ~16K elements up.
    const long NormCost = 4;

    /// <inheritdoc/>
    public (RawTensor Y, RawTensor Mean, RawTensor Rstd) LayerNorm(RawTensor x, int cols, RawTensor? weight, RawTensor? bias, double eps)
    {
        int rows = BackendChecks.Rows("LayerNorm", x, cols, ("weight", weight, cols), ("bias", bias, cols));
        var (y, mean, rstd) = (CpuTensor.Alloc(x.Shape, x.DType), CpuTensor.Alloc([rows], x.DType), CpuTensor.Alloc([rows], x.DType));
        if (x.DType == DType.Float32) Run<float>();
        else Run<double>();
        return (y, mean, rstd);

        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (xs, ys, ms, rs, ws, bs) = (A<T>(x), A<T>(y), A<T>(mean), A<T>(rstd), Opt<T>(weight), Opt<T>(bias));
            T e = T.CreateChecked(eps);
            Par.For(rows, NormCost * cols, (r0, r1) => NormRows(xs, ys, ms, rs, ws, bs, e, cols, r0, r1));
        }
    }

    /// <inheritdoc/>
    public (RawTensor Dx, RawTensor? DWeight, RawTensor? DBias) LayerNormBackward(RawTensor dy, RawTensor x, RawTensor mean, RawTensor rstd, RawTensor? weight, int cols, bool affineGrads)
    {
        int rows = BackendChecks.Rows("LayerNormBackward", x, cols, ("dy", dy, x.Numel), ("mean", mean, -1), ("rstd", rstd, -1), ("weight", weight, cols));
        var dx = CpuTensor.Alloc(x.Shape, x.DType);
        var (dw, db) = affineGrads ? (CpuTensor.Zeros([cols], x.DType), CpuTensor.Zeros([cols], x.DType)) : (null, null);
        if (x.DType == DType.Float32) Run<float>();
        else Run<double>();
        return (dx, dw, db);

        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (gs, xs, ms, rs, ws, ds) = (A<T>(dy), A<T>(x), A<T>(mean), A<T>(rstd), Opt<T>(weight), A<T>(dx));
            Par.For(rows, NormCost * cols, (r0, r1) => NormBackwardRows(gs, xs, ms, rs, ws, ds, cols, r0, r1));
            if (dw is null) return;
            var (dws, dbs) = (A<T>(dw), A<T>(db!));
            Par.For(cols, NormCost * rows, (c0, c1) => NormAffineColumns(gs, xs, ms, rs, dws, dbs, rows, cols, c0, c1));
        }
    }

    static void NormRows<T>(T[] x, T[] y, T[] mean, T[] rstd, T[]? w, T[]? b, T eps, int cols, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = new NormKernel<T>(x, y, mean, rstd, w, b, null, eps, cols, 0, r0, r1, NormPass.Forward);
        Simd.Run<T, NormKernel<T>>(ref k);
    }

    static void NormBackwardRows<T>(T[] dy, T[] x, T[] mean, T[] rstd, T[]? w, T[] dx, int cols, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = new NormKernel<T>(x, dx, mean, rstd, w, null, dy, T.Zero, cols, 0, r0, r1, NormPass.Backward);
        Simd.Run<T, NormKernel<T>>(ref k);
    }

    static void NormAffineColumns<T>(T[] dy, T[] x, T[] mean, T[] rstd, T[] dw, T[] db, int rows, int cols, int c0, int c1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = new NormKernel<T>(x, dw, mean, rstd, null, db, dy, T.Zero, cols, rows, c0, c1, NormPass.Affine);
        Simd.Run<T, NormKernel<T>>(ref k);
    }

    enum NormPass { Forward, Backward, Affine }

    /// <summary>
    /// One of the three passes over [i0, i1): Forward and Backward over rows (out = y, resp. dx), Affine over columns
    /// (out = dweight, aux = dbias). x, mean, rstd are the forward's; w (weight) and aux (bias) may be null.
    /// </summary>
    readonly unsafe struct NormKernel<T>(T[] x, T[] @out, T[] mean, T[] rstd, T[]? w, T[]? aux, T[]? dy, T eps, int cols, int rows, int i0, int i1, NormPass pass)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* xp = x, op = @out, mp = mean, rp = rstd, wp = w, ap = aux, gp = dy)
            {
                if (pass == NormPass.Forward) Forward<TV, S>(xp, op, mp, rp, wp, ap, eps, cols, i0, i1);
                else if (pass == NormPass.Backward) Backward<TV, S>(gp, xp, mp, rp, wp, op, cols, i0, i1);
                else Affine<TV, S>(gp, xp, mp, rp, op, ap, rows, cols, i0, i1);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Forward<TV, S>(T* x, T* y, T* mean, T* rstd, T* w, T* b, T eps, int cols, int r0, int r1) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            T n = T.CreateChecked(cols);
            for (int r = r0; r < r1; r++)
            {
                T* xr = x + (nint)r * cols, yr = y + (nint)r * cols;
                // The corrected two-pass algorithm: a first mean m, then the sums of d = x - m and of d^2 in one pass; the
                // sum of d repairs the rounding of m (which matters in float32 for rows far from zero).
                T m = Sum<TV, S>(xr, cols) / n;
                TV mv = S.Splat(m), sd = S.Splat(T.Zero), sq = sd;
                int j = 0;
                for (; j + v <= cols; j += v) { var d = S.Sub(S.Load(xr + j), mv); sd = S.Add(sd, d); sq = S.Fma(d, d, sq); }
                T s1 = S.Sum(sd), s2 = S.Sum(sq);
                for (; j < cols; j++) { T d = xr[j] - m; s1 += d; s2 += d * d; }
                m += s1 / n;
                T rs = T.One / T.Sqrt(T.Max(s2 - s1 * s1 / n, T.Zero) / n + eps);
                (mean[r], rstd[r]) = (m, rs);
                TV rv = S.Splat(rs);
                mv = S.Splat(m);
                for (j = 0; j + v <= cols; j += v)
                {
                    var xh = S.Mul(S.Sub(S.Load(xr + j), mv), rv);
                    if (w != null) xh = b != null ? S.Fma(xh, S.Load(w + j), S.Load(b + j)) : S.Mul(xh, S.Load(w + j));
                    else if (b != null) xh = S.Add(xh, S.Load(b + j));
                    S.Store(xh, yr + j);
                }
                for (; j < cols; j++)
                {
                    T xh = (xr[j] - m) * rs;
                    yr[j] = (w != null ? xh * w[j] : xh) + (b != null ? b[j] : T.Zero);
                }
            }
        }

        // With xhat = (x - mean) rstd and g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat)).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Backward<TV, S>(T* dy, T* x, T* mean, T* rstd, T* w, T* dx, int cols, int r0, int r1) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            T n = T.CreateChecked(cols);
            for (int r = r0; r < r1; r++)
            {
                T* gr = dy + (nint)r * cols, xr = x + (nint)r * cols, dr = dx + (nint)r * cols;
                T m = mean[r], rs = rstd[r];
                TV mv = S.Splat(m), rv = S.Splat(rs), sg = S.Splat(T.Zero), sgx = sg;
                int j = 0;
                for (; j + v <= cols; j += v)
                {
                    var g = w != null ? S.Mul(S.Load(gr + j), S.Load(w + j)) : S.Load(gr + j);
                    sg = S.Add(sg, g);
                    sgx = S.Fma(g, S.Mul(S.Sub(S.Load(xr + j), mv), rv), sgx);
                }
                T a = S.Sum(sg), c = S.Sum(sgx);
                for (; j < cols; j++)
                {
                    T g = w != null ? gr[j] * w[j] : gr[j];
                    a += g;
                    c += g * ((xr[j] - m) * rs);
                }
                // dx = rstd g - rstd mean(g) - xhat (rstd mean(g xhat))
                T shift = rs * a / n, scale = rs * c / n;
                TV shiftV = S.Splat(shift), scaleV = S.Splat(scale);
                for (j = 0; j + v <= cols; j += v)
                {
                    var g = w != null ? S.Mul(S.Load(gr + j), S.Load(w + j)) : S.Load(gr + j);
                    var xh = S.Mul(S.Sub(S.Load(xr + j), mv), rv);
                    S.Store(S.Sub(S.Sub(S.Mul(g, rv), shiftV), S.Mul(xh, scaleV)), dr + j);
                }
                for (; j < cols; j++)
                {
                    T g = w != null ? gr[j] * w[j] : gr[j];
                    dr[j] = g * rs - shift - (xr[j] - m) * rs * scale;
                }
            }
        }

        // dweight[j] = sum over rows of dy xhat, dbias[j] = sum over rows of dy, for the columns [c0, c1), in row order. The
        // vector and the scalar columns round alike (a product, then a sum; no fused multiply-add), so where the cores'
        // share of columns ends does not change a bit.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Affine<TV, S>(T* dy, T* x, T* mean, T* rstd, T* dw, T* db, int rows, int cols, int c0, int c1) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            for (int r = 0; r < rows; r++)
            {
                T* gr = dy + (nint)r * cols, xr = x + (nint)r * cols;
                T m = mean[r], rs = rstd[r];
                TV mv = S.Splat(m), rv = S.Splat(rs);
                int j = c0;
                for (; j + v <= c1; j += v)
                {
                    var g = S.Load(gr + j);
                    S.Store(S.Add(S.Load(dw + j), S.Mul(g, S.Mul(S.Sub(S.Load(xr + j), mv), rv))), dw + j);
                    S.Store(S.Add(S.Load(db + j), g), db + j);
                }
                for (; j < c1; j++)
                {
                    dw[j] += gr[j] * ((xr[j] - m) * rs);
                    db[j] += gr[j];
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static T Sum<TV, S>(T* p, int count) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes, j = 0;
            TV acc = S.Splat(T.Zero);
            for (; j + v <= count; j += v) acc = S.Add(acc, S.Load(p + j));
            T s = S.Sum(acc);
            for (; j < count; j++) s += p[j];
            return s;
        }
    }
}
