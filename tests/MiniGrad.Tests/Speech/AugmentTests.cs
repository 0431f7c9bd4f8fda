using MiniGrad.Nn.Audio;

namespace MiniGrad.Tests.Speech;

public class AugmentTests
{
    // ---------- SpecAugment ----------

    // torchaudio's formula, written out: widths for every spectrogram first, then starts; index i is masked when
    // trunc(start) <= i < trunc(start) + trunc(width), with maxV = mask_param (p = 1) or min(mask_param, int(size * p)).
    static (long Start, long End)[] Expected(Generator g, int count, int maskParam, int size, double p = 1.0)
    {
        int maxV = p == 1.0 ? maskParam : Math.Min(maskParam, (int)(size * p));
        if (maxV < 1) return [.. Enumerable.Repeat((0L, 0L), count)];
        var value = Enumerable.Range(0, count).Select(_ => g.NextDouble() * maxV).ToArray();
        var minValue = value.Select(v => g.NextDouble() * (size - v)).ToArray();
        return [.. value.Zip(minValue, (v, m) => ((long)m, (long)m + (long)v))];
    }

    // Distinct non-zero values, so a masked (0) element is never mistaken for an untouched one.
    static float[] Distinct(int n) => [.. Enumerable.Range(1, n).Select(i => (float)i)];

    [Theory]
    [InlineData(20, 1.0, 1)]
    [InlineData(20, 1.0, 7)]
    [InlineData(80, 1.0, 3)]  // maskParam above the 50 steps: the mask is clipped to the axis
    [InlineData(20, 0.2, 5)]  // p caps the width below floor(50 * 0.2) = 10
    public void SharedTimeMaskLandsWhereTorchaudiosFormulaSays(int maskParam, double p, long seed)
    {
        int B = 2, C = 3, F = 8, T = 50;
        var x = Torch.Tensor(Distinct(B * C * F * T), B, C, F, T);
        var y = new TimeMasking(maskParam, p: p, generator: new Generator(seed)).Forward(x, maskValue: -7).ToArray<float>();
        var (start, end) = Expected(new Generator(seed), 1, maskParam, T, p)[0];
        var src = x.ToArray<float>();
        for (int i = 0; i < src.Length; i++)
        {
            int t = i % T;
            Assert.Equal(t >= start && t < end ? -7f : src[i], y[i]);
        }
    }

    [Fact]
    public void SharedFrequencyMaskCoversWholeBandsAtEveryTime()
    {
        int F = 40, T = 30;
        for (long seed = 0; seed < 50; seed++)
        {
            var x = Torch.Tensor(Distinct(F * T), F, T);
            var y = new FrequencyMasking(15, generator: new Generator(seed)).Forward(x).ToArray<float>();
            var (start, end) = Expected(new Generator(seed), 1, 15, F)[0];
            for (int f = 0; f < F; f++)
                for (int t = 0; t < T; t++)
                    Assert.Equal(f >= start && f < end ? 0f : f * T + t + 1, y[f * T + t]);
        }
    }

    [Fact]
    public void WidthsAndStartsStayInTorchaudiosBounds()
    {
        int T = 100, maskParam = 30;
        var widths = new HashSet<int>();
        var g = new Generator(11);
        for (int trial = 0; trial < 2000; trial++)
        {
            var feats = new float[T * 4];
            Array.Fill(feats, 1f);
            var (start, end) = new TimeMasking(maskParam, generator: g).Apply(feats, numMels: 4);
            Assert.InRange(start, 0, T);
            Assert.InRange(end - start, 0, maskParam - 1); // widths from [0, maskParam)
            Assert.True(end <= T);
            widths.Add(end - start);
            Assert.Equal((end - start) * 4, feats.Count(v => v == 0));
        }
        Assert.Contains(0, widths);
        Assert.Contains(maskParam - 1, widths); // the whole range is reached, not just part of it
    }

