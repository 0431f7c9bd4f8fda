using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

/// <summary>512-bit vectors (AVX-512).</summary>
internal readonly unsafe struct Simd512<T> : ISimd<Vector512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector512<T>.Count;
    public static bool HasFastScaleB => true;
    public static bool IsAccelerated => Vector512.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Load(T* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Splat(T x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Sub(Vector512<T> a, Vector512<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Div(Vector512<T> a, Vector512<T> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Max(Vector512<T> a, Vector512<T> b) => Vector512.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Min(Vector512<T> a, Vector512<T> b) => Vector512.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Equal(Vector512<T> a, Vector512<T> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> LessThan(Vector512<T> a, Vector512<T> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Select(Vector512<T> m, Vector512<T> a, Vector512<T> b) => Vector512.ConditionalSelect(m, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> And(Vector512<T> a, Vector512<T> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AllSet(Vector512<T> m) => Vector512.ExtractMostSignificantBits(m) == (1ul << Vector512<T>.Count) - 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Element(Vector512<T> v, int i) => v.GetElement(i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector512<T> v) => Vector512.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (!Simd.HasFma) return a * b + c;
        if (typeof(T) == typeof(float)) return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Round(Vector512<T> x)
    {
        if (typeof(T) == typeof(float)) return Vector512.Round(x.AsSingle()).As<float, T>();
        return Vector512.Round(x.AsDouble()).As<double, T>();
    }

    /// <summary>VSCALEFPS/PD: x * 2^floor(n) rounded once, the same result as the other widths' two products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ScaleB(Vector512<T> x, Vector512<T> n)
    {
        if (typeof(T) == typeof(float)) return Avx512F.Scale(x.AsSingle(), n.AsSingle()).As<float, T>();
        return Avx512F.Scale(x.AsDouble(), n.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Pow2(Vector512<T> n)
    {
        // n + 2^23 + 127 (2^52 + 1023) puts n + bias in the low mantissa bits; the shift moves them into the exponent field.
        if (typeof(T) == typeof(float)) return Vector512.ShiftLeft((n.AsSingle() + Vector512.Create(8388735f)).AsInt32(), 23).As<int, T>();
        return Vector512.ShiftLeft((n.AsDouble() + Vector512.Create(4503599627371519.0)).AsInt64(), 52).As<long, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> SplitExponent(Vector512<T> x, out Vector512<T> k)
    {
        if (typeof(T) == typeof(float))
        {
            var bits = x.AsInt32();
            var ki = Vector512.ShiftRightArithmetic(bits - Vector512.Create(SimdConst.SqrtHalfBits), 23);
            k = Vector512.ConvertToSingle(ki).As<float, T>();
            return (bits - Vector512.ShiftLeft(ki, 23)).As<int, T>();
        }
        var lbits = x.AsInt64();
        var kl = Vector512.ShiftRightArithmetic(lbits - Vector512.Create(SimdConst.SqrtHalfBits64), 52);
        k = Vector512.ConvertToDouble(kl).As<double, T>();
        return (lbits - Vector512.ShiftLeft(kl, 52)).As<long, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> RuntimeExp(Vector512<T> x)
        => typeof(T) == typeof(float) ? Vector512.Exp(x.AsSingle()).As<float, T>() : Vector512.Exp(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> RuntimeLog(Vector512<T> x)
        => typeof(T) == typeof(float) ? Vector512.Log(x.AsSingle()).As<float, T>() : Vector512.Log(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector512<T> v) => Simd256<T>.MaxAcross(Vector256.MaxNative(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Gather(T* p, int* idx)
        => Vector512.Create(Simd256<T>.Gather(p, idx), Simd256<T>.Gather(p, idx + Vector256<T>.Count)); // .NET has no 512-bit gather

    public static bool HasLookup => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Lookup(Vector512<T> t0, Vector512<T> t1, int* idx)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.PermuteVar16x32x2(t0.AsSingle(), Vector512.Load(idx), t1.AsSingle()).As<float, T>();
        var li = Avx512F.ConvertToVector512Int64(Vector256.Load(idx));
        return Avx512F.PermuteVar8x64x2(t0.AsDouble(), li, t1.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(Vector512<T>* rows)
    {
        // log2(V) butterfly stages; stage h swaps the off-diagonal h x h blocks of every 2h x 2h block.
        if (typeof(T) == typeof(float))
        {
            var r = (Vector512<float>*)rows;
            Stage(r, 8, Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
            Stage(r, 4, Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                Vector512.Create(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31));
            Stage(r, 2, Vector512.Create(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                Vector512.Create(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31));
            Stage(r, 1, Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                Vector512.Create(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
        }
        else
        {
            var r = (Vector512<double>*)rows;
            Stage(r, 4, Vector512.Create(0L, 1, 2, 3, 8, 9, 10, 11), Vector512.Create(4L, 5, 6, 7, 12, 13, 14, 15));
            Stage(r, 2, Vector512.Create(0L, 1, 8, 9, 4, 5, 12, 13), Vector512.Create(2L, 3, 10, 11, 6, 7, 14, 15));
            Stage(r, 1, Vector512.Create(0L, 8, 2, 10, 4, 12, 6, 14), Vector512.Create(1L, 9, 3, 11, 5, 13, 7, 15));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Stage(Vector512<float>* r, int h, Vector512<int> lo, Vector512<int> hi)
    {
        for (int i = 0; i < 16; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.PermuteVar16x32x2(a, lo, b);
            r[i + h] = Avx512F.PermuteVar16x32x2(a, hi, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Stage(Vector512<double>* r, int h, Vector512<long> lo, Vector512<long> hi)
    {
        for (int i = 0; i < 8; i++)
        {
            if ((i & h) != 0) continue;
            var a = r[i];
            var b = r[i + h];
            r[i] = Avx512F.PermuteVar8x64x2(a, lo, b);
            r[i + h] = Avx512F.PermuteVar8x64x2(a, hi, b);
        }
    }
}
