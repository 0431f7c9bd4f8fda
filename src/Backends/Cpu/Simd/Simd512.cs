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

    /// <summary>
    /// log2(V) butterfly stages with all V rows in registers; stage h swaps the off-diagonal h x h blocks of every 2h x 2h
    /// block, one two-source permute (vpermt2ps/pd) per output row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose(T* src, nint ld, int rows, T* dst, nint ldDst)
    {
        if (typeof(T) == typeof(float)) Transpose16((float*)src, ld, rows, (float*)dst, ldDst);
        else Transpose8((double*)src, ld, rows, (double*)dst, ldDst);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<TE> Row<TE>(TE* src, nint ld, int r, int rows) where TE : unmanaged => r < rows ? Vector512.Load(src + r * ld) : default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose16(float* r, nint ld, int rows, float* d, nint ldDst)
    {
        Vector512<float> r0 = Row(r, ld, 0, rows), r1 = Row(r, ld, 1, rows), r2 = Row(r, ld, 2, rows), r3 = Row(r, ld, 3, rows), r4 = Row(r, ld, 4, rows), r5 = Row(r, ld, 5, rows), r6 = Row(r, ld, 6, rows), r7 = Row(r, ld, 7, rows);
        Vector512<float> r8 = Row(r, ld, 8, rows), r9 = Row(r, ld, 9, rows), rA = Row(r, ld, 10, rows), rB = Row(r, ld, 11, rows), rC = Row(r, ld, 12, rows), rD = Row(r, ld, 13, rows), rE = Row(r, ld, 14, rows), rF = Row(r, ld, 15, rows);
        Vector512<int> lo, hi;
        lo = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23); hi = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        (r0, r8) = (P(r0, lo, r8), P(r0, hi, r8)); (r1, r9) = (P(r1, lo, r9), P(r1, hi, r9));
        (r2, rA) = (P(r2, lo, rA), P(r2, hi, rA)); (r3, rB) = (P(r3, lo, rB), P(r3, hi, rB));
        (r4, rC) = (P(r4, lo, rC), P(r4, hi, rC)); (r5, rD) = (P(r5, lo, rD), P(r5, hi, rD));
        (r6, rE) = (P(r6, lo, rE), P(r6, hi, rE)); (r7, rF) = (P(r7, lo, rF), P(r7, hi, rF));
        lo = Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27); hi = Vector512.Create(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        (r0, r4) = (P(r0, lo, r4), P(r0, hi, r4)); (r1, r5) = (P(r1, lo, r5), P(r1, hi, r5));
        (r2, r6) = (P(r2, lo, r6), P(r2, hi, r6)); (r3, r7) = (P(r3, lo, r7), P(r3, hi, r7));
        (r8, rC) = (P(r8, lo, rC), P(r8, hi, rC)); (r9, rD) = (P(r9, lo, rD), P(r9, hi, rD));
        (rA, rE) = (P(rA, lo, rE), P(rA, hi, rE)); (rB, rF) = (P(rB, lo, rF), P(rB, hi, rF));
        lo = Vector512.Create(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29); hi = Vector512.Create(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
        (r0, r2) = (P(r0, lo, r2), P(r0, hi, r2)); (r1, r3) = (P(r1, lo, r3), P(r1, hi, r3));
        (r4, r6) = (P(r4, lo, r6), P(r4, hi, r6)); (r5, r7) = (P(r5, lo, r7), P(r5, hi, r7));
        (r8, rA) = (P(r8, lo, rA), P(r8, hi, rA)); (r9, rB) = (P(r9, lo, rB), P(r9, hi, rB));
        (rC, rE) = (P(rC, lo, rE), P(rC, hi, rE)); (rD, rF) = (P(rD, lo, rF), P(rD, hi, rF));
        lo = Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30); hi = Vector512.Create(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
        (r0, r1) = (P(r0, lo, r1), P(r0, hi, r1)); (r2, r3) = (P(r2, lo, r3), P(r2, hi, r3));
        (r4, r5) = (P(r4, lo, r5), P(r4, hi, r5)); (r6, r7) = (P(r6, lo, r7), P(r6, hi, r7));
        (r8, r9) = (P(r8, lo, r9), P(r8, hi, r9)); (rA, rB) = (P(rA, lo, rB), P(rA, hi, rB));
        (rC, rD) = (P(rC, lo, rD), P(rC, hi, rD)); (rE, rF) = (P(rE, lo, rF), P(rE, hi, rF));
        r0.Store(d + 0 * ldDst); r1.Store(d + 1 * ldDst); r2.Store(d + 2 * ldDst); r3.Store(d + 3 * ldDst); r4.Store(d + 4 * ldDst); r5.Store(d + 5 * ldDst); r6.Store(d + 6 * ldDst); r7.Store(d + 7 * ldDst);
        r8.Store(d + 8 * ldDst); r9.Store(d + 9 * ldDst); rA.Store(d + 10 * ldDst); rB.Store(d + 11 * ldDst); rC.Store(d + 12 * ldDst); rD.Store(d + 13 * ldDst); rE.Store(d + 14 * ldDst); rF.Store(d + 15 * ldDst);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8(double* r, nint ld, int rows, double* d, nint ldDst)
    {
        Vector512<double> r0 = Row(r, ld, 0, rows), r1 = Row(r, ld, 1, rows), r2 = Row(r, ld, 2, rows), r3 = Row(r, ld, 3, rows), r4 = Row(r, ld, 4, rows), r5 = Row(r, ld, 5, rows), r6 = Row(r, ld, 6, rows), r7 = Row(r, ld, 7, rows);
        Vector512<long> lo, hi;
        lo = Vector512.Create(0L, 1, 2, 3, 8, 9, 10, 11); hi = Vector512.Create(4L, 5, 6, 7, 12, 13, 14, 15);
        (r0, r4) = (P(r0, lo, r4), P(r0, hi, r4)); (r1, r5) = (P(r1, lo, r5), P(r1, hi, r5));
        (r2, r6) = (P(r2, lo, r6), P(r2, hi, r6)); (r3, r7) = (P(r3, lo, r7), P(r3, hi, r7));
        lo = Vector512.Create(0L, 1, 8, 9, 4, 5, 12, 13); hi = Vector512.Create(2L, 3, 10, 11, 6, 7, 14, 15);
        (r0, r2) = (P(r0, lo, r2), P(r0, hi, r2)); (r1, r3) = (P(r1, lo, r3), P(r1, hi, r3));
        (r4, r6) = (P(r4, lo, r6), P(r4, hi, r6)); (r5, r7) = (P(r5, lo, r7), P(r5, hi, r7));
        lo = Vector512.Create(0L, 8, 2, 10, 4, 12, 6, 14); hi = Vector512.Create(1L, 9, 3, 11, 5, 13, 7, 15);
        (r0, r1) = (P(r0, lo, r1), P(r0, hi, r1)); (r2, r3) = (P(r2, lo, r3), P(r2, hi, r3));
        (r4, r5) = (P(r4, lo, r5), P(r4, hi, r5)); (r6, r7) = (P(r6, lo, r7), P(r6, hi, r7));
        r0.Store(d + 0 * ldDst); r1.Store(d + 1 * ldDst); r2.Store(d + 2 * ldDst); r3.Store(d + 3 * ldDst); r4.Store(d + 4 * ldDst); r5.Store(d + 5 * ldDst); r6.Store(d + 6 * ldDst); r7.Store(d + 7 * ldDst);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> P(Vector512<float> a, Vector512<int> idx, Vector512<float> b) => Avx512F.PermuteVar16x32x2(a, idx, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<double> P(Vector512<double> a, Vector512<long> idx, Vector512<double> b) => Avx512F.PermuteVar8x64x2(a, idx, b);
}
