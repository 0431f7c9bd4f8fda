using System.Runtime.Intrinsics;
using MiniGrad.Backends.Cpu;

namespace MiniGrad.Tests.Cpu;

/// <summary>The SIMD layer: every width this machine accelerates gives the same bits, and the composites are accurate.</summary>
public unsafe class SimdTests
{
    /// <summary>The widths to test here: every accelerated one up to the native width, and scalar.</summary>
    public static TheoryData<int> Widths() => new(WidthList);

    /// <summary>512, 256, 128 and 0 (scalar), those up to this machine's native width.</summary>
    public static int[] WidthList => [.. new[] { 512, 256, 128, 0 }.Where(bits => bits <= Simd.NativeBits)];

    static float[] Inputs()
    {
        var rnd = new Random(11);
        var xs = new List<float> { 0f, -0f, 1f, -1f, 0.3465736f, 0.625f, -0.625f, 0.6249999f, 1e-20f, -1e-20f, 88.7f, 88.72f, 89f, 100f,
            -87.3f, -103f, -104f, -120f, -150f, -1e30f, 1e30f, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            float.Epsilon, -float.Epsilon, 1.17549435e-38f, 3e-39f, float.MaxValue };
        for (int i = 0; i < 20000; i++) xs.Add((float)(rnd.NextDouble() * 200 - 100));
        for (int i = 0; i < 5000; i++) xs.Add((float)(rnd.NextDouble() * 4 - 2));
        for (int i = 0; i < 2000; i++) xs.Add((float)Math.Exp(rnd.NextDouble() * 170 - 85));
        xs.Add(3f); // an odd length: the last values go through the tail path
        return [.. xs];
    }

