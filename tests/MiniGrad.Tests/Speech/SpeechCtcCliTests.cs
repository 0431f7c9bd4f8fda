using System.Globalization;
using System.Text;
using MiniGrad.Nn;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;
using SpeechCtc;

namespace MiniGrad.Tests.Speech;

/// <summary>
/// The speech example's command line (issue 13): bad input is one "error: ..." line and a non-zero exit code, never
/// a stack trace; training length in steps; best checkpoint; resume continues the metrics and gradient flow;
/// validation by held-out speakers. Runs SpeechCtc in-process on a tiny corpus with a tiny model.
/// </summary>
public class SpeechCtcCliTests
{
    static readonly string[] Tiny = ["--hidden", "8", "--batch-size", "8", "--beam", "2"];

    /// <summary>A TSV corpus of synthetic digit strings (16 kHz); map rewrites transcripts, speakers adds the third column.</summary>
    static TempDir Corpus(int count = 24, Func<string, string>? map = null, bool speakers = false)
    {
        var dir = new TempDir();
        var utts = new SyntheticSpeech(7, minSymbols: 2, maxSymbols: 3).GenerateRange(0, count);
        var lines = new List<string>();
        if (speakers) lines.Add("path\ttranscript\tspeaker");
        for (int i = 0; i < count; i++)
        {
            Wav.Write(dir[$"u{i}.wav"], utts[i].Wave, 16000);
            lines.Add($"u{i}.wav\t{(map ?? (t => t))(utts[i].Transcript)}" + (speakers ? $"\tspk{i % 6}" : ""));
        }
        File.WriteAllLines(dir["train.tsv"], lines);
        File.WriteAllLines(dir["test.tsv"], lines.Where(l => !l.StartsWith("path")).Take(4).Select(l => speakers ? l[..l.LastIndexOf('\t')] : l));
        return dir;
    }

    static (int Code, string Error) Run(params string[] args)
    {
        var err = new StringWriter();
        int code = Cli.Run(args, err);
        return (code, err.ToString());
    }

    static void AssertUserError((int Code, string Error) r, params string[] fragments)
    {
        Assert.True(r.Code != 0, $"expected a non-zero exit code; stderr: {r.Error}");
        Assert.StartsWith("error: ", r.Error);
        Assert.DoesNotContain("   at ", r.Error); // no stack trace
        foreach (var f in fragments) Assert.Contains(f, r.Error);
    }

    static (int Code, string Error) Train(TempDir d, string outDir, params string[] more) =>
        Run([.. new[] { "--data", d.Path, "--out", outDir }, .. Tiny, .. more]);

    /// <summary>Trains the tiny model for a few steps into outDir; returns its last.safetensors.</summary>
    static string Trained(TempDir d, string outDir, int steps)
    {
        var r = Train(d, outDir, "--steps", steps.ToString(CultureInfo.InvariantCulture));
        Assert.True(r.Code == 0, r.Error);
        return Path.Combine(outDir, "last.safetensors");
    }

    static IReadOnlyDictionary<string, string> Meta(string path) => SafeTensors.ReadHeader(path).Metadata;

    /// <summary>A copy of a checkpoint with one metadata value changed (or removed when value is null).</summary>
    static string WithMeta(string path, string copy, string key, string? value)
    {
        var f = SafeTensors.Read(path);
        var meta = f.Metadata.ToDictionary();
        if (value is null) meta.Remove(key); else meta[key] = value;
        SafeTensors.Write(copy, f.Tensors, meta);
        return copy;
    }

    static List<string[]> Csv(string path) => File.ReadLines(path).Skip(1).Select(l => l.Split(',')).ToList();

