using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MiniGrad;

/// <summary>
/// A stream of pseudo-random numbers (xoshiro256**, seeded through SplitMix64): the same seed gives the same
/// numbers on every run and machine. Not thread-safe; give each thread its own.
/// </summary>
public sealed class Generator
{
    ulong s0, s1, s2, s3;

    /// <summary>A generator seeded with <paramref name="seed"/>.</summary>
    public Generator(long seed) => ManualSeed(seed);

    /// <summary>Restarts the stream from a seed.</summary>
    public Generator ManualSeed(long seed)
    {
        ulong x = (ulong)seed;
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
        return this;
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => Step(ref s0, ref s1, ref s2, ref s3);

    // One xoshiro256** step on a state (the fields, or copies of them in registers for a whole loop).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Step(ref ulong a, ref ulong b, ref ulong c, ref ulong d)
    {
        ulong result = ulong.RotateLeft(b * 5, 7) * 9, t = b << 17;
        c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = ulong.RotateLeft(d, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// A dropout mask: per element, in order, one draw of the stream, and <paramref name="keep"/> where that draw's
    /// <see cref="NextDouble"/> would be &gt;= <paramref name="p"/>, else +0; the same numbers and decisions as that loop,
    /// with the state in registers and no branch per element. NextDouble() = k 2^-53 with k = x &gt;&gt; 11, so
    /// NextDouble() &gt;= p exactly when the integer k &gt;= ceil(p 2^53).
    /// </summary>
    internal void FillKeepMask<T>(Span<T> dst, double p, T keep) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, $"FillKeepMask: expected a probability in [0, 1], but got {p}");
        long threshold = (long)Math.Ceiling(p * (1UL << 53));
        ulong a = s0, b = s1, c = s2, d = s3;
        ulong keepBits = Unsafe.SizeOf<T>() == 4 ? Unsafe.As<T, uint>(ref keep) : Unsafe.As<T, ulong>(ref keep);
        ref T first = ref MemoryMarshal.GetReference(dst);
        for (int i = 0; i < dst.Length; i++)
        {
            ulong x = Step(ref a, ref b, ref c, ref d);
            ulong bits = keepBits & ~(ulong)(((long)(x >> 11) - threshold) >> 63); // all ones where k < threshold: dropped
            if (Unsafe.SizeOf<T>() == 4) Unsafe.As<T, uint>(ref Unsafe.Add(ref first, i)) = (uint)bits;
            else Unsafe.As<T, ulong>(ref Unsafe.Add(ref first, i)) = bits;
        }
        (s0, s1, s2, s3) = (a, b, c, d);
    }

    /// <summary>Uniform integer in [0, range) without modulo bias (rejection sampling).</summary>
    public ulong NextBelow(ulong range)
    {
        ulong limit = ulong.MaxValue - ulong.MaxValue % range;
        ulong v;
        do v = NextUInt64(); while (v >= limit);
        return v % range;
    }

    /// <summary>Fills with standard normal draws (Box-Muller, both outputs of each pair used in order).</summary>
    public void FillNormal(Span<double> dst)
    {
        for (int i = 0; i < dst.Length; i += 2)
        {
            double u1 = 1.0 - NextDouble(), u2 = NextDouble(); // u1 in (0, 1]: log is finite
            double r = Math.Sqrt(-2.0 * Math.Log(u1)), a = 2 * Math.PI * u2;
            dst[i] = r * Math.Cos(a);
            if (i + 1 < dst.Length) dst[i + 1] = r * Math.Sin(a);
        }
    }
}
