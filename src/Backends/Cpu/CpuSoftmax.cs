using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
        if (inner == 1 && IsShortRow<T>(d))
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
                        FastMath.Exp<T>(yr, yr);
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
                    FastMath.Exp<T>(yr, yr);
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
            FastMath.Exp<T>(c, b);
            s += Sum<T>(b);
        }
        return s;
    }

    // log: gx = gy - exp(y) * sum(gy);  softmax: gx = y * (gy - sum(gy * y)).
    static void SoftmaxBackwardT<T>(T[] y, T[] gy, T[] gx, int outer, int d, int inner, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (inner == 1 && IsShortRow<T>(d))
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
                        FastMath.Exp<T>(yr, xr);
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
                    if (log) { FastMath.Exp<T>(yr, tmp); TP.Multiply(tmp, s, tmp); TP.Subtract(gr, tmp, xr); }
                    else { TP.Subtract(gr, s, tmp); TP.Multiply(tmp, yr, xr); }
                }
            }
        });
    }

    // Short contiguous rows (classes last, one vector up to 1024 values, as in 4800x29): per-row TensorPrimitives calls
    // would cost more than the arithmetic. Instead, rows go a block at a time; each per-row step is inline Vector256
    // code whose last vector overlaps the one before it (no scalar tail), and exp and log run once over the block.
    // Measured slower (4800x29, one core): an in-register exp per row in Vector512 with no exp pass (137 against 97 us;
    // each row's max -> exp -> sum chain then runs in series), the same with the maxima of a block first (102 against 97
    // us: Zen 4 splits 512-bit ops in two, and 2 vectors for a 29-value row do 10% more exp work), and a native,
    // non-NaN-propagating max (no change).
    static bool IsShortRow<T>(int d) => Vector256.IsHardwareAccelerated && d >= Vector256<T>.Count && d <= 1024;

    const int ShortRowBlock = 2048; // values per block: the block's exp stays in L1

    static void ShortRowsForward<T>(T[] x, T[] y, int r0, int r1, int d, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, blockRows = Math.Max(1, ShortRowBlock / d);
        Span<T> m = stackalloc T[blockRows], s = stackalloc T[blockRows];
        var tail = TailMask<T>(d);
        ref T xs = ref MemoryMarshal.GetArrayDataReference(x);
        ref T ys = ref MemoryMarshal.GetArrayDataReference(y);
        for (int b = r0; b < r1; b += blockRows)
        {
            int rows = Math.Min(blockRows, r1 - b);
            for (int r = 0; r < rows; r++)
            {
                nuint o = (nuint)((b + r) * d);
                var mv = Vector256.LoadUnsafe(ref xs, o + (nuint)(d - w));
                for (int i = 0; i + w <= d; i += w) mv = Vector256.Max(mv, Vector256.LoadUnsafe(ref xs, o + (nuint)i));
                T max = MaxAcross(mv);
                if (T.IsNegativeInfinity(max)) max = T.Zero; // an all -inf row gives NaN like PyTorch, not -inf - -inf noise
                m[r] = max;
                Sub(ref xs, Vector256.Create(max), ref ys, o, d);
            }
            var block = y.AsSpan(b * d, rows * d);
            FastMath.Exp<T>(block, block);
            for (int r = 0; r < rows; r++) s[r] = RowSum(ref ys, (nuint)((b + r) * d), d, tail);
            if (log)
            {
                TP.Log(s[..rows], s[..rows]);
                for (int r = 0; r < rows; r++) Sub(ref xs, Vector256.Create(m[r] + s[r]), ref ys, (nuint)((b + r) * d), d);
            }
            else
            {
                for (int r = 0; r < rows; r++)
                {
                    nuint o = (nuint)((b + r) * d), last = o + (nuint)(d - w);
                    var sv = Vector256.Create(T.One / s[r]);
                    var lastV = Vector256.LoadUnsafe(ref ys, last); // read before the in-place stores reach it
                    for (int i = 0; i + w <= d; i += w) (Vector256.LoadUnsafe(ref ys, o + (nuint)i) * sv).StoreUnsafe(ref ys, o + (nuint)i);
                    (lastV * sv).StoreUnsafe(ref ys, last);
                }
            }
        }
    }

    // log: gx = gy - exp(y) * sum(gy);  softmax: gx = y * (gy - sum(gy * y)), as in SoftmaxBackwardT.
    static void ShortRowsBackward<T>(T[] y, T[] gy, T[] gx, int r0, int r1, int d, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, blockRows = Math.Max(1, ShortRowBlock / d);
        var tail = TailMask<T>(d);
        ref T ys = ref MemoryMarshal.GetArrayDataReference(y);
        ref T gs = ref MemoryMarshal.GetArrayDataReference(gy);
        ref T xs = ref MemoryMarshal.GetArrayDataReference(gx);
        for (int b = r0; b < r1; b += blockRows)
        {
            int rows = Math.Min(blockRows, r1 - b);
            if (log) FastMath.Exp<T>(y.AsSpan(b * d, rows * d), gx.AsSpan(b * d, rows * d));
            for (int r = 0; r < rows; r++)
            {
                nuint o = (nuint)((b + r) * d), last = o + (nuint)(d - w);
                if (log)
                {
                    var sv = Vector256.Create(RowSum(ref gs, o, d, tail));
                    var lastE = Vector256.LoadUnsafe(ref xs, last); // read before the in-place stores reach it
                    for (int i = 0; i + w <= d; i += w)
                    {
                        nuint k = o + (nuint)i;
                        (Vector256.LoadUnsafe(ref gs, k) - Vector256.LoadUnsafe(ref xs, k) * sv).StoreUnsafe(ref xs, k);
                    }
                    (Vector256.LoadUnsafe(ref gs, last) - lastE * sv).StoreUnsafe(ref xs, last);
                }
                else
                {
                    var acc = Vector256.LoadUnsafe(ref gs, last) * Vector256.LoadUnsafe(ref ys, last) & tail;
                    for (int i = 0; i + w <= d; i += w) acc += Vector256.LoadUnsafe(ref gs, o + (nuint)i) * Vector256.LoadUnsafe(ref ys, o + (nuint)i);
                    var dv = Vector256.Create(Vector256.Sum(acc));
                    for (int i = 0; i + w <= d; i += w)
                    {
                        nuint k = o + (nuint)i;
                        (Vector256.LoadUnsafe(ref ys, k) * (Vector256.LoadUnsafe(ref gs, k) - dv)).StoreUnsafe(ref xs, k);
                    }
                    (Vector256.LoadUnsafe(ref ys, last) * (Vector256.LoadUnsafe(ref gs, last) - dv)).StoreUnsafe(ref xs, last);
                }
            }
        }
    }

    /// <summary>dst[o..o+d) = src[o..o+d) - v; the last vector overlaps the one before it and writes the same values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Sub<T>(ref T src, Vector256<T> v, ref T dst, nuint o, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        for (int i = 0; i + w <= d; i += w) (Vector256.LoadUnsafe(ref src, o + (nuint)i) - v).StoreUnsafe(ref dst, o + (nuint)i);
        nuint last = o + (nuint)(d - w);
        (Vector256.LoadUnsafe(ref src, last) - v).StoreUnsafe(ref dst, last);
    }

    /// <summary>Sum of a row of d values: whole vectors, then the last vector with the lanes already counted masked off.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T RowSum<T>(ref T src, nuint o, int d, Vector256<T> tail) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        var acc = Vector256.LoadUnsafe(ref src, o + (nuint)(d - w)) & tail;
        for (int i = 0; i + w <= d; i += w) acc += Vector256.LoadUnsafe(ref src, o + (nuint)i);
        return Vector256.Sum(acc);
    }

    /// <summary>Lanes of a row's last vector (it starts at d - w) that the whole vectors before it did not cover.</summary>
    static Vector256<T> TailMask<T>(int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, covered = d % w == 0 ? w : w - d % w;
        return Vector256.GreaterThanOrEqual(Vector256<T>.Indices, Vector256.Create(T.CreateTruncating(covered)));
    }

    static T MaxAcross<T>(Vector256<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var h = Vector128.Max(v.GetLower(), v.GetUpper());
        T max = h.GetElement(0);
        for (int i = 1; i < Vector128<T>.Count; i++) max = T.Max(max, h.GetElement(i));
        return max;
    }
}