    [Fact]
    public void PLimitsTheMaskedProportion()
    {
        int T = 50;
        var g = new Generator(3);
        int widest = 0;
        for (int trial = 0; trial < 1000; trial++)
        {
            var (s, e) = new TimeMasking(40, p: 0.2, generator: g).Apply(new float[T * 2], 2);
            widest = Math.Max(widest, e - s);
        }
        Assert.Equal(9, widest); // widths from [0, min(40, floor(50 * 0.2)) = 10)

        // floor(50 * 0.01) = 0: nothing is masked and no random number is drawn.
        var g2 = new Generator(4);
        var x = Torch.Tensor(Distinct(2 * T), 2, T);
        Assert.Equal(x.ToArray<float>(), new TimeMasking(40, p: 0.01, generator: g2).Forward(x).ToArray<float>());
        // p = 0 and maskParam 0 likewise.
        Assert.Equal(x.ToArray<float>(), new TimeMasking(40, p: 0, generator: g2).Forward(x).ToArray<float>());
        Assert.Equal(x.ToArray<float>(), new FrequencyMasking(0, generator: g2).Forward(x).ToArray<float>());
        Assert.Equal(new Generator(4).NextUInt64(), g2.NextUInt64());
        // maskParam 1 draws (as torchaudio does) but every width is floor(u * 1) = 0.
        var g3 = new Generator(4);
        Assert.Equal(x.ToArray<float>(), new TimeMasking(1, generator: g3).Forward(x).ToArray<float>());
        Assert.NotEqual(new Generator(4).NextUInt64(), g3.NextUInt64());
    }

    [Fact]
    public void IidMasksDifferPerSpectrogramAndFollowTheDrawOrder()
    {
        int B = 4, C = 2, F = 6, T = 40, n = B * C;
        var x = Torch.Tensor(Distinct(n * F * T), B, C, F, T);
        var y = new TimeMasking(25, iidMasks: true, generator: new Generator(9)).Forward(x, 0.5).ToArray<float>();
        var masks = Expected(new Generator(9), n, 25, T);
        Assert.True(masks.Distinct().Count() > 1);
        var src = x.ToArray<float>();
        for (int i = 0; i < src.Length; i++)
        {
            int k = i / (F * T), t = i % T;
            Assert.Equal(t >= masks[k].Start && t < masks[k].End ? 0.5f : src[i], y[i]);
        }

        // Frequency, iid on a 3-D batch.
        var x3 = Torch.Tensor(Distinct(5 * F * T), 5, F, T);
        var y3 = SpecAugment.MaskAlongAxisIid(x3, 4, 0, axis: -2, generator: new Generator(2)).ToArray<float>();
        var m3 = Expected(new Generator(2), 5, 4, F);
        for (int i = 0; i < y3.Length; i++)
        {
            int k = i / (F * T), f = i / T % F;
            Assert.Equal(f >= m3[k].Start && f < m3[k].End ? 0f : i + 1, y3[i]);
        }
    }

    [Fact]
    public void SharedMaskIsTheSameForEverySpectrogram()
    {
        int B = 6, F = 5, T = 60;
        var y = new TimeMasking(30, generator: new Generator(1)).Forward(Torch.Ones([B, F, T])).ToArray<float>();
        var first = y.AsSpan(0, F * T).ToArray();
        Assert.Contains(0f, first);
        for (int b = 1; b < B; b++) Assert.Equal(first, y.AsSpan(b * F * T, F * T).ToArray());
    }

    [Fact]
    public void SameSeedSameMasksOtherSeedOtherMasks()
    {
        var x = Torch.Tensor(Distinct(3 * 20 * 80), 3, 20, 80);
        Tensor Run(long seed)
        {
            var g = new Generator(seed);
            var t = new TimeMasking(40, iidMasks: true, generator: g).Forward(x);
            return new FrequencyMasking(10, iidMasks: true, generator: g).Forward(t);
        }
        Assert.Equal(Run(5).ToArray<float>(), Run(5).ToArray<float>());
        Assert.NotEqual(Run(5).ToArray<float>(), Run(6).ToArray<float>());

        // The default generator is Torch's, reseeded by ManualSeed.
        Torch.ManualSeed(123);
        var a = new TimeMasking(40).Forward(x).ToArray<float>();
        Torch.ManualSeed(123);
        Assert.Equal(a, new TimeMasking(40).Forward(x).ToArray<float>());
    }

    [Fact]
    public void SpanFormOnTimeMajorFeaturesMatchesTheTensorForm()
    {
        int frames = 70, mels = 12;
        var feats = Distinct(frames * mels); // row-major (frames, mels), as LogMel.Compute gives
        var spec = Torch.Tensor((float[])feats.Clone(), frames, mels).Transpose(0, 1); // (freq, time)
        for (long seed = 0; seed < 20; seed++)
        {
            var f1 = (float[])feats.Clone();
            new TimeMasking(30, p: 0.5, generator: new Generator(seed)).Apply(f1, mels, -1);
            new FrequencyMasking(6, generator: new Generator(seed + 100)).Apply(f1, mels, -1);
            var s = new TimeMasking(30, p: 0.5, generator: new Generator(seed)).Forward(spec, -1);
            s = new FrequencyMasking(6, generator: new Generator(seed + 100)).Forward(s, -1);
            Assert.Equal(s.Transpose(0, 1).ToArray<float>(), f1);
        }
    }

