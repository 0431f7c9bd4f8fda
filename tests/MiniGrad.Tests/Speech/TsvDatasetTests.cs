using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;

namespace MiniGrad.Tests.Speech;

public class TsvDatasetTests
{
    // A tiny dataset: two clips at 8 kHz and one at 16 kHz, with a subfolder.
    static TempDir Make(string train = "clips/a.wav\tab ba\nclips/b.wav\tcab\n", string test = "c.wav\tbac\n")
    {
        var dir = new TempDir();
        Directory.CreateDirectory(dir["clips"]);
        Wav.Write(dir["clips/a.wav"], new float[800], 8000);
        Wav.Write(dir["clips/b.wav"], Enumerable.Range(0, 1600).Select(i => (float)Math.Sin(i * 0.1)).ToArray(), 8000);
        Wav.Write(dir["c.wav"], new float[1000], 16000);
        File.WriteAllText(dir["train.tsv"], train);
        File.WriteAllText(dir["test.tsv"], test);
        return dir;
    }

    [Fact]
    public void LoadsResamplesAndBuildsTheAlphabet()
    {
        using var dir = Make();
        var data = TsvDataset.Load(dir.Path);
        Assert.Equal(" abc", data.Alphabet.Symbols); // sorted; the space is a symbol too
        Assert.Equal(5, data.Alphabet.Count);
        Assert.Equal(2, data.Train.Count);
        Assert.Single(data.Test);
        Assert.Equal("ab ba", data.Train[0].Transcript);
        Assert.Equal(1600, data.Train[0].Wave.Length); // 800 samples at 8 kHz -> 16 kHz
        Assert.Equal(3200, data.Train[1].Wave.Length);
        Assert.Equal(1000, data.Test[0].Wave.Length);
        Assert.Equal([3, 2, 4], data.Alphabet.Encode(data.Test[0].Transcript)); // "bac"
    }

    [Fact]
    public void HeaderLineBlankLinesAndCrLfAreAccepted()
    {
        using var dir = Make(train: "path\ttranscript\r\nclips/a.wav\tab\r\n\r\nclips/b.wav\t ba \r\n", test: "c.wav\tb\r\n");
        var data = TsvDataset.Load(dir.Path);
        Assert.Equal(["ab", "ba"], data.Train.Select(e => e.Transcript));
        Assert.Equal("ab", data.Alphabet.Symbols);
    }

    static DatasetException Fails(TempDir dir)
    {
        var e = Assert.Throws<DatasetException>(() => TsvDataset.Load(dir.Path));
        return e;
    }

    [Fact]
    public void MissingFileNamesTheListLineAndTheFile()
    {
        using var dir = Make(test: "c.wav\tab\nnope/missing.wav\tba\n");
        var e = Fails(dir);
        Assert.StartsWith($"{dir["test.tsv"]}:2:", e.Message);
        Assert.Contains("missing.wav", e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.Equal((dir["test.tsv"], 2), (e.ListPath, e.Line));
        // A folder where a file should be: named as such, not as missing.
        Directory.CreateDirectory(dir["nope/missing.wav"]);
        Assert.Contains("is a folder", Fails(dir).Message);
        File.Delete(dir["test.tsv"]);
        Directory.CreateDirectory(dir["test.tsv"]);
        Assert.Contains("the list file is a folder", Fails(dir).Message);
    }

    [Fact]
    public void BadHeaderNamesTheListLineAndTheFile()
    {
        using var dir = Make();
        File.WriteAllText(dir["clips/b.wav"], "garbage, not RIFF");
        var e = Fails(dir);
        Assert.StartsWith($"{dir["train.tsv"]}:2:", e.Message);
        Assert.Contains("b.wav", e.Message);
        Assert.Contains("bad header", e.Message);
        Assert.IsType<WavFormatException>(e.InnerException);
    }

    [Fact]
    public void EmptyTranscriptNamesTheListAndLine()
    {
        using var dir = Make(train: "clips/a.wav\tab\n\nclips/b.wav\t  \n");
        var e = Fails(dir);
        Assert.StartsWith($"{dir["train.tsv"]}:3:", e.Message);
        Assert.Contains("transcript", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void UnknownCharacterInTestNamesTheListLineAndCharacter()
    {
        using var dir = Make(test: "c.wav\tab\nc.wav\tabz\n");
        var e = Fails(dir);
        Assert.StartsWith($"{dir["test.tsv"]}:2:", e.Message);
        Assert.Contains("'z'", e.Message);
        Assert.Contains("position 2", e.Message);
    }

    [Fact]
    public void UnknownCharacterAgainstAGivenAlphabetFailsInTrainToo()
    {
        using var dir = Make();
        var e = Assert.Throws<DatasetException>(() => TsvDataset.Load(dir.Path, alphabet: new Alphabet("abc")));
        Assert.StartsWith($"{dir["train.tsv"]}:1:", e.Message);
        Assert.Contains("' '", e.Message);
    }

    [Fact]
    public void MalformedLinesAndMissingListsFail()
    {
        using (var dir = Make(train: "clips/a.wav\tab\nclips/b.wav ba\n"))
        {
            var e = Fails(dir);
            Assert.StartsWith($"{dir["train.tsv"]}:2:", e.Message);
            Assert.Contains("one tab", e.Message);
        }
        using (var dir = Make(train: "clips/a.wav\ta\tb\tc\n"))
            Assert.StartsWith($"{dir["train.tsv"]}:1:", Fails(dir).Message);
        using (var dir = Make(train: "\tab\n"))
            Assert.Contains("audio path is empty", Fails(dir).Message);
        using (var dir = Make())
        {
            File.Delete(dir["test.tsv"]);
            Assert.Contains("test.tsv", Fails(dir).Message);
        }
        using (var dir = Make(test: "\n"))
            Assert.Contains("lists no recordings", Fails(dir).Message);
    }
}

public class AlphabetTests
{
    [Fact]
    public void BlankFirstThenSortedSymbols()
    {
        var a = Alphabet.FromTranscripts(["921", "0", "99"]);
        Assert.Equal("0129", a.Symbols);
        Assert.Equal(5, a.Count);
        Assert.Equal(0, Alphabet.Blank);
        Assert.Equal([4, 3, 2, 1], a.Encode("9210"));
        Assert.Equal("9210", a.Decode([4, 0, 3, 2, 0, 1]));
        Assert.Equal(new System.Text.Rune('9'), a[4]);
        Assert.Equal(-1, a.IndexOf('5'));
        Assert.Throws<ArgumentOutOfRangeException>(() => a[0]);
        var e = Assert.Throws<ArgumentException>(() => a.Encode("15"));
        Assert.Contains("'5' at position 1", e.Message);
        Assert.Throws<ArgumentException>(() => new Alphabet(""));
    }
}
