using System.Globalization;

namespace DigitClassifier;

/// <summary>Command-line settings; the defaults train in about a minute on 2 cores.</summary>
sealed class Options
{
    public string Out = "digitclassifier-out";
    public int Steps = 800;
    public int BatchSize = 32;
    public int Channels = 64;
    public int Hidden = 64;
    public double Lr = 3e-3;
    public double Clip = 5;
    public int Seed = 0;
    public int TrainSize = 3000;
    public int ValSize = 200;
    public int TestSize = 500;
    public int EvalEvery = 100;
    public double MinSnrDb = 0, MaxSnrDb = 20;
    public bool Help;

    public const string Usage = """
        Spoken-digit classifier: log-mel features of one synthetic spoken digit -> Conv1d -> ReLU -> GRU -> mean over
        the utterance's frames -> Linear -> CrossEntropyLoss over the 10 digits; prints the test accuracy and the
        confusion matrix, and writes it as OUT/confusion.png.

        usage:
          DigitClassifier [options]

        options:
          --out DIR           confusion.png, metrics.csv and model.safetensors (default digitclassifier-out)
          --steps N           optimizer steps (default 800)
          --batch-size N      utterances per step (default 32)
          --channels N        Conv1d output channels (default 64)
          --hidden N          GRU hidden size (default 64)
          --lr X              Adam learning rate, cosine-annealed to X/20 (default 0.003)
          --clip X            gradient norm clip (default 5)
          --seed N            model initialization and shuffling (default 0)
          --train-size N, --val-size N, --test-size N   synthetic utterances per set (default 3000, 200, 500)
          --eval-every N      validation accuracy every N steps (default 100)
          --min-snr DB, --max-snr DB   background noise: each utterance at an SNR drawn from this range
                              (default 0 to 20 dB; the speech example's corpus uses 10 to 30)
        """;

    /// <summary>Parses args; throws ArgumentException with a message for the user on anything unknown or malformed.</summary>
    public static Options Parse(string[] args)
    {
        var o = new Options();
        var given = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") { o.Help = true; return o; }
            if (!a.StartsWith("--")) throw new ArgumentException($"unexpected argument '{a}'");
            if (!given.Add(a)) throw new ArgumentException($"{a} is given twice");
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int(int min, int max) => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
                : throw new ArgumentException($"{a} expects an integer in {min}..{max}, got '{args[i]}'");
            double Num(double max) => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v <= max ? v
                : throw new ArgumentException($"{a} expects a number in (0, {max.ToString(CultureInfo.InvariantCulture)}], got '{args[i]}'");
            double Db() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= -30 && v <= 100 ? v
                : throw new ArgumentException($"{a} expects a number of decibels in -30..100, got '{args[i]}'");
            switch (a)
            {
                case "--out":
                    o.Out = Value();
                    if (o.Out.Length == 0) throw new ArgumentException("--out expects a folder name");
                    break;
                case "--steps": o.Steps = Int(1, 10_000_000); break;
                case "--batch-size": o.BatchSize = Int(1, 100_000); break;
                case "--channels": o.Channels = Int(1, 4096); break;
                case "--hidden": o.Hidden = Int(1, 4096); break;
                case "--lr": o.Lr = Num(1); break;
                case "--clip": o.Clip = Num(1e6); break;
                case "--seed": o.Seed = Int(0, int.MaxValue); break;
                case "--train-size": o.TrainSize = Int(1, 1_000_000); break;
                case "--val-size": o.ValSize = Int(1, 1_000_000); break;
                case "--test-size": o.TestSize = Int(1, 1_000_000); break;
                case "--eval-every": o.EvalEvery = Int(1, int.MaxValue); break;
                case "--min-snr": o.MinSnrDb = Db(); break;
                case "--max-snr": o.MaxSnrDb = Db(); break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        if (o.MinSnrDb > o.MaxSnrDb)
            throw new ArgumentException($"--min-snr {o.MinSnrDb.ToString(CultureInfo.InvariantCulture)} is above --max-snr {o.MaxSnrDb.ToString(CultureInfo.InvariantCulture)}");
        return o;
    }
}
