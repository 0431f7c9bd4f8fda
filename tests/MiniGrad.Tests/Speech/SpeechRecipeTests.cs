using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;
using SpeechCtc;

namespace MiniGrad.Tests.Speech;

/// <summary>The speech example's augmentation options: VTLP views and dropout (issue 13 section 3).</summary>
public class SpeechRecipeTests
{
    static float[] Wave() => new SyntheticSpeech(3).GenerateRange(0, 1)[0].Wave;

    [Fact]
    public void VtlpAndDropoutOptions()
    {
        var o = Options.Parse(["--data", "x"]);
        Assert.Equal(0, o.Vtlp);                               // off by default (it cost the espeak-ng corpus, README)
        Assert.Equal(0.1, Augmentation.From(Options.Parse(["--data", "x", "--vtlp", "0.1"]))!.Vtlp);
        Assert.Null(Augmentation.From(Options.Parse([]))); // built-in data: no augmentation
        Assert.Equal(0.15, Options.Parse(["--data", "x", "--vtlp", "0.15"]).Vtlp);
        Assert.Equal(0, Options.Parse(["--data", "x", "--vtlp", "0"]).Vtlp);
        Assert.Equal(0.3, o.Dropout);                          // with --data (no corpus did worse, it narrowed the spread; README)
        Assert.Equal(0, Options.Parse([]).Dropout);
        Assert.Equal(0.3, Options.Parse(["--data", "x", "--dropout", "0.3"]).Dropout);
        Assert.Equal(0, Options.Parse(["--data", "x", "--dropout", "0"]).Dropout);
        foreach (var bad in new[] { "-0.1", "0.6", "abc", "NaN" })
            Assert.Contains($"'{bad}'", Assert.Throws<ArgumentException>(() => Options.Parse(["--vtlp", bad])).Message);
        foreach (var bad in new[] { "-0.1", "1", "abc" })
            Assert.Contains($"'{bad}'", Assert.Throws<ArgumentException>(() => Options.Parse(["--dropout", bad])).Message);
    }

