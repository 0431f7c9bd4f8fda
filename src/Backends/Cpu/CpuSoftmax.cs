using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public RawTensor Softmax(RawTensor x, int dim, bool log)
    {
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        var (outer, d, inner) = Shapes.Split(x.Shape, dim);
        switch (x.DType)
        {
            case DType.Float32: SoftmaxT((float[])C(x).Data, (float[])dst.Data, outer, d, inner, log); break;
            case DType.Float64: SoftmaxT((double[])C(x).Data, (double[])dst.Data, outer, d, inner, log); break;
            default: throw new ArgumentException($"{(log ? "LogSoftmax" : "Softmax")}: dtype {x.DType} is not supported; expected Float32 or Float64");
        }
        return dst;
    }

    /// <inheritdoc/>
    public RawTensor SoftmaxBackward(RawTensor y, RawTensor gy, int dim, bool log)
    {
        var dst = CpuTensor.Alloc(y.Shape, y.DType);
        var (outer, d, inner) = Shapes.Split(y.Shape, dim);
        switch (y.DType)
        {
            case DType.Float32: SoftmaxBackwardT((float[])C(y).Data, (float[])C(gy).Data, (float[])dst.Data, outer, d, inner, log); break;
            default: SoftmaxBackwardT((double[])C(y).Data, (double[])C(gy).Data, (double[])dst.Data, outer, d, inner, log); break;
        }
        return dst;
    }

    // Rows along the softmax axis are contiguous when inner == 1 (the usual case: classes last); otherwise the
    // axis is strided and we work on whole (d x inner) slabs with elementwise vector ops across inner.
    static void SoftmaxT<T>(T[] x, T[] y, int outer, int d, int inner, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (d == 0) return;
        if (inner == 1 && IsShortRow(d))
        {
            Par.For(outer, (long)d * 4, (r0, r1) => ShortRowsForward(x, y, r0, r1, d, log));
            return;
        }
        Par.For(outer, (long)d * inner * 4, (o0, o1) =>
        {
            T[]? scratch = inner > 1 ? new T[2 * inner] : null;
            for (int o = o0; o < o1; o++)
            {
                int b = o * d * inner;
                if (inner == 1)
                {
                    var xr = x.AsSpan(b, d); var yr = y.AsSpan(b, d);
                    T max = TP.Max<T>(xr);
                    if (T.IsNegativeInfinity(max)) max = T.Zero; // an all -inf row gives NaN like PyTorch, not -inf - -inf noise
                    TP.Subtract(xr, max, yr);
                    if (log)
                    {
                        T lse = T.Log(SumExp(yr));
                        TP.Subtract(yr, lse, yr);
                    }
                    else
                    {
                        SimdMath.Exp<T>(yr, yr);
                        TP.Divide(yr, Sum<T>(yr), yr);
                    }
                    continue;
                }
                var m = scratch.AsSpan(0, inner); var s = scratch.AsSpan(inner, inner);
                x.AsSpan(b, inner).CopyTo(m);
                for (int k = 1; k < d; k++) TP.Max(m, x.AsSpan(b + k * inner, inner), m);
                s.Clear();
                for (int k = 0; k < d; k++)
                {
                    var yr = y.AsSpan(b + k * inner, inner);
                    TP.Subtract(x.AsSpan(b + k * inner, inner), m, yr);
                    SimdMath.Exp<T>(yr, yr);
                    TP.Add(s, yr, s);
                }
                if (log) TP.Log(s, s);
                for (int k = 0; k < d; k++)
                {
                    var yr = y.AsSpan(b + k * inner, inner);
                    if (log) { TP.Subtract(x.AsSpan(b + k * inner, inner), m, yr); TP.Subtract(yr, s, yr); }
                    else TP.Divide(yr, s, yr);
                }
            }
        });
    }

    // sum(exp(v)) without writing exp(v) anywhere: chunks through a small stack buffer.
    static T SumExp<T>(ReadOnlySpan<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> buf = stackalloc T[256];
        T s = T.Zero;
        for (int i = 0; i < v.Length; i += buf.Length)
        {
            var c = v.Slice(i, Math.Min(buf.Length, v.Length - i));
            var b = buf[..c.Length];
            SimdMath.Exp<T>(c, b);
            s += Sum<T>(b);
        }
        return s;
    }

    // log: gx = gy - exp(y) * sum(gy);  softmax: gx = y * (gy - sum(gy * y)).
    static void SoftmaxBackwardT<T>(T[] y, T[] gy, T[] gx, int outer, int d, int inner, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (inner == 1 && IsShortRow(d))
        {
            Par.For(outer, (long)d * 4, (r0, r1) => ShortRowsBackward(y, gy, gx, r0, r1, d, log));
            return;
        }
        Par.For(outer, (long)d * inner * 4, (o0, o1) =>
        {
            T[] s = new T[inner], tmp = new T[inner];
            for (int o = o0; o < o1; o++)
            {
                int b = o * d * inner;
                if (inner == 1)
                {
                    var yr = y.AsSpan(b, d); var gr = gy.AsSpan(b, d); var xr = gx.AsSpan(b, d);
                    if (log)
                    {
                        T sum = Sum<T>(gr);
                        SimdMath.Exp<T>(yr, xr);
                        TP.MultiplyAdd(xr, -sum, gr, xr);
                    }
                    else
                    {
                        TP.Multiply(gr, yr, xr);
                        T dot = Sum<T>(xr);
                        TP.Subtract(gr, dot, xr);
                        TP.Multiply(xr, yr, xr);
                    }
                    continue;
                }
                s.AsSpan().Clear();
                for (int k = 0; k < d; k++)
                {
                    var gr = gy.AsSpan(b + k * inner, inner);
                    if (log) TP.Add(s, gr, s);
                    else { TP.Multiply(gr, y.AsSpan(b + k * inner, inner), tmp); TP.Add(s, tmp, s); }
                }
                for (int k = 0; k < d; k++)
                {
                    var yr = y.AsSpan(b + k * inner, inner); var gr = gy.AsSpan(b + k * inner, inner); var xr = gx.AsSpan(b + k * inner, inner);
                    if (log) { SimdMath.Exp<T>(yr, tmp); TP.Multiply(tmp, s, tmp); TP.Subtract(gr, tmp, xr); }
                    else { TP.Subtract(gr, s, tmp); TP.Multiply(tmp, yr, xr); }
                }
            }
        });
    }

    // Short contiguous rows (classes last, one vector up to 1024 values, as in 4800x29): per-row TensorPrimitives calls
    // would cost more than the arithmetic. Instead, rows go a block at a time; each per-row step is inline vector code
    // whose last vector overlaps the one before it (no scalar tail), and exp and log run once over the block. At most 256
    // bits: measured slower at 512 (4800x29, one core, Zen 4): an in-register exp per row in Vector512 with no exp pass
    // (137 against 97 us; each row's max -> exp -> sum chain then runs in series), the same with the maxima of a block
    // first (102 against 97 us: Zen 4 splits 512-bit ops in two, and 2 vectors for a 29-value row do 10% more exp work).
    static bool IsShortRow(int d) => d <= 1024 && d >= ShortRowMaxLanes;

    const int ShortRowBlock = 2048;    // values per block: the block's exp stays in L1
    const int ShortRowMaxLanes = 8;    // a row must fill one vector of the widest width used (256 bits of float32)

    static void ShortRowsForward<T>(T[] x, T[] y, int r0, int r1, int d, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = new ShortRowsKernel<T>(x, y, null, r0, r1, d, log, false);
        Simd.Run<T, ShortRowsKernel<T>>(ref kernel, maxBits: 256);
    }

    // log: gx = gy - exp(y) * sum(gy);  softmax: gx = y * (gy - sum(gy * y)), as in SoftmaxBackwardT.
    static void ShortRowsBackward<T>(T[] y, T[] gy, T[] gx, int r0, int r1, int d, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = new ShortRowsKernel<T>(y, gx, gy, r0, r1, d, log, true);
        Simd.Run<T, ShortRowsKernel<T>>(ref kernel, maxBits: 256);
    }

    /// <summary>Forward: src = x, dst = y. Backward: src = y, dst = gx, g = gy.</summary>
    readonly unsafe struct ShortRowsKernel<T>(T[] src, T[] dst, T[]? g, int r0, int r1, int d, bool log, bool backward)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* sp = src, dp = dst, gp = g)
            {
                if (backward) Backward<TV, S>(sp, gp, dp, src.AsSpan(), dst.AsSpan(), r0, r1, d, log);
                else Forward<TV, S>(sp, dp, dst.AsSpan(), r0, r1, d, log);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Forward<TV, S>(T* x, T* y, Span<T> ySpan, int r0, int r1, int d, bool log) where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes, blockRows = Math.Max(1, ShortRowBlock / d);
            Span<T> m = stackalloc T[blockRows], s = stackalloc T[blockRows];
            var tail = TailMask<TV, S>(d);
            for (int b = r0; b < r1; b += blockRows)
            {
                int rows = Math.Min(blockRows, r1 - b);
                for (int r = 0; r < rows; r++)
                {
                    T* xr = x + (b + r) * d;
                    var mv = S.Load(xr + d - w);
                    for (int i = 0; i + w <= d; i += w) mv = S.Max(mv, S.Load(xr + i));
                    T max = S.MaxAcross(mv);
                    if (T.IsNegativeInfinity(max)) max = T.Zero; // an all -inf row gives NaN like PyTorch, not -inf - -inf noise
                    m[r] = max;
                    Sub<TV, S>(xr, S.Splat(max), y + (b + r) * d, d);
                }
                var block = ySpan.Slice(b * d, rows * d);
                SimdMath.Exp<T>(block, block);
                for (int r = 0; r < rows; r++) s[r] = RowSum<TV, S>(y + (b + r) * d, d, tail);
                if (log)
                {
                    SimdMath.Log<T>(s[..rows], s[..rows]);
                    // (x - max) - log(sum), as PyTorch: x - (max + log(sum)) lost log(sum) where |max| dwarfs it (1e30, or 1e6 in float32)
                    for (int r = 0; r < rows; r++) Sub<TV, S>(x + (b + r) * d, S.Splat(m[r]), S.Splat(s[r]), y + (b + r) * d, d);
                }
                else
                {
                    for (int r = 0; r < rows; r++)
                    {
                        T* yr = y + (b + r) * d;
                        var sv = S.Splat(T.One / s[r]);
                        var lastV = S.Load(yr + d - w); // read before the in-place stores reach it
                        for (int i = 0; i + w <= d; i += w) S.Store(S.Mul(S.Load(yr + i), sv), yr + i);
                        S.Store(S.Mul(lastV, sv), yr + d - w);
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Backward<TV, S>(T* y, T* gy, T* gx, Span<T> ySpan, Span<T> gxSpan, int r0, int r1, int d, bool log)
            where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes, blockRows = Math.Max(1, ShortRowBlock / d);
            var tail = TailMask<TV, S>(d);
            for (int b = r0; b < r1; b += blockRows)
            {
                int rows = Math.Min(blockRows, r1 - b);
                if (log) SimdMath.Exp<T>(ySpan.Slice(b * d, rows * d), gxSpan.Slice(b * d, rows * d));
                for (int r = 0; r < rows; r++)
                {
                    int o = (b + r) * d, last = o + d - w;
                    if (log)
                    {
                        var sv = S.Splat(RowSum<TV, S>(gy + o, d, tail));
                        var lastE = S.Load(gx + last); // read before the in-place stores reach it
                        for (int i = o; i + w <= o + d; i += w) S.Store(S.Sub(S.Load(gy + i), S.Mul(S.Load(gx + i), sv)), gx + i);
                        S.Store(S.Sub(S.Load(gy + last), S.Mul(lastE, sv)), gx + last);
                    }
                    else
                    {
                        var acc = S.And(S.Mul(S.Load(gy + last), S.Load(y + last)), tail);
                        for (int i = o; i + w <= o + d; i += w) acc = S.Add(acc, S.Mul(S.Load(gy + i), S.Load(y + i)));
                        var dv = S.Splat(S.Sum(acc));
                        for (int i = o; i + w <= o + d; i += w) S.Store(S.Mul(S.Load(y + i), S.Sub(S.Load(gy + i), dv)), gx + i);
                        S.Store(S.Mul(S.Load(y + last), S.Sub(S.Load(gy + last), dv)), gx + last);
                    }
                }
            }
        }

        /// <summary>dst[0..d) = src[0..d) - v; the last vector overlaps the one before it and writes the same values.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Sub<TV, S>(T* src, TV a, T* dst, int d) where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes;
            for (int i = 0; i + w <= d; i += w) S.Store(S.Sub(S.Load(src + i), a), dst + i);
            S.Store(S.Sub(S.Load(src + d - w), a), dst + d - w);
        }

        /// <summary>dst = (src - a) - b over a row, in that order (log-softmax's (x - max) - log-sum).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Sub<TV, S>(T* src, TV a, TV b, T* dst, int d) where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes;
            for (int i = 0; i + w <= d; i += w) S.Store(S.Sub(S.Sub(S.Load(src + i), a), b), dst + i);
            S.Store(S.Sub(S.Sub(S.Load(src + d - w), a), b), dst + d - w);
        }

        /// <summary>Sum of a row of d values: whole vectors, then the last vector with the lanes already counted masked off.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static T RowSum<TV, S>(T* src, int d, TV tail) where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes;
            var acc = S.And(S.Load(src + d - w), tail);
            for (int i = 0; i + w <= d; i += w) acc = S.Add(acc, S.Load(src + i));
            return S.Sum(acc);
        }

        /// <summary>Lanes of a row's last vector (it starts at d - w) that the whole vectors before it did not cover.</summary>
        static TV TailMask<TV, S>(int d) where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes, covered = d % w == 0 ? w : w - d % w;
            T* lanes = stackalloc T[w];
            for (int i = 0; i < w; i++) lanes[i] = T.CreateTruncating(i);
            return S.Equal(S.Max(S.Load(lanes), S.Splat(T.CreateTruncating(covered))), S.Load(lanes)); // lane >= covered
        }
    }
}
