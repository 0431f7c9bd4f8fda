using System.Text;
using MiniGrad.Nn.Audio;

namespace MiniGrad.Nn.Data;

/// <summary>
/// A problem in a dataset listing, thrown before any training starts: the message begins with "FILE:LINE:" for the
/// TSV file and line, and names the audio file where one is involved.
/// </summary>
public sealed class DatasetException(string listPath, int line, string problem, Exception? inner = null)
    : InvalidOperationException($"{listPath}:{line}: {problem}", inner)
{
    /// <summary>The TSV file with the bad line.</summary>
    public string ListPath { get; } = listPath;
    /// <summary>The 1-based line number in <see cref="ListPath"/>.</summary>
    public int Line { get; } = line;
}

/// <summary>One recording: its path, mono samples at the dataset's rate, transcript, and speaker (null when the list has no speaker column).</summary>
public sealed record AudioExample(string Path, float[] Wave, string Transcript, string? Speaker = null);

/// <summary>
/// A speech dataset on disk: DIR/train.tsv and DIR/test.tsv, each line "relative/path.wav&lt;TAB&gt;transcript" or
/// "relative/path.wav&lt;TAB&gt;transcript&lt;TAB&gt;speaker" (paths relative to DIR; every line of a file has the same
/// number of columns; blank lines are skipped, and an optional first line "path&lt;TAB&gt;transcript[&lt;TAB&gt;speaker]"
/// is taken as a header). The lists must be UTF-8 (a BOM is allowed). Audio is WAV (integer PCM of 8-32 bits,
/// float or G.711, see <see cref="Wav.Read"/>) at <see cref="Wav.MinSampleRate"/>..<see cref="Wav.MaxSampleRate"/>
/// Hz, mixed to mono and resampled to <see cref="SampleRate"/>. The alphabet is the set of characters (Unicode scalar values, so an emoji is one symbol)
/// in the training transcripts, blank first. Everything is read and checked up front; the first problem (missing
/// file, bad WAV header or sample rate, malformed line, bytes that are not UTF-8, empty transcript, character outside
/// the alphabet) throws a <see cref="DatasetException"/> naming the TSV file and line.
/// </summary>
public sealed class TsvDataset
{
    TsvDataset(Alphabet alphabet, IReadOnlyList<AudioExample> train, IReadOnlyList<AudioExample> test, int sampleRate) =>
        (Alphabet, Train, Test, SampleRate) = (alphabet, train, test, sampleRate);

    /// <summary>Blank plus the characters of the training transcripts.</summary>
    public Alphabet Alphabet { get; }
    /// <summary>The training recordings, in file order.</summary>
    public IReadOnlyList<AudioExample> Train { get; }
    /// <summary>The test recordings, in file order.</summary>
    public IReadOnlyList<AudioExample> Test { get; }
    /// <summary>The rate every wave was resampled to.</summary>
    public int SampleRate { get; }

    /// <summary>Loads and checks DIR/train.tsv and DIR/test.tsv; <paramref name="alphabet"/> (default: from train.tsv) fixes the symbols.</summary>
    public static TsvDataset Load(string directory, int sampleRate = 16000, Alphabet? alphabet = null)
    {
        var (trainPath, trainRows) = ReadNonEmpty(directory, "train.tsv");
        var (testPath, testRows) = ReadNonEmpty(directory, "test.tsv");
        alphabet ??= Alphabet.FromTranscripts(trainRows.Select(r => r.Transcript)); // the rows hold whole characters: decoding was strict
        CheckCharacters(trainPath, trainRows, alphabet);
        CheckCharacters(testPath, testRows, alphabet, "train.tsv");
        var train = LoadAudio(directory, trainPath, trainRows, sampleRate);
        var test = LoadAudio(directory, testPath, testRows, sampleRate);
        return new TsvDataset(alphabet, train, test, sampleRate);
    }