    [Fact]
    public void EmojiTranscriptsTrainSaveAndEvaluate()
    {
        using var d = Corpus(map: t => t.Replace("1", "😀").Replace("7", "🎉"));
        string outDir = d["out"];
        var r = Train(d, outDir, "--steps", "3");
        Assert.True(r.Code == 0, r.Error);
        string symbols = Meta(Path.Combine(outDir, "last.safetensors"))["model.symbols"];
        Assert.Contains("😀", symbols);
        Assert.Contains("🎉", symbols);
        Assert.Equal(Alphabet.SplitSymbols(symbols).Count, symbols.Length - 2); // two surrogate pairs, each one symbol
        var e = Run(["eval", "--checkpoint", Path.Combine(outDir, "best.safetensors"), "--data", d.Path, "--out", outDir, "--beam", "2"]);
        Assert.True(e.Code == 0, e.Error);
        var t = Run(["transcribe", "--checkpoint", Path.Combine(outDir, "last.safetensors"), d["u0.wav"]]);
        Assert.True(t.Code == 0, t.Error);
    }

    [Fact]
    public void ForgedSampleRateAndLatin1ListAreErrorsNamingTheLine()
    {
        using var d = Corpus();
        var bytes = File.ReadAllBytes(d["u3.wav"]);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(24), 1);
        File.WriteAllBytes(d["u3.wav"], bytes);
        AssertUserError(Train(d, d["out"], "--steps", "1"), $"error: {Path.Combine(d.Path, "train.tsv")}:4:", "sample rate 1 Hz", "1000..384000");