    [Fact]
    public void VtlpViewsAreWarpedAndReproducible()
    {
        var wave = Wave();
        var plain = new Augmentation([0.9, 1.0, 1.1], 0, null, 0, 0, 0, Vtlp: 0);
        var warped = plain with { Vtlp = 0.1 };
        var a = warped.Views(wave, 5);
        var b = warped.Views(wave, 5);
        var p = plain.Views(wave, 5);
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(a[k].Mel, b[k].Mel);           // same seed, same views
            Assert.Equal(p[k].Frames, a[k].Frames);     // VTLP keeps the duration
            Assert.NotEqual(p[k].Mel, a[k].Mel);        // but moves the spectrum
        }
        Assert.Equal(Corpus.Features.Compute(wave), p[1].Mel); // speed 1, no VTLP: the plain features
        Assert.NotEqual(a[0].Mel, warped.Views(wave, 6)[0].Mel); // another utterance index, another factor
    }

    [Fact]
    public void PaddingAndNoiseOptions()
    {
        var o = Options.Parse(["--data", "x"]);
        Assert.Equal(1, o.PadSilence);                         // on by default with --data (speech-voices README: flite 2.82% against 4.58% over seeds 0-2)
        Assert.Equal((20.0, 60.0), o.NoiseSnr);
        var a = Augmentation.From(o)!;
        Assert.Equal((1.0, (20.0, 60.0)), (a.PadSeconds, a.NoiseSnr!.Value));
        Assert.Equal(0, Options.Parse(["--data", "x", "--pad-silence", "0"]).PadSilence);
        Assert.Equal(2.5, Options.Parse(["--data", "x", "--pad-silence", "2.5"]).PadSilence);
        Assert.Null(Options.Parse(["--data", "x", "--noise-snr", "none"]).NoiseSnr);
        Assert.Equal((30.0, 30.0), Options.Parse(["--data", "x", "--noise-snr", "30"]).NoiseSnr);
        Assert.Equal((-5.0, 40.5), Options.Parse(["--data", "x", "--noise-snr", "-5..40.5"]).NoiseSnr);
        Assert.Equal((10.0, 10.0), Options.Parse(["--data", "x", "--noise-snr", "10..10"]).NoiseSnr);
        foreach (var bad in new[] { "-0.5", "10.5", "abc", "NaN", "" })
        {
            var e = Assert.Throws<ArgumentException>(() => Options.Parse(["--data", "x", "--pad-silence", bad]));
            Assert.Contains("--pad-silence expects seconds in 0..10", e.Message);
            Assert.Contains($"'{bad}'", e.Message);
        }
        foreach (var bad in new[] { "-400", "101", "abc", "NaN", "", "..", "10..", "..10", "1..2..3", "None" })
        {
            var e = Assert.Throws<ArgumentException>(() => Options.Parse(["--data", "x", "--noise-snr", bad]));
            Assert.Contains("--noise-snr expects signal-to-noise ratios in -30..100 dB", e.Message);
            Assert.Contains($"'{bad}'", e.Message);
        }
        Assert.Contains("LO <= HI, got '40..10'", Assert.Throws<ArgumentException>(() => Options.Parse(["--data", "x", "--noise-snr", "40..10"])).Message);
        Assert.Contains("add --augment", Assert.Throws<ArgumentException>(() => Options.Parse(["--pad-silence", "1"])).Message);
        Assert.Contains("--no-augment", Assert.Throws<ArgumentException>(() => Options.Parse(["--data", "x", "--no-augment", "--noise-snr", "none"])).Message);
    }

    /// <summary>One speed (1) and 40 utterance seeds: how each view compares with the plain features.</summary>
    static (int Same, int Longer, int Changed) Compare(Augmentation a, float[] wave, int maxExtraFrames)
    {
        var plain = Corpus.Features.Compute(wave);
        int same = 0, longer = 0, changed = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var (mel, frames) = Assert.Single(a.Views(wave, seed));
            Assert.Equal(mel, a.Views(wave, seed)[0].Mel);                // reproducible
            if (frames == plain.Length / Corpus.Features.NumMels) { if (mel.AsSpan().SequenceEqual(plain)) same++; else changed++; }
            else
            {
                Assert.InRange(frames - plain.Length / Corpus.Features.NumMels, 1, maxExtraFrames);
                longer++;
            }
        }
        return (same, longer, changed);
    }

    [Fact]
    public void HalfTheViewsArePaddedAndHalfAreNoisy()
    {
        var wave = Wave();
        int hop = Corpus.Features.HopLength, secondFrames = 16000 / hop;
        var off = new Augmentation([1.0], 0, null, 0, 0, 0);
        Assert.Equal((40, 0, 0), Compare(off, wave, 0));                  // both off: the plain features
        // Padding alone: a view is the plain one or longer by at most 2 x 0.5 s; about half are padded.
        var (same, longer, changed) = Compare(off with { PadSeconds = 0.5 }, wave, secondFrames + 1);
        Assert.Equal(0, changed);
        Assert.InRange(longer, 12, 28);
        Assert.Equal(40, same + longer);
        // Noise alone: the length stays; about half the views change.
        (same, longer, changed) = Compare(off with { NoiseSnr = (20, 60) }, wave, 0);
        Assert.Equal(0, longer);
        Assert.InRange(changed, 12, 28);
        // Both, drawn apart: some views padded and noisy, some padded only (silence at the log floor before the speech).
        var both = off with { PadSeconds = 1, NoiseSnr = (20, 60) };
        (same, longer, changed) = Compare(both, wave, 2 * secondFrames + 1);
        Assert.InRange(longer, 12, 28);
        Assert.InRange(changed, 4, 20);
        Assert.InRange(same, 4, 20);
        // A louder noise level (a lower SNR) moves the features further from the plain ones.
        var plain = Corpus.Features.Compute(wave);
        double Distance(double snr)
        {
            double d = 0;
            for (int seed = 0; seed < 40; seed++)
                if (off with { NoiseSnr = (snr, snr) } is var a && a.Views(wave, seed)[0].Mel is var m && m.Length == plain.Length)
                    for (int i = 0; i < m.Length; i++) d += Math.Abs(m[i] - plain[i]);
            return d;
        }
        Assert.True(Distance(0) > 2 * Distance(40), $"{Distance(0)} vs {Distance(40)}");
    }

    [Fact]
    public void EachEpochTrainsOnOneViewOfEachUtteranceBucketedByItsLength()
    {
        var wave = Wave();
        var a = new Augmentation([0.9, 1.0, 1.1], 1, (20, 60), 0, 0, 0);
        var train = Enumerable.Range(0, 12).Select(i => new Example([], 0, [1], "1") { Views = a.Views(wave, i) }).ToArray();
        var picked = Augmentation.ChooseViews(train, 4, new Generator(3));
        Assert.Equal(picked.Select(e => e.View), Augmentation.ChooseViews(train, 4, new Generator(3)).Select(e => e.View));
        Assert.NotEqual(picked.Select(e => e.View), Augmentation.ChooseViews(train, 4, new Generator(4)).Select(e => e.View));
        for (int i = 0; i < train.Length; i++)
        {
            int v = Assert.IsType<int>(picked[i].View);
            Assert.InRange(v, 0, 2);
            Assert.Equal((train[i].Views![v].Frames + 3) / 4, picked[i].Frames);   // the view's length in model steps
            // A step stacks the chosen view (no masks here).
            var step = a.Apply(picked[i], 4, new Generator(9));
            Assert.Equal(FrameStacking.Stack(train[i].Views![v].Mel, Corpus.Features.NumMels, 4), step.Features);
            Assert.Equal(picked[i].Frames, step.Frames);
        }
        var e = Assert.Throws<InvalidOperationException>(() => a.Apply(train[0], 4, new Generator(9)));
        Assert.Contains("ChooseViews", e.Message);
        var plain = new Example([1f], 1, [1], "1");
        Assert.Same(plain, Assert.Single(Augmentation.ChooseViews([plain], 4, new Generator(1))));  // no views: as it is
    }
}
