using System.Text;
using CharRnn;
using MiniGrad.Nn;
using MiniGrad.Tests.Speech;

namespace MiniGrad.Tests.Examples;

/// <summary>
/// The character-level language model example (issue 14), run in-process with a tiny model: it learns (validation bits
/// per character fall from about log2(vocabulary) to well below it, and below the letter-frequency baseline), a seed
/// gives the same samples, its checkpoint samples again, and the user's mistakes are one "error: ..." line.
/// </summary>
public class CharRnnCliTests
{
    static readonly string[] Tiny = ["--hidden", "32", "--embed", "16", "--seq-len", "16", "--batch-size", "16", "--lr", "0.01", "--length", "40"];

    static (int Code, string Output, string Error) Run(params string[] args) => ExampleCli.Run(Cli.Run, args);

    static void AssertUserError((int Code, string Output, string Error) r, params string[] fragments) => ExampleCli.AssertUserError(r, fragments);

    [Theory]
    [InlineData("gru")]
    [InlineData("lstm")]
    public void TrainingLowersTheBitsPerCharacterFarBelowUniform(string cell)
    {
        var o = Options.Parse([.. Tiny, "--cell", cell, "--steps", "60", "--sample-every", "30"]);
        var (reports, final, vocab) = App.Train(o, TextWriter.Null);
        double uniform = Math.Log2(vocab.Length);
        Assert.Equal([0, 30, 60], reports.Select(r => r.Step));
        Assert.InRange(reports[0].ValBits, uniform - 0.3, uniform + 0.3);  // untrained: about uniform guessing
        Assert.True(reports[2].TrainBits < reports[1].TrainBits, $"training loss should fall: {reports[1].TrainBits} -> {reports[2].TrainBits}");
        var corpus = new Corpus(File.ReadAllText(App.BuiltInText), 0.1);
        Assert.True(final < corpus.UnigramBits() - 0.3, $"validation {final} bits/char should beat letter frequencies ({corpus.UnigramBits()}) and uniform ({uniform})");
    }

