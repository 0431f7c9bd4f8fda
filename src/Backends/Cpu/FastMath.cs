using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// exp and sigmoid over spans: float32 on AVX-512 in float32 arithmetic, anything else by TensorPrimitives.
/// TensorPrimitives.Exp for float widens every vector to two double vectors, evaluates there and narrows back: twice the
/// work a float32 result needs (0.49 against 0.22 ns per value here). This is Cephes' expf: x = n ln2 + r with
/// |r| &lt;= ln2 / 2 (ln2 in two parts), a degree-5 polynomial for e^r, then 2^n by VSCALEFPS, which also gives exact 0
/// and inf where the result underflows or overflows. Relative error below 2^-22 (tested) wherever the result is a normal
/// float. Sigmoid below -88.7, where exp(-x) overflows, gives 0 rather than a subnormal (absolute error below 1.2e-38).
/// </summary>
internal static class FastMath
{
    static bool Fast<T>() => typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>y = exp(x) elementwise; x and y may be the same span.</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths(x.Length, y.Length);
        if (Fast<T>()) Map<ExpOp>(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else TP.Exp(x, y);
    }

    /// <summary>y = 1 / (1 + exp(-x)) elementwise; x and y may be the same span.</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths(x.Length, y.Length);
        if (Fast<T>()) Map<SigmoidOp>(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else TP.Sigmoid(x, y);
    }

    static void CheckLengths(int x, int y)
    {
        if (y < x) throw new ArgumentException($"FastMath: destination has {y} elements; expected at least {x}, the source's length", nameof(y));
    }

    interface IOp { static abstract Vector512<float> Invoke(Vector512<float> x); }
    struct ExpOp : IOp { public static Vector512<float> Invoke(Vector512<float> x) => Exp(x); }
    struct SigmoidOp : IOp { public static Vector512<float> Invoke(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Exp(-x)); }

    static void Map<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IOp
    {
        int n = x.Length, i = 0;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        for (; i + 16 <= n; i += 16) TOp.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ys, (nuint)i);
        if (i == n) return;
        Span<float> tail = stackalloc float[16]; // the rest through a whole vector (in place, an overlapping one would re-read results)
        x[i..].CopyTo(tail);
        TOp.Invoke(Vector512.Create<float>(tail)).CopyTo(tail);
        tail[..(n - i)].CopyTo(y[i..]);
    }

    /// <summary>exp of a vector: float32 by the expf below, float64 by the runtime's Vector512.Exp; requires AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Exp<T>(Vector512<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Exp(x.AsSingle()).As<float, T>();
        return Vector512.Exp(x.AsDouble()).As<double, T>();
    }

    /// <summary>exp of 16 floats (Cephes expf, <see cref="CtcConst"/>); requires AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        // VMAXPS/VMINPS return their second operand when either is NaN: with x second, NaN stays NaN. Below -150 the
        // result is 0 and above 89 it is inf either way; the clamp keeps n and r finite.
        x = Avx512F.Min(Vector512.Create(89f), Avx512F.Max(Vector512.Create(-150f), x));
        var n = Avx512F.RoundScale(x * Vector512.Create(CtcConst.Log2E), 0); // round to nearest
        var r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(CtcConst.NegLn2Hi), x);
        r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(CtcConst.NegLn2Lo), r);
        var p = Vector512.Create(CtcConst.E6);
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(CtcConst.E5));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(CtcConst.E4));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(CtcConst.E3));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(CtcConst.E2));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(CtcConst.E1));
        var e = Avx512F.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        return Avx512F.Scale(e, n);
    }
}
