using System.Globalization;
using MiniGrad;
using MiniGrad.Nn;

namespace SpeechCtc;

/// <summary>The shape of a model, stored in checkpoints so that eval and transcribe can rebuild it.</summary>
sealed record ModelConfig(int InputSize, int Hidden, int Layers, int Stack, string Symbols)
{
    public int Classes => Symbols.Length + 1;

    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model.input_size"] = InputSize.ToString(CultureInfo.InvariantCulture),
        ["model.hidden"] = Hidden.ToString(CultureInfo.InvariantCulture),
        ["model.layers"] = Layers.ToString(CultureInfo.InvariantCulture),
        ["model.stack"] = Stack.ToString(CultureInfo.InvariantCulture),
        ["model.symbols"] = Symbols,
    };

    public static ModelConfig FromMetadata(IReadOnlyDictionary<string, string> m, string path)
    {
        string Get(string k) => m.TryGetValue(k, out var v) ? v : throw new InvalidOperationException($"checkpoint '{path}' has no '{k}' metadata; was it saved by SpeechCtc?");
        int I(string k) => int.Parse(Get(k), CultureInfo.InvariantCulture);
        return new ModelConfig(I("model.input_size"), I("model.hidden"), I("model.layers"), I("model.stack"), Get("model.symbols"));
    }
}

/// <summary>Stacked log-mel frames -> bidirectional LSTM layers -> Linear -> LogSoftmax over blank + symbols.</summary>
sealed class SpeechModel : Module
{
    readonly Lstm lstm;
    readonly Linear fc;

    public SpeechModel(ModelConfig config, Generator? generator = null)
    {
        Config = config;
        lstm = RegisterModule("lstm", new Lstm(config.InputSize, config.Hidden, config.Layers, bidirectional: true, generator: generator));
        fc = RegisterModule("fc", new Linear(2 * config.Hidden, config.Classes, generator: generator));
    }

    public ModelConfig Config { get; }

    /// <summary>Features (T, N, F) -> log-probabilities (T, N, C).</summary>
    public Tensor Forward(Tensor x) => fc.Forward(lstm.Forward(x).Output).LogSoftmax(2);
}
