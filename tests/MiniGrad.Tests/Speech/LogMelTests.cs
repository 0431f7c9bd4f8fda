using MathNet.Numerics;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;

namespace MiniGrad.Tests.Speech;

public class LogMelTests
{
    /// <summary>A sine tone of n samples (also used by the VTLP tests).</summary>
    internal static float[] Sine(double hz, int n, double amplitude = 0.5, int rate = 16000) =>
        Enumerable.Range(0, n).Select(i => (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / rate))).ToArray();

    [Theory]
    [InlineData(400, 1)]
    [InlineData(559, 1)]
    [InlineData(560, 2)]
    [InlineData(16000, 98)]
    [InlineData(12345, 75)]
    public void FrameCountIsOnePlusWholeHops(int n, int frames)
    {
        var lm = new LogMel();
        Assert.Equal((400, 160, 512, 40), (lm.WindowLength, lm.HopLength, lm.FftSize, lm.NumMels));
        Assert.Equal(1 + (n - 400) / 160, frames);
        Assert.Equal(frames, lm.NumFrames(n));
        var wave = Sine(440, n);
        Assert.Equal(frames * 40, lm.Compute(wave).Length);
        Assert.Equal([frames, 40], lm.ComputeTensor(wave).Shape);
    }

    [Fact]
    public void ShortAndEmptyWaves()
    {
        var lm = new LogMel();
        Assert.Equal(1, lm.NumFrames(100)); // one zero-padded frame
        Assert.Equal(0, lm.NumFrames(0));
        Assert.Empty(lm.Compute(ReadOnlySpan<float>.Empty));
        Assert.All(lm.Compute(Sine(440, 100)), v => Assert.True(float.IsFinite(v)));
        Assert.Throws<ArgumentException>(() => lm.Compute(Sine(440, 800), new float[7]));
    }

    [Fact]
    public void PowerSpectrumMatchesDirectDft()
    {
        var lm = new LogMel();
        int n = lm.FftSize;
        var rnd = new Random(5);
        var frame = Enumerable.Range(0, n).Select(_ => (float)(rnd.NextDouble() - 0.5)).ToArray();
        var power = new float[n / 2 + 1];
        lm.PowerSpectrum((float[])frame.Clone(), new Complex32[n / 2], power);
        for (int k = 0; k <= n / 2; k++)
        {
            double re = 0, im = 0;
            for (int i = 0; i < n; i++) { re += frame[i] * Math.Cos(2 * Math.PI * k * i / n); im -= frame[i] * Math.Sin(2 * Math.PI * k * i / n); }
            double want = re * re + im * im;
            Assert.True(Math.Abs(power[k] - want) <= 1e-4 * Math.Max(1, want), $"bin {k}: expected {want}, got {power[k]}");
        }
    }

    [Theory]
    [InlineData(300)]
    [InlineData(1000)]
    [InlineData(2500)]
    [InlineData(6000)]
    public void PureToneLandsInTheNearestBand(double hz)
    {
        var lm = new LogMel(normalize: false);
        var f = lm.Compute(Sine(hz, 8000));
        int frames = f.Length / 40;
        var mean = new double[40];
        for (int t = 0; t < frames; t++) for (int b = 0; b < 40; b++) mean[b] += f[t * 40 + b] / frames;
        int loudest = Array.IndexOf(mean, mean.Max());
        double mel = LogMel.HzToMel(hz);
        int nearest = Enumerable.Range(0, 40).MinBy(b => Math.Abs(LogMel.HzToMel(lm.CenterFrequencies[b]) - mel));
        Assert.Equal(nearest, loudest);
        // And the tone dominates: a band far away is at least 30 dB (log 1000 ~ 6.9) weaker.
        int far = nearest < 20 ? 39 : 0;
        Assert.True(mean[loudest] - mean[far] > 6.9, $"band {loudest} = {mean[loudest]:F2}, band {far} = {mean[far]:F2}");
    }

    [Fact]
    public void MelScaleIsHtk()
    {
        Assert.Equal(2595 * Math.Log10(2), LogMel.HzToMel(700), 9); // 2595 log10(1 + f / 700)
        Assert.Equal(1000, LogMel.HzToMel(1000), 0); // the scale's anchor: 1000 Hz is about 1000 mel
        Assert.Equal(1234.5, LogMel.MelToHz(LogMel.HzToMel(1234.5)), 9);
        var lm = new LogMel();
        for (int b = 1; b < 40; b++) Assert.True(lm.CenterFrequencies[b] > lm.CenterFrequencies[b - 1]);
    }

    [Fact]
    public void NormalizationGivesZeroMeanUnitStdPerBand()
    {
        var u = new SyntheticSpeech(3).Generate(0);
        var f = new LogMel().Compute(u.Wave);
        int frames = f.Length / 40;
        Assert.True(frames > 50);
        for (int b = 0; b < 40; b++)
        {
            double mean = 0, sq = 0;
            for (int t = 0; t < frames; t++) mean += f[t * 40 + b];
            mean /= frames;
            for (int t = 0; t < frames; t++) sq += (f[t * 40 + b] - mean) * (f[t * 40 + b] - mean);
            Assert.True(Math.Abs(mean) < 1e-4, $"band {b}: mean {mean}");
            Assert.True(Math.Abs(Math.Sqrt(sq / frames) - 1) < 1e-3, $"band {b}: std {Math.Sqrt(sq / frames)}");
        }
    }

    [Fact]
    public void DeterministicAndNoAllocationPerFrame()
    {
        var lm = new LogMel();
        var u = new SyntheticSpeech(4).Generate(1);
        Assert.Equal(lm.Compute(u.Wave), new LogMel().Compute(u.Wave));

        // The scratch is per call, not per frame: ten times the frames allocate no more.
        var shortWave = u.Wave[..4000];
        var longWave = Enumerable.Repeat(u.Wave, 10).SelectMany(w => w).ToArray();
        var d1 = new float[lm.NumFrames(shortWave.Length) * 40];
        var d2 = new float[lm.NumFrames(longWave.Length) * 40];
        lm.Compute(shortWave, d1);
        lm.Compute(longWave, d2);
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        lm.Compute(shortWave, d1);
        long a1 = GC.GetAllocatedBytesForCurrentThread();
        lm.Compute(longWave, d2);
        long a2 = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(d2.Length > 20 * d1.Length);
        Assert.Equal(a1 - a0, a2 - a1);
    }

    [Fact]
    public void BadSettingsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogMel(numMels: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogMel(fMin: 9000));
        var e = Assert.Throws<ArgumentException>(() => new LogMel(numMels: 200, fMin: 0, fMax: 400));
        Assert.Contains("contains no FFT bin", e.Message);
    }

    [Fact]
    public void TopDbMakesDigitalSilenceAndFaintNoiseAlike()
    {
        // A tone between two stretches of silence: digital zeros in one wave, noise about 100 dB below the tone in the other.
        var rnd = new Random(3);
        float[] Padded(Func<float> silence) =>
            [.. Enumerable.Range(0, 3000).Select(_ => silence()), .. Sine(440, 4000), .. Enumerable.Range(0, 3000).Select(_ => silence())];
        var zeros = Padded(() => 0f);
        var faint = Padded(() => (float)((rnd.NextDouble() - 0.5) * 2e-5));
        static float MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

        var plain = new LogMel();
        Assert.Null(plain.TopDb);
        Assert.True(MaxDiff(plain.Compute(zeros), plain.Compute(faint)) > 1); // the silence's level shows, normalized or not
        var lm = new LogMel { TopDb = 80 };
        Assert.True(MaxDiff(lm.Compute(zeros), lm.Compute(faint)) < 1e-3f);

        // Before normalization: nothing below the loudest value minus 80 dB (in natural-log units), the silent frames exactly
        // there, the loudest frames as without TopDb.
        var raw = new LogMel(normalize: false) { TopDb = 80 }.Compute(zeros);
        var rawPlain = new LogMel(normalize: false).Compute(zeros);
        float floor = rawPlain.Max() - (float)(80 * Math.Log(10) / 10);
        Assert.Equal(rawPlain.Max(), raw.Max());
        Assert.Equal(floor, raw.Min());
        Assert.All(raw[..40], v => Assert.Equal(floor, v)); // the first frame is all silence
        Assert.Equal(rawPlain.Select(v => Math.Max(v, floor)), raw);
        Assert.Equal(80, lm.WithWarp(1.1).TopDb);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-3.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void BadTopDbNamesItselfAndTheValue(double topDb)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LogMel { TopDb = topDb });
        Assert.Equal("TopDb", e.ParamName);
        Assert.Contains(topDb.ToString(), e.Message);
    }
}

public class FrameStackingTests
{
    [Fact]
    public void StacksConsecutiveFramesAndRepeatsTheLast()
    {
        // 5 frames of 2 features: frame i = (10i, 10i + 1). Factor 2 -> 3 frames of 4.
        var x = Enumerable.Range(0, 5).SelectMany(i => new float[] { 10 * i, 10 * i + 1 }).ToArray();
        var y = FrameStacking.Stack(x, 2, 2);
        Assert.Equal(new float[] { 0, 1, 10, 11, 20, 21, 30, 31, 40, 41, 40, 41 }, y);
        Assert.Equal(3, FrameStacking.StackedFrames(5, 2));
        Assert.Equal(x, FrameStacking.Stack(x, 2, 1));
        Assert.Empty(FrameStacking.Stack(ReadOnlySpan<float>.Empty, 2, 3));
        Assert.Throws<ArgumentException>(() => FrameStacking.Stack(x, 3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameStacking.Stack(x, 2, 0));
    }
}
