// A character-level language model: Embedding -> GRU (or LSTM) -> Linear -> CrossEntropyLoss over the next character,
// trained by truncated backpropagation through time on a public-domain text shipped with the example (Shakespeare's
// Coriolanus). `dotnet run -c Release --project examples/CharRnn` trains for about a minute on 2 cores, printing the
// validation bits per character and a sample every 200 steps; see README.md here.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using CharRnn;
using MiniGrad;
using MiniGrad.Nn;

return Cli.Run(args);

namespace CharRnn
{
    /// <summary>A problem with the user's input, reported as one "error: ..." line without a stack trace.</summary>
    sealed class UserError(string message) : Exception(message);

    /// <summary>The command line: parses, runs a command, and turns the user's mistakes into "error: ..." and exit code 1 (2 for bad options).</summary>
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
            if (o.Command == "help") { output.WriteLine(Options.Usage); return 0; }
            try
            {
                if (o.Command == "sample") App.SampleCommand(o, output);
                else App.Train(o, output);
                return 0;
            }
            catch (Exception e) when (e is UserError or CheckpointException or IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"error: {e.Message}");
                return 1;
            }
        }
    }

    /// <summary>The text as character ids, split into a training head and a validation tail.</summary>
    sealed class Corpus
    {
        public Corpus(string text, double valFraction)
        {
            // Characters are Unicode scalar values (an emoji or a CJK extension character is one, not two UTF-16 halves).
            var runes = text.EnumerateRunes().ToArray();
            var symbols = runes.Distinct().Order().ToArray();
            Vocab = string.Concat(symbols);
            var index = symbols.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
            var ids = runes.Select(c => index[c]).ToArray();
            Length = ids.Length;
            First = runes.Length > 0 ? runes[0].ToString() : "";
            int val = (int)(ids.Length * valFraction);
            Train = ids[..^val];
            Validation = ids[^val..];
        }

        /// <summary>The distinct characters, in ordinal order; a character's id is its position here.</summary>
        public string Vocab { get; }
        /// <summary>Characters in the text, and its first one.</summary>
        public int Length { get; }
        public string First { get; }
        public int[] Train { get; }
        public int[] Validation { get; }

        /// <summary>Entropy in bits of the training text's character frequencies: what a model that ignores context can reach.</summary>
        public double UnigramBits()
        {
            var counts = new double[Vocab.EnumerateRunes().Count()];
            foreach (int c in Train) counts[c]++;
            return -counts.Where(n => n > 0).Sum(n => n / Train.Length * Math.Log2(n / Train.Length));
        }
    }

    /// <summary>One line of progress.</summary>
    sealed record Report(int Step, double Lr, double TrainBits, double ValBits, double ElapsedSec);

    static class App
    {
        public const string CheckpointName = "char_rnn.safetensors";

        /// <summary>The built-in text, copied next to the program by the project file.</summary>
        public static string BuiltInText => Path.Combine(AppContext.BaseDirectory, "data", "coriolanus.txt");

        static string ReadText(string path)
        {
            if (Directory.Exists(path)) throw new UserError($"--text '{path}' is a folder; expected a UTF-8 text file");
            if (!File.Exists(path)) throw new UserError($"--text '{path}' does not exist");
            try
            {
                // Strict UTF-8, so that a Latin-1 file is an error instead of a vocabulary of replacement characters.
                // A byte-order mark is not part of the text.
                string text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(File.ReadAllBytes(path)).Replace("\r\n", "\n");
                return text.StartsWith('\uFEFF') ? text[1..] : text;
            }
            catch (DecoderFallbackException) { throw new UserError($"--text '{path}' is not valid UTF-8"); }
        }

        public static (List<Report> Reports, double FinalValBits, string Vocab) Train(Options o, TextWriter output)
        {
            var clock = Stopwatch.StartNew();
            if (o.Out is not null && File.Exists(o.Out))
                throw new UserError($"--out '{o.Out}' is an existing file; expected a folder for the checkpoint and metrics (an existing one or a new name)");
            if (o.Out is not null)
                try { Directory.CreateDirectory(o.Out); } // before the text is read: a folder that cannot be made is named at once
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
                {
                    throw new UserError($"--out '{o.Out}' cannot be made a folder: {e.Message}");
                }
            string source = o.Text ?? BuiltInText;
            string text = ReadText(source);
            var corpus = new Corpus(text, o.ValFraction);
            if (corpus.Validation.Length < 2)
                throw new UserError($"the text has {corpus.Length} characters; its validation tail (--val-fraction {o.ValFraction}) needs at least 2");
            // Each of the batch's streams needs at least one chunk of seq-len characters and the one after.
            int streamLen = corpus.Train.Length / o.BatchSize;
            if (streamLen < o.SeqLen + 1)
                throw new UserError($"the training part of the text has {corpus.Train.Length} characters, too few for --batch-size {o.BatchSize} streams of " +
                    $"--seq-len {o.SeqLen} + 1 characters; give a smaller --batch-size or --seq-len, or a longer --text");

            var config = new ModelConfig(o.Cell, o.Embed, o.Hidden, o.Layers, corpus.Vocab);
            var model = new CharModel(config, new Generator(o.Seed));
            var optimizer = new Adam(model.Parameters(), o.Lr);
            var schedule = new CosineAnnealingLr(optimizer, o.Steps, etaMin: o.Lr / 10);
            var criterion = new CrossEntropyLoss();
            int V = config.VocabSize, B = o.BatchSize, T = o.SeqLen;
            int chunksPerPass = (streamLen - 1) / T;

            output.WriteLine($"text: {(o.Text is null ? "built-in Coriolanus (data/coriolanus.txt)" : source)}: {corpus.Length:N0} characters, " +
                $"{corpus.Train.Length:N0} for training, the last {corpus.Validation.Length:N0} for validation; {V} distinct characters");
            output.WriteLine($"baselines: uniform guessing {Math.Log2(V):F2} bits/char; letter frequencies alone {corpus.UnigramBits():F2} bits/char");
            output.WriteLine($"model: {model.Summary()}");
            output.WriteLine($"training: {o.Steps} steps of {B} streams x {T} characters (truncated BPTT; {(double)o.Steps * B * T / corpus.Train.Length:F1} passes over the text), " +
                $"Adam lr {o.Lr} cosine to {o.Lr / 10:G3}, clip {o.Clip}, seed {o.Seed}; samples at temperature {o.Temperature}\n");

            var reports = new List<Report>();
            string? csv = null;
            if (o.Out is not null)
            {
                Directory.CreateDirectory(o.Out);
                csv = Path.Combine(o.Out, "metrics.csv");
                File.WriteAllText(csv, "step,lr,train_bits_per_char,val_bits_per_char,elapsed_s\n");
            }
            string prime = corpus.Vocab.Contains('\n') ? "\n" : corpus.First; // samples start as a new line of the text
            void Show(int step, double trainBits)
            {
                double val = ValidationBits(model, corpus.Validation);
                var r = new Report(step, optimizer.Lr, trainBits, val, clock.Elapsed.TotalSeconds);
                reports.Add(r);
                string train = double.IsNaN(trainBits) ? "" : $"train {trainBits:F3}  ";
                output.WriteLine($"step {step,6}/{o.Steps}  {train}validation {val:F3} bits/char  ({r.ElapsedSec:F1} s)");
                string sample = Sample(model, prime, o.SampleLength, o.Temperature, new Generator(o.Seed * 1_000_003L + step));
                foreach (var line in sample.Split('\n')) output.WriteLine($"    | {line}");
                output.WriteLine();
                if (csv is not null)
                {
                    File.AppendAllText(csv, string.Join(',', step, r.Lr.ToString("R"), double.IsNaN(trainBits) ? "" : trainBits.ToString("F5"),
                        val.ToString("F5"), r.ElapsedSec.ToString("F2")) + "\n");
                    Checkpoint.Save(model, Path.Combine(o.Out!, CheckpointName), metadata: config.ToMetadata());
                }
            }

            Show(0, double.NaN); // the untrained model: about log2(V) bits/char, and noise
            var x = new long[T * B];
            var y = new long[T * B];
            Tensor[]? state = null;
            double windowLoss = 0;
            int windowCount = 0;
            for (int step = 0; step < o.Steps; step++)
            {
                // Stream b reads the b-th slice of the text, one chunk per step; the state carries over from the
                // chunk before (detached: gradients stop at the chunk's start) and restarts with each pass.
                int chunk = step % chunksPerPass;
                if (chunk == 0) state = null;
                for (int b = 0; b < B; b++)
                {
                    int start = b * streamLen + chunk * T;
                    for (int t = 0; t < T; t++)
                    {
                        x[t * B + b] = corpus.Train[start + t];
                        y[t * B + b] = corpus.Train[start + t + 1];
                    }
                }
                // The step's tensors go back to MiniGrad's pool when its scope ends; the state carried on is kept.
                using (Torch.NewScope())
                {
                    optimizer.ZeroGrad();
                    var (logits, next) = model.Forward(Torch.Tensor(x, T, B), state);
                    var loss = criterion.Forward(logits.Reshape(T * B, V), Torch.Tensor(y, T * B));
                    loss.Backward();
                    Functional.ClipGradNorm(model.Parameters(), o.Clip);
                    optimizer.Step();
                    schedule.Step();
                    foreach (var s in state ?? []) s.Dispose();
                    state = next.Select(s => s.Detach().DetachFromScope()).ToArray();
                    windowLoss += loss.Item<float>();
                }
                windowCount++;
                if ((step + 1) % o.SampleEvery == 0 || step + 1 == o.Steps)
                {
                    Show(step + 1, windowLoss / windowCount / Math.Log(2));
                    windowLoss = 0;
                    windowCount = 0;
                }
            }
            double final = reports[^1].ValBits;
            output.WriteLine($"done in {clock.Elapsed.TotalSeconds:F1} s: validation {final:F3} bits/char " +
                $"(uniform {Math.Log2(V):F2}, letter frequencies {corpus.UnigramBits():F2})" +
                (o.Out is null ? "" : $"; model in {Path.Combine(o.Out, CheckpointName)}"));
            return (reports, final, corpus.Vocab);
        }

        /// <summary>Mean bits per character of predicting each next character of the validation tail, read as 16 streams
        /// in chunks of 256 with the state carried over (the model sees as much context as in training, and more).</summary>
        public static double ValidationBits(CharModel model, int[] ids)
        {
            int streams = Math.Min(16, ids.Length - 1), len = (ids.Length - 1) / streams;
            var criterion = new CrossEntropyLoss(reduction: Reduction.Sum);
            double total = 0;
            model.Eval();
            using (Torch.NoGrad())
            {
                Tensor[]? state = null;
                for (int start = 0; start < len; start += 256)
                {
                    int T = Math.Min(256, len - start);
                    var x = new long[T * streams];
                    var y = new long[T * streams];
                    for (int b = 0; b < streams; b++)
                        for (int t = 0; t < T; t++)
                        {
                            x[t * streams + b] = ids[b * len + start + t];
                            y[t * streams + b] = ids[b * len + start + t + 1];
                        }
                    var (logits, next) = model.Forward(Torch.Tensor(x, T, streams), state);
                    total += criterion.Forward(logits.Reshape(T * streams, model.Config.VocabSize), Torch.Tensor(y, T * streams)).Item<float>();
                    state = next;
                }
            }
            model.Train();
            return total / ((double)len * streams) / Math.Log(2);
        }

        /// <summary>
        /// Reads prime, then writes length characters, each drawn from softmax(logits / temperature) with the generator
        /// (so a seed gives the same text): temperature 1 samples the model's own distribution, lower sharpens it.
        /// </summary>
        public static string Sample(CharModel model, string prime, int length, double temperature, Generator generator)
        {
            var config = model.Config;
            int V = config.VocabSize;
            var sb = new StringBuilder(length);
            model.Eval();
            using (Torch.NoGrad())
            {
                long[] ids = [.. prime.EnumerateRunes().Select(r => (long)config.IdOf(r))];
                var (logits, state) = model.Forward(Torch.Tensor(ids, ids.Length, 1), null);
                var last = logits.Select(0, ids.Length - 1).Reshape(V).ToArray<float>();
                var p = new double[V];
                for (int i = 0; i < length; i++)
                {
                    double max = last.Max(), sum = 0;
                    for (int c = 0; c < V; c++) sum += p[c] = Math.Exp((last[c] - max) / temperature);
                    double u = generator.NextDouble() * sum;
                    int next = 0;
                    for (double acc = p[0]; acc <= u && next < V - 1; acc += p[++next]) { }
                    sb.Append(config.Symbols[next].ToString());
                    (logits, state) = model.Forward(Torch.Tensor([(long)next], 1, 1), state);
                    last = logits.Reshape(V).ToArray<float>();
                }
            }
            model.Train();
            return sb.ToString();
        }

        /// <summary>A character as the error message shows it: control characters escaped, so the message stays one line.</summary>
        static string Shown(Rune r) => r.Value switch { '\n' => "\\n", '\t' => "\\t", '\r' => "\\r", _ when Rune.IsControl(r) => $"\\u{r.Value:X4}", _ => r.ToString() };

        /// <summary>`sample`: rebuilds the model from a checkpoint's metadata, loads it and prints one sample.</summary>
        public static string SampleCommand(Options o, TextWriter output)
        {
            string path = o.Checkpoint!;
            if (Directory.Exists(path)) throw new UserError($"checkpoint '{path}' is a folder; expected a .safetensors file (e.g. OUT/{CheckpointName})");
            if (!File.Exists(path)) throw new UserError($"checkpoint '{path}' does not exist");
            IReadOnlyDictionary<string, string> meta;
            try { meta = SafeTensors.ReadHeader(path).Metadata; }
            catch (CheckpointException e) { throw new UserError($"checkpoint '{path}' cannot be read: {e.Message}"); }
            var config = ModelConfig.FromMetadata(meta, path);
            // Without --prime, a sample starts as a new line; a model whose text had no newline starts from its first character.
            string prime = o.Prime ?? (config.IdOf(new Rune('\n')) >= 0 ? "\n" : config.Symbols[0].ToString());
            foreach (var bad in prime.EnumerateRunes().Where(r => config.IdOf(r) < 0))
                throw new UserError($"--prime has the character {MiniGrad.Nn.Data.Alphabet.Describe(bad)}, which the model never saw; it knows \"{string.Concat(config.Symbols.Select(Shown))}\"");
            var model = new CharModel(config);
            Checkpoint.Load(model, path);
            string text = Sample(model, prime, o.SampleLength, o.Temperature, new Generator(o.Seed));
            output.WriteLine(prime.TrimStart('\n') + text);
            return text;
        }
    }
}