    [Fact]
    public void ASeedGivesTheSameRunAndTheCheckpointSamplesAgain()
    {
        using var d = new TempDir();
        string[] args = [.. Tiny, "--steps", "20", "--sample-every", "10", "--out", d["a"]];
        var a = Run(args);
        Assert.True(a.Code == 0, a.Error);
        var b = Run([.. args[..^1], d["b"]]);
        Assert.Equal(Timeless(a.Output, d["a"]), Timeless(b.Output, d["b"])); // every number and sample, but the times
        var c = Run([.. args[..^1], d["c"], "--seed", "1"]);
        Assert.NotEqual(Samples(a.Output), Samples(c.Output));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(d["a"], "metrics.csv")).Length); // header + steps 0, 10, 20

        string ckpt = Path.Combine(d["a"], App.CheckpointName);
        var s1 = Run("sample", "--checkpoint", ckpt, "--seed", "3", "--prime", "MENENIUS:", "--length", "50");
        var s2 = Run("sample", "--checkpoint", ckpt, "--seed", "3", "--prime", "MENENIUS:", "--length", "50");
        Assert.True(s1.Code == 0, s1.Error);
        Assert.StartsWith("MENENIUS:", s1.Output);
        Assert.Equal(s1.Output, s2.Output);
        Assert.Equal("MENENIUS:".Length + 50, s1.Output.TrimEnd('\r', '\n').Length);
    }

    /// <summary>A run's output without its timings and output folder.</summary>
    static string Timeless(string output, string outDir) =>
        System.Text.RegularExpressions.Regex.Replace(output.Replace(outDir, "OUT"), @"[0-9.]+ s\b", "T s");

    /// <summary>The sample lines of a run's output.</summary>
    static string Samples(string output) => string.Join("\n", output.Split('\n').Where(l => l.StartsWith("    | ")));

    [Fact]
    public void MistakesAreOneErrorLineAndANonZeroExit()
    {
        AssertUserError(Run("--cell", "rnn"), "--cell expects gru or lstm, got 'rnn'");
        AssertUserError(Run("--temperature", "0"), "--temperature", "got '0'");
        AssertUserError(Run("--temperature", "abc"), "--temperature", "got 'abc'");
        AssertUserError(Run("--temperature", "NaN"), "--temperature");
        AssertUserError(Run("--hidden", "0"), "--hidden expects an integer in 1..");
        AssertUserError(Run("--steps", "-5"), "--steps");
        AssertUserError(Run("--steps"), "--steps needs a value");
        AssertUserError(Run("--seed", "1", "--seed", "2"), "--seed is given twice");
        AssertUserError(Run("--bogus"), "unknown option '--bogus'");
        AssertUserError(Run("generate"), "unknown command 'generate'");
        AssertUserError(Run("sample"), "sample needs --checkpoint");
        AssertUserError(Run("sample", "--checkpoint", "x", "--hidden", "8"), "--hidden is a training option");
        AssertUserError(Run("--prime", "abc"), "--prime is for the sample command");
        AssertUserError(Run("--val-fraction", "0.9"), "--val-fraction");

        using var d = new TempDir();
        AssertUserError(Run("--text", d["missing.txt"]), "missing.txt", "does not exist");
        AssertUserError(Run("--text", d.Path), "is a folder");
        File.WriteAllBytes(d["latin1.txt"], Encoding.Latin1.GetBytes("caf\u00e9 au lait, encore et encore"));
        AssertUserError(Run("--text", d["latin1.txt"]), "not valid UTF-8");
        File.WriteAllText(d["short.txt"], "To be, or not to be, that is the question.");
        AssertUserError(Run("--text", d["short.txt"]), "too few for --batch-size 32", "--seq-len 64");
        File.WriteAllText(d["afile"], "x");
        AssertUserError(Run([.. Tiny, "--steps", "1", "--out", d["afile"]]), "--out", "is an existing file");
        Assert.Equal("x", File.ReadAllText(d["afile"]));

        // sample: a missing file, a folder, something that is not a checkpoint, one without CharRnn's metadata, and a
        // prime with a character the model never saw.
        AssertUserError(Run("sample", "--checkpoint", d["none.safetensors"]), "does not exist");
        AssertUserError(Run("sample", "--checkpoint", d.Path), "is a folder");
        AssertUserError(Run("sample", "--checkpoint", d["afile"]), "cannot be read");
        Checkpoint.Save(new Linear(2, 3), d["plain.safetensors"]);
        AssertUserError(Run("sample", "--checkpoint", d["plain.safetensors"]), "has no 'model.", "CharRnn --out");
        Assert.Equal(0, Run([.. Tiny, "--steps", "1", "--out", d["m"]]).Code);
        AssertUserError(Run("sample", "--checkpoint", Path.Combine(d["m"], App.CheckpointName), "--prime", "M\u00e9"), "'\u00e9'", "never saw");
        AssertUserError(Run([.. Tiny, "--out", ""]), "--out expects a folder name");
    }

    [Fact]
    public void CharactersAreWholeUnicodeScalarsAndABomIsNotText()
    {
        // A byte-order mark is not a character of the text; an emoji is one character, not two UTF-16 halves; a text
        // without a newline samples (by default) from its first character; a prime's unknown newline is named on one line.
        using var d = new TempDir();
        var words = string.Concat(Enumerable.Range(0, 400).Select(i => (i % 7 == 0 ? "\U0001F600" : "") + "abc cab bca ")); // no newline
        File.WriteAllText(d["t.txt"], "\uFEFF" + words, new UTF8Encoding(false));
        var o = Options.Parse([.. Tiny, "--steps", "2", "--sample-every", "1", "--text", d["t.txt"], "--out", d["m"]]);
        var (_, _, vocab) = App.Train(o, TextWriter.Null);
        Assert.Equal(" abc\U0001F600", vocab); // ordinal order of the scalars: space, a, b, c, the emoji
        string ckpt = Path.Combine(d["m"], App.CheckpointName);
        var r = Run("sample", "--checkpoint", ckpt, "--length", "200", "--temperature", "10");
        Assert.Equal(0, r.Code);
        string sample = r.Output.TrimEnd('\n');
        Assert.DoesNotContain('\uFFFD', sample);
        Assert.True(sample.EnumerateRunes().All(c => vocab.EnumerateRunes().Contains(c)), sample);
        var e = Run("sample", "--checkpoint", ckpt, "--prime", "a\nb");
        AssertUserError(e, "U+000A", "never saw");
        Assert.DoesNotContain('\n', e.Error.TrimEnd());
    }
}
