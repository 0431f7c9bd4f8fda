using System.Globalization;

namespace SpeechCtc;

/// <summary>Command-line settings of the three subcommands; the defaults train the built-in model in a few minutes on 2 cores.</summary>
sealed class Options
{
    public string Command = "train";
    public string? Data;                 // a folder with train.tsv and test.tsv; null: the built-in synthetic digits
    public string Out = "speechctc-out";
    public int Layers = 1;              // 2 with --data (see Parse)
    public int Hidden = 96;
    public int? Epochs;                 // train for this many epochs instead of the default number of steps
    public long? Steps;                 // train for this many optimizer steps (default DefaultSteps)
    // Two recipes. The built-in data: 1 layer, 1,000 steps, 3 frames per step, no augmentation, no dropout (<= 1% test CER
    // in well under a minute). Recordings (--data): 2 layers, 6,000 steps of 4 frames (40 ms), augmentation, dropout
    // 0.3: on unseen voices 2 layers beat 1 layer at 3,000 steps, 3,000 steps of 4 frames take about the time of 2,000 of
    // 3 and did better on the voices furthest off, dropout (0.15, then 0.3) did no worse on any corpus and narrowed
    // the spread over seeds, and with dropout 4,500 and then 6,000 steps did better than 3,000 on every corpus (2.7-3.9
    // of the 5 minutes on 1,000-utterance corpora with batches padded to 8 steps; measured, README and
    // benchmarks/speech-voices).
    public long DefaultSteps => Data is null ? 1000 : 6000;
    public int BatchSize = 32;
    public double Dropout;              // between the LSTM layers and before the output layer, training only (0; 0.3 with --data)
    public double Lr = 3e-3;
    public double ClipNorm = 5;
    public int Seed = 0;
    public string Device = "cpu";
    public string? Resume;
    public string? Checkpoint;
    public readonly List<string> Wavs = [];   // transcribe's files
    public int Beam = 8;
    public int Stack = 3;               // frames stacked (and subsampled) into one model step; 4 with --data (see Parse)
    public int TrainSize = 3000;        // built-in data only
    public int ValSize = 200;
    public int TestSize = 500;
    public double TimeBudget = 300;     // seconds of training in this run before stopping early (a safety net on slow machines: the 5 minutes of issue 13)
    public bool? Augment;               // null: on for --data, off for the built-in data (which varies its voices itself)
    public double[] Speeds = [0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15];
    public double PadSilence = 1;       // seconds of digital silence, at most, before and after half the views (0 = off)
    public (double Lo, double Hi)? NoiseSnr = (20, 60); // white noise on half the views, at an SNR in Lo..Hi dB (null = off)
    public int TimeMask = 20, FreqMask = 8, Masks = 2;
    public double Vtlp;                // VTLP warp factors in [1 - Vtlp, 1 + Vtlp], one per view (0 = off, the default)
    public bool AugmentOn => Augment ?? Data is not null;

    /// <summary>The options given on the command line (e.g. "--hidden"), to tell them from defaults on --resume.</summary>
    public readonly HashSet<string> Given = new(StringComparer.Ordinal);

    public const string Usage = """
        Toy speech recognizer: bidirectional LSTM + CTC on log-mel features.

        usage:
          SpeechCtc [train] [options]                 train (the default), then evaluate on the test set
          SpeechCtc eval --checkpoint FILE [--data DIR] [--out DIR] [--device D] [--beam N] [--batch-size N] [--test-size N]
                                                      CER and WER of a checkpoint on the test set
          SpeechCtc transcribe --checkpoint FILE FILE.wav... [--beam N] [--device D]
                                                      greedy and beam transcript of each file (several files:
                                                      one line each, path<TAB>greedy<TAB>beam)

        options:
          --data DIR          train.tsv / test.tsv ("relative/path.wav<TAB>transcript[<TAB>speaker]"; with speakers,
                              validation holds out whole speakers); default: built-in synthetic digits
          --out DIR           checkpoints, metrics.csv and plots (default speechctc-out)
          --layers N          LSTM layers (default 1; 2 with --data) --hidden N  hidden size per direction (default 96)
          --steps N           optimizer steps to train (default 1000; 6000 with --data; any corpus size)
          --epochs N          train N passes over the data instead (not with --steps)
          --batch-size N      (default 32)
          --dropout P         dropout between the LSTM layers and before the output layer (default 0; 0.3 with --data)
          --lr X              Adam learning rate (default 0.003) --clip X      gradient norm clip (default 5)
          --seed N            model initialization and shuffling (default 0)
          --device D          cpu | cuda | opencl | ilgpu-cpu | auto (default cpu)
          --resume FILE       continue training from a checkpoint (OUT/last.safetensors); model and schedule
                              options come from it, and giving one that differs is an error
          --beam N            beam width of the prefix beam search (default 8, at most 1000)
          --stack N           feature frames stacked into one model step (default 3; 4 with --data)
          --train-size N, --val-size N, --test-size N   sizes of the built-in sets (3000, 200, 500)
          --time-budget SEC   stop this run's training early after this many seconds (default 300)

        augmentation of the training utterances (on by default with --data, off for the built-in data):
          --augment / --no-augment   turn it on or off
          --speed-perturb LIST  speed factors, each utterance a view per factor (default 0.85,0.9,...,1.15; 1 = off)
          --time-mask N       SpecAugment: mask spans of up to N-1 frames (default 20; 0 = off)
          --freq-mask N       SpecAugment: mask bands of up to N-1 mel channels (default 8; 0 = off)
          --masks N           masks of each kind per utterance (default 2, at most 100)
          --pad-silence SEC   pad half the views with 0..SEC s of digital silence before and after (each drawn
                              apart; SEC in 0..10, default 1; 0 = off)
          --noise-snr LO..HI  add white noise to half the views at an SNR drawn from LO..HI dB (in -30..100;
                              a single DB for one level; default 20..60; none = off)
          --vtlp W            warp each view's mel filterbank by its own random factor in 1-W..1+W (vocal tract
                              length perturbation, e.g. 0.1; default 0 = off)
        """;

