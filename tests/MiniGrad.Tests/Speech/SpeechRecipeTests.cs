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
}
