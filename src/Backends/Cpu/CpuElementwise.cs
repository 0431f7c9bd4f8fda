using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public RawTensor Unary(UnaryOp op, RawTensor x)
    {
        var src = C(x);
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32: Chunked(x.Numel, (s, e) => UnaryFloat<float>(op, src.Span<float>()[s..e], dst.Span<float>()[s..e])); break;
            case DType.Float64: Chunked(x.Numel, (s, e) => UnaryFloat<double>(op, src.Span<double>()[s..e], dst.Span<double>()[s..e])); break;
            case DType.Int32: UnaryInt<int>(op, src.Span<int>(), dst.Span<int>()); break;
            case DType.Int64: UnaryInt<long>(op, src.Span<long>(), dst.Span<long>()); break;
            default: throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType)");
        }
        return dst;
    }

    // Elementwise work is memory bound: split it over the cores only for large arrays.
    static void Chunked(int n, Action<int, int> body) => Par.For(n, 1, body);

    static void UnaryFloat<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case UnaryOp.Neg: TP.Negate(x, d); break;
            case UnaryOp.Exp: SimdMath.Exp(x, d); break;
            case UnaryOp.Log: SimdMath.Log(x, d); break;
            case UnaryOp.Sqrt: TP.Sqrt(x, d); break;
            case UnaryOp.Abs: TP.Abs(x, d); break;
            case UnaryOp.Tanh: SimdMath.Tanh(x, d); break;
            case UnaryOp.Sigmoid: SimdMath.Sigmoid(x, d); break;
            case UnaryOp.Relu: TP.Max(x, T.Zero, d); break;
            case UnaryOp.Square: TP.Multiply(x, x, d); break;
            // PyTorch's (0 < x) - (x < 0): 0 at NaN (so Abs's gradient there is 0 too).
            case UnaryOp.Sign: for (int i = 0; i < x.Length; i++) d[i] = T.IsNaN(x[i]) ? T.Zero : T.CreateTruncating(T.Sign(x[i])); break;
        }
    }

    static void UnaryInt<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> d) where T : unmanaged, IBinaryInteger<T>, ISignedNumber<T>
    {
        switch (op)
        {
            case UnaryOp.Neg: TP.Negate(x, d); break;
            // Wrapping as PyTorch's (and C++'s) abs: the minimum value stays itself (TensorPrimitives.Abs throws there).
            case UnaryOp.Abs: for (int i = 0; i < x.Length; i++) d[i] = T.IsNegative(x[i]) ? -x[i] : x[i]; break;
            case UnaryOp.Relu: TP.Max(x, T.Zero, d); break;
            case UnaryOp.Square: TP.Multiply(x, x, d); break;
            case UnaryOp.Sign: for (int i = 0; i < x.Length; i++) d[i] = T.CreateTruncating(T.Sign(x[i])); break;
            default: throw new ArgumentException($"{op}: integer tensors are not supported; convert with To(DType.Float32)");
        }
    }

    /// <inheritdoc/>
    public RawTensor Binary(BinaryOp op, RawTensor a, RawTensor b)
    {
        var shape = Shapes.Broadcast(op.ToString(), a.Shape, b.Shape);
        bool compare = op >= BinaryOp.Eq;
        var dst = CpuTensor.Alloc(shape, compare ? DType.Bool : a.DType);
        var plan = new BroadcastPlan(shape, a.Shape, b.Shape);
        Array ad = C(a).Data, bd = C(b).Data;
        plan.Run((int row, int start, int len, ReadOnlySpan<int> off, int dOff) =>
        {
            switch (a.DType)
            {
                case DType.Float32 when compare: Compare(op, (float[])ad, off[0], plan.InnerStride(0), (float[])bd, off[1], plan.InnerStride(1), ((bool[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Float64 when compare: Compare(op, (double[])ad, off[0], plan.InnerStride(0), (double[])bd, off[1], plan.InnerStride(1), ((bool[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Int32 when compare: Compare(op, (int[])ad, off[0], plan.InnerStride(0), (int[])bd, off[1], plan.InnerStride(1), ((bool[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Int64 when compare: Compare(op, (long[])ad, off[0], plan.InnerStride(0), (long[])bd, off[1], plan.InnerStride(1), ((bool[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Bool when op is BinaryOp.Eq or BinaryOp.Ne: CompareBool(op, (bool[])ad, off[0], plan.InnerStride(0), (bool[])bd, off[1], plan.InnerStride(1), ((bool[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Float32: BinaryFloat(op, (float[])ad, off[0], plan.InnerStride(0), (float[])bd, off[1], plan.InnerStride(1), ((float[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Float64: BinaryFloat(op, (double[])ad, off[0], plan.InnerStride(0), (double[])bd, off[1], plan.InnerStride(1), ((double[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Int32: BinaryInt(op, (int[])ad, off[0], plan.InnerStride(0), (int[])bd, off[1], plan.InnerStride(1), ((int[])dst.Data).AsSpan(dOff, len)); break;
                case DType.Int64: BinaryInt(op, (long[])ad, off[0], plan.InnerStride(0), (long[])bd, off[1], plan.InnerStride(1), ((long[])dst.Data).AsSpan(dOff, len)); break;
                default: throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType)");
            }
        });
        return dst;
    }

    // One row segment: each operand is either a contiguous run (stride 1) or one repeated value (stride 0).
    static void BinaryFloat<T>(BinaryOp op, T[] a, int ao, int sa, T[] b, int bo, int sb, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = d.Length;
        if (sa == 0 && sb == 0) { d.Fill(Scalar(op, a[ao], b[bo])); return; }
        if (sa == 1 && sb == 1)
        {
            ReadOnlySpan<T> x = a.AsSpan(ao, n), y = b.AsSpan(bo, n);
            switch (op)
            {
                case BinaryOp.Add: TP.Add(x, y, d); break;
                case BinaryOp.Sub: TP.Subtract(x, y, d); break;
                case BinaryOp.Mul: TP.Multiply(x, y, d); break;
                case BinaryOp.Div: TP.Divide(x, y, d); break;
                case BinaryOp.Pow: TP.Pow(x, y, d); break;
                case BinaryOp.Maximum: TP.Max(x, y, d); break;
                case BinaryOp.Minimum: TP.Min(x, y, d); break;
            }
        }
        else if (sb == 0)
        {
            ReadOnlySpan<T> x = a.AsSpan(ao, n); T y = b[bo];
            switch (op)
            {
                case BinaryOp.Add: TP.Add(x, y, d); break;
                case BinaryOp.Sub: TP.Subtract(x, y, d); break;
                case BinaryOp.Mul: TP.Multiply(x, y, d); break;
                case BinaryOp.Div: TP.Divide(x, y, d); break;
                case BinaryOp.Pow: TP.Pow(x, y, d); break;
                case BinaryOp.Maximum: TP.Max(x, y, d); break;
                case BinaryOp.Minimum: TP.Min(x, y, d); break;
            }
        }
        else
        {
            T x = a[ao]; ReadOnlySpan<T> y = b.AsSpan(bo, n);
            switch (op)
            {
                case BinaryOp.Add: TP.Add(y, x, d); break;
                case BinaryOp.Sub: TP.Subtract(x, y, d); break;
                case BinaryOp.Mul: TP.Multiply(y, x, d); break;
                case BinaryOp.Div: TP.Divide(x, y, d); break;
                case BinaryOp.Pow: TP.Pow(x, y, d); break;
                case BinaryOp.Maximum: TP.Max(y, x, d); break;
                case BinaryOp.Minimum: TP.Min(y, x, d); break;
            }
        }
    }

    static T Scalar<T>(BinaryOp op, T x, T y) where T : unmanaged, IFloatingPointIeee754<T> => op switch
    {
        BinaryOp.Add => x + y, BinaryOp.Sub => x - y, BinaryOp.Mul => x * y, BinaryOp.Div => x / y,
        BinaryOp.Pow => T.Pow(x, y), BinaryOp.Maximum => T.Max(x, y), _ => T.Min(x, y),
    };

    static void BinaryInt<T>(BinaryOp op, T[] a, int ao, int sa, T[] b, int bo, int sb, Span<T> d) where T : unmanaged, IBinaryInteger<T>
    {
        for (int i = 0; i < d.Length; i++)
        {
            T x = a[ao + i * sa], y = b[bo + i * sb];
            d[i] = op switch
            {
                BinaryOp.Add => x + y, BinaryOp.Sub => x - y, BinaryOp.Mul => x * y,
                BinaryOp.Maximum => T.Max(x, y), BinaryOp.Minimum => T.Min(x, y),
                _ => throw new ArgumentException($"{op}: integer tensors are not supported; convert with To(DType.Float32)"),
            };
        }
    }

    static void Compare<T>(BinaryOp op, T[] a, int ao, int sa, T[] b, int bo, int sb, Span<bool> d) where T : unmanaged, INumber<T>
    {
        for (int i = 0; i < d.Length; i++)
        {
            T x = a[ao + i * sa], y = b[bo + i * sb];
            d[i] = op switch
            {
                BinaryOp.Eq => x == y, BinaryOp.Ne => x != y, BinaryOp.Lt => x < y,
                BinaryOp.Le => x <= y, BinaryOp.Gt => x > y, _ => x >= y,
            };
        }
    }

    static void CompareBool(BinaryOp op, bool[] a, int ao, int sa, bool[] b, int bo, int sb, Span<bool> d)
    {
        for (int i = 0; i < d.Length; i++) d[i] = (a[ao + i * sa] == b[bo + i * sb]) == (op == BinaryOp.Eq);
    }

    /// <inheritdoc/>
    public RawTensor Where(RawTensor cond, RawTensor a, RawTensor b)
    {
        var shape = Shapes.Broadcast("Where", Shapes.Broadcast("Where", cond.Shape, a.Shape), b.Shape);
        var dst = CpuTensor.Alloc(shape, a.DType);
        var plan = new BroadcastPlan(shape, cond.Shape, a.Shape, b.Shape);
        var c = (bool[])C(cond).Data; Array ad = C(a).Data, bd = C(b).Data;
        plan.Run((row, start, len, off, dOff) =>
        {
            switch (a.DType)
            {
                case DType.Float32: Select(c, (float[])ad, (float[])bd, (float[])dst.Data, plan, off, dOff, len); break;
                case DType.Float64: Select(c, (double[])ad, (double[])bd, (double[])dst.Data, plan, off, dOff, len); break;
                case DType.Int32: Select(c, (int[])ad, (int[])bd, (int[])dst.Data, plan, off, dOff, len); break;
                case DType.Int64: Select(c, (long[])ad, (long[])bd, (long[])dst.Data, plan, off, dOff, len); break;
                default: Select(c, (bool[])ad, (bool[])bd, (bool[])dst.Data, plan, off, dOff, len); break;
            }
        });
        return dst;
    }

    static void Select<T>(bool[] c, T[] a, T[] b, T[] d, BroadcastPlan plan, ReadOnlySpan<int> off, int dOff, int len)
    {
        int sc = plan.InnerStride(0), sa = plan.InnerStride(1), sb = plan.InnerStride(2);
        for (int i = 0; i < len; i++) d[dOff + i] = c[off[0] + i * sc] ? a[off[1] + i * sa] : b[off[2] + i * sb];
    }

    /// <inheritdoc/>
    public RawTensor Clamp(RawTensor x, double min, double max)
    {
        var src = C(x);
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32: ClampSpan(src.Span<float>(), dst.Span<float>(), (float)min, (float)max, !double.IsNaN(min), !double.IsNaN(max)); break;
            case DType.Float64: ClampSpan(src.Span<double>(), dst.Span<double>(), min, max, !double.IsNaN(min), !double.IsNaN(max)); break;
            case DType.Int32: ClampSpan(src.Span<int>(), dst.Span<int>(), double.IsNaN(min) ? 0 : (int)Math.Ceiling(min), double.IsNaN(max) ? 0 : (int)Math.Floor(max), !double.IsNaN(min), !double.IsNaN(max)); break;
            case DType.Int64: ClampSpan(src.Span<long>(), dst.Span<long>(), double.IsNaN(min) ? 0 : (long)Math.Ceiling(min), double.IsNaN(max) ? 0 : (long)Math.Floor(max), !double.IsNaN(min), !double.IsNaN(max)); break;
            default: throw new ArgumentException("Clamp: Bool tensors are not supported");
        }
        return dst;
    }

    static void ClampSpan<T>(ReadOnlySpan<T> x, Span<T> d, T min, T max, bool hasMin, bool hasMax) where T : unmanaged, INumber<T>
    {
        x.CopyTo(d);
        if (hasMin) TP.Max(d, min, d);
        if (hasMax) TP.Min(d, max, d);
    }
}
