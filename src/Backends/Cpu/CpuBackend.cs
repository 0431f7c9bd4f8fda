using System.Numerics;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// The managed CPU backend: whole-span SIMD kernels (the Simd layer at the widest accelerated width, and
/// System.Numerics.Tensors for plain span arithmetic) and both cores for big work.
/// Each op family lives in its own partial file (Elementwise, Reduce, Shape, Softmax, MatMul, Ctc).
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    /// <summary>The single CPU backend.</summary>
    public static readonly CpuBackend Instance = new();

    CpuBackend() { }

    /// <inheritdoc/>
    public Device Device => Device.Cpu;

    static CpuTensor C(RawTensor x) => x as CpuTensor
        ?? throw new ArgumentException($"CPU backend: got a tensor on device '{x.Backend.Device}'; move it with To(Device.Cpu) first");

    /// <inheritdoc/>
    public RawTensor FromArray(Array data, int[] shape)
    {
        var dtype = DTypes.OfArray(data);
        int n = Shapes.Numel(shape);
        if (data.Length != n) throw new ArgumentException($"FromArray: {data.Length} values do not fill shape {Shapes.Format(shape)} ({n} elements)", nameof(data));
        var t = CpuTensor.Alloc((int[])shape.Clone(), dtype);
        Array.Copy(data, t.Data, n);
        return t;
    }

    /// <inheritdoc/>
    public Array ToArray(RawTensor x)
    {
        var c = C(x);
        // A typed array per dtype rather than Array.CreateInstance, which NativeAOT cannot promise for a runtime Type.
        Array r = x.DType switch
        {
            DType.Float32 => new float[x.Numel],
            DType.Float64 => new double[x.Numel],
            DType.Int32 => new int[x.Numel],
            DType.Int64 => new long[x.Numel],
            DType.Bool => new bool[x.Numel],
            _ => throw new NotSupportedException($"ToArray: dtype {x.DType} is not supported"),
        };
        Array.Copy(c.Data, r, x.Numel);
        return r;
    }

    /// <inheritdoc/>
    public RawTensor Full(int[] shape, DType dtype, double value)
    {
        var t = CpuTensor.Alloc(shape, dtype);
        Par.For(t.Numel, 1, (i0, i1) => // the cores share a large fill
        {
            switch (dtype)
            {
                case DType.Float32: t.Span<float>()[i0..i1].Fill((float)value); break;
                case DType.Float64: t.Span<double>()[i0..i1].Fill(value); break;
                case DType.Int32: t.Span<int>()[i0..i1].Fill((int)value); break;
                case DType.Int64: t.Span<long>()[i0..i1].Fill((long)value); break;
                default: t.Span<bool>()[i0..i1].Fill(value != 0); break;
            }
        });
        return t;
    }

    /// <inheritdoc/>
    public void RunParts(int count, Action<int> part) => Par.Parts(count, part);

    /// <inheritdoc/>
    public RawTensor Cast(RawTensor x, DType dtype)
    {
        var src = C(x);
        if (dtype == x.DType)
        {
            var copy = CpuTensor.Alloc(x.Shape, dtype);
            Array.Copy(src.Data, copy.Data, x.Numel);
            return copy;
        }
        var dst = CpuTensor.Alloc(x.Shape, dtype);
        switch (x.DType)
        {
            case DType.Float32: CastFrom<float>(src.Span<float>(), dst); break;
            case DType.Float64: CastFrom<double>(src.Span<double>(), dst); break;
            case DType.Int32: CastFrom<int>(src.Span<int>(), dst); break;
            case DType.Int64: CastFrom<long>(src.Span<long>(), dst); break;
            default:
                var b = src.Span<bool>();
                switch (dtype)
                {
                    case DType.Float32: { var d = dst.Span<float>(); for (int i = 0; i < b.Length; i++) d[i] = b[i] ? 1f : 0f; break; }
                    case DType.Float64: { var d = dst.Span<double>(); for (int i = 0; i < b.Length; i++) d[i] = b[i] ? 1 : 0; break; }
                    case DType.Int32: { var d = dst.Span<int>(); for (int i = 0; i < b.Length; i++) d[i] = b[i] ? 1 : 0; break; }
                    case DType.Int64: { var d = dst.Span<long>(); for (int i = 0; i < b.Length; i++) d[i] = b[i] ? 1 : 0; break; }
                }
                break;
        }
        return dst;
    }

    static void CastFrom<TFrom>(Span<TFrom> s, CpuTensor dst) where TFrom : unmanaged, INumber<TFrom>
    {
        switch (dst.DType)
        {
            case DType.Float32: { var d = dst.Span<float>(); for (int i = 0; i < s.Length; i++) d[i] = float.CreateTruncating(s[i]); break; }
            case DType.Float64: { var d = dst.Span<double>(); for (int i = 0; i < s.Length; i++) d[i] = double.CreateTruncating(s[i]); break; }
            // Integers wrap (Int64 -> Int32 keeps the low 32 bits, as C++ and PyTorch, and the ILGPU backend); floats saturate
            // (out of range is undefined in C++; NaN gives 0).
            case DType.Int32 when typeof(TFrom) == typeof(long):
                { var d = dst.Span<int>(); for (int i = 0; i < s.Length; i++) d[i] = int.CreateTruncating(s[i]); break; }
            case DType.Int32: { var d = dst.Span<int>(); for (int i = 0; i < s.Length; i++) d[i] = int.CreateSaturating(s[i]); break; }
            case DType.Int64: { var d = dst.Span<long>(); for (int i = 0; i < s.Length; i++) d[i] = long.CreateSaturating(s[i]); break; }
            default: { var d = dst.Span<bool>(); for (int i = 0; i < s.Length; i++) d[i] = s[i] != TFrom.Zero; break; }
        }
    }
}
