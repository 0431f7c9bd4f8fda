using System.Numerics;
using System.Runtime.CompilerServices;

namespace MiniGrad.Backends.Cpu;

// Cross entropy over class indices, fused (IBackend.CrossEntropy): per row a vector pass for the max and one for the sum
// of exponentials; the backward recomputes each exponential and writes the gradient row once. Rows go to static methods
// over ISimd (one code for every width).
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public (RawTensor Loss, RawTensor Lse) CrossEntropy(RawTensor x, RawTensor target, RawTensor rowWeight)
    {
        var (rows, c, ts) = BackendChecks.ClassRows("CrossEntropy", x, target, ("rowWeight", rowWeight));
        var (loss, lse) = (CpuTensor.Alloc([rows], x.DType), CpuTensor.Alloc([rows], x.DType));
        if (x.DType == DType.Float32) Run<float>();
        else Run<double>();
        return (loss, lse);

        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (xs, ws, ls, es) = (A<T>(x), A<T>(rowWeight), A<T>(loss), A<T>(lse));
            Par.For(rows, (long)c * 4, (r0, r1) => CrossEntropyRows(xs, ts, ws, ls, es, null, null, c, r0, r1));
        }
    }

    /// <inheritdoc/>
    public RawTensor CrossEntropyBackward(RawTensor x, RawTensor target, RawTensor rowWeight, RawTensor lse, RawTensor g)
    {
        var (rows, c, ts) = BackendChecks.ClassRows("CrossEntropyBackward", x, target, ("rowWeight", rowWeight), ("lse", lse), ("g", g));
        var dx = CpuTensor.Alloc(x.Shape, x.DType);
        if (x.DType == DType.Float32) Run<float>();
        else Run<double>();
        return dx;

        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (xs, ws, es, gs, ds) = (A<T>(x), A<T>(rowWeight), A<T>(lse), A<T>(g), A<T>(dx));
            Par.For(rows, (long)c * 4, (r0, r1) => CrossEntropyRows(xs, ts, ws, gs, es, ds, gs, c, r0, r1));
        }
    }

    // Forward when dx is null (writes loss and lse), else backward (reads lse and g, writes dx).
    static void CrossEntropyRows<T>(T[] x, long[] target, T[] w, T[] loss, T[] lse, T[]? dx, T[]? g, int c, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = new CrossEntropyKernel<T>(x, target, w, loss, lse, dx, g, c, r0, r1);
        Simd.Run<T, CrossEntropyKernel<T>>(ref k);
    }

    readonly unsafe struct CrossEntropyKernel<T>(T[] x, long[] target, T[] w, T[] loss, T[] lse, T[]? dx, T[]? g, int c, int r0, int r1)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* xp = x, wp = w, lp = loss, ep = lse, dp = dx, gp = g)
            fixed (long* tp = target)
            {
                if (dp == null) Forward<TV, S>(xp, tp, wp, lp, ep, c, r0, r1);
                else Backward<TV, S>(xp, tp, wp, ep, gp, dp, c, r0, r1);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Forward<TV, S>(T* x, long* target, T* w, T* loss, T* lse, int c, int r0, int r1) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            for (int r = r0; r < r1; r++)
            {
                T* xr = x + (nint)r * c;
                if (w[r] == T.Zero) { (loss[r], lse[r]) = (T.Zero, T.Zero); continue; } // an ignored target
                int j = 0;
                T max = T.NegativeInfinity;
                if (c >= v)
                {
                    TV mv = S.Load(xr);
                    for (j = v; j + v <= c; j += v) mv = S.Max(mv, S.Load(xr + j));
                    max = S.MaxAcross(mv);
                }
                for (; j < c; j++) max = T.Max(max, xr[j]);
                // An all -inf row: exp(x - 0) sums to 0 and lse is -inf, the loss inf (or NaN), as PyTorch's.
                T m = T.IsFinite(max) ? max : T.Zero;
                TV mvec = S.Splat(m), acc = S.Splat(T.Zero);
                for (j = 0; j + v <= c; j += v) acc = S.Add(acc, SimdMath.Exp<T, TV, S>(S.Sub(S.Load(xr + j), mvec)));
                T sum = S.Sum(acc);
                for (; j < c; j++) sum += T.Exp(xr[j] - m);
                T l = m + T.Log(sum);
                lse[r] = l;
                loss[r] = w[r] * (l - xr[target[r]]);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Backward<TV, S>(T* x, long* target, T* w, T* lse, T* g, T* dx, int c, int r0, int r1) where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            for (int r = r0; r < r1; r++)
            {
                T* xr = x + (nint)r * c, dr = dx + (nint)r * c;
                T scale = g[r] * w[r];
                int j = 0;
                if (w[r] == T.Zero) // an ignored target: no gradient at all
                {
                    new Span<T>(dr, c).Clear();
                    continue;
                }
                TV l = S.Splat(lse[r]), sv = S.Splat(scale);
                for (; j + v <= c; j += v) S.Store(S.Mul(SimdMath.Exp<T, TV, S>(S.Sub(S.Load(xr + j), l)), sv), dr + j);
                for (; j < c; j++) dr[j] = T.Exp(xr[j] - lse[r]) * scale;
                dr[target[r]] -= scale;
            }
        }
    }
}