    static void Agrees(Func<double, double> f, float[] x, float[] y, string what, double tinyAbs = 1.5e-45)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double want = f(x[i]);
            float want32 = (float)want;
            if (double.IsNaN(want)) { Assert.True(float.IsNaN(y[i]), $"{what}({x[i]}) = {y[i]}; expected NaN"); continue; }
            if (float.IsInfinity(want32)) { Assert.True(y[i] == want32, $"{what}({x[i]}) = {y[i]}; expected {want32}"); continue; }
            if (Math.Abs(want32) < 1.2e-38f) { Assert.True(Math.Abs(y[i] - want) <= tinyAbs + 1e-7 * Math.Abs(want), $"{what}({x[i]}) = {y[i]:R}; expected {want:R}"); continue; }
            double rel = Math.Abs(y[i] - want) / Math.Abs(want);
            Assert.True(rel < 2.5e-7, $"{what}({x[i]:R}) = {y[i]:R}; expected {want:R} (relative error {rel:E2})");
        }
    }

    static float[] Run(int bits, Action<float[], float[]> op, float[] x)
    {
        var y = new float[x.Length];
        using (Simd.Limit(bits)) op(x, y);
        return y;
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Float32CompositesMatchDoublePrecisionAndTheNativeWidthBitForBit(int bits)
    {
        var x = Inputs();
        // Sigmoid below -88.7, where exp(-x) overflows, gives 0 rather than a subnormal (absolute error below 1.2e-38).
        var cases = new (string Name, Action<float[], float[]> Op, Func<double, double> Ref, double TinyAbs)[]
        {
            ("exp", (a, b) => SimdMath.Exp<float>(a, b), Math.Exp, 1.5e-45),
            ("sigmoid", (a, b) => SimdMath.Sigmoid<float>(a, b), v => 1 / (1 + Math.Exp(-v)), 1.2e-38),
            ("tanh", (a, b) => SimdMath.Tanh<float>(a, b), Math.Tanh, 1.5e-45),
            ("log", (a, b) => SimdMath.Log<float>(a, b), Math.Log, 1.5e-45),
        };
        foreach (var (name, op, reference, tinyAbs) in cases)
        {
            var y = Run(bits, op, x);
            Agrees(reference, x, y, $"{name} at {bits} bits", tinyAbs);
            var native = Run(Simd.NativeBits, op, x);
            for (int i = 0; i < x.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(native[i]) == BitConverter.SingleToInt32Bits(y[i]) || (float.IsNaN(y[i]) && float.IsNaN(native[i])),
                    $"{name}({x[i]:R}): {y[i]:R} at {bits} bits, {native[i]:R} at {Simd.NativeBits}");
        }
    }

    [Fact]
    public void ExpNonPositiveIsExpUpToSubnormalResultsAtEveryWidth()
    {
        var x = Inputs().Where(v => !(v > 0)).Append(-87.3365f).Append(-87.34f).Append(-87.68f).Append(-88f).Append(-88.0001f).Append(-88.8f).Append(-0f).ToArray();
        var full = new float[x.Length];
        SimdMath.Exp<float>(x, full);
        Check<Vector512<float>, Simd512<float>>(); Check<Vector256<float>, Simd256<float>>();
        Check<Vector128<float>, Simd128<float>>(); Check<float, SimdScalar<float>>();

        void Check<TV, S>() where TV : unmanaged where S : ISimd<TV, float>
        {
            if (!S.IsAccelerated) return;
            var pad = new float[S.Lanes];
            for (int i = 0; i < x.Length; i++)
            {
                pad[0] = x[i];
                float got;
                fixed (float* p = pad) got = S.Element(SimdMath.ExpNonPositive<float, TV, S>(S.Load(p)), 0);
                float want = full[i];
                bool same = BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(want) || (float.IsNaN(got) && float.IsNaN(want));
                Assert.True(same || (got == 0 && want < 1.17549435e-38f), $"{typeof(S).Name}: ExpNonPositive({x[i]:R}) = {got:R}; expected {want:R} (or 0)");
                if (want >= 1.17549435e-38f || float.IsNaN(want)) Assert.True(same, $"{typeof(S).Name}: ExpNonPositive({x[i]:R}) = {got:R}; expected {want:R}");
            }
        }
    }

    [Fact]
    public void Pow2IsExactOverTheNormalRangeAndZeroOneBelowItAtEveryWidth()
    {
        Check<Vector512<float>, Simd512<float>, float>(); Check<Vector256<float>, Simd256<float>, float>();
        Check<Vector128<float>, Simd128<float>, float>(); Check<float, SimdScalar<float>, float>();
        Check<Vector512<double>, Simd512<double>, double>(); Check<Vector256<double>, Simd256<double>, double>();
        Check<Vector128<double>, Simd128<double>, double>(); Check<double, SimdScalar<double>, double>();

        void Check<TV, S, T>() where TV : unmanaged where S : ISimd<TV, T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            if (!S.IsAccelerated) return;
            int lo = typeof(T) == typeof(float) ? -126 : -1022, hi = -lo + 1;
            foreach (int n in new[] { lo - 1, lo, lo + 1, -1, 0, 1, hi - 1, hi })
            {
                var want = n < lo ? T.Zero : T.ScaleB(T.One, n);
                var got = S.Element(S.Pow2(S.Splat(T.CreateChecked(n))), 0);
                Assert.True(got == want && !T.IsNegative(got), $"{typeof(S).Name}: Pow2({n}) = {got}; expected {want}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void SpanFormsWorkInPlaceAtEveryLengthAndRefuseAShortDestination(int bits)
    {
        using var _ = Simd.Limit(bits);
        for (int n = 0; n <= 40; n++)
        {
            var x = Enumerable.Range(0, n).Select(i => (float)(i * 0.37 - 5)).ToArray();
            var y = (float[])x.Clone();
            SimdMath.Exp<float>(y, y);
            Agrees(Math.Exp, x, y, $"exp in place, length {n}");
            var xd = x.Select(v => (double)v).ToArray();
            var yd = new double[n];
            SimdMath.Tanh<double>(xd, yd);
            for (int i = 0; i < n; i++) Assert.Equal(Math.Tanh(xd[i]), yd[i], 1e-15);
        }
        var big = new float[40];
        var e = Assert.Throws<ArgumentException>(() => SimdMath.Sigmoid<float>(new float[37], big.AsSpan(0, 20)));
        Assert.Contains("destination has 20 elements; expected at least 37", e.Message);
        Assert.All(big, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void LimitNamesABadWidthAndScopesNest()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Simd.Limit(64));
        Assert.Contains("expected 0 (scalar), 128, 256 or 512", e.Message);
        int native = Simd.Bits;
        using (Simd.Limit(128))
        {
            Assert.Equal(Math.Min(128, native), Simd.Bits);
            using (Simd.Limit(0)) Assert.Equal(0, Simd.Bits);
            Assert.Equal(Math.Min(128, native), Simd.Bits);
        }
        Assert.Equal(native, Simd.Bits);
    }

    [Fact]
    public void TheNativeWidthIsTheWidestAcceleratedOne()
    {
        if (Vector512.IsHardwareAccelerated) Assert.Equal(512, Simd.NativeBits);
        else if (Vector256.IsHardwareAccelerated) Assert.Equal(256, Simd.NativeBits);
        else if (Vector128.IsHardwareAccelerated) Assert.Equal(128, Simd.NativeBits);
        else Assert.Equal(0, Simd.NativeBits);
    }

    [Fact]
    public void TransposeAndScaleBAtEveryWidth()
    {
        Check<Vector512<float>, Simd512<float>, float>(); Check<Vector512<double>, Simd512<double>, double>();
        Check<Vector256<float>, Simd256<float>, float>(); Check<Vector256<double>, Simd256<double>, double>();
        Check<Vector128<float>, Simd128<float>, float>(); Check<Vector128<double>, Simd128<double>, double>();
        Check<float, SimdScalar<float>, float>(); Check<double, SimdScalar<double>, double>();

        static void Check<TV, S, T>() where TV : unmanaged where S : ISimd<TV, T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            if (!S.IsAccelerated) return;
            int v = S.Lanes;
            // Source rows of stride v + 3 and output rows of stride v + 5; rows from `rows` on read as zeros.
            foreach (int rows in new[] { v, v - 1, 1, 0, v + 2 })
            {
                var src = new T[v * (v + 3)];
                for (int i = 0; i < src.Length; i++) src[i] = T.CreateTruncating(i + 1);
                var dst = Enumerable.Repeat(T.CreateTruncating(-7), v * (v + 5)).ToArray();
                fixed (T* sp = src, dp = dst) S.Transpose(sp, v + 3, rows, dp, v + 5);
                for (int j = 0; j < v; j++)
                    for (int r = 0; r < v + 5; r++)
                    {
                        T want = r >= v ? T.CreateTruncating(-7) : r < rows ? src[r * (v + 3) + j] : T.Zero;
                        Assert.True(dst[j * (v + 5) + r] == want, $"{typeof(S).Name}: transpose of {rows} rows, output ({j}, {r})");
                    }
            }
            foreach (int n in new[] { -250, -149, -126, -1, 0, 1, 127, 128, 250 })
            {
                T x = T.CreateTruncating(1.5);
                T got = S.Element(S.ScaleB(S.Splat(x), S.Splat(T.CreateTruncating(n))), 0);
                Assert.True(got == T.ScaleB(x, n), $"{typeof(S).Name}: ScaleB(1.5, {n}) = {got}; expected {T.ScaleB(x, n)}");
            }
        }
    }
}
