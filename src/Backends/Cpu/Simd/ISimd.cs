using System.Numerics;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// The width-specific primitives every CPU kernel is written against: one struct per vector width (<see cref="Simd512{T}"/>,
/// <see cref="Simd256{T}"/>, <see cref="Simd128{T}"/>, and <see cref="SimdScalar{T}"/> where no vector is accelerated), so
/// that a kernel and the composites in <see cref="SimdMath"/> are written once as generic code over <c>S</c>. Static
/// abstract members: the JIT specializes a kernel per struct and inlines these; no virtual calls. T is float or double.
/// Per lane every width computes the same operations, so a kernel gives the same bits at every width.
/// Masks are vectors whose lanes are all ones (true) or all zeros (false).
/// </summary>
internal unsafe interface ISimd<TV, T> where TV : unmanaged where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Elements per vector.</summary>
    static abstract int Lanes { get; }

    /// <summary>Whether this width runs in hardware here (a kernel never runs at an emulated width).</summary>
    static abstract bool IsAccelerated { get; }

    /// <summary>Unaligned load of <see cref="Lanes"/> elements.</summary>
    static abstract TV Load(T* p);

    /// <summary>Unaligned store of <see cref="Lanes"/> elements.</summary>
    static abstract void Store(TV v, T* p);

    /// <summary>x in every lane.</summary>
    static abstract TV Splat(T x);

    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);

    /// <summary>a * b + c, fused (one rounding) where the machine has FMA, else a multiply and an add: the same choice
    /// at every width, so that the widths agree bit for bit.</summary>
    static abstract TV Fma(TV a, TV b, TV c);

    /// <summary>The larger of a and b lane-wise; with a NaN, b on x86 (MAXPS) and NaN on ARM64 (FMAX), at every width.</summary>
    static abstract TV Max(TV a, TV b);

    /// <summary>The smaller of a and b lane-wise; with a NaN, b on x86 and NaN on ARM64, at every width.</summary>
    static abstract TV Min(TV a, TV b);

    /// <summary>Mask of a == b.</summary>
    static abstract TV Equal(TV a, TV b);

    /// <summary>Mask of a &lt; b.</summary>
    static abstract TV LessThan(TV a, TV b);

    /// <summary>Lane-wise mask ? a : b.</summary>
    static abstract TV Select(TV mask, TV a, TV b);

    /// <summary>Bitwise a &amp; b.</summary>
    static abstract TV And(TV a, TV b);

    /// <summary>True when every lane of the mask is set.</summary>
    static abstract bool AllSet(TV mask);

    /// <summary>Round to the nearest integer, ties to even.</summary>
    static abstract TV Round(TV x);

    /// <summary>x * 2^n for integral n with |n| &lt;= 250, rounded once (exact 0 and inf at the ends of the range).</summary>
    static abstract TV ScaleB(TV x, TV n);

    /// <summary>Whether <see cref="ScaleB"/> is one instruction here (VSCALEFPS), so that exp needs no cheaper variant.</summary>
    static abstract bool HasFastScaleB { get; }

    /// <summary>2^n for integral n in the normal range ([-126, 127] for float32, [-1022, 1023] for float64), exact: the
    /// exponent field written directly, cheaper than <see cref="ScaleB"/>. One below the range (-127, -1023) gives 0.</summary>
    static abstract TV Pow2(TV n);

    /// <summary>Splits positive normal x into 2^k * f with f in [sqrt(1/2), sqrt(2)); returns f and k (as T).</summary>
    static abstract TV SplitExponent(TV x, out TV k);

    /// <summary>exp and log by the runtime (used for float64, where its vector math is already in float64).</summary>
    static abstract TV RuntimeExp(TV x);
    static abstract TV RuntimeLog(TV x);

    /// <summary>Lane i of v.</summary>
    static abstract T Element(TV v, int i);

    /// <summary>Sum of the lanes.</summary>
    static abstract T Sum(TV v);

    /// <summary>Largest lane; where a lane is NaN the result depends on the width (callers treat NaN rows apart).</summary>
    static abstract T MaxAcross(TV v);

    /// <summary>Lane i = p[idx[i]].</summary>
    static abstract TV Gather(T* p, int* idx);

    /// <summary>Whether <see cref="Lookup"/> is fast here (a two-source permute).</summary>
    static abstract bool HasLookup { get; }

    /// <summary>Lane i = element idx[i] of the 2V-element table (t0, t1).</summary>
    static abstract TV Lookup(TV t0, TV t1, int* idx);

    /// <summary>
    /// Block transpose: reads V rows of V elements, row r at src + r * ld (rows from <paramref name="rows"/> on read as
    /// zeros), and writes the transpose, row j (element j of every source row) at dst + j * ldDst.
    /// </summary>
    static abstract void Transpose(T* src, nint ld, int rows, T* dst, nint ldDst);
}
