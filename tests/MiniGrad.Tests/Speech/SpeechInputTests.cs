using System.Buffers.Binary;
using System.Text;
using MiniGrad.Nn;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;

namespace MiniGrad.Tests.Speech;

/// <summary>Issue 13, section 4 (bad input found as a new user would), in the library: emoji transcripts, forged
/// sample rates, lists that are not UTF-8, speaker columns, leftovers of killed saves, gradient-flow continuation.</summary>
public class SpeechInputTests
{
    static TempDir Make(string train, string test = "c.wav\tab\n", int rate = 8000)
    {
        var dir = new TempDir();
        Wav.Write(dir["a.wav"], new float[800], rate);
        Wav.Write(dir["b.wav"], new float[800], rate);
        Wav.Write(dir["c.wav"], new float[800], 16000);
        File.WriteAllText(dir["train.tsv"], train);
        File.WriteAllText(dir["test.tsv"], test);
        return dir;
    }

    [Fact]
    public void EmojiAreOneSymbolEachAndSurviveACheckpoint()
    {
        using var dir = Make("a.wav\ta😀b\nb.wav\t🎉a😀\n", test: "c.wav\t😀🎉\n");
        var data = TsvDataset.Load(dir.Path);
        Assert.Equal("ab🎉😀", data.Alphabet.Symbols);   // code-point order (U+1F389 < U+1F600); each emoji is one symbol
        Assert.Equal(5, data.Alphabet.Count);
        Assert.Equal([1, 4, 2], data.Alphabet.Encode("a😀b"));
        Assert.Equal("😀a🎉", data.Alphabet.Decode([4, 0, 1, 3]));
        Assert.Equal(new Rune(0x1F389), data.Alphabet[3]);
        // The symbols string is whole UTF-16 pairs, so it is valid checkpoint metadata and round-trips.
        var module = new Linear(2, data.Alphabet.Count, generator: new Generator(1));
        Checkpoint.Save(module, dir["m.safetensors"], metadata: new Dictionary<string, string> { ["model.symbols"] = data.Alphabet.Symbols });
        var meta = Checkpoint.Load(new Linear(2, data.Alphabet.Count), dir["m.safetensors"]);
        Assert.Equal(data.Alphabet.Symbols, new Alphabet(meta["model.symbols"]).Symbols);

        // A character outside the train alphabet is named whole, with its code point and its position in characters.
        using var bad = Make("a.wav\ta😀b\n", test: "c.wav\tb🎉\n");
        var e = Assert.Throws<DatasetException>(() => TsvDataset.Load(bad.Path));
        Assert.StartsWith($"{bad["test.tsv"]}:1:", e.Message);
        Assert.Contains("'🎉' (U+1F389) at position 1", e.Message);
    }

    [Fact]
    public void AlphabetRefusesUnpairedSurrogates()
    {
        var e = Assert.Throws<ArgumentException>(() => new Alphabet("a\uD83D"));
        Assert.Contains("U+D83D", e.Message);
        Assert.Throws<ArgumentException>(() => new Alphabet(new[] { 'a', '\uDE00' }.AsEnumerable()));
        Assert.Throws<ArgumentException>(() => new Alphabet("ab").Encode("a\uDE00"));
        Assert.Equal(-1, new Alphabet("a😀").IndexOf('\uD83D'));
    }

