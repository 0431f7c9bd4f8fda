using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace MiniGrad.Nn;

/// <summary>One tensor's entry in a safetensors header: dtype, shape and its byte range within the data section.</summary>
public sealed record SafeTensorsEntry(string Name, DType DType, int[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (the product of the shape).</summary>
    public int Numel => Shapes.Numel(Shape);
}

/// <summary>A header that passed every check: entries in offset order (contiguous, covering the data) and the metadata.</summary>
public sealed class SafeTensorsHeader
{
    readonly Dictionary<string, SafeTensorsEntry> byName;

    internal SafeTensorsHeader(long origin, long headerLength, long dataLength, List<SafeTensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Origin = origin;
        HeaderLength = headerLength;
        DataLength = dataLength;
        Entries = entries;
        Metadata = metadata;
        byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    internal long Origin { get; }
    /// <summary>N, the JSON header's length in bytes (padding included).</summary>
    public long HeaderLength { get; }
    /// <summary>Bytes in the data section, which starts at 8 + N.</summary>
    public long DataLength { get; }
    /// <summary>The tensors in offset order.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }
    /// <summary>The "__metadata__" string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>The entry with this name, or null.</summary>
    public SafeTensorsEntry? Find(string name) => byName.GetValueOrDefault(name);
}

/// <summary>The tensors and metadata of a safetensors file.</summary>
public sealed record SafeTensorsFile(IReadOnlyDictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Reads and writes the safetensors format (Hugging Face; opens in PyTorch's safetensors package): a little-endian
/// u64 header length N, N bytes of UTF-8 JSON <c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
/// "__metadata__": {string: string}}</c> padded with spaces so the data starts at a multiple of 8, then the tensors'
/// row-major little-endian bytes, ordered by offset with no gaps. Dtypes F32, F64, I32, I64 and BOOL.
/// </summary>
/// <remarks>
/// Reading validates the whole header against the file's real length before allocating anything a header claims,
/// so a forged length or shape costs nothing; every failure is a <see cref="CheckpointException"/>.
/// Writing to a path is atomic: a temporary file in the same folder, flushed to disk, then renamed over the target.
/// </remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>The reserved header key for metadata.</summary>
    public const string MetadataKey = "__metadata__";

    const int ChunkBytes = 1 << 20;

    /// <summary>Test hook: called with each tensor's name just before its bytes are written (lets tests fail a save midway).</summary>
    [ThreadStatic] internal static Action<string>? BeforeWriteTensor;

    /// <summary>Writes tensors (and optional metadata) to path atomically: the target is replaced only by a complete, flushed file.</summary>
    /// <exception cref="ArgumentException">A name is "__metadata__" or null, or a tensor is null.</exception>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var plan = Plan(tensors, metadata);
        AtomicFile.Write(path, stream => WritePlanned(stream, plan));
    }

    /// <summary>Writes tensors (and optional metadata) to a stream at its current position.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        WritePlanned(stream, Plan(tensors, metadata));
    }

    /// <summary>Reads and validates only the header of a file.</summary>
    /// <exception cref="CheckpointException">The file cannot be read or is not a valid safetensors file.</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = Open(path);
        return ReadHeader(stream, path);
    }

    /// <summary>Reads every tensor (on the CPU) and the metadata of a file after validating it whole.</summary>
    /// <exception cref="CheckpointException">The file cannot be read or is not a valid safetensors file.</exception>
    public static SafeTensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = Open(path);
        var header = ReadHeader(stream, path);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in header.Entries) tensors[e.Name] = ReadTensor(stream, header, e, path);
        return new SafeTensorsFile(tensors, header.Metadata);
    }

    /// <summary>Reads every tensor and the metadata from a seekable stream that starts at its current position.</summary>
    public static SafeTensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = ReadHeader(stream, "stream");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in header.Entries) tensors[e.Name] = ReadTensor(stream, header, e, "stream");
        return new SafeTensorsFile(tensors, header.Metadata);
    }

    /// <summary>The safetensors name of a dtype ("F32", "F64", "I32", "I64", "BOOL").</summary>
    public static string DTypeName(DType dtype) => dtype switch
    {
        DType.Float32 => "F32", DType.Float64 => "F64", DType.Int32 => "I32", DType.Int64 => "I64", DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "SafeTensors: unknown dtype"),
    };

    static DType? ParseDType(string s) => s switch
    {
        "F32" => DType.Float32, "F64" => DType.Float64, "I32" => DType.Int32, "I64" => DType.Int64, "BOOL" => DType.Bool, _ => null,
    };

    internal static FileStream Open(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.SequentialScan); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new CheckpointException($"SafeTensors: cannot open '{path}': {e.Message}", e);
        }
    }

    static CheckpointException Fail(string source, string what) => new($"SafeTensors: '{source}' is not a valid safetensors file: {what}");

    // ---- writing ----

    sealed record Planned(byte[] Header, List<(string Name, Tensor Tensor, long Bytes)> Tensors);

    static Planned Plan(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = new List<(string Name, Tensor Tensor, long Bytes)>();
        foreach (var (name, t) in tensors)
        {
            if (name is null) throw new ArgumentException("SafeTensors.Write: a tensor name is null", nameof(tensors));
            if (name == MetadataKey) throw new ArgumentException($"SafeTensors.Write: '{MetadataKey}' is reserved for metadata and cannot name a tensor", nameof(tensors));
            if (t is null) throw new ArgumentException($"SafeTensors.Write: tensor '{name}' is null", nameof(tensors));
            RequireValidUnicode(name, "tensor name", nameof(tensors));
            list.Add((name, t, (long)t.Numel * t.DType.Size()));
        }
        // Larger elements first, then by name, so every tensor is aligned to its element size. (The reference writer breaks
        // ties between equal-size dtypes by its dtype enum, e.g. I64 before F64; readers sort by offset, so either is valid.)
        list.Sort((a, b) =>
        {
            int c = b.Tensor.DType.Size().CompareTo(a.Tensor.DType.Size());
            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });

        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (k is null || v is null) throw new ArgumentException("SafeTensors.Write: metadata keys and values must not be null", nameof(metadata));
                    RequireValidUnicode(k, "metadata key", nameof(metadata));
                    RequireValidUnicode(v, "metadata value", nameof(metadata));
                    w.WriteString(k, v);
                }
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t, bytes) in list)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", DTypeName(t.DType));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < pad; i++) json.WriteByte((byte)' ');
        if (json.Length > MaxHeaderLength)
            throw new ArgumentException($"SafeTensors.Write: the header would be {json.Length} bytes, above the limit of {MaxHeaderLength}", nameof(tensors));
        return new Planned(json.ToArray(), list);
    }

    /// <summary>
    /// Rejects strings with unpaired UTF-16 surrogates: the JSON writer would silently turn them into U+FFFD, renaming the
    /// tensor (and two such names could collide into a duplicate key, which readers reject).
    /// </summary>
    static void RequireValidUnicode(string s, string what, string param)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (!char.IsSurrogate(s[i])) continue;
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            throw new ArgumentException($"SafeTensors.Write: {what} '{Short(s)}' holds an unpaired UTF-16 surrogate at index {i}, which UTF-8 JSON cannot represent", param);
        }
    }

    static void WritePlanned(Stream stream, Planned plan)
    {
        Span<byte> n = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(n, (ulong)plan.Header.Length);
        stream.Write(n);
        stream.Write(plan.Header);
        foreach (var (name, t, _) in plan.Tensors)
        {
            BeforeWriteTensor?.Invoke(name);
            switch (t.DType)
            {
                case DType.Float32: WriteElements(stream, t.ToArray<float>()); break;
                case DType.Float64: WriteElements(stream, t.ToArray<double>()); break;
                case DType.Int32: WriteElements(stream, t.ToArray<int>()); break;
                case DType.Int64: WriteElements(stream, t.ToArray<long>()); break;
                default: WriteElements(stream, t.ToArray<bool>()); break;
            }
        }
    }

    static void WriteElements<T>(Stream stream, T[] values) where T : unmanaged
    {
        int size = Marshal.SizeOf<T>(), per = ChunkBytes / size;
        byte[]? swap = BitConverter.IsLittleEndian || size == 1 ? null : new byte[ChunkBytes];
        for (int start = 0; start < values.Length; start += per)
        {
            var bytes = MemoryMarshal.AsBytes(values.AsSpan(start, Math.Min(per, values.Length - start)));
            if (swap is null) { stream.Write(bytes); continue; }
            var s = swap.AsSpan(0, bytes.Length);
            bytes.CopyTo(s);
            for (int i = 0; i < s.Length; i += size) s.Slice(i, size).Reverse();
            stream.Write(s);
        }
    }

    // ---- reading ----

    /// <summary>Reads and validates the header of the file that starts at the stream's current position.</summary>
    internal static SafeTensorsHeader ReadHeader(Stream stream, string source)
    {
        long origin, length;
        byte[] json;
        ulong n;
        try
        {
            if (!stream.CanSeek || !stream.CanRead) throw new CheckpointException($"SafeTensors: '{source}': the stream must be readable and seekable");
            origin = stream.Position;
            length = stream.Length - origin;
            if (length < 8) throw Fail(source, $"it has {length} bytes, fewer than the 8 of the header length");
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (n > MaxHeaderLength) throw Fail(source, $"the header length {n} is above the limit of {MaxHeaderLength} bytes");
            if (n > (ulong)(length - 8)) throw Fail(source, $"the header length {n} runs past the end of the file ({length} bytes)");
            if (n < 2) throw Fail(source, $"the header length {n} is too small for a JSON object");
            json = new byte[n];
            stream.ReadExactly(json);
        }
        catch (Exception e) when (e is (IOException and not CheckpointException) or NotSupportedException or ObjectDisposedException)
        {
            throw new CheckpointException($"SafeTensors: cannot read '{source}': {e.Message}", e);
        }
        return Parse(json, source, origin, (long)n, length - 8 - (long)n);
    }

    static SafeTensorsHeader Parse(byte[] json, string source, long origin, long headerLength, long dataLength)
    {
        if (json[0] != (byte)'{') throw Fail(source, "the header does not start with '{'");
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw Fail(source, "the header is not valid UTF-8");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new CheckpointException($"SafeTensors: '{source}' is not a valid safetensors file: the header is not valid JSON ({e.Message})", e); }
        var entries = new List<SafeTensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw Fail(source, $"the header is a JSON {root.ValueKind}, not an object");
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var prop in root.EnumerateObject())
                {
                    string name = prop.Name;
                    if (!names.Add(name)) throw Fail(source, $"the header names '{Short(name)}' twice");
                    if (name == MetadataKey)
                    {
                        ParseMetadata(prop.Value, metadata, source);
                        continue;
                    }
                    entries.Add(ParseEntry(name, prop.Value, dataLength, source));
                }
            }
        }
        catch (InvalidOperationException e)
        {
            // JsonElement getters throw this for text that parses but cannot become a .NET string (lone surrogates).
            throw new CheckpointException($"SafeTensors: '{source}' is not a valid safetensors file: the header holds a string that is not valid Unicode ({e.Message})", e);
        }

        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long pos = 0;
        foreach (var e in entries)
        {
            if (e.Begin < pos) throw Fail(source, $"tensor '{Short(e.Name)}' (bytes [{e.Begin}, {e.End})) overlaps the tensor before it, which ends at {pos}");
            if (e.Begin > pos) throw Fail(source, $"there is a gap of {e.Begin - pos} bytes before tensor '{Short(e.Name)}' (bytes [{e.Begin}, {e.End})); tensors must cover the data without gaps");
            pos = e.End;
        }
        if (pos != dataLength)
            throw Fail(source, $"the tensors cover {pos} bytes of data, but the file holds {dataLength} bytes after the header");
        return new SafeTensorsHeader(origin, headerLength, dataLength, entries, metadata);
    }

    static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Fail(source, $"'{MetadataKey}' is a JSON {value.ValueKind}, not an object of strings");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String) throw Fail(source, $"metadata '{Short(m.Name)}' is a JSON {m.Value.ValueKind}, not a string");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Fail(source, $"metadata names '{Short(m.Name)}' twice");
        }
    }

    static SafeTensorsEntry ParseEntry(string name, JsonElement value, long dataLength, string source)
    {
        string what = $"tensor '{Short(name)}'";
        if (value.ValueKind != JsonValueKind.Object) throw Fail(source, $"{what} is a JSON {value.ValueKind}, not an object");
        DType? dtype = null;
        int[]? shape = null;
        long begin = -1, end = -1;
        bool haveOffsets = false;
        foreach (var f in value.EnumerateObject())
        {
            switch (f.Name)
            {
                case "dtype":
                    if (dtype is not null) throw Fail(source, $"{what} has 'dtype' twice");
                    if (f.Value.ValueKind != JsonValueKind.String) throw Fail(source, $"{what}: 'dtype' is a JSON {f.Value.ValueKind}, not a string");
                    var s = f.Value.GetString()!;
                    dtype = ParseDType(s) ?? throw Fail(source, $"{what} has dtype '{Short(s)}'; supported are F32, F64, I32, I64 and BOOL");
                    break;
                case "shape":
                    if (shape is not null) throw Fail(source, $"{what} has 'shape' twice");
                    if (f.Value.ValueKind != JsonValueKind.Array) throw Fail(source, $"{what}: 'shape' is a JSON {f.Value.ValueKind}, not an array");
                    shape = new int[f.Value.GetArrayLength()];
                    int i = 0;
                    foreach (var d in f.Value.EnumerateArray())
                    {
                        if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0 || v > int.MaxValue)
                            throw Fail(source, $"{what}: shape[{i}] = {Short(d.GetRawText())} is not an integer in [0, {int.MaxValue}]");
                        shape[i++] = (int)v;
                    }
                    break;
                case "data_offsets":
                    if (haveOffsets) throw Fail(source, $"{what} has 'data_offsets' twice");
                    haveOffsets = true;
                    if (f.Value.ValueKind != JsonValueKind.Array || f.Value.GetArrayLength() != 2)
                        throw Fail(source, $"{what}: 'data_offsets' must be an array [begin, end]");
                    var o = new long[2];
                    int j = 0;
                    foreach (var d in f.Value.EnumerateArray())
                    {
                        if (d.ValueKind != JsonValueKind.Number || !d.TryGetUInt64(out ulong v) || v > (ulong)dataLength)
                            throw Fail(source, $"{what}: data offset {Short(d.GetRawText())} is not an integer in [0, {dataLength}] (the data section's length)");
                        o[j++] = (long)v;
                    }
                    (begin, end) = (o[0], o[1]);
                    break;
                default:
                    throw Fail(source, $"{what} has an unknown field '{Short(f.Name)}'; expected dtype, shape and data_offsets");
            }
        }
        if (dtype is null || shape is null || !haveOffsets) throw Fail(source, $"{what} lacks {(dtype is null ? "'dtype'" : shape is null ? "'shape'" : "'data_offsets'")}");
        if (end < begin) throw Fail(source, $"{what}: data_offsets [{begin}, {end}] end before they begin");

        // Every dim is <= int.MaxValue and the running product is kept <= int.MaxValue, so nothing overflows.
        long numel = 1;
        if (!shape.Contains(0))
            foreach (var d in shape)
            {
                numel *= d;
                if (numel > int.MaxValue) throw Fail(source, $"{what}: shape {Shapes.Format(shape)} has more than {int.MaxValue} elements");
            }
        else numel = 0;
        long bytes = numel * dtype.Value.Size();
        if (end - begin != bytes)
            throw Fail(source, $"{what}: shape {Shapes.Format(shape)} of {SafeTensors.DTypeName(dtype.Value)} needs {bytes} bytes, but data_offsets [{begin}, {end}] hold {end - begin}");
        return new SafeTensorsEntry(name, dtype.Value, shape, begin, end);
    }

    /// <summary>Reads one validated entry's data into a new CPU tensor.</summary>
    internal static Tensor ReadTensor(Stream stream, SafeTensorsHeader header, SafeTensorsEntry e, string source)
    {
        try
        {
            stream.Position = header.Origin + 8 + header.HeaderLength + e.Begin;
            int n = e.Numel;
            Array data = e.DType switch
            {
                DType.Float32 => ReadElements<float>(stream, n),
                DType.Float64 => ReadElements<double>(stream, n),
                DType.Int32 => ReadElements<int>(stream, n),
                DType.Int64 => ReadElements<long>(stream, n),
                _ => ReadBools(stream, n, e, source),
            };
            return Torch.Tensor(data, e.Shape);
        }
        catch (Exception ex) when (ex is (IOException and not CheckpointException) or NotSupportedException or ObjectDisposedException)
        {
            throw new CheckpointException($"SafeTensors: cannot read tensor '{Short(e.Name)}' from '{source}': {ex.Message}", ex);
        }
    }

    static T[] ReadElements<T>(Stream stream, int count) where T : unmanaged
    {
        var values = new T[count];
        int size = Marshal.SizeOf<T>(), per = ChunkBytes / size;
        for (int start = 0; start < count; start += per)
        {
            var bytes = MemoryMarshal.AsBytes(values.AsSpan(start, Math.Min(per, count - start)));
            stream.ReadExactly(bytes);
            if (!BitConverter.IsLittleEndian && size > 1)
                for (int i = 0; i < bytes.Length; i += size) bytes.Slice(i, size).Reverse();
        }
        return values;
    }

    static bool[] ReadBools(Stream stream, int count, SafeTensorsEntry e, string source)
    {
        var raw = ReadElements<byte>(stream, count);
        var values = new bool[count];
        for (int i = 0; i < count; i++)
        {
            if (raw[i] > 1) throw Fail(source, $"tensor '{Short(e.Name)}': BOOL element {i} is byte {raw[i]}, not 0 or 1");
            values[i] = raw[i] == 1;
        }
        return values;
    }

    /// <summary>Keeps forged, huge names and values from flooding error messages.</summary>
    internal static string Short(string s) => s.Length <= 200 ? s : s[..200] + $"... ({s.Length} characters)";
}