    // Bounds of the options, shared with the checks of a checkpoint's metadata (Program.AdoptSettings).
    public const int MaxBatch = 1_000_000, MaxSetSize = 100_000_000, MaxBeam = 1000;
    public const double MaxLr = 1e6, MaxClip = 1e12;

    static readonly HashSet<string> EvalOptions = ["--checkpoint", "--data", "--out", "--device", "--beam", "--batch-size", "--test-size"];
    static readonly HashSet<string> TranscribeOptions = ["--checkpoint", "--device", "--beam"];
    static readonly HashSet<string> AugmentationOptions = ["--speed-perturb", "--time-mask", "--freq-mask", "--masks", "--pad-silence", "--noise-snr", "--vtlp"];

    static double[] SpeedList(string option, string v)
    {
        var parts = v.Split(',', StringSplitOptions.TrimEntries);
        var speeds = new double[parts.Length];
        for (int k = 0; k < parts.Length; k++)
            if (!double.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out speeds[k]) || !(speeds[k] >= 0.5 && speeds[k] <= 2))
                throw new ArgumentException($"{option} expects comma-separated speed factors in 0.5..2, got '{parts[k]}' in '{v}'");
        return speeds;
    }

    // "none", one level "DB" or a range "LO..HI", in -30..100 dB.
    static (double, double)? SnrRange(string option, string v)
    {
        if (v == "none") return null;
        var parts = v.Split("..");
        var dbs = new double[parts.Length];
        for (int k = 0; k < parts.Length; k++)
            if (parts.Length > 2 || !double.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out dbs[k]) || !(dbs[k] >= -30 && dbs[k] <= 100))
                throw new ArgumentException($"{option} expects signal-to-noise ratios in -30..100 dB as LO..HI or DB, or none, got '{v}'");
        return dbs.Length == 1 ? (dbs[0], dbs[0])
            : dbs[0] <= dbs[1] ? (dbs[0], dbs[1]) : throw new ArgumentException($"{option} expects LO..HI with LO <= HI, got '{v}'");
    }

    /// <summary>Parses args; throws ArgumentException with a message for the user on anything unknown or malformed.</summary>
    public static Options Parse(string[] args)
    {
        var o = new Options();
        int i = 0;
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            o.Command = args[0] switch
            {
                "train" or "eval" or "transcribe" => args[0],
                _ => throw new ArgumentException($"unknown command '{args[0]}'; expected train, eval or transcribe"),
            };
            i = 1;
        }
        for (; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") { o.Command = "help"; return o; }
            if (!a.StartsWith("--"))
            {
                if (o.Command == "transcribe") { o.Wavs.Add(a); continue; }
                throw new ArgumentException($"unexpected argument '{a}'");
            }
            if (!o.Given.Add(a)) throw new ArgumentException($"{a} is given twice");
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            string Name(string what) => Value() is { } v && v.Trim().Length > 0 ? v : throw new ArgumentException($"{a} expects {what}, got an empty name");
            // The upper bounds are those a checkpoint's metadata is checked against (SpeechModel.FromMetadata, AdoptSettings),
            // so that every run this accepts can be evaluated and resumed, and none asks for unbounded time or memory.
            int Int(int min, int max) => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
                : throw new ArgumentException($"{a} expects an integer in {min}..{max}, got '{args[i]}'");
            double Num(double max) => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v <= max ? v
                : throw new ArgumentException($"{a} expects a positive number up to {max:G}, got '{args[i]}'");
            switch (a)
            {
                case "--data": o.Data = Name("a folder with train.tsv and test.tsv"); break;
                case "--out": o.Out = Name("a folder name"); break;
                case "--layers": o.Layers = Int(1, ModelConfig.MaxLayers); break;
                case "--hidden": o.Hidden = Int(1, ModelConfig.MaxHidden); break;
                case "--epochs": o.Epochs = Int(1, 1_000_000); break;
                case "--steps": o.Steps = Int(1, 1_000_000_000); break;
                case "--batch-size": o.BatchSize = Int(1, MaxBatch); break;
                case "--dropout":
                    o.Dropout = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double dp) && dp >= 0 && dp < 1 ? dp
                        : throw new ArgumentException($"{a} expects a probability in [0, 1), got '{args[i]}'");
                    break;
                case "--lr": o.Lr = Num(MaxLr); break;
                case "--clip": o.ClipNorm = Num(MaxClip); break;
                case "--seed": o.Seed = Int(0, int.MaxValue); break;
                case "--device": o.Device = Value(); break;
                case "--resume": o.Resume = Name("a checkpoint file"); break;
                case "--checkpoint": o.Checkpoint = Name("a checkpoint file"); break;
                case "--beam": o.Beam = Int(1, MaxBeam); break;
                case "--stack": o.Stack = Int(1, ModelConfig.MaxStack); break;
                case "--train-size": o.TrainSize = Int(1, MaxSetSize); break;
                case "--val-size": o.ValSize = Int(1, MaxSetSize); break;
                case "--test-size": o.TestSize = Int(1, MaxSetSize); break;
                case "--time-budget": o.TimeBudget = Num(1e9); break;
                case "--augment": o.Augment = true; break;
                case "--no-augment": o.Augment = false; break;
                case "--speed-perturb": o.Speeds = SpeedList(a, Value()); break;
                case "--time-mask": o.TimeMask = Int(0, 100_000); break;
                case "--freq-mask": o.FreqMask = Int(0, 100_000); break;
                case "--masks": o.Masks = Int(0, 100); break;
                case "--vtlp":
                    o.Vtlp = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double vw) && vw >= 0 && vw <= 0.5 ? vw
                        : throw new ArgumentException($"{a} expects a warp width in 0..0.5 (factors 1-W..1+W), got '{args[i]}'");
                    break;
                case "--noise-snr": o.NoiseSnr = SnrRange(a, Value()); break;
                case "--pad-silence":
                    o.PadSilence = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double pad) && pad >= 0 && pad <= 10 ? pad
                        : throw new ArgumentException($"{a} expects seconds in 0..10, got '{args[i]}'");
                    break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        // An option the command does not use is a mistake (e.g. --checkpoint for --resume), not something to ignore.
        var allowed = o.Command switch
        {
            "eval" => EvalOptions,
            "transcribe" => TranscribeOptions,
            _ => null,
        };
        if (allowed is not null && o.Given.FirstOrDefault(g => !allowed.Contains(g)) is { } stray)
            throw new ArgumentException($"{stray} does not apply to {o.Command}, which takes {string.Join(", ", allowed)}");
        if (o.Command == "train" && o.Given.Contains("--checkpoint"))
            throw new ArgumentException("--checkpoint is for eval and transcribe; to continue training from a checkpoint, give --resume FILE");
        if (o.Data is not null && !o.Given.Contains("--layers")) o.Layers = 2;
        if (o.Data is not null && !o.Given.Contains("--stack")) o.Stack = 4;
        if (o.Data is not null && !o.Given.Contains("--dropout")) o.Dropout = 0.3;
        if (o.Given.Contains("--augment") && o.Given.Contains("--no-augment"))
            throw new ArgumentException("--augment and --no-augment contradict each other; give one of them");
        if (!o.AugmentOn && o.Given.FirstOrDefault(AugmentationOptions.Contains) is { } unused)
            throw new ArgumentException(o.Augment == false ? $"{unused} sets up augmentation, which --no-augment turns off; give one of them"
                : $"{unused} sets up augmentation, which is off for the built-in data (it varies its voices itself); add --augment to use it");
        if (o.Steps is not null && o.Epochs is not null)
            throw new ArgumentException($"--steps {o.Steps} and --epochs {o.Epochs} both set the training length; give one of them");
        if (o.Command is "eval" or "transcribe" && o.Checkpoint is null) throw new ArgumentException($"{o.Command} needs --checkpoint FILE");
        if (o.Command == "transcribe" && o.Wavs.Count == 0) throw new ArgumentException("transcribe needs a FILE.wav");
        return o;
    }
}