    static byte[] WavWithRate(int rate, int samples)
    {
        var b = Wav.Encode(new float[samples], 16000);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(24), rate);
        return b;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(999)]
    [InlineData(384001)]
    [InlineData(-5)]
    public void SampleRatesOutsideTheSaneRangeAreRefusedWithTheListLine(int rate)
    {
        using var dir = Make("a.wav\tab\nb.wav\tba\n");
        File.WriteAllBytes(dir["b.wav"], WavWithRate(rate, 20000));
        var e = Assert.Throws<DatasetException>(() => TsvDataset.Load(dir.Path));
        Assert.StartsWith($"{dir["train.tsv"]}:2:", e.Message);
        Assert.Contains("b.wav", e.Message);
        Assert.Contains($"sample rate {(uint)rate} Hz", e.Message);
        Assert.Contains("expected 1000..384000 Hz", e.Message);
    }

    [Fact]
    public void SampleRatesAtTheLimitsAreRead()
    {
        Assert.Equal(1000, Wav.Parse(WavWithRate(1000, 10)).SampleRate);
        Assert.Equal(384000, Wav.Parse(WavWithRate(384000, 10)).SampleRate);
        Assert.Equal(16, Resampler.Resample(new float[1], 1000, 16000).Length);
    }

    [Fact]
    public void ResamplerSizesInSixtyFourBitsAndRefusesWhatNoArrayHolds()
    {
        // 3 samples from 1 Hz to 2^31-1 Hz: 6.4e9 outputs, which an int would have wrapped to a small or negative size.
        var e = Assert.Throws<ArgumentException>(() => Resampler.Resample(new float[3], 1, int.MaxValue));
        Assert.Contains("6442450941 samples", e.Message);
        Assert.Equal("x", e.ParamName);
        // A huge downsampling ratio would need an int-overflowing filter; refused instead.
        var d = Assert.Throws<ArgumentException>(() => Resampler.Resample(new float[3], int.MaxValue, 1));
        Assert.Contains("filter", d.Message);
        // Ordinary ratios are unaffected: 1 kHz to 16 kHz has exactly 16x the samples.
        Assert.Equal(16 * 100, Resampler.Resample(new float[100], 1000, 16000).Length);
    }

    [Fact]
    public void ListThatIsNotUtf8IsAnErrorNamingTheLine()
    {
        using var dir = Make("a.wav\tab\n");
        // Latin-1 "café" on line 2: the byte 0xE9 alone is not UTF-8.
        var latin1 = Encoding.Latin1.GetBytes("a.wav\tab\nb.wav\tcaf\u00e9\n");
        File.WriteAllBytes(dir["train.tsv"], latin1);
        var e = Assert.Throws<DatasetException>(() => TsvDataset.Load(dir.Path));
        Assert.StartsWith($"{dir["train.tsv"]}:2:", e.Message);
        Assert.Contains("not valid UTF-8", e.Message);
        Assert.Contains("0xE9", e.Message);
        // The same text as UTF-8, with a BOM, reads fine.
        File.WriteAllBytes(dir["train.tsv"], [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("a.wav\tab\nb.wav\tcaf\u00e9\n")]);
        File.WriteAllText(dir["test.tsv"], "c.wav\tab\n");
        Assert.Equal("caf\u00e9", TsvDataset.Load(dir.Path).Train[1].Transcript);
    }

    [Fact]
    public void SpeakerColumnWithHeaderIsRead()
    {
        using var dir = Make("path\ttranscript\tspeaker\na.wav\tab\tanna\nb.wav\tba\tbob\n");
        var data = TsvDataset.Load(dir.Path);
        Assert.Equal(["anna", "bob"], data.Train.Select(e => e.Speaker));
        Assert.Null(data.Test[0].Speaker);

        using var mixed = Make("a.wav\tab\tanna\nb.wav\tba\n");
        var e = Assert.Throws<DatasetException>(() => TsvDataset.Load(mixed.Path));
        Assert.StartsWith($"{mixed["train.tsv"]}:2:", e.Message);
        Assert.Contains("columns", e.Message);
        using var empty = Make("a.wav\tab\t \n");
        Assert.Contains("speaker of 'a.wav' is empty", Assert.Throws<DatasetException>(() => TsvDataset.Load(empty.Path)).Message);
    }

    [Fact]
    public void SpeakerSplitTakesWholeSpeakersAboutATenthDeterministically()
    {
        // 20 speakers with 5..24 utterances each, interleaved.
        var speakers = new List<string>();
        for (int round = 0; round < 24; round++)
            for (int s = 0; s < 20; s++)
                if (round < 5 + s) speakers.Add($"spk{s:D2}");
        var (train, val) = TsvDataset.SplitBySpeaker(speakers);
        Assert.Equal(speakers.Count, train.Length + val.Length);
        Assert.Equal(Enumerable.Range(0, speakers.Count), train.Concat(val).Order());
        var valSpeakers = val.Select(i => speakers[i]).ToHashSet();
        Assert.DoesNotContain(train, i => valSpeakers.Contains(speakers[i]));      // never heard in training
        Assert.InRange(val.Length, (int)Math.Ceiling(0.1 * speakers.Count), 0.1 * speakers.Count + 24); // a tenth, give or take one speaker
        Assert.True(valSpeakers.Count >= 1 && valSpeakers.Count < 20);
        Assert.Equal(val, TsvDataset.SplitBySpeaker(speakers.ToArray()).Validation); // deterministic
        // The choice does not depend on file order.
        var reversed = Enumerable.Reverse(speakers).ToList();
        Assert.Equal(valSpeakers, TsvDataset.SplitBySpeaker(reversed).Validation.Select(i => reversed[i]).ToHashSet());
        // Two speakers: one is held out, never both; one speaker: no split by speaker.
        var two = TsvDataset.SplitBySpeaker(["x", "x", "y", "y", "y"]);
        Assert.Single(two.Validation.Select(i => i < 2 ? "x" : "y").Distinct());
        Assert.NotEmpty(two.Train);
        Assert.Empty(TsvDataset.SplitBySpeaker(["x", "x"]).Validation);
        // A speaker who would take most of the data is passed over for a small one (2 of 24 lines, not 22), and when no
        // speaker fits within twice the fraction, the smallest is held out.
        string[] lopsided = [.. Enumerable.Repeat("big", 22), "small", "small"];
        Assert.Equal([22, 23], TsvDataset.SplitBySpeaker(lopsided).Validation);
        Assert.Equal([0, 1], TsvDataset.SplitBySpeaker([.. Enumerable.Repeat("small", 2), .. Enumerable.Repeat("big", 22)]).Validation);
        string[] even = [.. Enumerable.Repeat("a", 12), .. Enumerable.Repeat("b", 11)];
        Assert.Equal(Enumerable.Range(12, 11), TsvDataset.SplitBySpeaker(even).Validation);
    }
}