    /// <summary>
    /// Loads and checks DIR/test.tsv alone, against the symbols of a trained model's <paramref name="alphabet"/>: a test
    /// set for a model, without the training list it was built from (which need not be there). A transcript with a
    /// character the alphabet lacks throws a <see cref="DatasetException"/> naming the line.
    /// </summary>
    public static IReadOnlyList<AudioExample> LoadTest(string directory, Alphabet alphabet, int sampleRate = 16000)
    {
        ArgumentNullException.ThrowIfNull(alphabet);
        var (testPath, rows) = ReadNonEmpty(directory, "test.tsv");
        CheckCharacters(testPath, rows, alphabet, "the model");
        return LoadAudio(directory, testPath, rows, sampleRate);
    }

    /// <summary>DIR/name's rows: the folder must exist and the list name at least one recording.</summary>
    static (string Path, List<Row> Rows) ReadNonEmpty(string directory, string name)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"TsvDataset: the data directory '{directory}' does not exist");
        string path = Path.Combine(directory, name);
        var rows = ReadList(path);
        if (rows.Count == 0) throw new DatasetException(path, 1, "the file lists no recordings");
        return (path, rows);
    }

    /// <summary>One parsed line of a list; <paramref name="Speaker"/> is null when the list has two columns.</summary>
    public readonly record struct Row(int Line, string RelativePath, string Transcript, string? Speaker = null);

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Parses a TSV list (no audio is read): throws <see cref="DatasetException"/> for a missing list, a line that is
    /// not valid UTF-8, a line without one or two tabs (or with another column count than the first line), an empty
    /// path, transcript or speaker. Fields are trimmed of surrounding whitespace.
    /// </summary>
    public static List<Row> ReadList(string listPath)
    {
        ArgumentNullException.ThrowIfNull(listPath);
        if (!File.Exists(listPath)) throw new DatasetException(listPath, 0, Directory.Exists(listPath) ? "the list file is a folder" : "the list file does not exist");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(listPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DatasetException(listPath, 0, e.Message, e); }
        var rows = new List<Row>();
        int lineNo = 0, columns = 0, pos = bytes.AsSpan().StartsWith((byte[])[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        while (pos < bytes.Length)
        {
            int nl = Array.IndexOf(bytes, (byte)'\n', pos);
            int end = nl < 0 ? bytes.Length : nl;
            lineNo++;
            string line;
            try { line = StrictUtf8.GetString(bytes, pos, end - pos).TrimEnd('\r'); }
            catch (DecoderFallbackException e)
            {
                int at = e.Index >= 0 ? e.Index : 0;
                string bad = e.BytesUnknown is { Length: > 0 } u ? string.Join(" ", u.Select(b => $"0x{b:X2}")) : "?";
                throw new DatasetException(listPath, lineNo, $"the line is not valid UTF-8 (byte {bad} at byte {at + 1} of the line); save the list as UTF-8 " +
                    "(e.g. `iconv -f latin1 -t utf-8`)", e);
            }
            pos = end + 1;
            if (line.Trim().Length == 0) continue;
            var parts = line.Split('\t');
            if (parts.Length is not (2 or 3))
                throw new DatasetException(listPath, lineNo, $"expected 'relative/path.wav<TAB>transcript' (one tab) or 'relative/path.wav<TAB>transcript<TAB>speaker' (two tabs), but the line has {parts.Length - 1} tabs: \"{line}\"");
            string rel = parts[0].Trim(), transcript = parts[1].Trim();
            string? speaker = parts.Length == 3 ? parts[2].Trim() : null;
            if (columns == 0 && rel.Equals("path", StringComparison.OrdinalIgnoreCase) && transcript.Equals("transcript", StringComparison.OrdinalIgnoreCase)
                && (speaker is null || speaker.Equals("speaker", StringComparison.OrdinalIgnoreCase)))
            {
                columns = parts.Length; // header
                continue;
            }
            if (columns == 0) columns = parts.Length;
            else if (parts.Length != columns)
                throw new DatasetException(listPath, lineNo, $"the line has {parts.Length} columns, but the list's first line has {columns}; " +
                    "either every line names a speaker (path<TAB>transcript<TAB>speaker) or none does");
            if (rel.Length == 0) throw new DatasetException(listPath, lineNo, "the audio path is empty");
            if (transcript.Length == 0) throw new DatasetException(listPath, lineNo, $"the transcript of '{rel}' is empty");
            if (speaker is { Length: 0 }) throw new DatasetException(listPath, lineNo, $"the speaker of '{rel}' is empty");
            rows.Add(new Row(lineNo, rel, transcript, speaker));
        }
        return rows;
    }

    /// <summary>
    /// Splits utterances into training and validation sets by whole speakers, deterministically: the speakers are
    /// ordered by a fixed hash of their names (FNV-1a of the UTF-8 bytes, ties by name) and taken in that order into
    /// validation until it holds at least <paramref name="fraction"/> of the utterances, never all speakers; a speaker
    /// who would take validation past twice that fraction is passed over (so one large speaker does not take most of
    /// the data), unless no speaker fits, when the one with the fewest utterances is held out. Returns the indices of
    /// each set in their original order. With fewer than two speakers no split by speaker is possible and the
    /// validation set is empty.
    /// </summary>
    public static (int[] Train, int[] Validation) SplitBySpeaker(IReadOnlyList<string> speakers, double fraction = 0.1)
    {
        ArgumentNullException.ThrowIfNull(speakers);
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "SplitBySpeaker: expected a fraction in (0, 1)");
        for (int i = 0; i < speakers.Count; i++)
            if (speakers[i] is null) throw new ArgumentException($"SplitBySpeaker: speaker {i} is null", nameof(speakers));
        var counts = speakers.GroupBy(s => s, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        if (counts.Count >= 2)
        {
            double target = fraction * speakers.Count;
            int taken = 0;
            foreach (var s in counts.Keys.OrderBy(Fnv1a).ThenBy(k => k, StringComparer.Ordinal))
            {
                if (taken >= target || chosen.Count == counts.Count - 1) break;
                if (taken + counts[s] > 2 * target) continue;
                chosen.Add(s);
                taken += counts[s];
            }
            if (chosen.Count == 0)
                chosen.Add(counts.OrderBy(c => c.Value).ThenBy(c => Fnv1a(c.Key)).ThenBy(c => c.Key, StringComparer.Ordinal).First().Key);
        }
        var train = new List<int>();
        var val = new List<int>();
        for (int i = 0; i < speakers.Count; i++) (chosen.Contains(speakers[i]) ? val : train).Add(i);
        return (train.ToArray(), val.ToArray());
    }

    static uint Fnv1a(string s)
    {
        uint h = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes(s)) { h ^= b; h *= 16777619; }
        return h;
    }

    static void CheckCharacters(string listPath, List<Row> rows, Alphabet alphabet, string? alphabetSource = null)
    {
        foreach (var r in rows)
        {
            var runes = Alphabet.SplitSymbols(r.Transcript);
            for (int i = 0; i < runes.Count; i++)
                if (!alphabet.Contains(runes[i]))
                    throw new DatasetException(listPath, r.Line,
                        $"the transcript of '{r.RelativePath}' has the unknown character {Alphabet.Describe(runes[i])} at position {i}; " +
                        $"the alphabet{(alphabetSource is null ? "" : $" (from {alphabetSource})")} is \"{alphabet.Symbols}\"");
        }
    }

    static AudioExample[] LoadAudio(string directory, string listPath, List<Row> rows, int sampleRate)
    {
        // Check every file exists first, so that a missing file is reported before any slow decoding.
        foreach (var r in rows)
        {
            string full = Path.Combine(directory, r.RelativePath);
            if (!File.Exists(full)) throw new DatasetException(listPath, r.Line, Directory.Exists(full) ? $"the audio file '{full}' is a folder" : $"the audio file '{full}' does not exist");
        }
        var result = new AudioExample[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            string full = Path.Combine(directory, r.RelativePath);
            float[] wave;
            try { wave = Wav.ReadMono(full, sampleRate); }
            catch (Exception e) when (e is WavFormatException or IOException or UnauthorizedAccessException)
            {
                throw new DatasetException(listPath, r.Line, e.Message, e);
            }
            if (wave.Length == 0) throw new DatasetException(listPath, r.Line, $"WAV file '{full}': no samples");
            result[i] = new AudioExample(full, wave, r.Transcript, r.Speaker);
        }
        return result;
    }
}
