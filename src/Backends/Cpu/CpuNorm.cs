using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// Layer normalization, fused: per row one vector pass for the mean, one for the variance (two passes: accurate for rows
// far from zero, where sum(x^2) - n mean^2 would cancel) and one writing y; the backward reads each row twice (its two sums,
// then dx and the affine gradients' terms). The affine gradients are sums down the rows: each of a fixed number of row slabs
// (set by the row count, never by the cores) sums its rows in order into a partial, and the partials are added in slab
// order, so the bits are the same whatever the split over the cores. Rows go to static methods over ISimd (one code for
// every width).
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
        var (dw, db) = affineGrads ? (CpuTensor.Alloc([cols], x.DType), CpuTensor.Alloc([cols], x.DType)) : (null, null);
        if (x.DType == DType.Float32) Run<float>();
        else Run<double>();
        return (dx, dw, db);

        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (gs, xs, ms, rs, ws, ds) = (A<T>(dy), A<T>(x), A<T>(mean), A<T>(rstd), Opt<T>(weight), A<T>(dx));
            if (dw is null)
            {
                Par.For(rows, NormCost * cols, (r0, r1) => NormBackwardRows(gs, xs, ms, rs, ws, ds, null, 0, cols, r0, r1));
                return;
            }
            // Per slab the partial sums of dy xhat (then of dy) over its rows, 2 x cols values.
            int slabs = Math.Clamp(rows, 1, NormSlabs);
            var partial = ArrayPool<T>.Shared.Rent(slabs * 2 * cols);
            Par.For(slabs, NormCost * cols * Math.Max(1, rows / slabs), (s0, s1) =>
            {
                for (int s = s0; s < s1; s++)
                    NormBackwardRows(gs, xs, ms, rs, ws, ds, partial, s * 2 * cols, cols, (int)((long)rows * s / slabs), (int)((long)rows * (s + 1) / slabs));
            });
            Span<T> dws = dw.Span<T>(), dbs = db!.Span<T>();
            partial.AsSpan(0, cols).CopyTo(dws);
            partial.AsSpan(cols, cols).CopyTo(dbs);
            for (int s = 1; s < slabs; s++)
            {
                TP.Add(dws, partial.AsSpan(s * 2 * cols, cols), dws);
                TP.Add(dbs, partial.AsSpan(s * 2 * cols + cols, cols), dbs);
            }
            ArrayPool<T>.Shared.Return(partial);
        }
    }

    // Row slabs of the affine gradients: enough for both cores to share, few enough that adding the partials stays cheap.
    const int NormSlabs = 16;

    static void NormRows<T>(T[] x, T[] y, T[] mean, T[] rstd, T[]? w, T[]? b, T eps, int cols, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = new NormKernel<T>(x, y, mean, rstd, w, b, null, eps, cols, 0, r0, r1, NormPass.Forward);
        Simd.Run<T, NormKernel<T>>(ref k);
    }

    /// <summary>dx for the rows [r0, r1); with partial, also their sums of dy xhat and of dy, in row order, at partial[at..].</summary>
    static void NormBackwardRows<T>(T[] dy, T[] x, T[] mean, T[] rstd, T[]? w, T[] dx, T[]? partial, int at, int cols, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = new NormKernel<T>(x, dx, mean, rstd, w, partial, dy, T.Zero, cols, at, r0, r1, NormPass.Backward);
        Simd.Run<T, NormKernel<T>>(ref k);
    }

    enum NormPass { Forward, Backward }

    /// <summary>
    /// One of the two passes over the rows [r0, r1): Forward (out = y, aux = bias) and Backward (out = dx, aux = the affine
    /// partial sums at aux[at..], or null). x, mean, rstd are the forward's; w (weight) and aux may be null.
    /// </summary>
    readonly unsafe struct NormKernel<T>(T[] x, T[] @out, T[] mean, T[] rstd, T[]? w, T[]? aux, T[]? dy, T eps, int cols, int at, int r0, int r1, NormPass pass)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* xp = x, op = @out, mp = mean, rp = rstd, wp = w, ap = aux, gp = dy)
            {
                if (pass == NormPass.Forward) Forward<TV, S>(xp, op, mp, rp, wp, ap, eps, cols, r0, r1);
                else Backward<TV, S>(gp, xp, mp, rp, wp, op, ap == null ? null : ap + at, cols, r0, r1);
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
                // Two chains of each sum (even and odd vectors): one chain of dependent adds per row was the forward's limit.
                TV mv = S.Splat(m), sd = S.Splat(T.Zero), sq = sd, sd1 = sd, sq1 = sd;
                int j = 0;
                for (; j + 2 * v <= cols; j += 2 * v)
                {
                    var d = S.Sub(S.Load(xr + j), mv);
                    var d1 = S.Sub(S.Load(xr + j + v), mv);
                    (sd, sq) = (S.Add(sd, d), S.Fma(d, d, sq));
                    (sd1, sq1) = (S.Add(sd1, d1), S.Fma(d1, d1, sq1));
                }
                if (j + v <= cols) { var d = S.Sub(S.Load(xr + j), mv); (sd, sq) = (S.Add(sd, d), S.Fma(d, d, sq)); j += v; }
                T s1 = S.Sum(S.Add(sd, sd1)), s2 = S.Sum(S.Add(sq, sq1));
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

        // With xhat = (x - mean) rstd and g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat)). With sums (2 x cols values),
        // also sums[j] += dy xhat and sums[cols + j] += dy, row after row. The vector and the scalar columns round alike (a
        // product, then a sum; no fused multiply-add).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Backward<TV, S>(T* dy, T* x, T* mean, T* rstd, T* w, T* dx, T* sums, int cols, int r0, int r1) where TV : unmanaged where S : ISimd<TV, T>
        {
            if (sums != null)
                new Span<T>(sums, 2 * cols).Clear();
            int v = S.Lanes;
            T n = T.CreateChecked(cols);
            for (int r = r0; r < r1; r++)
            {
                T* gr = dy + (nint)r * cols, xr = x + (nint)r * cols, dr = dx + (nint)r * cols;
                T m = mean[r], rs = rstd[r];
                TV mv = S.Splat(m), rv = S.Splat(rs), sg = S.Splat(T.Zero), sgx = sg, sg1 = sg, sgx1 = sg;
                int j = 0;
                for (; j + 2 * v <= cols; j += 2 * v) // two chains of each sum, as in the forward
                {
                    (sg, sgx) = GradSums<TV, S>(gr, xr, w, j, mv, rv, sg, sgx);
                    (sg1, sgx1) = GradSums<TV, S>(gr, xr, w, j + v, mv, rv, sg1, sgx1);
                }
                if (j + v <= cols) { (sg, sgx) = GradSums<TV, S>(gr, xr, w, j, mv, rv, sg, sgx); j += v; }
                T a = S.Sum(S.Add(sg, sg1)), c = S.Sum(S.Add(sgx, sgx1));
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
                    var d = S.Load(gr + j);
                    var g = w != null ? S.Mul(d, S.Load(w + j)) : d;
                    var xh = S.Mul(S.Sub(S.Load(xr + j), mv), rv);
                    S.Store(S.Sub(S.Sub(S.Mul(g, rv), shiftV), S.Mul(xh, scaleV)), dr + j);
                    if (sums != null)
                    {
                        S.Store(S.Add(S.Load(sums + j), S.Mul(d, xh)), sums + j);
                        S.Store(S.Add(S.Load(sums + cols + j), d), sums + cols + j);
                    }
                }
                for (; j < cols; j++)
                {
                    T g = w != null ? gr[j] * w[j] : gr[j], xh = (xr[j] - m) * rs;
                    dr[j] = g * rs - shift - xh * scale;
                    if (sums != null)
                    {
                        sums[j] += gr[j] * xh;
                        sums[cols + j] += gr[j];
                    }
                }
            }
        }

        /// <summary>The running sums of g = dy w (w may be null) and of g xhat, with the vector at column j.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static (TV G, TV Gx) GradSums<TV, S>(T* dy, T* x, T* w, int j, TV mv, TV rv, TV sg, TV sgx) where TV : unmanaged where S : ISimd<TV, T>
        {
            var g = w != null ? S.Mul(S.Load(dy + j), S.Load(w + j)) : S.Load(dy + j);
            return (S.Add(sg, g), S.Fma(g, S.Mul(S.Sub(S.Load(x + j), mv), rv), sgx));
        }

        /// <summary>The sum of p[0..count), in four chains (vector i into chain i mod 4).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static T Sum<TV, S>(T* p, int count) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes, j = 0;
            TV acc = S.Splat(T.Zero), a1 = acc, a2 = acc, a3 = acc;
            for (; j + 4 * v <= count; j += 4 * v)
            {
                acc = S.Add(acc, S.Load(p + j));
                a1 = S.Add(a1, S.Load(p + j + v));
                a2 = S.Add(a2, S.Load(p + j + 2 * v));
                a3 = S.Add(a3, S.Load(p + j + 3 * v));
            }
            for (; j + v <= count; j += v) acc = S.Add(acc, S.Load(p + j));
            T s = S.Sum(S.Add(S.Add(acc, a1), S.Add(a2, a3)));
            for (; j < count; j++) s += p[j];
            return s;
        }
    }
}