public class CheckpointLeftoverTests
{
    [Fact]
    public void SaveRemovesLeftoversOfAKilledSaveOfTheSameTargetOnly()
    {
        using var dir = new TempDir();
        string target = dir["last.safetensors"];
        string stale1 = dir[$".last.safetensors.{Guid.NewGuid():N}.tmp"], stale2 = dir[$".last.safetensors.{Guid.NewGuid():N}.tmp"];
        string other = dir[$".best.safetensors.{Guid.NewGuid():N}.tmp"];       // another target's
        string unlike = dir[".last.safetensors.notaguid.tmp"];                    // not our pattern
        string userFile = dir["last.safetensors.tmp"];                            // not hidden
        foreach (var f in new[] { stale1, stale2, other, unlike, userFile }) File.WriteAllText(f, "partial");
        var m = new Linear(2, 3, generator: new Generator(1));
        Checkpoint.Save(m, target);
        Assert.False(File.Exists(stale1));
        Assert.False(File.Exists(stale2));
        Assert.True(File.Exists(other) && File.Exists(unlike) && File.Exists(userFile));
        Assert.Equal(4, Directory.GetFiles(dir.Path).Length); // the target, and the three files that are not leftovers of it
        Checkpoint.Load(new Linear(2, 3), target);
    }
}

public class GradFlowContinuationTests
{
    [Fact]
    public void LoadCsvContinuesTheStepsOfAnEarlierRun()
    {
        using var dir = new TempDir();
        var m = new Linear(2, 1, generator: new Generator(3));
        var first = new GradFlowRecorder(m);
        for (int s = 0; s < 3; s++)
        {
            m.ZeroGrad();
            (m.Forward(Torch.Ones(4, 2)) * (s + 1)).Sum().Backward();
            first.Record();
        }
        first.WriteCsv(dir["g.csv"]);
        var second = new GradFlowRecorder(m);
        Assert.Equal(2, second.LoadCsv(dir["g.csv"], maxSteps: 2));   // the checkpoint was taken after step 2
        m.ZeroGrad();
        (m.Forward(Torch.Ones(4, 2)) * 10).Sum().Backward();
        second.Record();
        Assert.Equal(3, second.Steps);
        Assert.Equal(first.Rows[0], second.Rows[0]);
        Assert.Equal(first.Rows[1], second.Rows[1]);
        Assert.Equal(10 * first.Rows[0][0], second.Rows[2][0], 6);
        Assert.StartsWith("step,", second.ToCsv());
        Assert.Contains("\n2,", second.ToCsv());

        var other = new GradFlowRecorder(new Linear(3, 1));
        File.WriteAllText(dir["h.csv"], "step,a,b\n0,1,2\n");
        Assert.Contains("does not name this model's parameters", Assert.Throws<FormatException>(() => other.LoadCsv(dir["h.csv"])).Message);
        Assert.Equal(0, other.Steps);
    }
}

public class SpeechBatchTests
{
    [Fact]
    public void BatchesArePaddedToAMultipleOfPadStepsAndKeepTheirLengths()
    {
        // Frames 5, 9 and 3 of 2 features each, valued so that every element is told apart.
        int[] frames = [5, 9, 3];
        var items = frames.Select((f, n) => new SpeechCtc.Example(Enumerable.Range(0, f * 2).Select(i => 100f * (n + 1) + i).ToArray(), f, [1], "1")).ToArray();
        var b = SpeechCtc.Corpus.MakeBatch(items, 2, Device.Cpu);
        Assert.Equal(8, SpeechCtc.Corpus.PadSteps);
        Assert.Equal([16, 3, 2], b.Features.Shape); // the longest, 9, rounded up to 16
        Assert.Equal(frames, b.InputLengths);
        var x = b.Features.ToArray<float>();
        for (int t = 0; t < 16; t++)
            for (int n = 0; n < 3; n++)
                for (int f = 0; f < 2; f++)
                    Assert.Equal(t < frames[n] ? items[n].Features[t * 2 + f] : 0f, x[(t * 3 + n) * 2 + f]);
        // A batch already a multiple of PadSteps long stays as it is.
        var whole = SpeechCtc.Corpus.MakeBatch([new SpeechCtc.Example(new float[16 * 2], 16, [1], "1")], 2, Device.Cpu);
        Assert.Equal([16, 1, 2], whole.Features.Shape);
    }
}
