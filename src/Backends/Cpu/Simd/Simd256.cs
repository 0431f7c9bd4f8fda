using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

/// <summary>256-bit vectors (AVX2).</summary>
internal readonly unsafe struct Simd256<T> : ISimd<Vector256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector256<T>.Count;
    public static bool HasFastScaleB => false;
    public static bool IsAccelerated => Vector256.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Load(T* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Splat(T x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Sub(Vector256<T> a, Vector256<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Div(Vector256<T> a, Vector256<T> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Max(Vector256<T> a, Vector256<T> b) => Vector256.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Min(Vector256<T> a, Vector256<T> b) => Vector256.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Equal(Vector256<T> a, Vector256<T> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> LessThan(Vector256<T> a, Vector256<T> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Select(Vector256<T> m, Vector256<T> a, Vector256<T> b) => Vector256.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> And(Vector256<T> a, Vector256<T> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AllSet(Vector256<T> m) => Vector256.ExtractMostSignificantBits(m) == (1u << Vector256<T>.Count) - 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Element(Vector256<T> v, int i) => v.GetElement(i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector256<T> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (!Simd.HasFma) return a * b + c;
        if (typeof(T) == typeof(float)) return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Round(Vector256<T> x)
    {
        if (typeof(T) == typeof(float)) return Vector256.Round(x.AsSingle()).As<float, T>();
        return Vector256.Round(x.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ScaleB(Vector256<T> x, Vector256<T> n)
    {
        // Two normal powers of two, 2^h and 2^(n-h) with h = floor(n/2): the first product is exact, the second rounds.
        if (typeof(T) == typeof(float))
        {
            var ni = Vector256.ConvertToInt32Native(n.AsSingle()); // n is integral and small: no saturation fix-up needed
            var h = Vector256.ShiftRightArithmetic(ni, 1);
            var bias = Vector256.Create(127);
            return (x.AsSingle() * Vector256.ShiftLeft(h + bias, 23).AsSingle() * Vector256.ShiftLeft(ni - h + bias, 23).AsSingle()).As<float, T>();
        }
        var nl = Vector256.ConvertToInt64(n.AsDouble());
        var hl = Vector256.ShiftRightArithmetic(nl, 1);
        var biasl = Vector256.Create(1023L);
        return (x.AsDouble() * Vector256.ShiftLeft(hl + biasl, 52).AsDouble() * Vector256.ShiftLeft(nl - hl + biasl, 52).AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Pow2(Vector256<T> n)
    {
        // n + 2^23 + 127 (2^52 + 1023) puts n + bias in the low mantissa bits; the shift moves them into the exponent field.
        if (typeof(T) == typeof(float)) return Vector256.ShiftLeft((n.AsSingle() + Vector256.Create(8388735f)).AsInt32(), 23).As<int, T>();
        return Vector256.ShiftLeft((n.AsDouble() + Vector256.Create(4503599627371519.0)).AsInt64(), 52).As<long, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> SplitExponent(Vector256<T> x, out Vector256<T> k)
    {
        if (typeof(T) == typeof(float))
        {
            var bits = x.AsInt32();
            var ki = Vector256.ShiftRightArithmetic(bits - Vector256.Create(SimdConst.SqrtHalfBits), 23);
            k = Vector256.ConvertToSingle(ki).As<float, T>();
            return (bits - Vector256.ShiftLeft(ki, 23)).As<int, T>();
        }
        var lbits = x.AsInt64();
        var kl = Vector256.ShiftRightArithmetic(lbits - Vector256.Create(SimdConst.SqrtHalfBits64), 52);
        k = Vector256.ConvertToDouble(kl).As<double, T>();
        return (lbits - Vector256.ShiftLeft(kl, 52)).As<long, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> RuntimeExp(Vector256<T> x)
        => typeof(T) == typeof(float) ? Vector256.Exp(x.AsSingle()).As<float, T>() : Vector256.Exp(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> RuntimeLog(Vector256<T> x)
        => typeof(T) == typeof(float) ? Vector256.Log(x.AsSingle()).As<float, T>() : Vector256.Log(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector256<T> v) => Simd128<T>.MaxAcross(Vector128.MaxNative(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Gather(T* p, int* idx)
    {
        if (Avx2.IsSupported)
        {
            if (typeof(T) == typeof(float)) return Avx2.GatherVector256((float*)p, Vector256.Load(idx), 4).As<float, T>();
            return Avx2.GatherVector256((double*)p, Vector128.Load(idx), 8).As<double, T>();
        }
        return Vector256.Create(Simd128<T>.Gather(p, idx), Simd128<T>.Gather(p, idx + Vector128<T>.Count));
    }

    public static bool HasLookup => false;

    public static Vector256<T> Lookup(Vector256<T> t0, Vector256<T> t1, int* idx) => throw new NotSupportedException();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose(T* src, nint ld, int rows, T* dst, nint ldDst)
    {
        if (Avx.IsSupported)
        {
            if (typeof(T) == typeof(float)) Transpose8((float*)src, ld, rows, (float*)dst, ldDst);
            else Transpose4((double*)src, ld, rows, (double*)dst, ldDst);
            return;
        }
        // Vector256 is accelerated only with AVX on x64 (on ARM64 it is emulated, and the kernels never run at 256 bits).
        for (int i = 0; i < Vector256<T>.Count; i++)
            for (int j = 0; j < Vector256<T>.Count; j++) dst[j * ldDst + i] = i < rows ? src[i * ld + j] : T.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<TE> Row<TE>(TE* src, nint ld, int r, int rows) where TE : unmanaged => r < rows ? Vector256.Load(src + r * ld) : default;

    /// <summary>The classic AVX 8 x 8 transpose in registers (interleave pairs, then quads, then swap 128-bit halves): through
    /// a stack buffer, the vectors went to memory and back: a 296 x 128 float transpose took 20.6 us, now 8.0 (one core).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8(float* s, nint ld, int rows, float* d, nint ldd)
    {
        Vector256<float> r0 = Row(s, ld, 0, rows), r1 = Row(s, ld, 1, rows), r2 = Row(s, ld, 2, rows), r3 = Row(s, ld, 3, rows);
        Vector256<float> r4 = Row(s, ld, 4, rows), r5 = Row(s, ld, 5, rows), r6 = Row(s, ld, 6, rows), r7 = Row(s, ld, 7, rows);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).Store(d);
        Avx.Permute2x128(u1, u5, 0x20).Store(d + ldd);
        Avx.Permute2x128(u2, u6, 0x20).Store(d + 2 * ldd);
        Avx.Permute2x128(u3, u7, 0x20).Store(d + 3 * ldd);
        Avx.Permute2x128(u0, u4, 0x31).Store(d + 4 * ldd);
        Avx.Permute2x128(u1, u5, 0x31).Store(d + 5 * ldd);
        Avx.Permute2x128(u2, u6, 0x31).Store(d + 6 * ldd);
        Avx.Permute2x128(u3, u7, 0x31).Store(d + 7 * ldd);
    }

    /// <summary>The AVX 4 x 4 transpose of doubles, in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose4(double* s, nint ld, int rows, double* d, nint ldd)
    {
        Vector256<double> r0 = Row(s, ld, 0, rows), r1 = Row(s, ld, 1, rows), r2 = Row(s, ld, 2, rows), r3 = Row(s, ld, 3, rows);
        Vector256<double> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Avx.Permute2x128(t0, t2, 0x20).Store(d);
        Avx.Permute2x128(t1, t3, 0x20).Store(d + ldd);
        Avx.Permute2x128(t0, t2, 0x31).Store(d + 2 * ldd);
        Avx.Permute2x128(t1, t3, 0x31).Store(d + 3 * ldd);
    }
}