    [Fact]
    public void MaskingPassesNoGradientThroughTheMask()
    {
        var x = Torch.Ones([4, 30], requiresGrad: true);
        var y = new TimeMasking(20, generator: new Generator(8)).Forward(x);
        y.Sum().Backward();
        Assert.Equal(y.ToArray<float>(), x.Grad!.ToArray<float>()); // 1 where kept, 0 where masked
        Assert.Contains(0f, y.ToArray<float>());
    }

    [Fact]
    public void MaskingRejectsBadArguments()
    {
        var x = Torch.Ones([3, 4, 10]);
        var g = new Generator(1);
        long before = (long)new Generator(1).NextUInt64();

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new TimeMasking(-1));
        Assert.Equal("timeMaskParam", e.ParamName);
        Assert.Contains("-1", e.Message);
        Assert.Equal("freqMaskParam", Assert.Throws<ArgumentOutOfRangeException>(() => new FrequencyMasking(-3)).ParamName);
        foreach (var p in new[] { -0.1, 1.5, double.NaN })
        {
            e = Assert.Throws<ArgumentOutOfRangeException>(() => new TimeMasking(5, p: p));
            Assert.Equal("p", e.ParamName);
            Assert.Contains("[0, 1]", e.Message);
            Assert.Equal("p", Assert.Throws<ArgumentOutOfRangeException>(() => SpecAugment.MaskAlongAxis(x, 5, 0, 2, p, g)).ParamName);
        }
        Assert.Equal("maskParam", Assert.Throws<ArgumentOutOfRangeException>(() => SpecAugment.MaskAlongAxisIid(x, -2, 0, 2, 1, g)).ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => SpecAugment.MaskAlongAxis(x, 5, 0, 0, 1, g));
        Assert.Equal("axis", e.ParamName);
        Assert.Contains("1 (frequency) or 2 (time)", e.Message);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => SpecAugment.MaskAlongAxis(x, 5, 0, 3, 1, g)).ParamName);
        Assert.Equal("specgram", Assert.Throws<ArgumentException>(() => new TimeMasking(5, generator: g).Forward(Torch.Ones([10]))).ParamName);
        Assert.Equal("specgram", Assert.Throws<ArgumentException>(() => new TimeMasking(5, iidMasks: true, generator: g).Forward(Torch.Ones([4, 10]))).ParamName);
        Assert.Equal("specgram", Assert.Throws<ArgumentNullException>(() => new FrequencyMasking(5).Forward(null!)).ParamName);
        Assert.Equal("specgram", Assert.Throws<ArgumentNullException>(() => SpecAugment.MaskAlongAxis(null!, 5, 0, 1)).ParamName);

        var feats = Distinct(30);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => new TimeMasking(5, generator: g).Apply(feats, 0));
        Assert.Equal("numMels", e.ParamName);
        var a = Assert.Throws<ArgumentException>(() => new TimeMasking(5, generator: g).Apply(feats, 7));
        Assert.Equal("features", a.ParamName);
        Assert.Contains("30", a.Message);
        Assert.Equal("maskParam", Assert.Throws<ArgumentOutOfRangeException>(() => SpecAugment.MaskInPlace(feats, 3, true, -1, generator: g)).ParamName);
        Assert.Equal(Distinct(30), feats);      // nothing written
        Assert.Equal(before, (long)g.NextUInt64()); // nothing drawn
    }

    // ---------- Speed perturbation ----------

    static float[] Sine(double hz, int n, int rate = 16000, double amplitude = 0.5) =>
        [.. Enumerable.Range(0, n).Select(i => (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / rate)))];

    // Frequency from the upward zero crossings (linearly interpolated) between the first and the last, away from the ends.
    static double MeasureHz(float[] x, int rate, int margin = 400)
    {
        var ups = new List<double>();
        for (int i = margin; i < x.Length - margin; i++)
            if (x[i - 1] < 0 && x[i] >= 0) ups.Add(i - 1 + x[i - 1] / (x[i - 1] - x[i]));
        return (ups.Count - 1) / ((ups[^1] - ups[0]) / rate);
    }

    static double Rms(ReadOnlySpan<float> x, int margin)
    {
        double s = 0;
        for (int i = margin; i < x.Length - margin; i++) s += (double)x[i] * x[i];
        return Math.Sqrt(s / (x.Length - 2 * margin));
    }

    [Theory]
    [InlineData(0.9, 16000)]
    [InlineData(1.1, 16000)]
    [InlineData(1.25, 16000)]
    [InlineData(0.9, 22050)]
    public void SpeedChangesLengthByOneOverFactorAndFrequencyByFactor(double factor, int rate)
    {
        int n = rate; // one second
        var y = SpeedPerturbation.Speed(Sine(440, n, rate), factor, rate);
        long from = (long)Math.Round(factor * rate);
        Assert.Equal((int)((n * (long)rate + from - 1) / from), y.Length);
        Assert.InRange(y.Length, n / factor - 1, n / factor + 1);
        Assert.InRange(MeasureHz(y, rate), 440 * factor - 0.5, 440 * factor + 0.5);
        Assert.InRange(Rms(y, 400), 0.5 / Math.Sqrt(2) * 0.99, 0.5 / Math.Sqrt(2) * 1.01); // the level is kept
    }

    [Theory]
    [InlineData(0.9, 16000)]
    [InlineData(1.1, 16000)]
    [InlineData(1.1, 22050)]
    public void TempoChangesLengthButNotFrequency(double factor, int rate)
    {
        int n = rate;
        foreach (double hz in new[] { 220.0, 440.0 })
        {
            var y = SpeedPerturbation.Tempo(Sine(hz, n, rate), factor, rate);
            Assert.Equal((int)Math.Round(n / factor), y.Length);
            Assert.InRange(MeasureHz(y, rate), hz - 1, hz + 1);
            Assert.InRange(Rms(y, 400), 0.5 / Math.Sqrt(2) * 0.97, 0.5 / Math.Sqrt(2) * 1.03);
        }
        Assert.Equal(Sine(300, 800), SpeedPerturbation.Tempo(Sine(300, 800), 1.0));
        Assert.Equal("factor", Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.Tempo(Sine(300, 800), double.NaN)).ParamName);
        Assert.Equal("sampleRate", Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.Tempo(Sine(300, 800), 1.1, 0)).ParamName);
    }

    [Fact]
    public void SpeedOneIsACopyAndRandomSpeedIsReproducible()
    {
        var x = Sine(300, 1000);
        var y = SpeedPerturbation.Speed(x, 1.0);
        Assert.Equal(x, y);
        Assert.NotSame(x, y);

        double[] factors = [0.9, 1.0, 1.1];
        var seen = new HashSet<double>();
        for (long seed = 0; seed < 30; seed++)
        {
            var (w1, f1) = SpeedPerturbation.RandomSpeed(x, factors, generator: new Generator(seed));
            var (w2, f2) = SpeedPerturbation.RandomSpeed(x, factors, generator: new Generator(seed));
            Assert.Equal(f1, f2);
            Assert.Equal(w1, w2);
            Assert.Equal(SpeedPerturbation.Speed(x, f1), w1);
            seen.Add(f1);
        }
        Assert.Equal(factors, seen.Order());
    }

    [Fact]
    public void SpeedRejectsBadArguments()
    {
        var x = Sine(300, 100);
        foreach (var f in new[] { 0.0, -1.0, 0.1, 5.0, double.NaN, double.PositiveInfinity })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.Speed(x, f));
            Assert.Equal("factor", e.ParamName);
            Assert.Contains("[0.25, 4]", e.Message);
            Assert.Equal("factors", Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.RandomSpeed(x, [1.0, f])).ParamName);
        }
        Assert.Equal("sampleRate", Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.Speed(x, 1.1, 0)).ParamName);
        Assert.Equal("sampleRate", Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.Speed(x, 1.1, -16000)).ParamName);
        Assert.Equal("sampleRate", Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.Speed(x, 0.25, 1)).ParamName); // round(0.25) = 0 Hz
        Assert.Equal("factors", Assert.Throws<ArgumentException>(() => SpeedPerturbation.RandomSpeed(x, [])).ParamName);
        var g = new Generator(3);
        Assert.Throws<ArgumentOutOfRangeException>(() => SpeedPerturbation.RandomSpeed(x, [1.1], 0, g));
        Assert.Equal(new Generator(3).NextUInt64(), g.NextUInt64()); // nothing drawn
    }

    // ---------- Additive noise ----------

    static double MeasuredSnr(float[] clean, float[] noisy)
    {
        double s = 0, n = 0;
        for (int i = 0; i < clean.Length; i++) { s += (double)clean[i] * clean[i]; double d = (double)noisy[i] - clean[i]; n += d * d; }
        return 10 * Math.Log10(s / n);
    }

    static float[] Randn(int n, long seed, double scale = 1)
    {
        var d = new double[n];
        new Generator(seed).FillNormal(d);
        return [.. d.Select(v => (float)(v * scale))];
    }

    [Theory]
    [InlineData(-5.0)]
    [InlineData(0.0)]
    [InlineData(10.0)]
    [InlineData(20.0)]
    [InlineData(37.5)]
    public void NoiseLandsAtTheRequestedSnr(double snr)
    {
        var clean = Sine(220, 8000, amplitude: 0.3);
        var noisy = (float[])clean.Clone();
        double scale = AdditiveNoise.Add(noisy, Randn(8000, 1, 0.05), snr);
        Assert.True(scale > 0);
        Assert.InRange(MeasuredSnr(clean, noisy), snr - 1e-3, snr + 1e-3);

        noisy = (float[])clean.Clone();
        AdditiveNoise.AddWhite(noisy, snr, new Generator(7));
        Assert.InRange(MeasuredSnr(clean, noisy), snr - 1e-3, snr + 1e-3);
    }

    [Fact]
    public void ShortNoiseIsLoopedAndLongNoiseCropped()
    {
        var clean = Sine(220, 1000);
        float[] noise = [0.5f, -1f, 0.25f, 2f, -0.75f, 0.1f, -0.3f];
        var noisy = (float[])clean.Clone();
        double scale = AdditiveNoise.Add(noisy, noise, 6);
        for (int i = 0; i < clean.Length; i++) Assert.Equal(clean[i] + (float)(scale * noise[i % 7]), noisy[i]);
        Assert.InRange(MeasuredSnr(clean, noisy), 6 - 1e-3, 6 + 1e-3);

        // Only the first wave.Length samples of a longer noise count: the loud tail changes nothing.
        var longNoise = Randn(1000, 2).Concat(Enumerable.Repeat(100f, 5000)).ToArray();
        var a = (float[])clean.Clone();
        var b = (float[])clean.Clone();
        AdditiveNoise.Add(a, longNoise, 3);
        AdditiveNoise.Add(b, longNoise.AsSpan(0, 1000), 3);
        Assert.Equal(b, a);
        Assert.InRange(MeasuredSnr(clean, a), 3 - 1e-3, 3 + 1e-3);
    }

    [Fact]
    public void WhiteNoiseIsReproducibleAndSilenceStaysSilent()
    {
        var clean = Sine(500, 4000);
        float[] Noisy(long seed) { var w = (float[])clean.Clone(); AdditiveNoise.AddWhite(w, 10, new Generator(seed)); return w; }
        Assert.Equal(Noisy(1), Noisy(1));
        Assert.NotEqual(Noisy(1), Noisy(2));

        var silent = new float[500];
        Assert.Equal(0, AdditiveNoise.Add(silent, Randn(500, 3), 10));
        Assert.Equal(0, AdditiveNoise.AddWhite(silent, 10, new Generator(1)));
        Assert.All(silent, v => Assert.Equal(0f, v));
        Assert.Equal(0, AdditiveNoise.Add(Span<float>.Empty, [1f], 10));
    }

    [Fact]
    public void NoiseRejectsBadArguments()
    {
        var wave = Sine(220, 100);
        var keep = (float[])wave.Clone();
        var noise = Randn(100, 4);
        foreach (var snr in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => AdditiveNoise.Add(wave, noise, snr));
            Assert.Equal("snrDb", e.ParamName);
            Assert.Contains(snr.ToString(), e.Message);
            Assert.Equal("snrDb", Assert.Throws<ArgumentOutOfRangeException>(() => AdditiveNoise.AddWhite(wave, snr)).ParamName);
        }
        Assert.Equal("noise", Assert.Throws<ArgumentException>(() => AdditiveNoise.Add(wave, [], 10)).ParamName);
        var z = Assert.Throws<ArgumentException>(() => AdditiveNoise.Add(wave, new float[50], 10));
        Assert.Equal("noise", z.ParamName);
        Assert.Contains("energy 0", z.Message);
        Assert.Equal("noise", Assert.Throws<ArgumentException>(() => AdditiveNoise.Add(wave, [1f, float.NaN], 10)).ParamName);
        Assert.Equal(keep, wave); // nothing written

        var bad = (float[])wave.Clone();
        bad[3] = float.PositiveInfinity;
        Assert.Equal("wave", Assert.Throws<ArgumentException>(() => AdditiveNoise.Add(bad, noise, 10)).ParamName);
        var g = new Generator(5);
        Assert.Equal("wave", Assert.Throws<ArgumentException>(() => AdditiveNoise.AddWhite(bad, 10, g)).ParamName);
        Assert.Equal(new Generator(5).NextUInt64(), g.NextUInt64()); // nothing drawn
        Assert.Equal(float.PositiveInfinity, bad[3]);
    }
}
