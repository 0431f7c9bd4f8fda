using MiniGrad.Backends.Cpu;

namespace MiniGrad.Tests.Cpu;

/// <summary>The CPU backend's float32 exp and sigmoid against double-precision math, edge values included.</summary>
public class FastMathTests
{
    static float[] Inputs()
    {
        var rnd = new Random(7);
        var xs = new List<float> { 0f, -0f, 1f, -1f, 0.3465736f, -0.3465736f, 88.7f, 88.72f, 89f, 100f, -87.3f, -103f, -104f, -120f, -150f, -1e30f, 1e30f,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, -float.Epsilon };
        for (int i = 0; i < 20000; i++) xs.Add((float)(rnd.NextDouble() * 200 - 100));
        for (int i = 0; i < 5000; i++) xs.Add((float)(rnd.NextDouble() * 2 - 1));
        xs.Add(3f); // an odd length: the last values go through the tail path
        return [.. xs];
    }

    static void AgreesWith(Func<double, double> f, float[] x, float[] y, string what)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double want = f(x[i]);
            float want32 = (float)want;
            if (double.IsNaN(want)) { Assert.True(float.IsNaN(y[i]), $"{what}({x[i]}) = {y[i]}; expected NaN"); continue; }
            if (float.IsInfinity(want32)) { Assert.True(y[i] == want32, $"{what}({x[i]}) = {y[i]}; expected {want32}"); continue; }
            if (want32 == 0) { Assert.True(Math.Abs(y[i]) < 1e-37f, $"{what}({x[i]}) = {y[i]}; expected 0"); continue; }
            if (Math.Abs(want32) < 1e-37f) { Assert.True(Math.Abs(y[i]) < 1e-36f, $"{what}({x[i]}) = {y[i]}; expected about {want}"); continue; } // denormal range
            double rel = Math.Abs(y[i] - want) / Math.Abs(want);
            Assert.True(rel < 2.5e-7, $"{what}({x[i]:R}) = {y[i]:R}; expected {want:R} (relative error {rel:E2})");
        }
    }

    [Fact]
    public void ExpMatchesDoublePrecision()
    {
        var x = Inputs();
        var y = new float[x.Length];
        FastMath.Exp<float>(x, y);
        AgreesWith(Math.Exp, x, y, "exp");
        Assert.Equal(0f, y[Array.IndexOf(x, float.NegativeInfinity)]);
        Assert.Equal(float.PositiveInfinity, y[Array.IndexOf(x, float.PositiveInfinity)]);
    }

    [Fact]
    public void AShortDestinationIsRefusedBeforeAnyWrite()
    {
        var x = new float[37];
        var y = new float[40];
        var e = Assert.Throws<ArgumentException>(() => FastMath.Exp<float>(x, y.AsSpan(0, 20)));
        Assert.Contains("destination has 20 elements; expected at least 37", e.Message);
        Assert.All(y, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentException>(() => FastMath.Sigmoid<float>(x, y.AsSpan(0, 36)));
    }

    [Fact]
    public void SigmoidMatchesDoublePrecisionInPlace()
    {
        var x = Inputs();
        var y = (float[])x.Clone();
        FastMath.Sigmoid<float>(y, y);
        AgreesWith(v => 1 / (1 + Math.Exp(-v)), x, y, "sigmoid");
        Assert.Equal(0f, y[Array.IndexOf(x, float.NegativeInfinity)]);
        Assert.Equal(1f, y[Array.IndexOf(x, float.PositiveInfinity)]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(40)]
    public void EveryLengthInPlaceAndFloat64(int n)
    {
        var x = Enumerable.Range(0, n).Select(i => (float)(i * 0.37 - 5)).ToArray();
        var y = (float[])x.Clone();
        FastMath.Exp<float>(y, y);
        AgreesWith(Math.Exp, x, y, $"exp in place, length {n}");
        var xd = x.Select(v => (double)v).ToArray();
        var yd = new double[n];
        FastMath.Exp<double>(xd, yd);
        for (int i = 0; i < n; i++) Assert.Equal(Math.Exp(xd[i]), yd[i], 1e-14 * Math.Exp(xd[i]));
    }
}
