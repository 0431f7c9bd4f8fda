using System.Globalization;

namespace CharRnn;

/// <summary>Command-line settings; the defaults train on the built-in text in about a minute on 2 cores.</summary>
sealed class Options
{
    public string Command = "train";
    public string? Text;                // a UTF-8 text file; null: the built-in data/coriolanus.txt
    public string? Out;                 // checkpoint and metrics.csv go here when given
    public string Cell = "gru";
    public int Hidden = 256;
    public int Layers = 1;
    public int Embed = 32;
    public int Steps = 800;
    public int SeqLen = 64;
    public int BatchSize = 32;
    public double Lr = 3e-3;
    public double Clip = 5;
    public int Seed = 0;
    public double Temperature = 0.8;
    public int SampleEvery = 200;
    public int SampleLength = 240;
    public double ValFraction = 0.1;
    public string? Checkpoint;          // sample: the model to sample from
    public string? Prime;               // sample: text fed to the model before it starts writing (null: a newline, see SampleCommand)

    public const int MaxHidden = 4096, MaxLayers = 8, MaxEmbed = 4096;

    public const string Usage = """
        Character-level language model: Embedding -> GRU or LSTM -> Linear -> CrossEntropyLoss over the characters,
        trained by truncated backpropagation through time; prints samples as it learns and the validation bits per char.

        usage:
          CharRnn [train] [options]              train (the default) on the built-in text or --text FILE
          CharRnn sample --checkpoint FILE [--length N] [--temperature T] [--seed N] [--prime TEXT]

        options:
          --text FILE         a UTF-8 text to learn (default: the built-in data/coriolanus.txt, 154 KB)
          --cell gru|lstm     the recurrent layer (default gru)
          --hidden N          hidden size (default 256)      --layers N   recurrent layers (default 1)
          --embed N           character embedding size (default 32)
          --steps N           optimizer steps (default 800)
          --seq-len N         characters per truncated-BPTT chunk (default 64)
          --batch-size N      parallel streams through the text (default 32)
          --lr X              Adam learning rate, cosine-annealed to X/10 (default 0.003)
          --clip X            gradient norm clip (default 5)
          --seed N            initialization and sampling (default 0); the same seed gives the same run
          --temperature T     sampling temperature in (0, 10]: low is safe and repetitive, high is wild (default 0.8)
          --sample-every N    print validation bits/char and a sample every N steps (default 200)
          --length N          characters per sample (default 240)
          --val-fraction X    the text's tail held out for validation, in (0, 0.5] (default 0.1)
          --out DIR           write DIR/char_rnn.safetensors (the model) and DIR/metrics.csv
          --checkpoint FILE   (sample) a checkpoint written by --out
          --prime TEXT        (sample) text the model reads before it writes (default: a newline, or the model's
                              first character if its text had none)
        """;

    /// <summary>Parses args; throws ArgumentException with a message for the user on anything unknown or malformed.</summary>
    public static Options Parse(string[] args)
    {
        var o = new Options();
        var given = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            o.Command = args[0] switch
            {
                "train" or "sample" => args[0],
                _ => throw new ArgumentException($"unknown command '{args[0]}'; expected train or sample"),
            };
            i = 1;
        }
        for (; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") { o.Command = "help"; return o; }
            if (!a.StartsWith("--")) throw new ArgumentException($"unexpected argument '{a}'");
            if (!given.Add(a)) throw new ArgumentException($"{a} is given twice");
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int(int min, int max) => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
                : throw new ArgumentException($"{a} expects an integer in {min}..{max}, got '{args[i]}'");
            double Num(double max, bool inclusive = true) => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                && v > 0 && (inclusive ? v <= max : v < max) ? v
                : throw new ArgumentException($"{a} expects a number in (0, {max.ToString(CultureInfo.InvariantCulture)}{(inclusive ? "]" : ")")}, got '{args[i]}'");
            switch (a)
            {
                case "--text": o.Text = Value(); break;
                case "--out": o.Out = Value() is { } dir && dir.Trim().Length > 0 ? dir : throw new ArgumentException("--out expects a folder name, got an empty name"); break;
                case "--cell":
                    o.Cell = Value() switch
                    {
                        "gru" => "gru",
                        "lstm" => "lstm",
                        var c => throw new ArgumentException($"--cell expects gru or lstm, got '{c}'"),
                    };
                    break;
                case "--hidden": o.Hidden = Int(1, MaxHidden); break;
                case "--layers": o.Layers = Int(1, MaxLayers); break;
                case "--embed": o.Embed = Int(1, MaxEmbed); break;
                case "--steps": o.Steps = Int(1, 10_000_000); break;
                case "--seq-len": o.SeqLen = Int(1, 100_000); break;
                case "--batch-size": o.BatchSize = Int(1, 100_000); break;
                case "--lr": o.Lr = Num(1); break;
                case "--clip": o.Clip = Num(1e6); break;
                case "--seed": o.Seed = Int(0, int.MaxValue); break;
                case "--temperature": o.Temperature = Num(10); break;
                case "--sample-every": o.SampleEvery = Int(1, int.MaxValue); break;
                case "--length": o.SampleLength = Int(1, 1_000_000); break;
                case "--val-fraction": o.ValFraction = Num(0.5); break;
                case "--checkpoint": o.Checkpoint = Value(); break;
                case "--prime":
                    o.Prime = Value();
                    if (o.Prime!.Length == 0) throw new ArgumentException("--prime expects at least one character");
                    break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        string[] trainOnly = ["--text", "--out", "--cell", "--hidden", "--layers", "--embed", "--steps", "--seq-len", "--batch-size", "--lr",
            "--clip", "--sample-every", "--val-fraction"];
        if (o.Command == "sample")
        {
            if (o.Checkpoint is null) throw new ArgumentException("sample needs --checkpoint FILE");
            if (trainOnly.FirstOrDefault(given.Contains) is { } t) throw new ArgumentException($"{t} is a training option; sample takes --checkpoint, --length, --temperature, --seed and --prime");
        }
        else
        {
            if (o.Checkpoint is not null) throw new ArgumentException("--checkpoint is for the sample command (CharRnn sample --checkpoint FILE)");
            if (given.Contains("--prime")) throw new ArgumentException("--prime is for the sample command; training samples start from a newline");
        }
        return o;
    }
}
