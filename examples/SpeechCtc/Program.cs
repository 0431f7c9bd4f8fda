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

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
Options o;
try { o = Options.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n");
    Console.Error.WriteLine(Options.Usage);
    return 2;
}
if (o.Command == "help") { Console.WriteLine(Options.Usage); return 0; }

try
{
    return o.Command switch
    {
        "eval" => App.Eval(o),
        "transcribe" => App.Transcribe(o),
        _ => App.Train(o),
    };
}
catch (Exception e) when (e is DatasetException or WavFormatException or CheckpointException or FileNotFoundException or DirectoryNotFoundException or UserError)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

namespace SpeechCtc
{
    /// <summary>A problem with the user's input, reported without a stack trace.</summary>
    sealed class UserError(string message) : Exception(message);

    static class App
    {
        public static int Train(Options o)
        {
            var total = Stopwatch.StartNew();
            var device = ResolveDevice(o.Device);
            IReadOnlyDictionary<string, string>? resumed = null;
            ModelConfig? config = null;
            if (o.Resume is not null)
            {
                resumed = ReadMetadata(o.Resume);
                config = ModelConfig.FromMetadata(resumed, o.Resume);
                if (config.Stack != o.Stack) o.Stack = config.Stack;
            }

            // Data: everything is loaded and checked before training starts.
            var (train, validation, test, alphabet, source) = LoadData(o);
            config ??= new ModelConfig(Corpus.FeatureDim(o.Stack), o.Hidden, o.Layers, o.Stack, alphabet.Symbols);
            if (config.Symbols != alphabet.Symbols)
                throw new UserError($"the checkpoint's alphabet \"{config.Symbols}\" differs from the data's \"{alphabet.Symbols}\"");
            AnsiConsole.MarkupLine($"[bold]data[/]: {Markup.Escape(source)}: {train.Length} train, {validation.Length} validation, {test.Length} test utterances; " +
                $"{alphabet.Count} classes (blank + \"{Markup.Escape(alphabet.Symbols)}\"); features {Corpus.Features.NumMels} log-mel x {o.Stack} stacked frames " +
                $"({total.Elapsed.TotalSeconds:F1} s)");

            var model = new SpeechModel(config, new Generator(o.Seed));
            model.To(device);
            var optimizer = new Adam(model.Parameters(), o.Lr);
            if (o.Resume is not null)
            {
                Checkpoint.Load(model, o.Resume, optimizer);
                AnsiConsole.MarkupLine($"resumed from [bold]{Markup.Escape(o.Resume)}[/] after epoch {resumed!["epoch"]}, step {resumed["step_in_epoch"]} of the next");
            }
            AnsiConsole.MarkupLine($"[bold]model[/] on {device}: {config.Layers} x BiLSTM({config.InputSize} -> {config.Hidden}) -> Linear({2 * config.Hidden}, {config.Classes}) -> LogSoftmax -> CTC; " +
                $"{model.Parameters().Sum(p => (long)p.Numel):N0} parameters; Adam lr {o.Lr}, clip {o.ClipNorm}, batch {o.BatchSize}, {o.Epochs} epochs");

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (cts.IsCancellationRequested) return; // a second Ctrl+C ends the program at once
                e.Cancel = true;
                cts.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            var trainer = new Trainer(o, model, device, train, validation);
            try { trainer.Run(resumed, optimizer, cts.Token); }
            finally { Console.CancelKeyPress -= onCancel; }
            Plots.Training(ReadAllRows(Path.Combine(o.Out, "metrics.csv"), trainer.Rows), o.Out);
            Plots.GradientFlow(trainer.Flow, Path.Combine(o.Out, "gradient_flow.png"));
            trainer.Flow.WriteCsv(Path.Combine(o.Out, "gradient_flow.csv"));
            if (cts.IsCancellationRequested)
            {
                AnsiConsole.MarkupLine($"[yellow]interrupted[/]: checkpoint in {Markup.Escape(Path.Combine(o.Out, "last.safetensors"))}");
                return 130;
            }

            Report(model, test, o, device, "test");
            AnsiConsole.MarkupLine($"outputs in [bold]{Markup.Escape(Path.GetFullPath(o.Out))}[/]: last.safetensors, metrics.csv, loss.png, val_cer.png, posteriors.png, gradient_flow.png (+ .csv); total time {total.Elapsed.TotalSeconds:F1} s");
            return 0;
        }

