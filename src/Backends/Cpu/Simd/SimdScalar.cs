using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// One element as a "vector" of one lane: the width kernels run at where no vector width is hardware-accelerated
/// (e.g. <c>DOTNET_EnableHWIntrinsic=0</c>), so that they never run on the runtime's element-by-element emulation of a
/// vector type. Masks are elements whose bits are all ones or all zeros, as in a vector lane.
/// </summary>
internal readonly unsafe struct SimdScalar<T> : ISimd<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => 1;
    public static bool IsAccelerated => true;
    public static bool HasFastScaleB => false;

    static readonly T s_true = Bits(~0L);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Load(T* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T v, T* p) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Splat(T x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Add(T a, T b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sub(T a, T b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Mul(T a, T b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Div(T a, T b) => a / b;
    // The vector widths' NaN behaviour of this machine: b when either is NaN on x86 (MAXPS), NaN on ARM64 (FMAX, which
    // T.Max matches, -0 and +0 included).
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Max(T a, T b) => AdvSimd.IsSupported ? T.Max(a, b) : a > b ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Min(T a, T b) => AdvSimd.IsSupported ? T.Min(a, b) : a < b ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Equal(T a, T b) => a == b ? s_true : T.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T LessThan(T a, T b) => a < b ? s_true : T.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Select(T m, T a, T b) => Long(m) != 0 ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T And(T a, T b) => Bits(Long(a) & Long(b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AllSet(T m) => Long(m) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Element(T v, int i) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(T v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T MaxAcross(T v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Round(T x) => T.Round(x); // ties to even
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Gather(T* p, int* idx) => p[*idx];
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Transpose(T* src, nint ld, int rows, T* dst, nint ldDst) => *dst = rows > 0 ? *src : T.Zero;
    public static bool HasLookup => false;
    public static T Lookup(T t0, T t1, int* idx) => throw new NotSupportedException();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Fma(T a, T b, T c) => Simd.HasFma ? T.FusedMultiplyAdd(a, b, c) : a * b + c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ScaleB(T x, T n)
    {
        int ni = int.CreateTruncating(n), h = ni >> 1;
        return x * T.ScaleB(T.One, h) * T.ScaleB(T.One, ni - h); // both powers exact: the same two products as the vectors
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Pow2(T n)
    {
        var p = T.ScaleB(T.One, int.CreateTruncating(n));
        return T.IsSubnormal(p) ? T.Zero : p; // 2^-127 (2^-1023) is 0, as the vectors' exponent field gives it
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T SplitExponent(T x, out T k)
    {
        if (typeof(T) == typeof(float))
        {
            int bits = BitConverter.SingleToInt32Bits(float.CreateTruncating(x));
            int ki = (bits - SimdConst.SqrtHalfBits) >> 23;
            k = T.CreateTruncating(ki);
            return T.CreateTruncating(BitConverter.Int32BitsToSingle(bits - (ki << 23)));
        }
        long lbits = BitConverter.DoubleToInt64Bits(double.CreateTruncating(x));
        long kl = (lbits - SimdConst.SqrtHalfBits64) >> 52;
        k = T.CreateTruncating(kl);
        return T.CreateTruncating(BitConverter.Int64BitsToDouble(lbits - (kl << 52)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T RuntimeExp(T x) => T.Exp(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T RuntimeLog(T x) => T.Log(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static long Long(T x) => typeof(T) == typeof(float) ? Unsafe.As<T, int>(ref x) : Unsafe.As<T, long>(ref x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T Bits(long b)
    {
        if (typeof(T) == typeof(float)) { int i = (int)b; return Unsafe.As<int, T>(ref i); }
        return Unsafe.As<long, T>(ref b);
    }
}
