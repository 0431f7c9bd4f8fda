using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Backends.Cpu;

/// <summary>A kernel written once over <see cref="ISimd{TV, T}"/>, run by <see cref="Simd.Run{T, K}"/> at one width.</summary>
internal interface ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>;
}

/// <summary>
/// Picks the width kernels run at: the widest vector the hardware accelerates (512, 256 or 128 bits), else one element at
/// a time (bits = 0). Never an emulated width: on ARM64, and on x64 with <c>DOTNET_EnableAVX=0</c>, Vector256 exists but
/// the runtime emulates it element by element, so kernels use Vector128 there.
/// </summary>
internal static class Simd
{
    /// <summary>Whether <see cref="ISimd{TV, T}.Fma"/> fuses: x64 with FMA3, and every ARM64.</summary>
    public static readonly bool HasFma = Fma.IsSupported || AdvSimd.IsSupported;

    /// <summary>The widest hardware-accelerated width in bits (0: none, scalar).</summary>
    public static readonly int NativeBits =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 512 :
        Vector256.IsHardwareAccelerated ? 256 :
        Vector128.IsHardwareAccelerated ? 128 : 0;

    [ThreadStatic] static int t_limit; // 0: no limit; else 1 + the most bits this thread's calls may use

    /// <summary>The width this thread's kernel calls run at: <see cref="NativeBits"/>, or less inside <see cref="Limit"/>.</summary>
    public static int Bits => t_limit == 0 ? NativeBits : Widest(Math.Min(NativeBits, t_limit - 1));

    static int Widest(int maxBits) => maxBits >= 512 ? 512 : maxBits >= 256 ? 256 : maxBits >= 128 ? 128 : 0;

    /// <summary>Until disposed, kernels called from this thread run at no more than <paramref name="bits"/> (tests, benchmarks).</summary>
    public static Scope Limit(int bits)
    {
        if (bits is not (0 or 128 or 256 or 512))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "expected 0 (scalar), 128, 256 or 512");
        var scope = new Scope(t_limit);
        t_limit = Math.Min(Bits, bits) + 1; // inside an outer limit, never wider than it
        return scope;
    }

    /// <summary>Restores the previous limit when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        readonly int _previous;
        internal Scope(int previous) => _previous = previous;
        public void Dispose() => t_limit = _previous;
    }

    /// <summary>This thread's limit, for a fan-out to carry to its workers (<see cref="Par"/>) through <see cref="Restore"/>.</summary>
    public static int Capture() => t_limit;

    /// <summary>Sets a captured limit on a worker thread until disposed.</summary>
    public static Scope Restore(int captured)
    {
        var scope = new Scope(t_limit);
        t_limit = captured;
        return scope;
    }

    /// <summary>Runs the kernel at <see cref="Bits"/>, or at most <paramref name="maxBits"/> (a kernel measured faster narrower).</summary>
    public static void Run<T, K>(ref K kernel, int maxBits = 512) where T : unmanaged, IFloatingPointIeee754<T> where K : ISimdKernel<T>, allows ref struct
    {
        switch (Widest(Math.Min(Bits, maxBits)))
        {
            case 512: kernel.Run<Vector512<T>, Simd512<T>>(); break;
            case 256: kernel.Run<Vector256<T>, Simd256<T>>(); break;
            case 128: kernel.Run<Vector128<T>, Simd128<T>>(); break;
            default: kernel.Run<T, SimdScalar<T>>(); break;
        }
    }
}

/// <summary>Constants of the float32 exp/log/tanh approximations (Cephes expf's range reduction and tanhf, FreeBSD logf).</summary>
internal static class SimdConst
{
    internal const float Log2E = 1.44269504088896341f;
    internal const float Ln2Hi = 0.693359375f;
    internal const float Ln2Lo = -2.12194440e-4f;   // ln2 = Ln2Hi + Ln2Lo
    // exp: e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 with P of degree 4, minimax for e^r's relative error (3.1e-9, far below
    // float32's 6e-8; Cephes' degree-5 P has 5e-11 and the same 1.25 ulp at most in float32 arithmetic, one multiply-add more).
    internal const float E5 = 1.3814539900E-3f, E4 = 8.3687451514E-3f;
    internal const float E3 = 4.1668390791E-2f, E2 = 1.6666520399E-1f, E1 = 4.9999993432E-1f;
    internal const int SqrtHalfBits = 0x3F3504F3;
    internal const long SqrtHalfBits64 = 0x3FE6A09E667F3BCD;
    // FreeBSD e_logf.c: |(log(1+s) - log(1-s))/s - Lg(s)| < 2^-34.24, Lg(s) = 2 + Lg1 s^2 + Lg2 s^4 + Lg3 s^6 + Lg4 s^8.
    internal const float Lg1 = 0.66666662693f, Lg2 = 0.40000972152f, Lg3 = 0.28498786688f, Lg4 = 0.24279078841f;
    internal const float T5 = -5.70498872745E-3f, T4 = 2.06390887954E-2f, T3 = -5.37397155531E-2f;
    internal const float T2 = 1.33314422036E-1f, T1 = -3.33332819422E-1f;
}
