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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(T* src, nint ld, int rows, T* dst, nint ldDst)
    {
        Vector256<T>* r = stackalloc Vector256<T>[Vector256<T>.Count];
        for (int i = 0; i < Vector256<T>.Count; i++) r[i] = i < rows ? Vector256.Load(src + i * ld) : default;
        TransposeInPlace(r);
        for (int j = 0; j < Vector256<T>.Count; j++) r[j].Store(dst + j * ldDst);
    }

    static void TransposeInPlace(Vector256<T>* rows)
    {
        if (Avx512F.VL.IsSupported)
        {
            // log2(V) butterfly stages; stage h swaps the off-diagonal h x h blocks of every 2h x 2h block.
            if (typeof(T) == typeof(float))
            {
                var r = (Vector256<float>*)rows;
                Stage(r, 4, Vector256.Create(0, 1, 2, 3, 8, 9, 10, 11), Vector256.Create(4, 5, 6, 7, 12, 13, 14, 15));
                Stage(r, 2, Vector256.Create(0, 1, 8, 9, 4, 5, 12, 13), Vector256.Create(2, 3, 10, 11, 6, 7, 14, 15));
                Stage(r, 1, Vector256.Create(0, 8, 2, 10, 4, 12, 6, 14), Vector256.Create(1, 9, 3, 11, 5, 13, 7, 15));
            }
            else
            {
                var r = (Vector256<double>*)rows;
                Stage(r, 2, Vector256.Create(0L, 1, 4, 5), Vector256.Create(2L, 3, 6, 7));
                Stage(r, 1, Vector256.Create(0L, 4, 2, 6), Vector256.Create(1L, 5, 3, 7));
            }
            return;
        }
        if (Avx.IsSupported)
        {
            if (typeof(T) == typeof(float)) TransposeAvx((Vector256<float>*)rows);
            else TransposeAvx((Vector256<double>*)rows);
            return;
        }
        Simd.TransposeInMemory((T*)rows, Vector256<T>.Count);
    }

    /// <summary>The classic AVX 8 x 8 transpose: interleave pairs, then quads, then swap 128-bit halves.</summary>
    static void TransposeAvx(Vector256<float>* r)
    {
        var t0 = Avx.UnpackLow(r[0], r[1]);
        var t1 = Avx.UnpackHigh(r[0], r[1]);
        var t2 = Avx.UnpackLow(r[2], r[3]);
        var t3 = Avx.UnpackHigh(r[2], r[3]);
        var t4 = Avx.UnpackLow(r[4], r[5]);
        var t5 = Avx.UnpackHigh(r[4], r[5]);
        var t6 = Avx.UnpackLow(r[6], r[7]);
        var t7 = Avx.UnpackHigh(r[6], r[7]);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        r[0] = Avx.Permute2x128(u0, u4, 0x20);
        r[1] = Avx.Permute2x128(u1, u5, 0x20);
        r[2] = Avx.Permute2x128(u2, u6, 0x20);
        r[3] = Avx.Permute2x128(u3, u7, 0x20);
        r[4] = Avx.Permute2x128(u0, u4, 0x31);
        r[5] = Avx.Permute2x128(u1, u5, 0x31);
        r[6] = Avx.Permute2x128(u2, u6, 0x31);
        r[7] = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>The AVX 4 x 4 transpose of doubles.</summary>
    static void TransposeAvx(Vector256<double>* r)
    {
        var t0 = Avx.UnpackLow(r[0], r[1]);
        var t1 = Avx.UnpackHigh(r[0], r[1]);
        var t2 = Avx.UnpackLow(r[2], r[3]);
        var t3 = Avx.UnpackHigh(r[2], r[3]);
        r[0] = Avx.Permute2x128(t0, t2, 0x20);
        r[1] = Avx.Permute2x128(t1, t3, 0x20);
        r[2] = Avx.Permute2x128(t0, t2, 0x31);
        r[3] = Avx.Permute2x128(t1, t3, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Stage(Vector256<float>* r, int h, Vector256<int> lo, Vector256<int> hi)
    {
        for (int i = 0; i < 8; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.VL.PermuteVar8x32x2(a, lo, b);
            r[i + h] = Avx512F.VL.PermuteVar8x32x2(a, hi, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Stage(Vector256<double>* r, int h, Vector256<long> lo, Vector256<long> hi)
    {
        for (int i = 0; i < 4; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.VL.PermuteVar4x64x2(a, lo, b);
            r[i + h] = Avx512F.VL.PermuteVar4x64x2(a, hi, b);
        }
    }
}
