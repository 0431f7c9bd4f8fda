using System.Text;

namespace MiniGrad.Nn.Data;

/// <summary>
/// The label set of a CTC model: the blank at index 0, then the symbols in code-point order at 1..Count-1. A symbol
/// is one Unicode scalar value (a <see cref="Rune"/>), so characters outside the Basic Multilingual Plane (emoji,
/// which take two UTF-16 chars) are one symbol each and <see cref="Symbols"/> stays valid UTF-16. Encodes
/// transcripts to label indices and decodes label sequences back to text.
/// </summary>
public sealed class Alphabet
{
    readonly Rune[] symbols;
    readonly Dictionary<Rune, int> index;

    /// <summary>
    /// Builds the alphabet from the scalar values of a string (duplicates are ignored; order is code-point order, not
    /// the given one). Throws ArgumentException for an empty string or one with an unpaired UTF-16 surrogate.
    /// </summary>
    public Alphabet(string symbols) : this(Runes(symbols ?? throw new ArgumentNullException(nameof(symbols)), nameof(symbols))) { }

    /// <summary>Builds the alphabet from single UTF-16 characters; surrogate halves are refused (use the string or Rune overload).</summary>
    public Alphabet(IEnumerable<char> characters) : this(Chars(characters)) { }

    /// <summary>Builds the alphabet from a set of scalar values (duplicates are ignored; order is code-point order).</summary>
    public Alphabet(IEnumerable<Rune> symbols)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        this.symbols = symbols.Distinct().OrderBy(r => r.Value).ToArray();
        if (this.symbols.Length == 0) throw new ArgumentException("Alphabet: expected at least one symbol, got none", nameof(symbols));
        index = new Dictionary<Rune, int>(this.symbols.Length);
        for (int i = 0; i < this.symbols.Length; i++) index[this.symbols[i]] = i + 1;
    }

    static IEnumerable<Rune> Chars(IEnumerable<char> characters)
    {
        ArgumentNullException.ThrowIfNull(characters);
        var list = new List<Rune>();
        foreach (char c in characters)
            list.Add(Rune.TryCreate(c, out var r) ? r
                : throw new ArgumentException($"Alphabet: character U+{(int)c:X4} is half of a UTF-16 surrogate pair; expected whole characters (pass a string or Runes)", nameof(characters)));
        return list;
    }

    static List<Rune> Runes(string text, string param)
    {
        var list = new List<Rune>(text.Length);
        for (int i = 0; i < text.Length;)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out var r, out int used) != System.Buffers.OperationStatus.Done)
                throw new ArgumentException($"Alphabet: \"{text}\" has an unpaired UTF-16 surrogate U+{(int)text[i]:X4} at index {i}; expected whole characters", param);
            list.Add(r);
            i += used;
        }
        return list;
    }

    /// <summary>The alphabet of every character (Unicode scalar value) that occurs in the transcripts.</summary>
    public static Alphabet FromTranscripts(IEnumerable<string> transcripts)
    {
        ArgumentNullException.ThrowIfNull(transcripts);
        return new Alphabet(transcripts.SelectMany(t => Runes(t ?? throw new ArgumentException("Alphabet: a transcript is null", nameof(transcripts)), nameof(transcripts))));
    }

    /// <summary>The blank's label index.</summary>
    public const int Blank = 0;

    /// <summary>Number of classes including the blank (the model's output size).</summary>
    public int Count => symbols.Length + 1;

    /// <summary>The symbols without the blank, in label order (label i + 1 is the i-th scalar value of this string).</summary>
    public string Symbols => string.Concat(symbols.Select(r => r.ToString()));

    /// <summary>The symbol of a non-blank label.</summary>
    public Rune this[int label] => label >= 1 && label <= symbols.Length ? symbols[label - 1]
        : throw new ArgumentOutOfRangeException(nameof(label), label, $"Alphabet: label {label} is not a symbol; expected 1..{symbols.Length} (0 is the blank)");

    /// <summary>Whether the character is one of the symbols (false for a surrogate half).</summary>
    public bool Contains(char c) => Rune.TryCreate(c, out var r) && index.ContainsKey(r);

    /// <summary>Whether the scalar value is one of the symbols.</summary>
    public bool Contains(Rune r) => index.ContainsKey(r);

    /// <summary>The label of a symbol, or -1 for a character outside the alphabet.</summary>
    public int IndexOf(char c) => Rune.TryCreate(c, out var r) ? IndexOf(r) : -1;

    /// <summary>The label of a symbol, or -1 for a scalar value outside the alphabet.</summary>
    public int IndexOf(Rune r) => index.TryGetValue(r, out int i) ? i : -1;

    /// <summary>
    /// The labels of a transcript, one per scalar value; throws ArgumentException naming the first unknown character
    /// and its position (counted in characters, a surrogate pair being one), or an unpaired surrogate.
    /// </summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var runes = Runes(text, nameof(text));
        var labels = new int[runes.Count];
        for (int i = 0; i < runes.Count; i++)
            labels[i] = index.TryGetValue(runes[i], out int l) ? l
                : throw new ArgumentException($"Alphabet: character {Describe(runes[i])} at position {i} of \"{text}\" is not in the alphabet \"{Symbols}\"", nameof(text));
        return labels;
    }

    /// <summary>The text of a label sequence (blanks are skipped; no CTC collapsing is done here).</summary>
    public string Decode(IEnumerable<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var sb = new StringBuilder();
        foreach (int l in labels) if (l != Blank) sb.Append(this[l].ToString());
        return sb.ToString();
    }

    /// <summary>A character for messages: printable ones quoted, others as U+XXXX.</summary>
    public static string Describe(char c) => Rune.TryCreate(c, out var r) ? Describe(r) : $"U+{(int)c:X4}";

    /// <summary>A scalar value for messages: printable ones quoted (with their code point when outside the BMP), others as U+XXXX.</summary>
    public static string Describe(Rune r) =>
        Rune.IsControl(r) || Rune.IsWhiteSpace(r) && r.Value != ' ' ? $"U+{r.Value:X4}"
        : r.IsBmp ? $"'{r}'" : $"'{r}' (U+{r.Value:X})";

    /// <summary>The scalar values of a string, in order; throws ArgumentException for an unpaired surrogate.</summary>
    public static IReadOnlyList<Rune> SplitSymbols(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Runes(text, nameof(text));
    }

    /// <inheritdoc/>
    public override string ToString() => $"Alphabet(blank + \"{Symbols}\", {Count} classes)";
}
