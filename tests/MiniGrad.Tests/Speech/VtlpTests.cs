using MiniGrad.Nn.Audio;

namespace MiniGrad.Tests.Speech;

public class VtlpTests
{
    static float[] Sine(double hz, int n, double amplitude = 0.5, int rate = 16000) => LogMelTests.Sine(hz, n, amplitude, rate);

    // The band with the most energy in the middle frame (unnormalized features: a steady tone is one peak).
    static int PeakBand(LogMel lm, float[] wave)
    {
        var f = lm.Compute(wave);
        int frames = f.Length / lm.NumMels, t = frames / 2, best = 0;
        for (int b = 1; b < lm.NumMels; b++) if (f[t * lm.NumMels + b] > f[t * lm.NumMels + best]) best = b;
        return best;
    }

    static int NearestBand(LogMel lm, double hz)
    {
        int best = 0;
        for (int b = 1; b < lm.NumMels; b++)
            if (Math.Abs(LogMel.HzToMel(lm.CenterFrequencies[b]) - LogMel.HzToMel(hz)) < Math.Abs(LogMel.HzToMel(lm.CenterFrequencies[best]) - LogMel.HzToMel(hz))) best = b;
        return best;
    }

    [Fact]
    public void FactorOneGivesTheSameFeatures()
    {
        var lm = new LogMel();
        var rnd = new Random(3);
        var wave = Enumerable.Range(0, 9000).Select(_ => (float)(rnd.NextDouble() - 0.5)).ToArray();
        var warped = lm.WithWarp(1);
        Assert.Equal(1, warped.WarpFactor);
        Assert.Equal(lm.Compute(wave), warped.Compute(wave));
        var (f, alpha) = Vtlp.Apply(lm, wave, 1, 1, new Generator(1));
        Assert.Equal(1, alpha);
        Assert.Equal(lm.Compute(wave), f);
    }

    [Theory]
    [InlineData(1000, 1.1)]
    [InlineData(1000, 0.9)]
    [InlineData(2500, 1.15)]
    [InlineData(2500, 0.85)]
    [InlineData(600, 1.2)]
    public void ToneMovesToTheBandOfAlphaTimesItsFrequency(double hz, double alpha)
    {
        var lm = new LogMel(normalize: false);
        var wave = Sine(hz, 4000);
        int plain = PeakBand(lm, wave), warped = PeakBand(lm.WithWarp(alpha), wave);
        Assert.Equal(NearestBand(lm, hz), plain);
        Assert.Equal(NearestBand(lm, alpha * hz), warped);
        if (alpha > 1) Assert.True(warped > plain, $"alpha {alpha}: the tone's band should rise from {plain}, got {warped}");
        else Assert.True(warped < plain, $"alpha {alpha}: the tone's band should fall from {plain}, got {warped}");
    }

    [Theory]
    [InlineData(0.9)]
    [InlineData(1.0)]
    [InlineData(1.1)]
    [InlineData(1.3)]
    public void WarpIsPiecewiseLinearAndKeepsTheEnds(double alpha)
    {
        const int rate = 16000;
        const double boundary = 4800, nyquist = rate / 2.0;
        Assert.Equal(0, LogMel.WarpFrequency(0, alpha, rate));
        Assert.Equal(nyquist, LogMel.WarpFrequency(nyquist, alpha, rate), 9);
        double edge = boundary * Math.Min(alpha, 1) / alpha;
        foreach (double f in new[] { 100.0, 1000, 0.5 * edge, edge })
            Assert.Equal(alpha * f, LogMel.WarpFrequency(f, alpha, rate), 9);
        // Above the knee: the straight line from (edge, alpha edge) to (nyquist, nyquist).
        double mid = (edge + nyquist) / 2;
        Assert.Equal((alpha * edge + nyquist) / 2, LogMel.WarpFrequency(mid, alpha, rate), 9);
        double prev = -1;
        for (double f = 0; f <= nyquist; f += 37)
        {
            double w = LogMel.WarpFrequency(f, alpha, rate);
            Assert.True(w > prev, $"the warp must increase: f = {f} gives {w} after {prev}");
            prev = w;
        }
    }

    [Fact]
    public void WarpedFrontEndKeepsItsSettings()
    {
        var lm = new LogMel(sampleRate: 8000, numMels: 23, windowMs: 20, hopMs: 8, normalize: false);
        var w = lm.WithWarp(0.92, 3000);
        Assert.Equal((8000, 23, lm.WindowLength, lm.HopLength, lm.FftSize, false, 0.92, 3000.0),
            (w.SampleRate, w.NumMels, w.WindowLength, w.HopLength, w.FftSize, w.Normalize, w.WarpFactor, w.WarpBoundaryHz));
        Assert.Equal(lm.CenterFrequencies, w.CenterFrequencies);
        Assert.Equal(1, lm.WarpFactor);
        Assert.NotEqual(lm.Compute(Sine(700, 3000, rate: 8000)), w.Compute(Sine(700, 3000, rate: 8000)));
    }

    [Fact]
    public void RandomWarpIsReproducibleUnderASeed()
    {
        var lm = new LogMel();
        var wave = Sine(440, 6000).Zip(Sine(1900, 6000), (a, b) => a + b).ToArray();
        var (f1, a1) = Vtlp.Apply(lm, wave, generator: new Generator(7));
        var (f2, a2) = Vtlp.Apply(lm, wave, generator: new Generator(7));
        Assert.Equal(a1, a2);
        Assert.Equal(f1, f2);
        Assert.Equal(lm.WithWarp(a1).Compute(wave), f1);
        var g = new Generator(11);
        var factors = Enumerable.Range(0, 200).Select(_ => Vtlp.RandomFactor(0.9, 1.1, g)).ToArray();
        Assert.All(factors, a => Assert.InRange(a, 0.9, 1.1));
        Assert.True(factors.Min() < 0.92 && factors.Max() > 1.08, $"factors should spread over [0.9, 1.1], got {factors.Min()}..{factors.Max()}");
        Assert.NotEqual(a1, Vtlp.RandomFactor(generator: new Generator(8)));
    }

    static void Throws(string param, string value, Action act)
    {
        var e = Assert.ThrowsAny<ArgumentException>(act);
        Assert.Equal(param, e.ParamName);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void BadArgumentsNameTheArgumentAndValue()
    {
        var lm = new LogMel();
        Throws("warpFactor", "0.3", () => lm.WithWarp(0.3));
        Throws("warpFactor", "2.5", () => lm.WithWarp(2.5));
        Throws("warpFactor", "NaN", () => lm.WithWarp(double.NaN));
        Throws("boundaryHz", "9000", () => lm.WithWarp(1.1, 9000));
        Throws("boundaryHz", "-5", () => lm.WithWarp(1.1, -5));
        Throws("hz", "-1", () => LogMel.WarpFrequency(-1, 1.1, 16000));
        Throws("sampleRate", "0", () => LogMel.WarpFrequency(100, 1.1, 0));
        Throws("min", "0.1", () => Vtlp.RandomFactor(0.1, 1.1));
        Throws("max", "0.95", () => Vtlp.RandomFactor(1.0, 0.95));
        Throws("features", "1.1", () => Vtlp.Apply(lm.WithWarp(1.1), Sine(440, 1000)));
    }
}
