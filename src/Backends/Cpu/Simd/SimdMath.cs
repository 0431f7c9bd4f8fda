using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// The composites, written once over <see cref="ISimd{TV, T}"/>: exp, log, sigmoid and tanh in float32 arithmetic
/// (Cephes' expf and tanhf, FreeBSD's logf; TensorPrimitives' float exp widens every vector to two double vectors, twice the work),
/// float64 by the runtime's vector math, and the log-sum-exp steps of the CTC recursions. The same operations per lane
/// at every width, so every width gives the same bits. Plus span forms that run at <see cref="Simd.Bits"/>.
/// </summary>
internal static unsafe class SimdMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV F<T, TV, S>(float c) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
        => S.Splat(Unsafe.As<float, T>(ref c)); // float32 constants: only called where T is float

    /// <summary>
    /// exp(x). float32: x = n ln2 + r with |r| &lt;= ln2/2 (ln2 in two parts), 1 + r + r^2 P(r) for e^r (P of degree 4), then 2^n by
    /// ScaleB, which gives exact 0 and inf where the result underflows or overflows and correctly rounded subnormals;
    /// relative error below 2^-22 wherever the result is a normal float. NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        if (typeof(T) != typeof(float)) return S.RuntimeExp(x);
        // Max/Min return their second operand when either is NaN (x86), or NaN (ARM64): with x second, NaN stays NaN.
        // Below -150 the result is 0 and above 89 it is inf either way; the clamp keeps n and r finite.
        var e = ExpReduced<T, TV, S>(S.Min(F<T, TV, S>(89f), S.Max(F<T, TV, S>(-150f), x)), out var n);
        if (!S.HasFastScaleB)
        {
            // Where every lane's 2^n is a normal float (the usual case), one product with 2^n written directly: the same
            // single rounding as ScaleB's two products, for fewer operations.
            var normal = S.And(S.LessThan(F<T, TV, S>(-126.5f), n), S.LessThan(n, F<T, TV, S>(127.5f)));
            if (S.AllSet(normal)) return S.Mul(e, S.Pow2(n));
        }
        return S.ScaleB(e, n);
    }

    /// <summary>
    /// exp(x) for x &lt;= 0 (or NaN): the same bits as <see cref="Exp{T, TV, S}"/> except that results below 2^-126 may
    /// come out as 0 (those of x below -126.5 ln2), for fewer operations (2^n written directly, no check). The log-sum-exp
    /// steps use it, where the result is only ever added to 1 and a subnormal would vanish there anyway.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpNonPositive<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        if (typeof(T) != typeof(float)) return S.RuntimeExp(x);
        if (S.HasFastScaleB) return Exp<T, TV, S>(x); // VSCALEFPS: one instruction, against Pow2's add and shift and the product
        // Clamped at -88 (NaN stays), n is at least -127, and there Pow2 gives 0: every result below 2^-126 is 0 without
        // a compare and select.
        var e = ExpReduced<T, TV, S>(S.Max(F<T, TV, S>(-88f), x), out var n);
        return S.Mul(e, S.Pow2(n));
    }

    /// <summary>float32 exp's range reduction and polynomial: x = n ln2 + r, returns e^r (in [0.7, 1.42]) and n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV ExpReduced<T, TV, S>(TV x, out TV n) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        n = S.Round(S.Mul(x, F<T, TV, S>(SimdConst.Log2E)));
        var r = S.Fma(n, F<T, TV, S>(-SimdConst.Ln2Hi), x);
        r = S.Fma(n, F<T, TV, S>(-SimdConst.Ln2Lo), r);
        return S.Fma(ExpPoly<T, TV, S>(r), S.Mul(r, r), S.Add(r, S.Splat(T.One)));
    }

    /// <summary>float32 exp's polynomial P(r), with e^r = 1 + r + r^2 P(r) on the reduced range (Horner, E5 down to E1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV ExpPoly<T, TV, S>(TV r) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var p = F<T, TV, S>(SimdConst.E5);
        p = S.Fma(p, r, F<T, TV, S>(SimdConst.E4));
        p = S.Fma(p, r, F<T, TV, S>(SimdConst.E3));
        p = S.Fma(p, r, F<T, TV, S>(SimdConst.E2));
        return S.Fma(p, r, F<T, TV, S>(SimdConst.E1));
    }

    /// <summary>
    /// e^x - 1 without the cancellation near 0: float32 below |x| = ln2 / 2 (where exp's range reduction has n = 0 and r = x)
    /// as r + r^2 P(r), exp's own polynomial without its leading 1; elsewhere exp(x) - 1. float64: Kahan's (u - 1) x / log u.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpM1<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var one = S.Splat(T.One);
        var zero = S.Splat(T.Zero);
        var u = Exp<T, TV, S>(x);
        var um1 = S.Sub(u, one);
        if (typeof(T) != typeof(float))
        {
            var kahan = S.Div(S.Mul(um1, x), S.RuntimeLog(u));
            var r = S.Select(S.Equal(u, one), x, kahan);
            return S.Select(S.Equal(um1, S.Splat(-T.One)), um1, S.Select(S.Equal(u, S.Splat(T.PositiveInfinity)), u, r));
        }
        var small = S.Fma(ExpPoly<T, TV, S>(x), S.Mul(x, x), x);
        var ax = S.Select(S.LessThan(x, zero), S.Sub(zero, x), x);
        var r32 = S.Select(S.LessThan(ax, F<T, TV, S>(0.34657359f)), small, um1);
        return S.Select(S.Equal(x, zero), x, r32); // -0 stays -0
    }

    /// <summary>log(1 + z) for z &gt;= 0 (or NaN, +inf) without losing small z: Kahan's log(u) z / (u - 1) with u = 1 + z
    /// (the rounding of 1 + z cancels in the ratio); z where u rounds to 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Log1PNonNegative<T, TV, S>(TV z) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var one = S.Splat(T.One);
        var u = S.Add(one, z);
        var inf = S.Splat(T.PositiveInfinity);
        var finite = S.Select(S.Equal(u, inf), one, u); // LogPositive needs a finite argument; inf is put back below
        var r = S.Div(S.Mul(LogPositive<T, TV, S>(finite), z), S.Sub(u, one));
        r = S.Select(S.Equal(u, one), z, r);
        return S.Select(S.Equal(u, inf), u, r);
    }

    /// <summary>log(x) for positive normal x (the CTC's sums of exps, in [1, 3]); use <see cref="Log{T, TV, S}"/> for any x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LogPositive<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        if (typeof(T) != typeof(float)) return S.RuntimeLog(x);
        // x = 2^k f with f in [sqrt(1/2), sqrt(2)); log x = k ln2 + log1p(u), u = f - 1, as FreeBSD's logf: with
        // s = u / (2 + u) (|s| <= 0.172), log1p(u) = 2 atanh(s) = u - (u^2/2 - s (u^2/2 + R)), R = s^2 P(s^2) with a
        // degree-3 minimax P. One division and five multiply-adds where Cephes' logf has eleven: the same accuracy (at
        // most 0.84 ulp over [0.5, 4), against 0.83), 4-8% less time for the CTC at 128 bits without FMA.
        var u = S.Sub(S.SplitExponent(x, out var k), S.Splat(T.One));
        var s = S.Div(u, S.Add(u, S.Splat(T.One + T.One)));
        var z = S.Mul(s, s);
        var r = F<T, TV, S>(SimdConst.Lg4);
        r = S.Fma(r, z, F<T, TV, S>(SimdConst.Lg3));
        r = S.Fma(r, z, F<T, TV, S>(SimdConst.Lg2));
        r = S.Fma(r, z, F<T, TV, S>(SimdConst.Lg1));
        r = S.Mul(r, z);
        var hfsq = S.Mul(S.Mul(F<T, TV, S>(0.5f), u), u);
        var t = S.Fma(s, S.Add(hfsq, r), S.Mul(k, F<T, TV, S>(SimdConst.Ln2Lo)));
        return S.Fma(k, F<T, TV, S>(SimdConst.Ln2Hi), S.Sub(u, S.Sub(hfsq, t)));
    }

    /// <summary>log(x) for any x: -inf at 0, NaN below 0 and at NaN, +inf at +inf; subnormals scaled up first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Log<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        if (typeof(T) != typeof(float)) return S.RuntimeLog(x);
        var tiny = S.LessThan(x, F<T, TV, S>(1.17549435e-38f));
        var scaled = S.Select(tiny, S.Mul(x, F<T, TV, S>(16777216f)), x); // 2^24
        var r = S.Sub(LogPositive<T, TV, S>(scaled), S.And(tiny, F<T, TV, S>(16.635532f))); // 24 ln2
        var zero = S.Splat(T.Zero);
        r = S.Select(S.Equal(x, zero), S.Splat(T.NegativeInfinity), r);
        r = S.Select(S.LessThan(x, zero), S.Splat(T.NaN), r);
        r = S.Select(S.Equal(x, S.Splat(T.PositiveInfinity)), x, r);
        return S.Select(S.Equal(x, x), r, x); // NaN in, NaN out
    }

    /// <summary>1 / (1 + exp(-x)): 0 below about -88.7, where exp(-x) overflows, 1 above about 17.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var one = S.Splat(T.One);
        return S.Div(one, S.Add(one, Exp<T, TV, S>(S.Sub(S.Splat(T.Zero), x))));
    }

    /// <summary>
    /// tanh(x), float32 as Cephes' tanhf: x + x^3 P(x^2) for |x| &lt; 0.625, else sign(x) (1 - 2 / (exp(2|x|) + 1)).
    /// float64: the second form throughout (absolute error about 1e-16, relative error larger near 0); the span form
    /// <see cref="Tanh{T}(ReadOnlySpan{T}, Span{T})"/> takes float64 to TensorPrimitives instead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var one = S.Splat(T.One);
        var two = S.Add(one, one);
        var zero = S.Splat(T.Zero);
        var neg = S.LessThan(x, zero);
        var ax = S.Select(neg, S.Sub(zero, x), x);
        var big = S.Sub(one, S.Div(two, S.Add(Exp<T, TV, S>(S.Mul(two, ax)), one)));
        big = S.Select(neg, S.Sub(zero, big), big);
        if (typeof(T) != typeof(float)) return S.Select(S.Equal(x, x), big, x);
        var z = S.Mul(x, x);
        var p = F<T, TV, S>(SimdConst.T5);
        p = S.Fma(p, z, F<T, TV, S>(SimdConst.T4));
        p = S.Fma(p, z, F<T, TV, S>(SimdConst.T3));
        p = S.Fma(p, z, F<T, TV, S>(SimdConst.T2));
        p = S.Fma(p, z, F<T, TV, S>(SimdConst.T1));
        var small = S.Fma(S.Mul(p, z), x, x);
        // NaN: ax < 0.625 is false, and big is NaN. At +-0, x itself (the polynomial would turn -0 into +0).
        var r = S.Select(S.LessThan(ax, F<T, TV, S>(0.625f)), small, big);
        return S.Select(S.Equal(x, zero), x, r);
    }

    // The log-sum-exp steps of the CTC recursions. They keep PyTorch's rounding points: log(sum of exps relative to the
    // max) + max.

    // The recursions take these steps a whole row at a time in three passes (LseArgs2/3 per vector, ExpNonPositiveRow
    // over the row, LseFinish per vector): fused into one loop body, their ~30 constants and temporaries overflow the
    // 16 registers of AVX2 and SSE, and each step's long dependency chain leaves the machine waiting.

    /// <summary>First pass of log(exp(a) + exp(b)): returns the max m and writes d = min - m (&lt;= 0; NaN where m = -inf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LseArgs2<T, TV, S>(TV a, TV b, T* d) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var m = S.Max(a, b);
        S.Store(S.Sub(S.Min(a, b), m), d);
        return m;
    }

    /// <summary>First pass of log(exp(a) + exp(b) + exp(c)): returns the max m and writes the other two minus m to d1, d2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LseArgs3<T, TV, S>(TV a, TV b, TV c, T* d1, T* d2) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var hi = S.Max(a, b);
        var m = S.Max(hi, c);
        S.Store(S.Sub(S.Min(hi, c), m), d1);
        S.Store(S.Sub(S.Min(a, b), m), d2);
        return m;
    }

    /// <summary>Second pass: the n elements at p (a multiple of Lanes) replaced by their <see cref="ExpNonPositive{T, TV, S}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void ExpNonPositiveRow<T, TV, S>(T* p, int n) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        for (int i = 0; i < n; i += S.Lanes) S.Store(ExpNonPositive<T, TV, S>(S.Load(p + i)), p + i);
    }

    /// <summary>Third pass: log(sum) + m, the sum of exps relative to the max (1 + e [+ e2], in [1, 3]); -inf where m is -inf.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LseFinish<T, TV, S>(TV m, TV sum) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var ninf = S.Splat(T.NegativeInfinity);
        return S.Select(S.Equal(m, ninf), ninf, S.Add(LogPositive<T, TV, S>(sum), m));
    }

    /// <summary>The last pass of PyTorch's running log-add step acc &lt;- log(exp(acc) + exp(x)), after LseArgs2(acc, x) gave
    /// m and the row pass the exp: x where acc = -inf, else log(sum) + m.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ChainFinish<T, TV, S>(TV acc, TV x, TV m, TV sum) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
        => S.Select(S.Equal(acc, S.Splat(T.NegativeInfinity)), x, S.Add(LogPositive<T, TV, S>(sum), m));

    /// <summary>exp(lp) * gr, NaN where lp = -inf (PyTorch computes exp(-inf - -inf) there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpTimes<T, TV, S>(TV lp, TV gr) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var r = S.Mul(Exp<T, TV, S>(lp), gr);
        return S.Select(S.Equal(lp, S.Splat(T.NegativeInfinity)), S.Splat(T.NaN), r);
    }

    /// <summary>(exp(lp) - exp(lcab + nll - lp)) * gr, NaN where lp = -inf.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV GradTerm<T, TV, S>(TV lp, TV lcab, TV nll, TV gr) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>
    {
        var r = S.Mul(S.Sub(Exp<T, TV, S>(lp), Exp<T, TV, S>(S.Sub(S.Add(lcab, nll), lp))), gr);
        return S.Select(S.Equal(lp, S.Splat(T.NegativeInfinity)), S.Splat(T.NaN), r);
    }

    // Span forms: float32 through the composites above at Simd.Bits; float64 through TensorPrimitives (already float64
    // arithmetic, at every width).

    /// <summary>y = exp(x) elementwise; x and y may be the same span.</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) Map<T, ExpOp>(x, y);
        else if (x.Length > 0) { CheckLengths(x.Length, y.Length); TP.Exp(x, y); } // TensorPrimitives refuses empty spans
    }

    /// <summary>y = 1 / (1 + exp(-x)) elementwise; x and y may be the same span.</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) Map<T, SigmoidOp>(x, y);
        else if (x.Length > 0) { CheckLengths(x.Length, y.Length); TP.Sigmoid(x, y); } // TensorPrimitives refuses empty spans
    }

    /// <summary>y = tanh(x) elementwise; x and y may be the same span.</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) Map<T, TanhOp>(x, y);
        else if (x.Length > 0) { CheckLengths(x.Length, y.Length); TP.Tanh(x, y); } // TensorPrimitives refuses empty spans
    }

    /// <summary>y = log(x) elementwise; x and y may be the same span.</summary>
    public static void Log<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) Map<T, LogOp>(x, y);
        else if (x.Length > 0) { CheckLengths(x.Length, y.Length); TP.Log(x, y); } // TensorPrimitives refuses empty spans
    }

    static void CheckLengths(int x, int y)
    {
        if (y < x) throw new ArgumentException($"SimdMath: destination has {y} elements; expected at least {x}, the source's length", nameof(y));
    }

    interface IUnary
    {
        static abstract TV Invoke<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T>;
    }

    struct ExpOp : IUnary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Invoke<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> => Exp<T, TV, S>(x);
    }

    struct SigmoidOp : IUnary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Invoke<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> => Sigmoid<T, TV, S>(x);
    }

    struct TanhOp : IUnary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Invoke<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> => Tanh<T, TV, S>(x);
    }

    struct LogOp : IUnary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Invoke<T, TV, S>(TV x) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> => Log<T, TV, S>(x);
    }

    static void Map<T, TOp>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> where TOp : struct, IUnary
    {
        CheckLengths(x.Length, y.Length);
        fixed (T* xp = x)
        fixed (T* yp = y)
        {
            var kernel = new MapKernel<T, TOp>(xp, yp, x.Length);
            Simd.Run<T, MapKernel<T, TOp>>(ref kernel);
        }
    }

    readonly struct MapKernel<T, TOp>(T* x, T* y, int n) : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T> where TOp : struct, IUnary
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes, i = 0;
            for (; i + v <= n; i += v) S.Store(TOp.Invoke<T, TV, S>(S.Load(x + i)), y + i);
            if (i == n) return;
            T* tail = stackalloc T[16]; // the rest through a whole vector (in place, an overlapping one would re-read results)
            new Span<T>(x + i, n - i).CopyTo(new Span<T>(tail, 16));
            S.Store(TOp.Invoke<T, TV, S>(S.Load(tail)), tail);
            new Span<T>(tail, n - i).CopyTo(new Span<T>(y + i, n - i));
        }
    }
}
