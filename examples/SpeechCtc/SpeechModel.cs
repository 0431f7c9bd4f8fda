using System.Globalization;
using MiniGrad;
using MiniGrad.Nn;

namespace SpeechCtc;

/// <summary>The shape of a model, stored in checkpoints so that eval and transcribe can rebuild it.</summary>
sealed record ModelConfig(int InputSize, int Hidden, int Layers, int Stack, string Symbols)
{
    public int Classes => Alphabet.Count;

    public MiniGrad.Nn.Data.Alphabet Alphabet => new(Symbols);

    public const int MaxHidden = 4096, MaxLayers = 16, MaxStack = 32;

    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model.input_size"] = InputSize.ToString(CultureInfo.InvariantCulture),
        ["model.hidden"] = Hidden.ToString(CultureInfo.InvariantCulture),
        ["model.layers"] = Layers.ToString(CultureInfo.InvariantCulture),
        ["model.stack"] = Stack.ToString(CultureInfo.InvariantCulture),
        ["model.symbols"] = Symbols,
    };

    /// <summary>The model shape stored in a checkpoint; every missing, malformed or out-of-range value is a UserError naming the key.</summary>
    public static ModelConfig FromMetadata(IReadOnlyDictionary<string, string> m, string path)
    {
        var meta = new Metadata(m, path);
        int stack = meta.Int("model.stack", 1, MaxStack);
        int input = meta.Int("model.input_size", 1, 1_000_000);
        if (input != Corpus.FeatureDim(stack))
            throw new UserError($"checkpoint '{path}': metadata 'model.input_size' = '{input}' does not match 'model.stack' = '{stack}'; expected {Corpus.FeatureDim(stack)} ({Corpus.Features.NumMels} log-mel bands x {stack} stacked frames)");
        int hidden = meta.Int("model.hidden", 1, MaxHidden), layers = meta.Int("model.layers", 1, MaxLayers);
        string symbols = meta.String("model.symbols");
        try { _ = new MiniGrad.Nn.Data.Alphabet(symbols); }
        catch (ArgumentException e) { throw new UserError($"checkpoint '{path}': metadata 'model.symbols' is not a usable alphabet: {e.Message}"); }
        return new ModelConfig(input, hidden, layers, stack, symbols);
    }
}

/// <summary>Reads typed values from a checkpoint's metadata; a missing or bad value is a UserError naming the file, key and value.</summary>
sealed class Metadata(IReadOnlyDictionary<string, string> m, string path)
{
    public bool Has(string key) => m.ContainsKey(key);

    public string String(string key) => m.TryGetValue(key, out var v) ? v
        : throw new UserError($"checkpoint '{path}' has no '{key}' metadata; expected a checkpoint saved by SpeechCtc (OUT/last.safetensors or OUT/best.safetensors)");

    static string Shown(string v) => v.Length <= 40 ? v : v[..40] + "...";

    public int Int(string key, int min, int max) => (int)Long(key, min, max);

    public long Long(string key, long min, long max)
    {
        string v = String(key);
        return long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long x) && x >= min && x <= max ? x
            : throw new UserError($"checkpoint '{path}': metadata '{key}' = '{Shown(v)}' is not an integer in {min}..{max}");
    }

    public double Double(string key, double min, double max)
    {
        string v = String(key);
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && x >= min && x <= max ? x
            : throw new UserError($"checkpoint '{path}': metadata '{key}' = '{Shown(v)}' is not a number in {min}..{max}");
    }
}

/// <summary>Stacked log-mel frames -> bidirectional LSTM layers -> Linear -> LogSoftmax over blank + symbols.</summary>
sealed class SpeechModel : Module
{
    readonly Lstm lstm;
    readonly Linear fc;
    readonly Dropout? dropout;

    /// <summary>The model; dropout (training only, not stored in checkpoints) applies between the LSTM layers and to
    /// the last layer's output.</summary>
    public SpeechModel(ModelConfig config, Generator? generator = null, double dropout = 0)
    {
        Config = config;
        lstm = RegisterModule("lstm", new Lstm(config.InputSize, config.Hidden, config.Layers, dropout: config.Layers > 1 ? dropout : 0, bidirectional: true, generator: generator));
        fc = RegisterModule("fc", new Linear(2 * config.Hidden, config.Classes, generator: generator));
        if (dropout > 0) this.dropout = RegisterModule("dropout", new Dropout(dropout, generator));
    }

    public ModelConfig Config { get; }

    /// <summary>Features (T, N, F) of utterances of the given lengths -> log-probabilities (T, N, C). The LSTM runs each
    /// utterance over its own frames only (packed semantics), so its output does not depend on its batchmates. Call runs
    /// the model's own hooks around the body and records its output shape, as every built-in module does.</summary>
    public Tensor Forward(Tensor x, int[] lengths) => Call(x, x =>
    {
        var h = lstm.Forward(x, lengths).Output;
        if (dropout is not null) h = dropout.Forward(h);
        return fc.Forward(h).LogSoftmax(2);
    });
}
