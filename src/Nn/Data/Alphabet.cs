using System.Text;

namespace MiniGrad.Nn.Data;

/// <summary>
/// The label set of a CTC model: the blank at index 0, then the symbols (single characters) in ordinal order at
/// 1..Count-1. Encodes transcripts to label indices and decodes label sequences back to text.
/// </summary>
public sealed class Alphabet
{
    readonly char[] symbols;
    readonly Dictionary<char, int> index;

    /// <summary>Builds the alphabet from a set of characters (duplicates are ignored; order is ordinal, not the given one).</summary>
    public Alphabet(IEnumerable<char> characters)
    {
        ArgumentNullException.ThrowIfNull(characters);
        symbols = characters.Distinct().OrderBy(c => c).ToArray();
        if (symbols.Length == 0) throw new ArgumentException("Alphabet: expected at least one symbol", nameof(characters));
        index = new Dictionary<char, int>(symbols.Length);
        for (int i = 0; i < symbols.Length; i++) index[symbols[i]] = i + 1;
    }

    /// <summary>The alphabet of every character that occurs in the transcripts.</summary>
    public static Alphabet FromTranscripts(IEnumerable<string> transcripts)
    {
        ArgumentNullException.ThrowIfNull(transcripts);
        return new Alphabet(transcripts.SelectMany(t => t));
    }

    /// <summary>The blank's label index.</summary>
    public const int Blank = 0;

    /// <summary>Number of classes including the blank (the model's output size).</summary>
    public int Count => symbols.Length + 1;

    /// <summary>The symbols without the blank, in label order (label i + 1 is Symbols[i]).</summary>
    public string Symbols => new(symbols);

    /// <summary>The symbol of a non-blank label.</summary>
    public char this[int label] => label >= 1 && label <= symbols.Length ? symbols[label - 1]
        : throw new ArgumentOutOfRangeException(nameof(label), label, $"Alphabet: label {label} is not a symbol; expected 1..{symbols.Length} (0 is the blank)");

    /// <summary>Whether the character is one of the symbols.</summary>
    public bool Contains(char c) => index.ContainsKey(c);

    /// <summary>The label of a symbol, or -1 for a character outside the alphabet.</summary>
    public int IndexOf(char c) => index.TryGetValue(c, out int i) ? i : -1;

    /// <summary>The labels of a transcript; throws ArgumentException naming the first unknown character and its position.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var labels = new int[text.Length];
        for (int i = 0; i < text.Length; i++)
            labels[i] = index.TryGetValue(text[i], out int l) ? l
                : throw new ArgumentException($"Alphabet: character {Describe(text[i])} at position {i} of \"{text}\" is not in the alphabet \"{Symbols}\"", nameof(text));
        return labels;
    }

    /// <summary>The text of a label sequence (blanks are skipped; no CTC collapsing is done here).</summary>
    public string Decode(IEnumerable<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var sb = new StringBuilder();
        foreach (int l in labels) if (l != Blank) sb.Append(this[l]);
        return sb.ToString();
    }

    /// <summary>A character for messages: printable ones quoted, others as U+XXXX.</summary>
    public static string Describe(char c) => char.IsControl(c) || char.IsWhiteSpace(c) && c != ' ' ? $"U+{(int)c:X4}" : $"'{c}'";

    /// <inheritdoc/>
    public override string ToString() => $"Alphabet(blank + \"{Symbols}\", {Count} classes)";
}
