// A toy speech recognizer trained end to end: log-mel features -> bidirectional LSTM -> Linear -> LogSoftmax -> CTC.
// `dotnet run -c Release --project examples/SpeechCtc` trains on built-in synthetic spoken digits and reports the
// test CER; see README.md here for the options, the data format of --data, and the outputs.
using System.Diagnostics;
using System.Globalization;
using MiniGrad;
using MiniGrad.Nn;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;
using MiniGrad.Nn.Decoding;
using Spectre.Console;
using SpeechCtc;

return Cli.Run(args);

namespace SpeechCtc
{
    /// <summary>A problem with the user's input, reported without a stack trace.</summary>
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
            if (o.Command == "help") { Console.WriteLine(Options.Usage); return 0; }
            try
            {
                return o.Command switch
                {
                    "eval" => App.Eval(o),
                    "transcribe" => App.Transcribe(o, output),
                    _ => App.Train(o),
                };
            }
            catch (Exception e) when (e is DatasetException or WavFormatException or CheckpointException or UserError
                or IOException or UnauthorizedAccessException)
            {
                // IOException covers a missing file or folder, a full disk and a folder that cannot be written.
                error.WriteLine($"error: {e.Message}");
                return 1;
            }
        }
    }

    static class App
    {
        public static int Train(Options o)
        {
            var total = Stopwatch.StartNew();
            CheckOut(o);
            var device = ResolveDevice(o.Device);
            Progress? resumed = null;
            Metadata? meta = null;
            ModelConfig? config = null;
            if (o.Resume is not null)
            {
                var raw = ReadMetadata(o.Resume);
                meta = new Metadata(raw, o.Resume);
                config = ModelConfig.FromMetadata(raw, o.Resume);
                resumed = Progress.Read(meta);
                AdoptSettings(o, meta, config);
            }

            // Data: everything is loaded and checked before training starts.
            var (train, validation, test, alphabet, source) = LoadData(o);
            int unalignable = train.Count(e => !e.Alignable);
            if (unalignable == train.Length)
                throw new UserError($"no training utterance is long enough for its transcript (CTC needs a model step per character, and a blank between repeated ones; a step is {o.Stack} frames of 10 ms): check the transcripts, or lower --stack");
            if (unalignable > 0)
                AnsiConsole.MarkupLine($"[yellow]note[/]: {unalignable} of {train.Length} training utterances are too short for their transcripts (CTC needs a model step per character, and a blank between repeated ones); their loss is infinite and left out");
            config ??= new ModelConfig(Corpus.FeatureDim(o.Stack), o.Hidden, o.Layers, o.Stack, alphabet.Symbols);
            if (config.Symbols != alphabet.Symbols)
                throw new UserError($"the checkpoint's alphabet \"{config.Symbols}\" differs from the data's \"{alphabet.Symbols}\"");
            int stepsPerEpoch = (train.Length + o.BatchSize - 1) / o.BatchSize;
            long totalSteps = TotalSteps(o, meta, stepsPerEpoch);
            AnsiConsole.MarkupLine($"[bold]data[/]: {Markup.Escape(source)}: {train.Length} train, {validation.Length} validation, {test.Length} test utterances; " +
                $"{alphabet.Count} classes (blank + \"{Markup.Escape(alphabet.Symbols)}\"); features {Corpus.Features.NumMels} log-mel x {o.Stack} stacked frames " +
                $"({total.Elapsed.TotalSeconds:F1} s)");

            var model = new SpeechModel(config, new Generator(o.Seed), o.Dropout);
            model.To(device);
            var optimizer = new Adam(model.Parameters(), o.Lr);
            if (o.Resume is not null)
            {
                Checkpoint.Load(model, o.Resume, optimizer);
                AnsiConsole.MarkupLine($"resumed from [bold]{Markup.Escape(o.Resume)}[/] at step {resumed!.GlobalStep} of {totalSteps} (epoch {resumed.Epoch + 1}, step {resumed.StepInEpoch} of it done)");
                ContinueMetrics(Path.Combine(o.Out, "metrics.csv"), resumed.GlobalStep);
            }
            else
            {
                // A fresh run: an earlier run's best checkpoint in the same folder must not stand in for this one's.
                string staleBest = Path.Combine(o.Out, "best.safetensors");
                if (File.Exists(staleBest)) File.Delete(staleBest);
            }
            AnsiConsole.MarkupLine($"[bold]model[/] on {device}: {config.Layers} x BiLSTM({config.InputSize} -> {config.Hidden}) -> Linear({2 * config.Hidden}, {config.Classes}) -> LogSoftmax -> CTC; " +
                $"{model.Parameters().Sum(p => (long)p.Numel):N0} parameters{(o.Dropout > 0 ? $", dropout {o.Dropout}" : "")}; Adam lr {o.Lr}, clip {o.ClipNorm}, batch {o.BatchSize}, " +
                $"{totalSteps} steps ({(double)totalSteps / stepsPerEpoch:F1} epochs of {stepsPerEpoch})");

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (cts.IsCancellationRequested) return; // a second Ctrl+C ends the program at once
                e.Cancel = true;
                cts.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            var trainer = new Trainer(o, model, device, train, validation);
            try { trainer.Run(resumed, optimizer, totalSteps, cts.Token); }
            finally { Console.CancelKeyPress -= onCancel; }
            Plots.Training(ReadAllRows(Path.Combine(o.Out, "metrics.csv"), trainer.Rows), o.Out);
            Plots.GradientFlow(trainer.Flow, Path.Combine(o.Out, "gradient_flow.png"));
            trainer.Flow.WriteCsv(trainer.FlowCsv);
            if (cts.IsCancellationRequested)
            {
                AnsiConsole.MarkupLine($"[yellow]interrupted[/]: checkpoint in {Markup.Escape(trainer.LastPath)}");
                return 130;
            }

            // The final evaluation uses best.safetensors, the best validation CER of the second half of the steps
            // (Trainer.IsBestCandidate), or the last weights when the run wrote none.
            string used = "the last weights";
            if (File.Exists(trainer.BestPath))
            {
                var bestMeta = Checkpoint.Load(model, trainer.BestPath);
                used = $"best.safetensors (step {bestMeta.GetValueOrDefault("global_step", "?")}, validation CER {100 * double.Parse(bestMeta.GetValueOrDefault("best_val_cer", "NaN"), CultureInfo.InvariantCulture):F2}%)";
            }
            AnsiConsole.MarkupLine($"evaluating {Markup.Escape(used)}");
            Report(model, test, o, device, "test");
            AnsiConsole.MarkupLine($"outputs in [bold]{Markup.Escape(Path.GetFullPath(o.Out))}[/]: last.safetensors, best.safetensors, metrics.csv, loss.png, val_cer.png, posteriors.png, gradient_flow.png (+ .csv); total time {total.Elapsed.TotalSeconds:F1} s");
            return 0;
        }

        /// <summary>--out must be a folder (or not exist yet), and one that can be made: checked before any data is loaded.</summary>
        static void CheckOut(Options o)
        {
            if (File.Exists(o.Out))
                throw new UserError($"--out '{o.Out}' is an existing file; expected a folder for the checkpoints, metrics and plots (an existing one or a new name)");
            try { Directory.CreateDirectory(o.Out); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
            {
                throw new UserError($"--out '{o.Out}' cannot be made a folder: {e.Message}");
            }
        }

        /// <summary>
        /// On --resume, the model shape and the run's settings come from the checkpoint; an option given on the command
        /// line that differs from it is an error (it would be silently ignored, or change the run half-way).
        /// </summary>
        static void AdoptSettings(Options o, Metadata meta, ModelConfig config)
        {
            string Contradiction(string option, string given, string key, string stored) =>
                $"{option} {given} contradicts the checkpoint '{o.Resume}', which has {key} = {stored}; leave {option} out when resuming (it comes from the checkpoint)";
            int PickInt(string option, int given, string key, int stored)
            {
                if (o.Given.Contains(option) && given != stored) throw new UserError(Contradiction(option, given.ToString(CultureInfo.InvariantCulture), key, stored.ToString(CultureInfo.InvariantCulture)));
                return stored;
            }
            double PickDouble(string option, double given, string key, double stored)
            {
                if (o.Given.Contains(option) && given != stored) throw new UserError(Contradiction(option, given.ToString("R", CultureInfo.InvariantCulture), key, stored.ToString("R", CultureInfo.InvariantCulture)));
                return stored;
            }
            o.Hidden = PickInt("--hidden", o.Hidden, "model.hidden", config.Hidden);
            o.Layers = PickInt("--layers", o.Layers, "model.layers", config.Layers);
            o.Stack = PickInt("--stack", o.Stack, "model.stack", config.Stack);
            // Older checkpoints lack these; the options then apply as given.
            if (meta.Has("batch_size")) o.BatchSize = PickInt("--batch-size", o.BatchSize, "batch_size", meta.Int("batch_size", 1, Options.MaxBatch));
            if (meta.Has("seed")) o.Seed = PickInt("--seed", o.Seed, "seed", meta.Int("seed", 0, int.MaxValue));
            if (meta.Has("lr")) o.Lr = PickDouble("--lr", o.Lr, "lr", meta.Double("lr", double.Epsilon, Options.MaxLr));
            if (meta.Has("clip")) o.ClipNorm = PickDouble("--clip", o.ClipNorm, "clip", meta.Double("clip", double.Epsilon, Options.MaxClip));
            // A checkpoint from before dropout was stored trained with the --dropout given then, 0 by default.
            if (meta.Has("dropout")) o.Dropout = PickDouble("--dropout", o.Dropout, "dropout", meta.Double("dropout", 0, Math.BitDecrement(1.0)));
            else if (!o.Given.Contains("--dropout")) o.Dropout = 0;
            if (o.Data is null && meta.Has("train_size")) o.TrainSize = PickInt("--train-size", o.TrainSize, "train_size", meta.Int("train_size", 1, Options.MaxSetSize));
            if (o.Data is null && meta.Has("val_size")) o.ValSize = PickInt("--val-size", o.ValSize, "val_size", meta.Int("val_size", 1, Options.MaxSetSize));
            if (meta.Has("total_steps") && o.Steps is { } steps && steps != meta.Long("total_steps", 1, long.MaxValue / 2))
                throw new UserError(Contradiction("--steps", steps.ToString(CultureInfo.InvariantCulture), "total_steps", meta.String("total_steps")));
        }

        /// <summary>The run's length in optimizer steps: the checkpoint's on --resume, else --steps, --epochs x steps per epoch, or the default.</summary>
        static long TotalSteps(Options o, Metadata? meta, int stepsPerEpoch)
        {
            if (meta is not null && meta.Has("total_steps"))
            {
                long stored = meta.Long("total_steps", 1, long.MaxValue / 2);
                if (o.Epochs is { } ep && (long)ep * stepsPerEpoch != stored)
                    throw new UserError($"--epochs {ep} ({(long)ep * stepsPerEpoch} steps of batch {o.BatchSize}) contradicts the checkpoint '{o.Resume}', which has total_steps = {stored}; leave --epochs out when resuming (it comes from the checkpoint)");
                return stored;
            }
            return o.Steps ?? (o.Epochs is { } e ? (long)e * stepsPerEpoch : o.DefaultSteps);
        }

        /// <summary>On resume: drops the metrics rows that a killed run logged after its last checkpoint.</summary>
        static void ContinueMetrics(string csv, long globalStep)
        {
            if (!File.Exists(csv)) return;
            var lines = File.ReadAllLines(csv);
            if (lines.Length == 0 || lines[0] != Trainer.CsvHeader) return;
            var keep = lines.Take(1).Concat(lines.Skip(1).Where(l =>
            {
                var p = l.Split(',');
                return p.Length >= 3 && long.TryParse(p[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out long g) && g <= globalStep;
            })).ToArray();
            if (keep.Length != lines.Length) File.WriteAllText(csv, string.Join("\n", keep) + "\n");
        }

        public static int Eval(Options o)
        {
            CheckOut(o);
            var device = ResolveDevice(o.Device);
            var model = LoadModel(o.Checkpoint!, device);
            o.Stack = model.Config.Stack;
            var known = model.Config.Alphabet;
            Example[] test;
            string source;
            if (o.Data is null)
            {
                (test, source) = (Corpus.Synthetic(Corpus.TestSeed, o.TestSize, Corpus.Digits, o.Stack), $"built-in synthetic digits (test seed {Corpus.TestSeed})");
                if (Alphabet.SplitSymbols(Corpus.Digits.Symbols).FirstOrDefault(r => !known.Contains(r)) is { Value: not 0 } missing)
                    throw new UserError($"the built-in data's alphabet \"{Corpus.Digits.Symbols}\" has the character {Alphabet.Describe(missing)}, which the checkpoint's \"{model.Config.Symbols}\" lacks; give the --data it was trained for");
            }
            else // only test.tsv, against the checkpoint's alphabet (train.tsv need not be there)
                (test, source) = (Corpus.Prepare(TsvDataset.LoadTest(o.Data, known).Select(e => (e.Wave, e.Transcript)).ToList(), known, o.Stack), Path.Combine(o.Data, "test.tsv"));
            AnsiConsole.MarkupLine($"[bold]data[/]: {Markup.Escape(source)}: {test.Length} test utterances");
            Report(model, test, o, device, "test");
            return 0;
        }

        /// <summary>
        /// Each file alone (no padding, no batchmates): greedy and beam transcripts. One file prints them on two lines;
        /// several print one line each, path, greedy and beam separated by tabs. Every file is read (and checked) before
        /// anything is printed, so a bad one stops the command with nothing half-written.
        /// </summary>
        public static int Transcribe(Options o, TextWriter output)
        {
            var device = ResolveDevice(o.Device);
            var model = LoadModel(o.Checkpoint!, device);
            var inputs = o.Wavs.Select(path =>
            {
                var (f, frames) = Corpus.Featurize(Wav.ReadMono(path, 16000), model.Config.Stack);
                return frames == 0 ? throw new UserError($"WAV file '{path}': no samples") : (Path: path, Features: f, Frames: frames);
            }).ToList();
            var alphabet = model.Config.Alphabet;
            model.Eval();
            foreach (var (path, f, frames) in inputs)
            {
                float[] lp;
                using (Torch.NoGrad())
                    lp = model.Forward(Torch.Tensor(f, frames, 1, model.Config.InputSize).To(device), [frames]).To(Device.Cpu).ToArray<float>();
                var greedy = alphabet.Decode(CtcDecoder.Greedy(lp, model.Config.Classes).Labels);
                var beam = CtcDecoder.BeamSearch(lp, model.Config.Classes, o.Beam);
                if (inputs.Count > 1) { output.WriteLine($"{path}\t{greedy}\t{alphabet.Decode(beam[0].Labels)}"); continue; }
                output.WriteLine($"greedy: {greedy}");
                output.WriteLine($"beam:   {alphabet.Decode(beam[0].Labels)}  (log p = {beam[0].LogProb:F3}, beam width {o.Beam})");
            }
            return 0;
        }

        /// <summary>Test-set CER and WER (greedy and beam), sample transcriptions, and the posterior plot.</summary>
        static void Report(SpeechModel model, Example[] test, Options o, Device device, string name)
        {
            var r = Trainer.Evaluate(model, test, o.BatchSize, device, o.Beam);
            var samples = new Table().Border(TableBorder.Rounded).Title($"[bold]sample {name} transcriptions[/]").AddColumns("reference", "greedy", $"beam ({o.Beam})");
            int step = Math.Max(1, r.Outputs.Count / 8);
            for (int i = 0; i < r.Outputs.Count && samples.Rows.Count < 8; i += step)
            {
                var d = r.Outputs[i];
                string Mark(string h) => h == d.Reference ? Markup.Escape(h) : $"[red]{Markup.Escape(h)}[/]";
                samples.AddRow(Markup.Escape(d.Reference), Mark(d.Greedy), Mark(d.Beam));
            }
            AnsiConsole.Write(samples);
            bool builtIn = o.Data is null;
            AnsiConsole.MarkupLine($"[bold]{name} CER[/]: greedy [bold]{100 * r.Cer:F2}%[/], beam {100 * r.BeamCer:F2}%   " +
                $"[bold]WER[/]: greedy {100 * r.Wer:F2}%, beam {100 * r.BeamWer:F2}%{(builtIn ? " (a digit string is one word, so WER is the utterance error rate)" : "")}   ({test.Length} utterances)");
            Console.WriteLine($"final {name} CER: {100 * r.Cer:F2}% (greedy), {100 * r.BeamCer:F2}% (beam {o.Beam})");

            // CTC posteriors of the first test utterance.
            Directory.CreateDirectory(o.Out);
            var first = test[0];
            float[] lp;
            model.Eval();
            using (Torch.NoGrad())
                lp = model.Forward(Torch.Tensor(first.Features, first.Frames, 1, model.Config.InputSize).To(device), [first.Frames]).To(Device.Cpu).ToArray<float>();
            model.Train();
            var alphabet = model.Config.Alphabet;
            var hyp = alphabet.Decode(CtcDecoder.Greedy(lp, model.Config.Classes).Labels);
            Plots.Posteriors(lp, model.Config.Classes, model.Config.Symbols, $"CTC posteriors: reference \"{first.Transcript}\", greedy \"{hyp}\"", Path.Combine(o.Out, "posteriors.png"));
        }

        internal static (Example[] Train, Example[] Validation, Example[] Test, Alphabet Alphabet, string Source) LoadData(Options o)
        {
            if (o.Data is null)
            {
                var a = Corpus.Digits;
                var test = Corpus.Synthetic(Corpus.TestSeed, o.TestSize, a, o.Stack);
                return (Corpus.Synthetic(Corpus.TrainSeed, o.TrainSize, a, o.Stack, Augmentation.From(o)), Corpus.Synthetic(Corpus.ValidationSeed, o.ValSize, a, o.Stack), test, a,
                    $"built-in synthetic digits (seeds {Corpus.TrainSeed}/{Corpus.ValidationSeed}/{Corpus.TestSeed})");
            }
            var data = TsvDataset.Load(o.Data);
            var alphabet = data.Alphabet;
            var testSet = Corpus.Prepare(data.Test.Select(e => (e.Wave, e.Transcript)).ToList(), alphabet, o.Stack);
            var all = Corpus.Prepare(data.Train.Select(e => (e.Wave, e.Transcript)).ToList(), alphabet, o.Stack, Augmentation.From(o));
            if (data.Train[0].Speaker is not null)
            {
                // Whole speakers, about a tenth of the utterances, so validation measures what test does: unseen voices.
                var (tr, va) = TsvDataset.SplitBySpeaker(data.Train.Select(e => e.Speaker!).ToList());
                if (va.Length > 0)
                {
                    int held = va.Select(i => data.Train[i].Speaker).Distinct().Count(), speakers = data.Train.Select(e => e.Speaker).Distinct().Count();
                    if (FewSpeakersNote(speakers, held) is { } note) AnsiConsole.MarkupLine($"[yellow]note[/]: {Markup.Escape(note)}");
                    return (tr.Select(i => all[i]).ToArray(), va.Select(i => all[i]).ToArray(), testSet, alphabet,
                        $"{o.Data} (validation: {held} held-out speaker{(held == 1 ? "" : "s")} of {speakers})");
                }
                AnsiConsole.MarkupLine("[yellow]note[/]: train.tsv names a single speaker, so no speaker can be held out; validation takes the last tenth of the lines");
            }
            // Validation: the last tenth of train.tsv when there is enough data, else the training set itself.
            int nVal = all.Length >= 20 ? all.Length / 10 : 0;
            var train = all[..^nVal];
            var val = nVal > 0 ? all[^nVal..] : all;
            return (train, val, testSet, alphabet, o.Data);
        }

        /// <summary>With fewer than 8 speakers, what holding some out for validation costs, and how to train on all of them
        /// (benchmarks/speech-voices, session 25: on its corpora of 4-7 voices, training on all of them gave the unseen voices
        /// 0.2-0.6 times the CER; with 10 voices no better); null with more speakers.</summary>
        internal static string? FewSpeakersNote(int speakers, int held) => speakers >= 8 ? null :
            $"validation holds out {held} of {speakers} speakers, leaving {speakers - held} to train on; with this few, each voice counts " +
            "(on corpora of 4-7 voices, training on all of them cut the unseen voices' CER by 40-80%: benchmarks/speech-voices). " +
            "To train on all of them, leave the speaker column out of train.tsv: validation then takes the last tenth of the lines, voices heard in training";

        internal static SpeechModel LoadModel(string path, Device device)
        {
            var config = ModelConfig.FromMetadata(ReadMetadata(path), path);
            var model = new SpeechModel(config);
            Checkpoint.Load(model, path);
            model.To(device);
            return model;
        }

        static IReadOnlyDictionary<string, string> ReadMetadata(string path)
        {
            if (!File.Exists(path)) throw new UserError(Directory.Exists(path) ? $"checkpoint '{path}' is a folder; expected a .safetensors file (e.g. OUT/best.safetensors)" : $"checkpoint '{path}' does not exist");
            try { return SafeTensors.ReadHeader(path).Metadata; }
            catch (CheckpointException e) { throw new UserError($"checkpoint '{path}' cannot be read: {e.Message}"); }
        }

        /// <summary>The metrics of the whole run: earlier sessions' rows from the CSV (on resume) and this session's.</summary>
        static List<Trainer.Row> ReadAllRows(string csv, List<Trainer.Row> current)
        {
            if (!File.Exists(csv)) return current;
            var rows = new List<Trainer.Row>();
            foreach (var line in File.ReadLines(csv).Skip(1))
            {
                var p = line.Split(',');
                if (p.Length < 7) continue;
                var inv = CultureInfo.InvariantCulture;
                if (!int.TryParse(p[0], inv, out int epoch) || !int.TryParse(p[1], inv, out int step) || !long.TryParse(p[2], inv, out long g)
                    || !double.TryParse(p[3], inv, out double loss) || !double.TryParse(p[4], inv, out double ups) || !double.TryParse(p[6], inv, out double el))
                    continue; // a line the user edited or a killed run cut short: left out of the plots
                double? val = double.TryParse(p[5], inv, out double v) ? v : null;
                rows.Add(new Trainer.Row(epoch, step, g, loss, ups, val, el));
            }
            return rows;
        }

        /// <summary>The device to run on: an unavailable one is an error, except that auto falls back to the CPU with a note.</summary>
        static Device ResolveDevice(string name)
        {
            bool auto = name.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase);
            Device d;
            try { d = Device.Parse(name); }
            catch (ArgumentException e) { throw new UserError($"--device: {e.Message}"); }
            try { _ = d.Backend; }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
            {
                if (!auto) throw new UserError($"--device {name}: {e.Message}");
                AnsiConsole.MarkupLine($"[yellow]note[/]: --device auto picked {d}, which cannot be used ({Markup.Escape(e.Message)}); falling back to cpu");
                return Device.Cpu;
            }
            if (auto) AnsiConsole.MarkupLine(d == Device.Cpu ? "[yellow]note[/]: --device auto found no GPU backend; using cpu" : $"--device auto: using {d}");
            return d;
        }
    }
}