        public static int Eval(Options o)
        {
            var device = ResolveDevice(o.Device);
            var model = LoadModel(o.Checkpoint!, device);
            o.Stack = model.Config.Stack;
            var (_, _, test, alphabet, source) = LoadData(o, testOnly: true);
            if (alphabet.Symbols.Any(c => !model.Config.Symbols.Contains(c)))
                throw new UserError($"the data's alphabet \"{alphabet.Symbols}\" has characters the checkpoint's \"{model.Config.Symbols}\" lacks");
            AnsiConsole.MarkupLine($"[bold]data[/]: {Markup.Escape(source)}: {test.Length} test utterances");
            Report(model, test, o, device, "test");
            return 0;
        }

        public static int Transcribe(Options o)
        {
            var device = ResolveDevice(o.Device);
            var model = LoadModel(o.Checkpoint!, device);
            var wave = Wav.ReadMono(o.Wav!, 16000);
            var (f, frames) = Corpus.Featurize(wave, model.Config.Stack);
            var alphabet = new Alphabet(model.Config.Symbols);
            float[] lp;
            model.Eval();
            using (Torch.NoGrad())
                lp = model.Forward(Torch.Tensor(f, frames, 1, model.Config.InputSize).To(device)).To(Device.Cpu).ToArray<float>();
            var greedy = alphabet.Decode(CtcDecoder.Greedy(lp, model.Config.Classes).Labels);
            var beam = CtcDecoder.BeamSearch(lp, model.Config.Classes, o.Beam);
            Console.WriteLine($"greedy: {greedy}");
            Console.WriteLine($"beam:   {alphabet.Decode(beam[0].Labels)}  (log p = {beam[0].LogProb:F3}, beam width {o.Beam})");
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
                lp = model.Forward(Torch.Tensor(first.Features, first.Frames, 1, model.Config.InputSize).To(device)).To(Device.Cpu).ToArray<float>();
            model.Train();
            var alphabet = new Alphabet(model.Config.Symbols);
            var hyp = alphabet.Decode(CtcDecoder.Greedy(lp, model.Config.Classes).Labels);
            Plots.Posteriors(lp, model.Config.Classes, model.Config.Symbols, $"CTC posteriors: reference \"{first.Transcript}\", greedy \"{hyp}\"", Path.Combine(o.Out, "posteriors.png"));
        }

        static (Example[] Train, Example[] Validation, Example[] Test, Alphabet Alphabet, string Source) LoadData(Options o, bool testOnly = false)
        {
            if (o.Data is null)
            {
                var a = Corpus.Digits;
                var test = Corpus.Synthetic(Corpus.TestSeed, o.TestSize, a, o.Stack);
                if (testOnly) return ([], [], test, a, $"built-in synthetic digits (test seed {Corpus.TestSeed})");
                return (Corpus.Synthetic(Corpus.TrainSeed, o.TrainSize, a, o.Stack), Corpus.Synthetic(Corpus.ValidationSeed, o.ValSize, a, o.Stack), test, a,
                    $"built-in synthetic digits (seeds {Corpus.TrainSeed}/{Corpus.ValidationSeed}/{Corpus.TestSeed})");
            }
            var data = TsvDataset.Load(o.Data);
            var alphabet = data.Alphabet;
            var testSet = Corpus.Prepare(data.Test.Select(e => (e.Wave, e.Transcript)).ToList(), alphabet, o.Stack);
            if (testOnly) return ([], [], testSet, alphabet, o.Data);
            var all = Corpus.Prepare(data.Train.Select(e => (e.Wave, e.Transcript)).ToList(), alphabet, o.Stack);
            // Validation: the last tenth of train.tsv when there is enough data, else the training set itself.
            int nVal = all.Length >= 20 ? all.Length / 10 : 0;
            var train = all[..^nVal];
            var val = nVal > 0 ? all[^nVal..] : all;
            return (train, val, testSet, alphabet, o.Data);
        }

        static SpeechModel LoadModel(string path, Device device)
        {
            var config = ModelConfig.FromMetadata(ReadMetadata(path), path);
            var model = new SpeechModel(config);
            Checkpoint.Load(model, path);
            model.To(device);
            return model;
        }

        static IReadOnlyDictionary<string, string> ReadMetadata(string path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist", path);
            return SafeTensors.ReadHeader(path).Metadata;
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
                double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
                rows.Add(new Trainer.Row(int.Parse(p[0], CultureInfo.InvariantCulture), int.Parse(p[1], CultureInfo.InvariantCulture), long.Parse(p[2], CultureInfo.InvariantCulture),
                    D(p[3]), D(p[4]), p[5].Length == 0 ? null : D(p[5]), D(p[6])));
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
