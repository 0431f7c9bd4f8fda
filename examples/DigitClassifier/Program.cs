// Spoken-digit classification: one synthetic spoken digit -> log-mel features -> Conv1d -> ReLU -> GRU -> mean over
// the utterance's own frames -> Linear -> CrossEntropyLoss over the ten digits. `dotnet run -c Release --project
// examples/DigitClassifier` synthesizes the data, trains for about a minute on 2 cores, and prints the test accuracy
// and the confusion matrix (also written as a PNG); see README.md here.
using System.Diagnostics;
using System.Globalization;
using DigitClassifier;
using MiniGrad;
using MiniGrad.Nn;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;

return Cli.Run(args);

namespace DigitClassifier
{
    /// <summary>A problem with the user's input, reported as one "error: ..." line without a stack trace.</summary>
    sealed class UserError(string message) : Exception(message);

    /// <summary>The command line: parses, runs, and turns the user's mistakes into "error: ..." and exit code 1 (2 for bad options).</summary>
    static class Cli
    {
        public static int Run(string[] args, TextWriter? error = null, TextWriter? output = null)
        {
            error ??= Console.Error;
            output ??= Console.Out;
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            Options o;
            try { o = Options.Parse(args); }
            catch (ArgumentException e)
            {
                error.WriteLine($"error: {e.Message}\n");
                error.WriteLine(Options.Usage);
                return 2;
            }
            if (o.Help) { output.WriteLine(Options.Usage); return 0; }
            try
            {
                App.Run(o, output);
                return 0;
            }
            catch (Exception e) when (e is UserError or IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"error: {e.Message}");
                return 1;
            }
        }
    }

    /// <summary>One utterance: log-mel features (Frames, 40) row-major and its digit.</summary>
    sealed record Example(float[] Features, int Frames, int Label);

    /// <summary>The three sets of single synthetic digits (fixed seeds, so every run is scored on the same test set).</summary>
    static class Data
    {
        public const long TrainSeed = 1101, ValidationSeed = 1202, TestSeed = 1303;
        public static readonly LogMel Features = new();

        /// <summary>count single-digit utterances of a corpus seed: each a digit spoken by a random synthetic speaker, in noise.</summary>
        public static Example[] Make(long seed, int count, double minSnrDb, double maxSnrDb)
        {
            var utts = new SyntheticSpeech(seed, minSymbols: 1, maxSymbols: 1, minSnrDb: minSnrDb, maxSnrDb: maxSnrDb).GenerateRange(0, count);
            var result = new Example[count];
            Parallel.For(0, count, i =>
            {
                var f = Features.Compute(utts[i].Wave);
                result[i] = new Example(f, f.Length / Features.NumMels, utts[i].Transcript[0] - '0');
            });
            return result;
        }

        /// <summary>A padded batch: features (N, 40, T) as Conv1d wants them (channels = mel bands), lengths, labels.</summary>
        public static (Tensor X, int[] Lengths, Tensor Y) Batch(IReadOnlyList<Example> items)
        {
            int n = items.Count, F = Features.NumMels, T = items.Max(e => e.Frames);
            var x = new float[n * F * T];
            var y = new long[n];
            for (int b = 0; b < n; b++)
            {
                var e = items[b];
                for (int t = 0; t < e.Frames; t++)
                    for (int f = 0; f < F; f++) x[(b * F + f) * T + t] = e.Features[t * F + f];
                y[b] = e.Label;
            }
            return (Torch.Tensor(x, n, F, T), items.Select(e => e.Frames).ToArray(), Torch.Tensor(y, n));
        }
    }

    /// <summary>
    /// Log-mel (N, 40, T) -> Conv1d(40, C, 5, stride 2) -> ReLU -> GRU(C, H) over each utterance's own frames -> mean of
    /// the GRU outputs over those frames -> Linear(H, 10): logits over the digits.
    /// </summary>
    sealed class DigitModel : Module
    {
        readonly Conv1d conv;
        readonly Relu relu = new();
        readonly Gru gru;
        readonly Linear fc;

        public DigitModel(int channels, int hidden, Generator? generator = null)
        {
            conv = RegisterModule("conv", new Conv1d(Data.Features.NumMels, channels, kernelSize: 5, stride: 2, padding: 2, generator: generator));
            RegisterModule("relu", relu);
            gru = RegisterModule("gru", new Gru(channels, hidden, generator: generator));
            fc = RegisterModule("fc", new Linear(hidden, 10, generator: generator));
        }

        /// <summary>Frames after the strided convolution: floor((T + 2 * 2 - 5) / 2) + 1.</summary>
        public static int ConvFrames(int frames) => (frames - 1) / 2 + 1;

        public Tensor Forward(Tensor x, int[] lengths) => Call(x, x =>
        {
            var h = relu.Forward(conv.Forward(x));                  // (N, C, T')
            var steps = lengths.Select(ConvFrames).ToArray();
            var (y, _) = gru.Forward(h.Permute(2, 0, 1), steps);   // (T', N, H), zero past each utterance's end
            // Mean over each utterance's own frames: the padding rows are zero, so sum and divide by the length.
            var count = Torch.Tensor(steps.Select(s => (float)s).ToArray(), steps.Length, 1);
            return fc.Forward(y.Sum(0) / count);
        });
    }

    static class App
    {
        public static (double TestAccuracy, int[,] Confusion, double FirstLoss, double LastLoss) Run(Options o, TextWriter output)
        {
            var clock = Stopwatch.StartNew();
            if (File.Exists(o.Out))
                throw new UserError($"--out '{o.Out}' is an existing file; expected a folder for the plot, metrics and model (an existing one or a new name)");
            Directory.CreateDirectory(o.Out);
            var train = Data.Make(Data.TrainSeed, o.TrainSize, o.MinSnrDb, o.MaxSnrDb);
            var validation = Data.Make(Data.ValidationSeed, o.ValSize, o.MinSnrDb, o.MaxSnrDb);
            var test = Data.Make(Data.TestSeed, o.TestSize, o.MinSnrDb, o.MaxSnrDb);
            output.WriteLine($"data: single synthetic spoken digits (SyntheticSpeech, random speaker, pitch, rate; noise at {o.MinSnrDb:G3} to {o.MaxSnrDb:G3} dB SNR): {train.Length} train, " +
                $"{validation.Length} validation, {test.Length} test utterances of {train.Min(e => e.Frames)}-{train.Max(e => e.Frames)} frames of 40 log-mel bands " +
                $"({clock.Elapsed.TotalSeconds:F1} s)");

            var model = new DigitModel(o.Channels, o.Hidden, new Generator(o.Seed));
            var optimizer = new Adam(model.Parameters(), o.Lr);
            var schedule = new CosineAnnealingLr(optimizer, o.Steps, etaMin: o.Lr / 20);
            var criterion = new CrossEntropyLoss();
            output.WriteLine($"model: Conv1d(40, {o.Channels}, 5, stride 2) -> ReLU -> GRU({o.Channels} -> {o.Hidden}) -> mean over frames -> Linear({o.Hidden}, 10); " +
                $"{model.Parameters().Sum(p => (long)p.Numel):N0} parameters; Adam lr {o.Lr} cosine to {o.Lr / 20:G3}, clip {o.Clip}, batch {o.BatchSize}, " +
                $"{o.Steps} steps ({(double)o.Steps * Math.Min(o.BatchSize, train.Length) / train.Length:F1} epochs); chance is 10%\n");

            string csv = Path.Combine(o.Out, "metrics.csv");
            File.WriteAllText(csv, "step,train_loss,val_accuracy,elapsed_s\n");
            var rng = new Generator(o.Seed);
            var order = Enumerable.Range(0, train.Length).ToArray();
            int pos = order.Length;
            double windowLoss = 0, firstLoss = double.NaN, lastLoss = double.NaN;
            int windowCount = 0;
            for (int step = 0; step < o.Steps; step++)
            {
                var items = new List<Example>(o.BatchSize);
                while (items.Count < Math.Min(o.BatchSize, train.Length))
                {
                    if (pos == order.Length) { Shuffle(order, rng); pos = 0; } // a new epoch
                    items.Add(train[order[pos++]]);
                }
                double l;
                using (Torch.NewScope()) // the step's tensors go back to MiniGrad's pool when it ends
                {
                    var (x, lengths, y) = Data.Batch(items);
                    optimizer.ZeroGrad();
                    var loss = criterion.Forward(model.Forward(x, lengths), y);
                    loss.Backward();
                    Functional.ClipGradNorm(model.Parameters(), o.Clip);
                    optimizer.Step();
                    schedule.Step();
                    l = loss.Item<float>();
                }
                if (step == 0) firstLoss = l;
                windowLoss += l;
                windowCount++;
                if ((step + 1) % o.EvalEvery == 0 || step + 1 == o.Steps)
                {
                    lastLoss = windowLoss / windowCount;
                    var (acc, _) = Evaluate(model, validation);
                    output.WriteLine($"step {step + 1,5}/{o.Steps}  train loss {lastLoss:F4}  validation accuracy {100 * acc,6:F2}%  ({clock.Elapsed.TotalSeconds:F1} s)");
                    File.AppendAllText(csv, $"{step + 1},{lastLoss:F5},{acc:F5},{clock.Elapsed.TotalSeconds:F2}\n");
                    windowLoss = 0;
                    windowCount = 0;
                }
            }

            var (testAcc, confusion) = Evaluate(model, test);
            output.WriteLine($"\ntest accuracy: {100 * testAcc:F2}% ({Enumerable.Range(0, 10).Sum(i => confusion[i, i])} of {test.Length}); " +
                $"first step's loss {firstLoss:F3} (ln 10 = {Math.Log(10):F3}), last {o.EvalEvery} steps' {lastLoss:F4}");
            output.WriteLine(FormatConfusion(confusion));
            string png = Path.Combine(o.Out, "confusion.png");
            Plots.Confusion(confusion, $"Test confusion matrix: {100 * testAcc:F1}% of {test.Length} correct", png);
            string ckpt = Path.Combine(o.Out, "model.safetensors");
            Checkpoint.Save(model, ckpt, metadata: new Dictionary<string, string>
            {
                ["model.channels"] = o.Channels.ToString(CultureInfo.InvariantCulture),
                ["model.hidden"] = o.Hidden.ToString(CultureInfo.InvariantCulture),
                ["test_accuracy"] = testAcc.ToString("R", CultureInfo.InvariantCulture),
            });
            output.WriteLine($"wrote {png}, {csv} and {ckpt}; {clock.Elapsed.TotalSeconds:F1} s in all");
            return (testAcc, confusion, firstLoss, lastLoss);
        }

        /// <summary>Accuracy and confusion matrix (row: the spoken digit, column: the prediction) over a set.</summary>
        public static (double Accuracy, int[,] Confusion) Evaluate(DigitModel model, Example[] data)
        {
            var confusion = new int[10, 10];
            model.Eval();
            using (Torch.NoGrad())
                foreach (var chunk in data.Chunk(100))
                {
                    var (x, lengths, _) = Data.Batch(chunk);
                    var logits = model.Forward(x, lengths).ToArray<float>();
                    for (int i = 0; i < chunk.Length; i++)
                    {
                        int best = 0;
                        for (int c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
                        confusion[chunk[i].Label, best]++;
                    }
                }
            model.Train();
            int correct = Enumerable.Range(0, 10).Sum(i => confusion[i, i]);
            return ((double)correct / data.Length, confusion);
        }

        public static string FormatConfusion(int[,] m)
        {
            var sb = new System.Text.StringBuilder();
            sb.AppendLine("confusion matrix (rows: spoken digit, columns: predicted):");
            sb.AppendLine("        " + string.Concat(Enumerable.Range(0, 10).Select(c => $"{c,5}")));
            for (int r = 0; r < 10; r++)
                sb.AppendLine($"    {r,2}  " + string.Concat(Enumerable.Range(0, 10).Select(c => m[r, c] == 0 ? "    ." : $"{m[r, c],5}")));
            return sb.ToString().TrimEnd();
        }

        static void Shuffle(int[] a, Generator rng)
        {
            for (int i = a.Length - 1; i > 0; i--)
            {
                int j = (int)rng.NextBelow((ulong)(i + 1));
                (a[i], a[j]) = (a[j], a[i]);
            }
        }
    }
}
