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

/// <summary>One recording: its path, mono samples at the dataset's rate, and transcript.</summary>
public sealed record AudioExample(string Path, float[] Wave, string Transcript);

/// <summary>
/// A speech dataset on disk: DIR/train.tsv and DIR/test.tsv, each line "relative/path.wav&lt;TAB&gt;transcript" (paths
/// relative to DIR; blank lines are skipped, and an optional first line "path&lt;TAB&gt;transcript" is taken as a
/// header). Audio is 16-bit PCM WAV at any rate, mixed to mono and resampled to <see cref="SampleRate"/>. The
/// alphabet is the set of characters in the training transcripts, blank first. Everything is read and checked up
/// front; the first problem (missing file, bad WAV header, malformed line, empty transcript, character outside the
/// alphabet) throws a <see cref="DatasetException"/> naming the TSV file and line.
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
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"TsvDataset: the data directory '{directory}' does not exist");
        string trainPath = Path.Combine(directory, "train.tsv"), testPath = Path.Combine(directory, "test.tsv");
        var trainRows = ReadList(trainPath);
        var testRows = ReadList(testPath);
        if (trainRows.Count == 0) throw new DatasetException(trainPath, 1, "the file lists no recordings");
        if (testRows.Count == 0) throw new DatasetException(testPath, 1, "the file lists no recordings");
        alphabet ??= Alphabet.FromTranscripts(trainRows.Select(r => r.Transcript));
        CheckCharacters(trainPath, trainRows, alphabet);
        CheckCharacters(testPath, testRows, alphabet, "train.tsv");
        var train = LoadAudio(directory, trainPath, trainRows, sampleRate);
        var test = LoadAudio(directory, testPath, testRows, sampleRate);
        return new TsvDataset(alphabet, train, test, sampleRate);
    }

    /// <summary>One parsed line of a list.</summary>
    public readonly record struct Row(int Line, string RelativePath, string Transcript);

    /// <summary>
    /// Parses a TSV list (no audio is read): throws <see cref="DatasetException"/> for a missing list, a line without
    /// exactly one tab, an empty path or an empty transcript. Transcripts are trimmed of surrounding whitespace.
    /// </summary>
    public static List<Row> ReadList(string listPath)
    {
        ArgumentNullException.ThrowIfNull(listPath);
        if (!File.Exists(listPath)) throw new DatasetException(listPath, 0, "the list file does not exist");
        var rows = new List<Row>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(listPath))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            var parts = line.Split('\t');
            if (parts.Length != 2)
                throw new DatasetException(listPath, lineNo, $"expected 'relative/path.wav<TAB>transcript' (one tab), but the line has {parts.Length - 1} tabs: \"{line}\"");
            string rel = parts[0].Trim(), transcript = parts[1].Trim();
            if (lineNo == 1 && rows.Count == 0 && rel.Equals("path", StringComparison.OrdinalIgnoreCase) && transcript.Equals("transcript", StringComparison.OrdinalIgnoreCase))
                continue; // header
            if (rel.Length == 0) throw new DatasetException(listPath, lineNo, "the audio path is empty");
            if (transcript.Length == 0) throw new DatasetException(listPath, lineNo, $"the transcript of '{rel}' is empty");
            rows.Add(new Row(lineNo, rel, transcript));
        }
        return rows;
    }

    static void CheckCharacters(string listPath, List<Row> rows, Alphabet alphabet, string? alphabetSource = null)
    {
        foreach (var r in rows)
            for (int i = 0; i < r.Transcript.Length; i++)
                if (!alphabet.Contains(r.Transcript[i]))
                    throw new DatasetException(listPath, r.Line,
                        $"the transcript of '{r.RelativePath}' has the unknown character {Alphabet.Describe(r.Transcript[i])} at position {i}; " +
                        $"the alphabet{(alphabetSource is null ? "" : $" (from {alphabetSource})")} is \"{alphabet.Symbols}\"");
    }

    static AudioExample[] LoadAudio(string directory, string listPath, List<Row> rows, int sampleRate)
    {
        // Check every file exists first, so that a missing file is reported before any slow decoding.
        foreach (var r in rows)
        {
            string full = Path.Combine(directory, r.RelativePath);
            if (!File.Exists(full)) throw new DatasetException(listPath, r.Line, $"the audio file '{full}' does not exist");
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
            result[i] = new AudioExample(full, wave, r.Transcript);
        }
        return result;
    }
}