        using var l = Corpus();
        var lines = File.ReadAllLines(l["train.tsv"]);
        lines[5] += "\u00e9";
        File.WriteAllBytes(l["train.tsv"], Encoding.Latin1.GetBytes(string.Join("\n", lines) + "\n"));
        AssertUserError(Train(l, l["out"], "--steps", "1"), $"error: {Path.Combine(l.Path, "train.tsv")}:6:", "not valid UTF-8");
    }

    [Fact]
    public void TheTwoRecipesHaveTheirOwnDefaultsAndOptionsWin()
    {
        var builtIn = Options.Parse([]);
        Assert.Equal((1, 3, 1000L), (builtIn.Layers, builtIn.Stack, builtIn.DefaultSteps));
        var data = Options.Parse(["--data", "corpus"]);
        Assert.Equal((2, 4, 6000L), (data.Layers, data.Stack, data.DefaultSteps));
        var given = Options.Parse(["--data", "corpus", "--layers", "1", "--stack", "3"]);
        Assert.Equal((1, 3), (given.Layers, given.Stack));
    }

    [Fact]
    public void OptionsAreBoundedAndEachBelongsToItsCommand()
    {
        Assert.Equal("help", Options.Parse(["-h"]).Command);
        Assert.Equal("help", Options.Parse(["eval", "-h"]).Command);
        Assert.Equal("help", Options.Parse(["transcribe", "--checkpoint", "x", "-h"]).Command); // not taken for the WAV
        // Each bound is the one a checkpoint's metadata is checked against (so every run can be evaluated and resumed),
        // or keeps a run from asking for unbounded time or memory.
        foreach (var (option, bad, good) in new[] { ("--stack", "33", "32"), ("--layers", "17", "16"), ("--hidden", "4097", "4096"),
            ("--batch-size", "2147483647", "1000000"), ("--beam", "1001", "1000"), ("--masks", "101", "100"), ("--lr", "Infinity", "1000000"),
            ("--clip", "1e13", "1e12"), ("--train-size", "100000001", "100000000"), ("--time-budget", "Infinity", "60") })
        {
            var e = Assert.Throws<ArgumentException>(() => Options.Parse([option, bad]));
            Assert.Contains(option, e.Message);
            Assert.Contains($"'{bad}'", e.Message);
            Options.Parse(["--augment", option, good]);
        }
        Assert.Contains("-30..100", Assert.Throws<ArgumentException>(() => Options.Parse(["--augment", "--noise-snr", "-400"])).Message);
        foreach (var option in new[] { "--out", "--data", "--resume" })
            Assert.Contains($"{option} expects", Assert.Throws<ArgumentException>(() => Options.Parse([option, " "])).Message);
        // An option the command does not use is an error, not ignored.
        Assert.Contains("--steps does not apply to eval", Assert.Throws<ArgumentException>(() => Options.Parse(["eval", "--checkpoint", "c", "--steps", "5"])).Message);
        Assert.Contains("--data does not apply to transcribe", Assert.Throws<ArgumentException>(() => Options.Parse(["transcribe", "--checkpoint", "c", "a.wav", "--data", "d"])).Message);
        Assert.Contains("--resume", Assert.Throws<ArgumentException>(() => Options.Parse(["--checkpoint", "c"])).Message);
        Options.Parse(["eval", "--checkpoint", "c", "--data", "d", "--out", "o", "--device", "cpu", "--beam", "4", "--batch-size", "4", "--test-size", "9"]);
        // Augmentation options without augmentation (the built-in data, or --no-augment) would be ignored: an error.
        Assert.Contains("add --augment", Assert.Throws<ArgumentException>(() => Options.Parse(["--vtlp", "0.1"])).Message);
        Assert.Contains("--no-augment", Assert.Throws<ArgumentException>(() => Options.Parse(["--data", "d", "--no-augment", "--masks", "3"])).Message);
        Assert.Equal(0.1, Options.Parse(["--augment", "--vtlp", "0.1"]).Vtlp);
        Assert.Equal(3, Options.Parse(["--data", "d", "--masks", "3"]).Masks);
    }

    [Fact]
    public void EmptyWavsUnalignableDataAndATestOnlyFolder()
    {
        using var d = Corpus();
        string last = Trained(d, d["out"], 1);
        Wav.Write(d["empty.wav"], [], 16000);
        AssertUserError(Run("transcribe", "--checkpoint", last, d["empty.wav"]), "empty.wav", "no samples");

        // Transcripts far too long for their audio: CTC cannot align any, so training would learn nothing.
        using var tooLong = Corpus(map: t => new string('1', 400));
        AssertUserError(Train(tooLong, tooLong["out"], "--steps", "1"), "no training utterance is long enough");
        Assert.False(Directory.Exists(tooLong["out"]) && File.Exists(Path.Combine(tooLong["out"], "last.safetensors")));

        // The gradient-flow plot of a run whose every norm is zero (or not finite) is drawn, not a crash.
        var linear = new Linear(2, 2);
        var flow = new GradFlowRecorder(linear);
        flow.Record(); // no gradients yet: every norm is NaN
        Plots.GradientFlow(flow, d["flow.png"]);
        Assert.True(new FileInfo(d["flow.png"]).Length > 0);

        // eval reads test.tsv alone, against the checkpoint's alphabet: train.tsv need not be there.
        using var testOnly = new TempDir();
        foreach (var line in File.ReadAllLines(d["test.tsv"])) File.Copy(d[line.Split('\t')[0]], testOnly[line.Split('\t')[0]]);
        File.Copy(d["test.tsv"], testOnly["test.tsv"]);
        var r = Run("eval", "--checkpoint", last, "--data", testOnly.Path, "--out", d["eval-out"], "--beam", "2");
        Assert.True(r.Code == 0, r.Error);
        File.WriteAllText(testOnly["test.tsv"], "u0.wav\t1x\n");
        AssertUserError(Run("eval", "--checkpoint", last, "--data", testOnly.Path, "--out", d["eval-out"]), "test.tsv:1", "'x'", "from the model");
    }

    [Fact]
    public void BadCheckpointsAndOutFilesAreErrorsForEvalTranscribeAndResume()
    {
        using var d = Corpus();
        string outDir = d["out"];
        string last = Trained(d, outDir, 2);

        // A plain Checkpoint.Save file: no model metadata.
        string plain = d["plain.safetensors"];
        Checkpoint.Save(new Linear(2, 3), plain);
        string[][] uses(string ckpt) =>
        [
            ["eval", "--checkpoint", ckpt, "--data", d.Path, "--out", d["eval-out"]],
            ["transcribe", "--checkpoint", ckpt, d["u0.wav"]],
            ["--data", d.Path, "--out", d["resumed"], "--resume", ckpt],
        ];
        foreach (var args in uses(plain)) AssertUserError(Run(args), "has no 'model.", "metadata", "saved by SpeechCtc");

        foreach (var (key, value) in new[] { ("model.hidden", "abc"), ("model.hidden", "0"), ("model.hidden", "100000"), ("model.layers", "-1"), ("model.stack", "1.5") })
        {
            string bad = WithMeta(last, d[$"bad-{key}-{value}.safetensors"], key, value);
            foreach (var args in uses(bad)) AssertUserError(Run(args), $"'{key}' = '{value}'", "is not an integer in");
        }
        string noInput = WithMeta(last, d["bad-input.safetensors"], "model.input_size", "41");
        foreach (var args in uses(noInput)) AssertUserError(Run(args), "'model.input_size' = '41' does not match");
        foreach (var (key, value) in new[] { ("epoch", "abc"), ("global_step", "-3"), ("step_in_epoch", "1e3"), ("elapsed_s", "NaN"), ("best_val_cer", "x"), ("dropout", "1") })
            AssertUserError(Run("--data", d.Path, "--out", d["resumed"], "--resume", WithMeta(last, d[$"bad-{key}.safetensors"], key, value)), $"'{key}' = '{value}'");
        AssertUserError(Run("--data", d.Path, "--out", d["resumed"], "--resume", WithMeta(last, d["no-epoch.safetensors"], "epoch", null)), "has no 'epoch' metadata");

        // Not a checkpoint at all, a folder, and a missing file.
        File.WriteAllText(d["junk.safetensors"], "not a checkpoint");
        foreach (var args in uses(d["junk.safetensors"])) AssertUserError(Run(args), "junk.safetensors");
        foreach (var args in uses(outDir)) AssertUserError(Run(args), "is a folder");
        foreach (var args in uses(d["missing.safetensors"])) AssertUserError(Run(args), "does not exist");

        // --out naming an existing file.
        File.WriteAllText(d["afile"], "x");
        AssertUserError(Train(d, d["afile"], "--steps", "1"), "--out", "is an existing file");
        AssertUserError(Run("eval", "--checkpoint", last, "--data", d.Path, "--out", d["afile"]), "--out", "is an existing file");
        AssertUserError(Run("--data", d.Path, "--out", d["afile"], "--resume", last), "--out", "is an existing file");
        Assert.Equal("x", File.ReadAllText(d["afile"]));
        AssertUserError(Train(d, Path.Combine(d["afile"], "sub"), "--steps", "1"), "--out", "cannot be made a folder");
        AssertUserError(Run("eval", "--checkpoint", last, "--data", d.Path, "--out", Path.Combine(d["afile"], "sub")), "--out", "cannot be made a folder");
    }

    [Fact]
    public void ResumeContinuesTheEpochRowAndTheGradientFlow()
    {
        using var d = Corpus(count: 40); // 36 train utterances: 5 steps per epoch at batch 8
        string outDir = d["out"];
        // A tiny time budget stops after the first step (a checkpoint mid-epoch); resume finishes the 8 steps.
        Assert.Equal(0, Train(d, outDir, "--steps", "8", "--time-budget", "1e-9").Code);
        Assert.Equal("1", Meta(Path.Combine(outDir, "last.safetensors"))["global_step"]);
        var r = Run("--data", d.Path, "--out", outDir, "--resume", Path.Combine(outDir, "last.safetensors"));
        Assert.True(r.Code == 0, r.Error);

        var rows = Csv(Path.Combine(outDir, "metrics.csv"));
        var epochRow = rows.Single(p => p[0] == "1" && p[5].Length > 0);
        Assert.Equal("5", epochRow[1]);
        // The epoch's loss is the mean over all its 5 steps: the step windows' losses weighted by their sizes,
        // the step before the interruption included.
        var windows = rows.Where(p => p[0] == "1" && p[5].Length == 0).ToList();
        Assert.Equal("1", windows[0][1]);
        double sum = 0;
        int prev = 0;
        foreach (var w in windows)
        {
            int step = int.Parse(w[1], CultureInfo.InvariantCulture);
            sum += (step - prev) * double.Parse(w[3], CultureInfo.InvariantCulture);
            prev = step;
        }
        Assert.Equal(5, prev);
        double epochLoss = double.Parse(epochRow[3], CultureInfo.InvariantCulture);
        double tolerance = 2e-5 * Math.Abs(epochLoss); // metrics.csv keeps six significant digits, of the windows and of the epoch
        Assert.Equal(sum / 5, epochLoss, tolerance);
        double resumedOnly = windows.Skip(1).Sum(w => double.Parse(w[3], CultureInfo.InvariantCulture)) / (windows.Count - 1);
        Assert.True(Math.Abs(resumedOnly - epochLoss) > 10 * tolerance, $"the epoch's loss {epochLoss} is the resumed steps' mean {resumedOnly}");

        // Gradient flow: one row per step of the whole run, numbered on from the first session.
        var flow = File.ReadAllLines(Path.Combine(outDir, "gradient_flow.csv"));
        Assert.Equal(1 + 8, flow.Length);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => i.ToString(CultureInfo.InvariantCulture)), flow.Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(8, rows.Max(p => long.Parse(p[2], CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void ResumeRefusesOptionsThatContradictTheCheckpoint()
    {
        using var d = Corpus();
        string outDir = d["out"];
        Assert.Equal(0, Train(d, outDir, "--steps", "4", "--time-budget", "1e-9").Code);
        string last = Path.Combine(outDir, "last.safetensors");
        string[] resume = ["--data", d.Path, "--out", outDir, "--resume", last];
        AssertUserError(Run([.. resume, "--hidden", "16"]), "--hidden 16 contradicts", "model.hidden = 8");
        AssertUserError(Run([.. resume, "--layers", "1"]), "--layers 1 contradicts", "model.layers = 2"); // 2: the default with --data
        AssertUserError(Run([.. resume, "--stack", "2"]), "--stack 2 contradicts");
        AssertUserError(Run([.. resume, "--batch-size", "4"]), "--batch-size 4 contradicts", "batch_size = 8");
        AssertUserError(Run([.. resume, "--lr", "0.01"]), "--lr 0.01 contradicts");
        AssertUserError(Run([.. resume, "--seed", "5"]), "--seed 5 contradicts");
        AssertUserError(Run([.. resume, "--dropout", "0.15"]), "--dropout 0.15 contradicts", "dropout = 0.3"); // 0.3: the default with --data
        AssertUserError(Run([.. resume, "--steps", "9"]), "--steps 9 contradicts", "total_steps = 4");
        AssertUserError(Run([.. resume, "--epochs", "3"]), "--epochs 3", "contradicts", "total_steps = 4");
        Assert.Equal("1", Meta(last)["global_step"]); // nothing was changed by the refusals
        // A checkpoint from before dropout was stored trained without it unless --dropout was given: it resumes with 0.
        string older = WithMeta(last, d["older.safetensors"], "dropout", null);
        // The same values are fine.
        var ok = Run([.. resume, "--hidden", "8", "--batch-size", "8", "--dropout", "0.3", "--steps", "4"]);
        Assert.True(ok.Code == 0, ok.Error);
        Assert.Equal(("4", "0.3"), (Meta(last)["global_step"], Meta(last)["dropout"]));
        var old = Run("--data", d.Path, "--out", outDir, "--resume", older);
        Assert.True(old.Code == 0, old.Error);
        Assert.Equal(("4", "0"), (Meta(last)["global_step"], Meta(last)["dropout"]));
    }

    [Theory]
    [InlineData(999, 2000, false)]
    [InlineData(1000, 2000, true)]
    [InlineData(2000, 2000, true)]
    [InlineData(3, 7, false)]
    [InlineData(4, 7, true)]
    [InlineData(0, 1, false)]
    [InlineData(1, 1, true)]
    public void OnlyTheSecondHalfOfTheStepsMayGiveTheBestCheckpoint(long step, long total, bool candidate) =>
        Assert.Equal(candidate, Trainer.IsBestCandidate(step, total));

    [Fact]
    public void TrainingLengthIsStepsOrEpochsAndTheBestCheckpointIsKept()
    {
        using var d = Corpus(); // 24 train lines (>= 20): 22 train + 2 validation: 3 steps per epoch at batch 8
        AssertUserError(Run("--steps", "5", "--epochs", "2"), "--steps 5 and --epochs 2");

        string a = d["a"];
        Assert.Equal(0, Train(d, a, "--steps", "7").Code);
        var meta = Meta(Path.Combine(a, "last.safetensors"));
        Assert.Equal(("7", "7"), (meta["global_step"], meta["total_steps"]));
        var epochRows = Csv(Path.Combine(a, "metrics.csv")).Where(p => p[5].Length > 0).ToList();
        Assert.Equal(["3", "3", "1"], epochRows.Select(p => p[1]));           // the last epoch is cut at step 7
        Assert.Equal(["3", "6", "7"], epochRows.Select(p => p[2]));
        // best.safetensors holds the step with the lowest validation CER (the last one on ties) from the second half of
        // the steps on: steps 6 and 7 of 7, not step 3.
        var candidates = epochRows.Where(p => 2 * int.Parse(p[2], CultureInfo.InvariantCulture) >= 7).ToList();
        Assert.Equal(["6", "7"], candidates.Select(p => p[2]));
        double bestCer = candidates.Min(p => double.Parse(p[5], CultureInfo.InvariantCulture));
        var best = candidates.Last(p => double.Parse(p[5], CultureInfo.InvariantCulture) == bestCer);
        var bestMeta = Meta(Path.Combine(a, "best.safetensors"));
        Assert.Equal(best[2], bestMeta["global_step"]);
        Assert.Equal(double.Parse(best[5], CultureInfo.InvariantCulture), double.Parse(bestMeta["best_val_cer"], CultureInfo.InvariantCulture), 12);

        string b = d["b"];
        Assert.Equal(0, Train(d, b, "--epochs", "2").Code);
        Assert.Equal("6", Meta(Path.Combine(b, "last.safetensors"))["total_steps"]);
    }

    [Fact]
    public void TranscribeOfSeveralFilesPrintsALinePerFileAndChecksEveryFileFirst()
    {
        using var d = Corpus();
        string last = Trained(d, d["out"], 2);
        string[] files = [d["u0.wav"], d["u1.wav"], d["u2.wav"]];
        Assert.Equal(files, Options.Parse(["transcribe", "--checkpoint", last, .. files]).Wavs);
        var all = new StringWriter();
        Assert.Equal(0, Cli.Run(["transcribe", "--checkpoint", last, .. files, "--beam", "2"], output: all));
        var lines = all.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        for (int i = 0; i < 3; i++)
        {
            // Each line: path, greedy, beam; the same transcripts as the file alone.
            var one = new StringWriter();
            Assert.Equal(0, Cli.Run(["transcribe", "--checkpoint", last, files[i], "--beam", "2"], output: one));
            var alone = one.ToString().Split('\n');
            string greedy = alone[0]["greedy: ".Length..].TrimEnd(), beam = alone[1]["beam:   ".Length..alone[1].IndexOf("  (log p", StringComparison.Ordinal)];
            Assert.Equal($"{files[i]}\t{greedy}\t{beam}", lines[i].TrimEnd('\r'));
        }

        // A bad file anywhere in the list: one error line naming it, and nothing printed for the good ones before it.
        File.WriteAllText(d["bad.wav"], "not a wave file");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(1, Cli.Run(["transcribe", "--checkpoint", last, files[0], d["bad.wav"]], stderr, stdout));
        Assert.Equal("", stdout.ToString());
        AssertUserError((1, stderr.ToString()), "bad.wav", "not a RIFF/WAVE file");
        AssertUserError(Run("transcribe", "--checkpoint", last, files[0], d["missing.wav"]), "missing.wav", "does not exist");
    }

    // The LSTM runs each utterance over its own frames, so transcribing one file (no padding) prints what batched
    // eval decodes for it, padded to its batchmates' length. A barely trained model decodes long, noisy strings that
    // any leak of the padding would change (checked below with the padding fed to the LSTM as frames).
    [Fact]
    public void TranscribePrintsWhatBatchedEvalDecodes()
    {
        using var d = Corpus();
        string outDir = d["out"];
        var r = Train(d, outDir, "--steps", "2", "--no-augment");
        Assert.True(r.Code == 0, r.Error);
        string ckpt = Path.Combine(outDir, "last.safetensors");
        var model = App.LoadModel(ckpt, Device.Cpu);
        var test = SpeechCtc.Corpus.Prepare(TsvDataset.LoadTest(d.Path, model.Config.Alphabet).Select(e => (e.Wave, e.Transcript)).ToList(), model.Config.Alphabet, model.Config.Stack);
        var wavs = File.ReadAllLines(d["test.tsv"]).Select(l => d[l.Split('\t')[0]]).ToArray();
        Assert.True(test.Select(e => e.Frames).Distinct().Count() > 1, "the test utterances should differ in length");
        var decoded = Trainer.Evaluate(model, test, test.Length, Device.Cpu, beamWidth: 0).Outputs; // one batch, in order of length
        var byLength = Enumerable.Range(0, test.Length).OrderBy(k => test[k].Frames).ToArray();
        Assert.Contains(decoded, o => o.Greedy.Length > 0);
        for (int j = 0; j < test.Length; j++)
        {
            var stdout = new StringWriter();
            int code = Cli.Run(["transcribe", "--checkpoint", ckpt, wavs[byLength[j]], "--beam", "2"], output: stdout);
            Assert.True(code == 0, stdout.ToString());
            Assert.Equal($"greedy: {decoded[j].Greedy}", stdout.ToString().Split('\n')[0].TrimEnd());
        }
        // Fed the padding as frames, the shortest utterance's log-probabilities move: the check above can fail.
        var batch = SpeechCtc.Corpus.MakeBatch(test, model.Config.InputSize, Device.Cpu);
        int T = batch.Features.Size(0), shortest = Array.IndexOf(batch.InputLengths, batch.InputLengths.Min()), len = batch.InputLengths[shortest];
        Assert.True(len < T, "the shortest test utterance should be padded in its batch");
        using (Torch.NoGrad())
        {
            model.Eval();
            float[] Frames(int[] lengths) => model.Forward(batch.Features, lengths).Select(1, shortest).Narrow(0, 0, len).ToArray<float>();
            var (packed, leaky) = (Frames(batch.InputLengths), Frames(Enumerable.Repeat(T, test.Length).ToArray()));
            Assert.True(packed.Zip(leaky, (a, b) => Math.Abs(a - b)).Max() > 1e-3, "padding fed as frames should change the output");
        }
    }

    [Fact]
    public void SpeakerColumnHoldsOutWholeSpeakersForValidation()
    {
        using var d = Corpus(count: 60, speakers: true); // 6 speakers x 10 utterances
        var o = Options.Parse(["--data", d.Path]);
        var (train, val, _, _, source) = App.LoadData(o);
        Assert.Equal(60, train.Length + val.Length);
        Assert.Contains("held-out speaker", source);
        // Which utterances are in validation: exactly those of the speakers SplitBySpeaker holds out.
        var rows = TsvDataset.ReadList(d["train.tsv"]);
        var (_, valIdx) = TsvDataset.SplitBySpeaker(rows.Select(r => r.Speaker!).ToList());
        Assert.Equal(valIdx.Select(i => rows[i].Transcript), val.Select(e => e.Transcript));
        Assert.Equal(10, val.Length); // one whole speaker of six
        Assert.DoesNotContain(train, e => val.Contains(e));
        // Six speakers are few: the note says what holding one out costs and how to train on all of them; eight are not.
        Assert.Contains("leaving 5 to train on", App.FewSpeakersNote(6, 1));
        Assert.Contains("leave the speaker column out of train.tsv", App.FewSpeakersNote(6, 1));
        Assert.NotNull(App.FewSpeakersNote(7, 1));
        Assert.Null(App.FewSpeakersNote(8, 1));
        // Without the column: the last tenth, as before.
        using var plain = Corpus(count: 60);
        var (_, val2, _, _, _) = App.LoadData(Options.Parse(["--data", plain.Path]));
        Assert.Equal(File.ReadAllLines(plain["train.tsv"])[^6..].Select(l => l.Split('\t')[1]), val2.Select(e => e.Transcript));
    }
}
