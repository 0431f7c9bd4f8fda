using DigitClassifier;
using MiniGrad.Tests.Speech;

namespace MiniGrad.Tests.Examples;

/// <summary>
/// The spoken-digit classifier example (issue 14), run in-process on a small synthetic set with a small model: it learns
/// (accuracy far above chance, loss falling from ln 10), writes the confusion matrix as a PNG, its mean over time
/// respects each utterance's length, and the user's mistakes are one "error: ..." line.
/// </summary>
public class DigitClassifierCliTests
{
    static (int Code, string Output, string Error) Run(params string[] args) => ExampleCli.Run(Cli.Run, args);

    static void AssertUserError((int Code, string Output, string Error) r, params string[] fragments) => ExampleCli.AssertUserError(r, fragments);

    [Fact]
    public void ASmallRunLearnsAndWritesTheConfusionMatrix()
    {
        using var d = new TempDir();
        var o = Options.Parse(["--train-size", "300", "--val-size", "50", "--test-size", "100", "--steps", "60", "--batch-size", "16",
            "--channels", "32", "--hidden", "32", "--lr", "0.01", "--eval-every", "30", "--out", d["out"]]);
        var (accuracy, confusion, firstLoss, lastLoss) = App.Run(o, TextWriter.Null);
        Assert.InRange(firstLoss, Math.Log(10) - 0.3, Math.Log(10) + 0.3); // untrained: about uniform over 10 digits
        Assert.True(lastLoss < firstLoss - 0.5, $"loss should fall: {firstLoss} -> {lastLoss}");
        Assert.True(accuracy > 0.4, $"test accuracy {accuracy} should be far above chance (0.1)");
        Assert.Equal(100, confusion.Cast<int>().Sum());
        Assert.Equal(accuracy, Enumerable.Range(0, 10).Sum(i => confusion[i, i]) / 100.0, 12);

        var png = File.ReadAllBytes(Path.Combine(d["out"], "confusion.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal(["step,train_loss,val_accuracy,elapsed_s", "30,", "60,"],
            File.ReadAllLines(Path.Combine(d["out"], "metrics.csv")).Select((l, i) => i == 0 ? l : l[..(l.IndexOf(',') + 1)]));
        Assert.True(File.Exists(Path.Combine(d["out"], "model.safetensors")));
    }

    // An utterance classified alone (no padding) gets the logits it gets in a padded batch with longer utterances: the
    // strided convolution's zero padding and the batch's padding are the same zeros, the GRU runs over each utterance's
    // own frames, and the mean divides by each utterance's own number of frames.
    [Fact]
    public void TheMeanOverTimeRespectsEachUtterancesLength()
    {
        var items = Data.Make(Data.TestSeed, 6, 0, 20);
        Assert.True(items.Select(e => e.Frames).Distinct().Count() > 1, "the utterances should differ in length");
        var model = new DigitModel(8, 8, new Generator(1));
        using (Torch.NoGrad())
        {
            var (x, lengths, _) = Data.Batch(items);
            var batched = model.Forward(x, lengths).ToArray<float>();
            for (int i = 0; i < items.Length; i++)
            {
                var (xi, li, _) = Data.Batch([items[i]]);
                var alone = model.Forward(xi, li).ToArray<float>();
                for (int c = 0; c < 10; c++) Assert.Equal(alone[c], batched[i * 10 + c], 1e-5);
            }
            // Counting the padding as frames would change the shorter utterances' logits: the check above can fail.
            int T = lengths.Max(), shortest = Array.IndexOf(lengths, lengths.Min());
            var leaky = model.Forward(x, Enumerable.Repeat(T, items.Length).ToArray()).ToArray<float>();
            Assert.True(Enumerable.Range(0, 10).Max(c => Math.Abs(leaky[shortest * 10 + c] - batched[shortest * 10 + c])) > 1e-4);
        }
    }

    [Fact]
    public void MistakesAreOneErrorLineAndANonZeroExit()
    {
        AssertUserError(Run("--steps", "0"), "--steps expects an integer in 1..");
        AssertUserError(Run("--lr", "-1"), "--lr", "got '-1'");
        AssertUserError(Run("--hidden", "x"), "--hidden", "got 'x'");
        AssertUserError(Run("--min-snr", "30", "--max-snr", "10"), "--min-snr 30 is above --max-snr 10");
        AssertUserError(Run("--max-snr", "inf"), "--max-snr", "decibels");
        AssertUserError(Run("--out"), "--out needs a value");
        AssertUserError(Run("--batch-size", "8", "--batch-size", "8"), "--batch-size is given twice");
        AssertUserError(Run("--cell", "gru"), "unknown option '--cell'");
        AssertUserError(Run("train"), "unexpected argument 'train'");
        using var d = new TempDir();
        File.WriteAllText(d["afile"], "x");
        AssertUserError(Run("--out", d["afile"], "--steps", "1", "--train-size", "4", "--val-size", "2", "--test-size", "2"), "--out", "is an existing file");
        Assert.Equal("x", File.ReadAllText(d["afile"]));
    }
}