/// <summary>Writes a file so that the target is either untouched or completely replaced, never half written.</summary>
static class AtomicFile
{
    /// <summary>
    /// Writes through a temporary file ".NAME.GUID.tmp" in the target's folder, flushes it to disk, then renames it over
    /// the target. A process killed mid-save leaves its temporary file behind; each save first removes such leftovers
    /// of the same target (exactly ".NAME.&lt;32 hex digits&gt;.tmp", nothing else). Two processes saving the same
    /// target at the same time are therefore not supported (one may remove the other's file in the making).
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no parent folder", nameof(path));
        if (!Directory.Exists(dir)) // named here, not as the temporary file below
            throw new DirectoryNotFoundException($"cannot save '{path}': the folder '{dir}' does not exist");
        RemoveLeftovers(dir, Path.GetFileName(full));
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Deletes ".NAME.&lt;32 hex&gt;.tmp" files of an interrupted earlier save of NAME in dir (best effort).</summary>
    internal static int RemoveLeftovers(string dir, string name)
    {
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        string prefix = "." + name + ".";
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(dir, ".*.tmp").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
        foreach (var file in candidates)
        {
            string f = Path.GetFileName(file);
            if (!f.StartsWith(prefix, StringComparison.Ordinal) || f.Length != prefix.Length + 32 + 4 || !f.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            if (!f.AsSpan(prefix.Length, 32).ContainsAnyExcept("0123456789abcdef".AsSpan()))
                try { File.Delete(file); removed++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return removed;
    }
}
