using System.Globalization;
using System.Text;
using MiniGrad;
using MiniGrad.Nn;

namespace CharRnn;

/// <summary>The shape of a model and its characters, stored in the checkpoint so that `sample` can rebuild it.</summary>
sealed record ModelConfig(string Cell, int Embed, int Hidden, int Layers, string Vocab)
{
    /// <summary>The characters (Unicode scalar values, so an emoji is one), in id order.</summary>
    public Rune[] Symbols { get; } = [.. Vocab.EnumerateRunes()];

    public int VocabSize => Symbols.Length;

    /// <summary>A character's id, or -1.</summary>
    public int IdOf(Rune r) => Array.IndexOf(Symbols, r);

    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model.cell"] = Cell,
        ["model.embed"] = Embed.ToString(CultureInfo.InvariantCulture),
        ["model.hidden"] = Hidden.ToString(CultureInfo.InvariantCulture),
        ["model.layers"] = Layers.ToString(CultureInfo.InvariantCulture),
        ["model.vocab"] = Vocab,
    };

    /// <summary>The model shape in a checkpoint's metadata; a missing or bad value is a UserError naming the file and key.</summary>
    public static ModelConfig FromMetadata(IReadOnlyDictionary<string, string> m, string path)
    {
        string Get(string key) => m.TryGetValue(key, out var v) ? v
            : throw new UserError($"checkpoint '{path}' has no '{key}' metadata; expected a checkpoint written by CharRnn --out");
        int Int(string key, int max) => int.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 1 && v <= max ? v
            : throw new UserError($"checkpoint '{path}': metadata '{key}' = '{Get(key)}' is not an integer in 1..{max}");
        string cell = Get("model.cell");
        if (cell is not ("gru" or "lstm")) throw new UserError($"checkpoint '{path}': metadata 'model.cell' = '{cell}' is not gru or lstm");
        string vocab = Get("model.vocab");
        var runes = vocab.EnumerateRunes().ToArray();
        if (runes.Length == 0 || runes.Distinct().Count() != runes.Length || string.Concat(runes) != vocab) // an unpaired surrogate reads as U+FFFD
            throw new UserError($"checkpoint '{path}': metadata 'model.vocab' must list distinct characters");
        return new ModelConfig(cell, Int("model.embed", Options.MaxEmbed), Int("model.hidden", Options.MaxHidden), Int("model.layers", Options.MaxLayers), vocab);
    }
}

/// <summary>
/// Character ids (T, N) -> Embedding -> GRU or LSTM -> Linear -> logits (T, N, V) over the next character. The
/// recurrent state is handed in and out so that training can carry it from one chunk of text to the next.
/// </summary>
sealed class CharModel : Module
{
    readonly Embedding embed;
    readonly Gru? gru;
    readonly Lstm? lstm;
    readonly Linear head;

    public CharModel(ModelConfig config, Generator? generator = null)
    {
        Config = config;
        embed = RegisterModule("embed", new Embedding(config.VocabSize, config.Embed, generator: generator));
        if (config.Cell == "gru") gru = RegisterModule("rnn", new Gru(config.Embed, config.Hidden, config.Layers, generator: generator));
        else lstm = RegisterModule("rnn", new Lstm(config.Embed, config.Hidden, config.Layers, generator: generator));
        head = RegisterModule("head", new Linear(config.Hidden, config.VocabSize, generator: generator));
    }

    public ModelConfig Config { get; }

    /// <summary>
    /// The recurrent state between chunks: h (GRU) or h and c (LSTM), each (layers, N, hidden); null: zeros. The
    /// returned state still carries the chunk's graph; detach it before the next chunk (truncated BPTT).
    /// </summary>
    public (Tensor Logits, Tensor[] State) Forward(Tensor ids, Tensor[]? state)
    {
        var x = embed.Forward(ids);
        Tensor y;
        Tensor[] next;
        if (gru is not null)
        {
            var (o, h) = gru.Forward(x, state?[0]);
            (y, next) = (o, [h]);
        }
        else
        {
            var (o, (h, c)) = lstm!.Forward(x, state is null ? null : (state[0], state[1]));
            (y, next) = (o, [h, c]);
        }
        return (head.Forward(y), next);
    }

    /// <summary>The description printed at the start of a run.</summary>
    public string Summary() =>
        $"Embedding({Config.VocabSize}, {Config.Embed}) -> {Config.Layers} x {Config.Cell.ToUpperInvariant()}({Config.Embed} -> {Config.Hidden}) -> " +
        $"Linear({Config.Hidden}, {Config.VocabSize}); {Parameters().Sum(p => (long)p.Numel):N0} parameters";
}
