using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

/// <summary>128-bit vectors: SSE on x64, AdvSimd (NEON) on ARM64.</summary>
internal readonly unsafe struct Simd128<T> : ISimd<Vector128<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector128<T>.Count;
    public static bool HasFastScaleB => false;
    public static bool IsAccelerated => Vector128.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Load(T* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Splat(T x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Sub(Vector128<T> a, Vector128<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Mul(Vector128<T> a, Vector128<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Div(Vector128<T> a, Vector128<T> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Max(Vector128<T> a, Vector128<T> b) => Vector128.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Min(Vector128<T> a, Vector128<T> b) => Vector128.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Equal(Vector128<T> a, Vector128<T> b) => Vector128.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> LessThan(Vector128<T> a, Vector128<T> b) => Vector128.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Select(Vector128<T> m, Vector128<T> a, Vector128<T> b) => Vector128.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> And(Vector128<T> a, Vector128<T> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AllSet(Vector128<T> m) => Vector128.ExtractMostSignificantBits(m) == (1u << Vector128<T>.Count) - 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Element(Vector128<T> v, int i) => v.GetElement(i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector128<T> v) => Vector128.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Fma(Vector128<T> a, Vector128<T> b, Vector128<T> c)
    {
        if (!Simd.HasFma) return a * b + c;
        if (typeof(T) == typeof(float)) return Vector128.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector128.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Round(Vector128<T> x)
    {
        if (typeof(T) == typeof(float)) return Vector128.Round(x.AsSingle()).As<float, T>();
        return Vector128.Round(x.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> ScaleB(Vector128<T> x, Vector128<T> n)
    {
        // Two normal powers of two, 2^h and 2^(n-h) with h = floor(n/2): the first product is exact, the second rounds.
        if (typeof(T) == typeof(float))
        {
            var ni = Vector128.ConvertToInt32Native(n.AsSingle()); // n is integral and small: no saturation fix-up needed
            var h = Vector128.ShiftRightArithmetic(ni, 1);
            var bias = Vector128.Create(127);
            return (x.AsSingle() * Vector128.ShiftLeft(h + bias, 23).AsSingle() * Vector128.ShiftLeft(ni - h + bias, 23).AsSingle()).As<float, T>();
        }
        var nl = Vector128.ConvertToInt64(n.AsDouble());
        var hl = Vector128.ShiftRightArithmetic(nl, 1);
        var biasl = Vector128.Create(1023L);
        return (x.AsDouble() * Vector128.ShiftLeft(hl + biasl, 52).AsDouble() * Vector128.ShiftLeft(nl - hl + biasl, 52).AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Pow2(Vector128<T> n)
    {
        // n + 2^23 + 127 (2^52 + 1023) puts n + bias in the low mantissa bits; the shift moves them into the exponent field.
        if (typeof(T) == typeof(float)) return Vector128.ShiftLeft((n.AsSingle() + Vector128.Create(8388735f)).AsInt32(), 23).As<int, T>();
        return Vector128.ShiftLeft((n.AsDouble() + Vector128.Create(4503599627371519.0)).AsInt64(), 52).As<long, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> SplitExponent(Vector128<T> x, out Vector128<T> k)
    {
        if (typeof(T) == typeof(float))
        {
            var bits = x.AsInt32();
            var ki = Vector128.ShiftRightArithmetic(bits - Vector128.Create(SimdConst.SqrtHalfBits), 23);
            k = Vector128.ConvertToSingle(ki).As<float, T>();
            return (bits - Vector128.ShiftLeft(ki, 23)).As<int, T>();
        }
        var lbits = x.AsInt64();
        var kl = Vector128.ShiftRightArithmetic(lbits - Vector128.Create(SimdConst.SqrtHalfBits64), 52);
        k = Vector128.ConvertToDouble(kl).As<double, T>();
        return (lbits - Vector128.ShiftLeft(kl, 52)).As<long, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> RuntimeExp(Vector128<T> x)
        => typeof(T) == typeof(float) ? Vector128.Exp(x.AsSingle()).As<float, T>() : Vector128.Exp(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> RuntimeLog(Vector128<T> x)
        => typeof(T) == typeof(float) ? Vector128.Log(x.AsSingle()).As<float, T>() : Vector128.Log(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector128<T> v)
    {
        T m = v.GetElement(0);
        for (int i = 1; i < Vector128<T>.Count; i++) m = T.Max(m, v.GetElement(i));
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Gather(T* p, int* idx)
    {
        if (typeof(T) == typeof(float))
        {
            if (Avx2.IsSupported) return Avx2.GatherVector128((float*)p, Vector128.Load(idx), 4).As<float, T>();
            float* f = (float*)p;
            return Vector128.Create(f[idx[0]], f[idx[1]], f[idx[2]], f[idx[3]]).As<float, T>();
        }
        double* d = (double*)p;
        return Vector128.Create(d[idx[0]], d[idx[1]]).As<double, T>();
    }

    public static bool HasLookup => false;

    public static Vector128<T> Lookup(Vector128<T> t0, Vector128<T> t1, int* idx) => throw new NotSupportedException();

    // In registers (through a stack buffer the vectors went to memory and back, as Simd256's did).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose(T* src, nint ld, int rows, T* dst, nint ldDst)
    {
        if (typeof(T) == typeof(float) && (Sse.IsSupported || AdvSimd.Arm64.IsSupported))
        {
            float* s = (float*)src, d = (float*)dst;
            Vector128<float> r0 = Row(s, ld, 0, rows), r1 = Row(s, ld, 1, rows), r2 = Row(s, ld, 2, rows), r3 = Row(s, ld, 3, rows);
            if (Sse.IsSupported)
            {
                // [a0 b0 a1 b1], [a2 b2 a3 b3], [c0 d0 c1 d1], [c2 d2 c3 d3], then whole 64-bit halves.
                Vector128<float> t0 = Sse.UnpackLow(r0, r1), t1 = Sse.UnpackHigh(r0, r1), t2 = Sse.UnpackLow(r2, r3), t3 = Sse.UnpackHigh(r2, r3);
                Sse.MoveLowToHigh(t0, t2).Store(d);
                Sse.MoveHighToLow(t2, t0).Store(d + ldDst);
                Sse.MoveLowToHigh(t1, t3).Store(d + 2 * ldDst);
                Sse.MoveHighToLow(t3, t1).Store(d + 3 * ldDst);
            }
            else
            {
                Vector128<ulong> t0 = AdvSimd.Arm64.ZipLow(r0, r1).AsUInt64(), t1 = AdvSimd.Arm64.ZipHigh(r0, r1).AsUInt64();
                Vector128<ulong> t2 = AdvSimd.Arm64.ZipLow(r2, r3).AsUInt64(), t3 = AdvSimd.Arm64.ZipHigh(r2, r3).AsUInt64();
                AdvSimd.Arm64.ZipLow(t0, t2).AsSingle().Store(d);
                AdvSimd.Arm64.ZipHigh(t0, t2).AsSingle().Store(d + ldDst);
                AdvSimd.Arm64.ZipLow(t1, t3).AsSingle().Store(d + 2 * ldDst);
                AdvSimd.Arm64.ZipHigh(t1, t3).AsSingle().Store(d + 3 * ldDst);
            }
            return;
        }
        if (typeof(T) == typeof(double) && (Sse2.IsSupported || AdvSimd.Arm64.IsSupported))
        {
            double* s = (double*)src, d = (double*)dst;
            Vector128<double> r0 = Row(s, ld, 0, rows), r1 = Row(s, ld, 1, rows);
            (Sse2.IsSupported ? Sse2.UnpackLow(r0, r1) : AdvSimd.Arm64.ZipLow(r0, r1)).Store(d);
            (Sse2.IsSupported ? Sse2.UnpackHigh(r0, r1) : AdvSimd.Arm64.ZipHigh(r0, r1)).Store(d + ldDst);
            return;
        }
        for (int i = 0; i < Vector128<T>.Count; i++)
            for (int j = 0; j < Vector128<T>.Count; j++) dst[j * ldDst + i] = i < rows ? src[i * ld + j] : T.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<TE> Row<TE>(TE* src, nint ld, int r, int rows) where TE : unmanaged => r < rows ? Vector128.Load(src + r * ld) : default;
}
