namespace MiniGrad.Nn.Decoding;

/// <summary>
/// Edit distance and the error rates of speech recognition: CER (character edits over reference characters) and WER
/// (word edits over reference words, words split on whitespace). Over a corpus, edits and lengths are summed before
/// dividing, as scoring tools do, so long utterances weigh more than short ones.
/// </summary>
public static class ErrorRates
{
    /// <summary>Levenshtein distance: the fewest substitutions, insertions and deletions that turn reference into hypothesis.</summary>
    public static int EditDistance<T>(ReadOnlySpan<T> reference, ReadOnlySpan<T> hypothesis) where T : IEquatable<T>
    {
        // One row of the dynamic-programming table at a time.
        var row = new int[hypothesis.Length + 1];
        for (int j = 0; j <= hypothesis.Length; j++) row[j] = j;
        for (int i = 1; i <= reference.Length; i++)
        {
            int diag = row[0];
            row[0] = i;
            for (int j = 1; j <= hypothesis.Length; j++)
            {
                int up = row[j];
                row[j] = Math.Min(Math.Min(up + 1, row[j - 1] + 1), diag + (reference[i - 1].Equals(hypothesis[j - 1]) ? 0 : 1));
                diag = up;
            }
        }
        return row[hypothesis.Length];
    }

    /// <summary>Edit distance between two strings, character by character.</summary>
    public static int EditDistance(string reference, string hypothesis) =>
        EditDistance<char>((reference ?? throw new ArgumentNullException(nameof(reference))).AsSpan(),
            (hypothesis ?? throw new ArgumentNullException(nameof(hypothesis))).AsSpan());

    /// <summary>The words of a text: split on whitespace, empty pieces dropped.</summary>
    public static string[] Words(string text) =>
        (text ?? throw new ArgumentNullException(nameof(text))).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Word-level edit distance.</summary>
    public static int WordEditDistance(string reference, string hypothesis) =>
        EditDistance<string>(Words(reference), Words(hypothesis));

    /// <summary>Character error rate of one utterance: edits / reference length (see <see cref="Rate"/> for an empty reference).</summary>
    public static double Cer(string reference, string hypothesis) => Rate(EditDistance(reference, hypothesis), reference.Length);

    /// <summary>Word error rate of one utterance: word edits / reference words.</summary>
    public static double Wer(string reference, string hypothesis) => Rate(WordEditDistance(reference, hypothesis), Words(reference).Length);

    /// <summary>Corpus CER: total character edits over total reference characters.</summary>
    public static double Cer(IEnumerable<string> references, IEnumerable<string> hypotheses) =>
        Corpus(references, hypotheses, EditDistance, r => r.Length);

    /// <summary>Corpus WER: total word edits over total reference words.</summary>
    public static double Wer(IEnumerable<string> references, IEnumerable<string> hypotheses) =>
        Corpus(references, hypotheses, WordEditDistance, r => Words(r).Length);

    /// <summary>edits / length; with an empty reference, 0 when there are no edits and +inf otherwise (every hypothesis symbol is an insertion).</summary>
    public static double Rate(long edits, long referenceLength) =>
        referenceLength > 0 ? (double)edits / referenceLength : edits == 0 ? 0 : double.PositiveInfinity;

    static double Corpus(IEnumerable<string> references, IEnumerable<string> hypotheses, Func<string, string, int> distance, Func<string, int> length)
    {
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(hypotheses);
        var refs = references.ToList();
        var hyps = hypotheses.ToList();
        if (refs.Count != hyps.Count) throw new ArgumentException($"ErrorRates: {refs.Count} references but {hyps.Count} hypotheses", nameof(hypotheses));
        long edits = 0, total = 0;
        for (int i = 0; i < refs.Count; i++) { edits += distance(refs[i], hyps[i]); total += length(refs[i]); }
        return Rate(edits, total);
    }
}
