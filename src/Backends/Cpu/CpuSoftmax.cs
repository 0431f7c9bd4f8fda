using System.Numerics;
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
                        TP.Exp(yr, yr);
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
                    TP.Exp(yr, yr);
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
            TP.Exp(c, b);
            s += Sum<T>(b);
        }
        return s;
    }

    // log: gx = gy - exp(y) * sum(gy);  softmax: gx = y * (gy - sum(gy * y)).
    static void SoftmaxBackwardT<T>(T[] y, T[] gy, T[] gx, int outer, int d, int inner, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
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
                        TP.Exp(yr, xr);
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
                    if (log) { TP.Exp(yr, tmp); TP.Multiply(tmp, s, tmp); TP.Subtract(gr, tmp, xr); }
                    else { TP.Subtract(gr, s, tmp); TP.Multiply(tmp, yr, xr); }
                }
            }
        });
    }
}
