using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Checkpoints in the safetensors format: round trips (module, all dtypes, optimizer state), the bytes against the
/// format description, files written by other writers, atomic saves, every validation error, forged sizes that must
/// not allocate, and a fuzz run over mutated and truncated real checkpoints.
/// </summary>
public sealed class CheckpointTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "minigrad-ckpt-" + Guid.NewGuid().ToString("N"));

    public CheckpointTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        SafeTensors.BeforeWriteTensor = null;
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    string PathOf(string name) => Path.Combine(dir, name);

    // ---- tiny modules (the real layers are written elsewhere) ----

    /// <summary>A module built from a list of named tensors and children, so tests can shape any layout.</summary>
    sealed class Bag : Module
    {
        public Bag(IEnumerable<(string Name, Tensor Value)> parameters, IEnumerable<(string Name, Module Child)>? children = null)
        {
            foreach (var (n, v) in parameters) RegisterParameter(n, new Parameter(v, v.DType.IsFloating()));
            foreach (var (n, c) in children ?? []) RegisterModule(n, c);
        }
    }

    /// <summary>x -> tanh(x W + B) head.weight: three Float32 parameters with dotted names.</summary>
    sealed class TinyNet : Module
    {
        public readonly Parameter W, B, HeadWeight;

        public TinyNet(int seed)
        {
            var g = new Generator(seed);
            W = RegisterParameter("W", new Parameter(Torch.Randn([3, 4], generator: g)))!;
            B = RegisterParameter("B", new Parameter(Torch.Randn([4], generator: g)))!;
            HeadWeight = RegisterModule("head", new Bag([("weight", Torch.Randn([4, 2], generator: g))])).Parameters().Single();
        }

        public Tensor Forward(Tensor x) => (x.MatMul(W) + B).Tanh().MatMul(HeadWeight);
    }

    static readonly Tensor X = Torch.Randn([5, 3], generator: new Generator(99));
    static readonly Tensor Y = Torch.Randn([5, 2], generator: new Generator(98));

    static void Train(TinyNet net, Optimizer opt, int steps, LrScheduler? schedule = null)
    {
        for (int i = 0; i < steps; i++)
        {
            opt.ZeroGrad();
            (net.Forward(X) - Y).Pow(2.0).Mean().Backward();
            opt.Step();
            schedule?.Step();
        }
    }

    /// <summary>Every dtype, a 0-d tensor and an empty one.</summary>
    static Bag Mixed(int seed) => new(
        [
            ("a", Torch.Randn([2, 3], DType.Float64, generator: new Generator(seed))),
            ("b", Torch.Randn([5], generator: new Generator(seed + 1))),
            ("c", Torch.Tensor(new[] { seed, -2, 3, int.MaxValue }, 2, 2)),
            ("d", Torch.Tensor(new long[] { long.MinValue, seed, 1L << 40 }, 3)),
            ("e", Torch.Tensor(new[] { true, false, seed % 2 == 0, true }, 4)),
            ("s", Torch.Scalar(seed * 0.5f)),
            ("z", Torch.Zeros([0, 3])),
        ],
        [("sub", new Bag([("v", Torch.Randn([2], DType.Float64, generator: new Generator(seed + 2)))]))]);

    // ---- byte helpers, written independently of the library's reader ----

    static byte[] LeBytes(Tensor t)
    {
        byte[] b;
        switch (t.DType)
        {
            case DType.Float32: { var v = t.ToArray<float>(); b = new byte[v.Length * 4]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), v[i]); break; }
            case DType.Float64: { var v = t.ToArray<double>(); b = new byte[v.Length * 8]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(i * 8), v[i]); break; }
            case DType.Int32: { var v = t.ToArray<int>(); b = new byte[v.Length * 4]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(i * 4), v[i]); break; }
            case DType.Int64: { var v = t.ToArray<long>(); b = new byte[v.Length * 8]; for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(i * 8), v[i]); break; }
            default: b = t.ToArray<bool>().Select(x => x ? (byte)1 : (byte)0).ToArray(); break;
        }
        return b;
    }

    static string Snapshot(Module m) =>
        string.Join("|", m.NamedParameters().Select(x => $"{x.Name}:{x.Parameter.DType}:{Shapes.Format(x.Parameter.Shape)}:{Convert.ToHexString(LeBytes(x.Parameter))}"));

    static string Snapshot(Optimizer o)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in o.Options.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sb.Append($"{k}={v:R};");
        sb.Append($"initial={o.InitialLr?.ToString("R", CultureInfo.InvariantCulture) ?? "none"};");
        for (int i = 0; i < o.Parameters.Count; i++)
        {
            if (o.State(o.Parameters[i]) is not { } s) { sb.Append($"[{i}:none]"); continue; }
            sb.Append($"[{i}:step={s.Step}");
            foreach (var (b, t) in s.Buffers.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sb.Append($",{b}={Convert.ToHexString(LeBytes(t))}");
            sb.Append(']');
        }
        return sb.ToString();
    }

    static byte[] Build(string json, byte[] data, ulong? headerLength = null)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, headerLength ?? (ulong)h.Length);
        h.CopyTo(file, 8);
        data.CopyTo(file, 8 + h.Length);
        return file;
    }

    // ---- round trips ----

    [Fact]
    public void SavingIntoAMissingFolderNamesTheTarget()
    {
        string target = Path.Combine(Path.GetTempPath(), $"minigrad-no-such-{Guid.NewGuid():N}", "x.safetensors");
        var e = Assert.Throws<DirectoryNotFoundException>(() => Checkpoint.Save(new Linear(2, 2), target));
        Assert.Contains(target, e.Message);
        Assert.DoesNotContain(".tmp", e.Message);
    }

    [Fact]
    public void RoundTripRestoresValuesIntoTheSameParameterObjects()
    {
        var a = new TinyNet(1);
        var path = PathOf("tiny.safetensors");
        Checkpoint.Save(a, path);
        var b = new TinyNet(2);
        Assert.NotEqual(Snapshot(a), Snapshot(b));
        var w = b.W;
        var meta = Checkpoint.Load(b, path);
        Assert.Equal(Snapshot(a), Snapshot(b));
        Assert.Same(w, b.NamedParameters().First().Parameter);
        Assert.Equal("pt", meta["format"]);
        Assert.True(b.W.IsLeaf && b.W.RequiresGrad);
        // The loaded module still trains: gradients reach the loaded leaves.
        (b.Forward(X) - Y).Pow(2.0).Mean().Backward();
        Assert.NotNull(b.W.Grad);
        Assert.Equal([3, 4], b.W.Grad!.Shape);
    }

    [Fact]
    public void EveryDtypeRoundTripsThroughCheckpointAndSafeTensors()
    {
        var a = Mixed(4);
        var path = PathOf("mixed.safetensors");
        Checkpoint.Save(a, path, metadata: new Dictionary<string, string> { ["epoch"] = "7", ["note"] = "ünïcode ✓" });
        var b = Mixed(11);
        Assert.NotEqual(Snapshot(a), Snapshot(b));
        var meta = Checkpoint.Load(b, path);
        Assert.Equal(Snapshot(a), Snapshot(b));
        Assert.Equal("7", meta["epoch"]);
        Assert.Equal("ünïcode ✓", meta["note"]);

        var tensors = a.NamedParameters().ToDictionary(x => x.Name, x => (Tensor)x.Parameter);
        var raw = PathOf("raw.safetensors");
        SafeTensors.Write(raw, tensors, new Dictionary<string, string> { ["k"] = "v" });
        var read = SafeTensors.Read(raw);
        Assert.Equal(tensors.Keys.OrderBy(k => k, StringComparer.Ordinal), read.Tensors.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.DType, read.Tensors[name].DType);
            Assert.Equal(t.Shape, read.Tensors[name].Shape);
            Assert.Equal(LeBytes(t), LeBytes(read.Tensors[name]));
        }
        Assert.Equal("v", read.Metadata["k"]);
        Assert.Empty(SafeTensors.Read(WriteEmpty()).Tensors);
    }

    string WriteEmpty()
    {
        var p = PathOf("empty.safetensors");
        SafeTensors.Write(p, new Dictionary<string, Tensor>());
        Assert.Equal(16, new FileInfo(p).Length); // "{}" padded to 8 bytes
        return p;
    }

    [Fact]
    public void FileFollowsTheFormatDescriptionByteForByte()
    {
        var m = Mixed(3);
        var path = PathOf("format.safetensors");
        Checkpoint.Save(m, path, metadata: new Dictionary<string, string> { ["epoch"] = "7" });
        var file = File.ReadAllBytes(path);

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.True(n <= (ulong)file.Length - 8);
        Assert.Equal(0, (int)((8 + n) % 8)); // the data starts 8-byte aligned
        var header = Encoding.UTF8.GetString(file, 8, (int)n);
        Assert.StartsWith("{", header);
        Assert.EndsWith("}", header.TrimEnd(' '));
        Assert.True(header.Length - header.TrimEnd(' ').Length < 8, "padding is fewer than 8 spaces");

        using var doc = JsonDocument.Parse(header);
        var root = doc.RootElement;
        var meta = root.GetProperty("__metadata__");
        Assert.Equal(["epoch", "format"], meta.EnumerateObject().Select(p => p.Name).OrderBy(x => x, StringComparer.Ordinal));
        Assert.Equal("7", meta.GetProperty("epoch").GetString());
        Assert.Equal("pt", meta.GetProperty("format").GetString());

        var dtypeNames = new Dictionary<DType, (string Name, int Size)>
        {
            [DType.Float32] = ("F32", 4), [DType.Float64] = ("F64", 8), [DType.Int32] = ("I32", 4), [DType.Int64] = ("I64", 8), [DType.Bool] = ("BOOL", 1),
        };
        var expected = m.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter);
        var spans = new List<(long Begin, long End)>();
        long dataStart = 8 + (long)n;
        foreach (var entry in root.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            Assert.True(expected.TryGetValue(entry.Name, out var p), $"unexpected entry {entry.Name}");
            Assert.Equal(["data_offsets", "dtype", "shape"], entry.Value.EnumerateObject().Select(f => f.Name).OrderBy(x => x, StringComparer.Ordinal));
            var (dtypeName, size) = dtypeNames[p!.DType];
            Assert.Equal(dtypeName, entry.Value.GetProperty("dtype").GetString());
            Assert.Equal(p.Shape, entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            var off = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(2, off.Length);
            Assert.Equal((long)p.Numel * size, off[1] - off[0]);
            Assert.Equal(0, off[0] % size); // aligned to its element size
            Assert.Equal(LeBytes(p), file.AsSpan((int)(dataStart + off[0]), (int)(off[1] - off[0])).ToArray());
            spans.Add((off[0], off[1]));
        }
        Assert.Equal(expected.Count, spans.Count);
        spans.Sort();
        long pos = 0;
        foreach (var (b, e) in spans) { Assert.Equal(pos, b); pos = e; }
        Assert.Equal(file.Length - dataStart, pos); // no gaps, nothing after the last tensor
        // The known values land where the header says: "c" is I32 [seed, -2, 3, int.MaxValue].
        var c = root.GetProperty("c").GetProperty("data_offsets")[0].GetInt64();
        Assert.Equal(new[] { 3, -2, 3, int.MaxValue }, Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan((int)(dataStart + c + 4 * i)))));
    }

    [Fact]
    public void FilesFromOtherWritersLoad()
    {
        // As another writer might produce it: no padding, no metadata, keys in another order, metadata last.
        float[] w = [1, 2, 3, 4, 5, 6];
        double[] b = [-0.5, 1e300];
        var data = new byte[40];
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(16 + 4 * i), w[i]);
        for (int i = 0; i < 2; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8 * i), b[i]);
        string json = """{"w":{"shape":[2,3],"data_offsets":[16,40],"dtype":"F32"},"b":{"dtype":"F64","data_offsets":[0,16],"shape":[2]},"__metadata__":{"framework":"other"}}""";
        var path = PathOf("other.safetensors");
        File.WriteAllBytes(path, Build(json, data));
        var m = new Bag([("w", Torch.Zeros(2, 3)), ("b", Torch.Zeros([2], DType.Float64))]);
        var meta = Checkpoint.Load(m, path);
        Assert.Equal(w, m.NamedParameters().First().Parameter.ToArray<float>());
        Assert.Equal(b, m.NamedParameters().Last().Parameter.ToArray<double>());
        Assert.Equal("other", meta["framework"]);
        // A Float64 file loads into Float32 parameters (converted, like PyTorch's copy_).
        var m32 = new Bag([("w", Torch.Zeros(2, 3)), ("b", Torch.Zeros(2))]);
        Checkpoint.Load(m32, path);
        Assert.Equal(DType.Float32, m32.NamedParameters().Last().Parameter.DType);
        Assert.Equal([-0.5f, float.PositiveInfinity], m32.NamedParameters().Last().Parameter.ToArray<float>());
    }

    static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ms = new MemoryStream();
        SafeTensors.Write(ms, tensors, metadata);
        return ms.ToArray();
    }

    [Fact]
    public void WriterMatchesTheReferenceImplementationsTestVectors()
    {
        // The expected files of huggingface/safetensors' own tests (safetensors/src/tensor.rs: test_empty,
        // test_serialization, test_serialization_forced_alignement), rebuilt here from their header text and data.
        Assert.Equal(Build("{}      ", []), Serialize(new Dictionary<string, Tensor>()));
        Assert.Equal(Build("""{"__metadata__":{"framework":"pt"}}     """, []),
            Serialize(new Dictionary<string, Tensor>(), new Dictionary<string, string> { ["framework"] = "pt" }));
        var values = Torch.Tensor(new float[] { 0, 1, 2, 3, 4, 5 }, 6);
        Assert.Equal(Build("""{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}""", LeBytes(values)),
            Serialize(new Dictionary<string, Tensor> { ["attn.0"] = values.Reshape(1, 2, 3) }));
        Assert.Equal(Build("""{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       """, LeBytes(values)),
            Serialize(new Dictionary<string, Tensor> { ["attn0"] = values.Reshape(1, 1, 2, 3) }));
    }

    [Fact]
    public void StringsThatUtf8CannotRepresentAreRejectedOnWrite()
    {
        // An unpaired surrogate would become U+FFFD in the JSON: the tensor would be renamed, and "w\ud800" and
        // "w\udc00" would both become "w\ufffd", a duplicate key that readers (ours and the reference) reject.
        var t = Torch.Tensor(new float[] { 1, 2 }, 2);
        var path = PathOf("surrogate.safetensors");
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new Dictionary<string, Tensor> { ["w\ud800"] = t }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new Dictionary<string, Tensor> { ["w\ud800"] = t, ["w\udc00"] = t }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new Dictionary<string, Tensor> { ["w"] = t }, new Dictionary<string, string> { ["k\udc00"] = "v" }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new Dictionary<string, Tensor> { ["w"] = t }, new Dictionary<string, string> { ["k"] = "\ud83d" }));
        Assert.False(File.Exists(path));
        // Paired surrogates are fine and round-trip.
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["w\ud83d\ude00"] = t }, new Dictionary<string, string> { ["k"] = "\ud83d\ude00" });
        var read = SafeTensors.Read(path);
        Assert.Equal([1f, 2f], read.Tensors["w\ud83d\ude00"].ToArray<float>());
        Assert.Equal("\ud83d\ude00", read.Metadata["k"]);
    }

    [Fact]
    public void LinearLayersRoundTripWithOptimizerState()
    {
        var path = PathOf("linear.safetensors");
        var a = new Linear(3, 2, generator: new Generator(1));
        var opt = new AdamW(a.Parameters(), 0.01);
        for (int i = 0; i < 2; i++)
        {
            opt.ZeroGrad();
            (a.Forward(X) - Y).Pow(2.0).Mean().Backward();
            opt.Step();
        }
        Checkpoint.Save(a, path, opt);
        Assert.Equal(["bias", "optimizer.state.bias.exp_avg", "optimizer.state.bias.exp_avg_sq", "optimizer.state.weight.exp_avg", "optimizer.state.weight.exp_avg_sq", "weight"],
            SafeTensors.ReadHeader(path).Entries.Select(e => e.Name).OrderBy(x => x, StringComparer.Ordinal));
        var b = new Linear(3, 2, generator: new Generator(2));
        var optB = new AdamW(b.Parameters(), 0.5);
        Checkpoint.Load(b, path, optB);
        Assert.Equal(Snapshot(a), Snapshot(b));
        Assert.Equal(Snapshot(opt), Snapshot(optB));
        var noBias = new Linear(3, 2, bias: false);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(noBias, path));
        Assert.Contains("unexpected entry 'bias'", e.Message);
    }

    // ---- optimizer state ----

    public static TheoryData<string> Optimizers() => new() { "adam", "adamw", "sgd", "sgd-momentum", "sgd-nesterov", "rmsprop", "rmsprop-centered-momentum" };

    static Optimizer MakeOptimizer(string kind, TinyNet net, double lr) => kind switch
    {
        "adam" => new Adam(net.Parameters(), lr, weightDecay: 0.01),
        "adamw" => new AdamW(net.Parameters(), lr, beta1: 0.8),
        "sgd" => new Sgd(net.Parameters(), lr),
        "sgd-momentum" => new Sgd(net.Parameters(), lr, momentum: 0.9, dampening: 0.2, weightDecay: 0.01),
        "rmsprop" => new RmsProp(net.Parameters(), lr),
        "rmsprop-centered-momentum" => new RmsProp(net.Parameters(), lr, alpha: 0.9, weightDecay: 0.01, momentum: 0.5, centered: true),
        _ => new Sgd(net.Parameters(), lr, momentum: 0.7, nesterov: true),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void TrainingContinuesIdenticallyAfterSaveAndLoad(string kind)
    {
        var path = PathOf($"train-{kind}.safetensors");
        var net = new TinyNet(1);
        var opt = MakeOptimizer(kind, net, 0.05);
        var schedule = new StepLr(opt, stepSize: 2, gamma: 0.5);
        Train(net, opt, 3, schedule);
        Checkpoint.Save(net, path, opt);
        int savedEpoch = schedule.LastEpoch;
        Train(net, opt, 3, schedule);
        string expectedNet = Snapshot(net), expectedOpt = Snapshot(opt);

        var net2 = new TinyNet(7);
        var opt2 = MakeOptimizer(kind, net2, 0.9); // other lr: the checkpoint's options win
        Train(net2, opt2, 1);                        // and other state: replaced, not merged
        var meta = Checkpoint.Load(net2, path, opt2);
        Assert.Equal(opt2.Name, meta["optimizer.type"]);
        Assert.Equal(0.025, opt2.Lr);                 // epoch 3 of StepLr(2, 0.5) from 0.05
        Assert.Equal(0.05, opt2.InitialLr);
        // PyTorch's resume convention: constructing with lastEpoch = k steps to k + 1, the epoch at save time.
        var schedule2 = new StepLr(opt2, stepSize: 2, gamma: 0.5, lastEpoch: savedEpoch - 1);
        Assert.Equal(0.025, opt2.Lr);
        Train(net2, opt2, 3, schedule2);
        Assert.Equal(expectedNet, Snapshot(net2));
        Assert.Equal(expectedOpt, Snapshot(opt2));
    }

    [Fact]
    public void OptimizerStateIsStoredUnderParameterNames()
    {
        var path = PathOf("adam.safetensors");
        var net = new TinyNet(1);
        var opt = new Adam(net.Parameters(), 0.01, beta2: 0.99);
        Train(net, opt, 2);
        Checkpoint.Save(net, path, opt);
        var header = SafeTensors.ReadHeader(path);
        Assert.Equal(
            ["B", "W", "head.weight", "optimizer.state.B.exp_avg", "optimizer.state.B.exp_avg_sq", "optimizer.state.W.exp_avg",
             "optimizer.state.W.exp_avg_sq", "optimizer.state.head.weight.exp_avg", "optimizer.state.head.weight.exp_avg_sq"],
            header.Entries.Select(e => e.Name).OrderBy(x => x, StringComparer.Ordinal));
        Assert.Equal([4, 2], header.Find("optimizer.state.head.weight.exp_avg_sq")!.Shape);
        Assert.Equal("Adam", header.Metadata["optimizer.type"]);
        Assert.Equal("0.99", header.Metadata["optimizer.beta2"]);
        Assert.Equal("0.01", header.Metadata["optimizer.lr"]);
        Assert.Equal("2", header.Metadata["optimizer.state.W.step"]);
        var read = SafeTensors.Read(path);
        Assert.Equal(LeBytes(opt.State(net.W)!.Buffers["exp_avg"]), LeBytes(read.Tensors["optimizer.state.W.exp_avg"]));
    }

    [Fact]
    public void OptimizerMismatchesAreRejectedWithoutChangingAnything()
    {
        var path = PathOf("adam-state.safetensors");
        var net = new TinyNet(1);
        var adam = new Adam(net.Parameters());
        Train(net, adam, 1);
        Checkpoint.Save(net, path, adam);

        var other = new TinyNet(2);
        var sgd = new Sgd(other.Parameters(), 0.1, momentum: 0.5);
        Train(other, sgd, 1);
        string before = Snapshot(other), beforeOpt = Snapshot(sgd);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(other, path, sgd));
        Assert.Contains("holds Adam state, but the optimizer is Sgd", e.Message);
        Assert.Equal(before, Snapshot(other));
        Assert.Equal(beforeOpt, Snapshot(sgd));

        // Module-only loads ignore the optimizer entries.
        Checkpoint.Load(other, path);
        Assert.Equal(Snapshot(net), Snapshot(other));

        // A file without optimizer state cannot fill an optimizer.
        var plain = PathOf("plain.safetensors");
        Checkpoint.Save(net, plain);
        var fresh = new TinyNet(3);
        string freshBefore = Snapshot(fresh);
        var none = Assert.Throws<CheckpointException>(() => Checkpoint.Load(fresh, plain, new Adam(fresh.Parameters())));
        Assert.Contains("holds no optimizer state", none.Message);
        Assert.Equal(freshBefore, Snapshot(fresh));

        // An optimizer over parameters the module does not have cannot be saved or loaded.
        var stray = new Adam([new Parameter(Torch.Zeros(2))]);
        var save = Assert.Throws<ArgumentException>(() => Checkpoint.Save(net, PathOf("stray.safetensors"), stray));
        Assert.Contains("optimizer parameter 0 (shape [2]) is not a parameter of the module", save.Message);
        Assert.False(File.Exists(PathOf("stray.safetensors")));
        Assert.Throws<CheckpointException>(() => Checkpoint.Load(net, path, new Adam([new Parameter(Torch.Zeros(2))])));
    }

    // ---- mismatches between file and module ----

    [Fact]
    public void NameAndShapeMismatchesNameTheParameterAndBothShapes()
    {
        var path = PathOf("bag.safetensors");
        Checkpoint.Save(new Bag([("w", Torch.Ones(3, 4)), ("b", Torch.Ones(4))], [("head", new Bag([("weight", Torch.Ones(4, 2))]))]), path);

        void Rejects(Module m, params string[] fragments)
        {
            string before = Snapshot(m);
            var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(m, path));
            foreach (var f in fragments) Assert.Contains(f, e.Message);
            Assert.Equal(before, Snapshot(m));
        }

        Rejects(new Bag([("w", Torch.Zeros(4, 3)), ("b", Torch.Zeros(4))], [("head", new Bag([("weight", Torch.Zeros(4, 2))]))]),
            "size mismatch for 'w': the checkpoint has shape [3,4], the module's parameter has shape [4,3]");
        Rejects(new Bag([("w", Torch.Zeros(3, 4)), ("b", Torch.Zeros(4)), ("extra", Torch.Zeros(1))], [("head", new Bag([("weight", Torch.Zeros(4, 2))]))]),
            "missing parameter(s) 'extra'");
        Rejects(new Bag([("w", Torch.Zeros(3, 4))]), "unexpected entries 'b', 'head.weight'");
        Rejects(new Bag([("w", Torch.Zeros(3, 4)), ("b", Torch.Zeros(4))], [("head", new Bag([("weight2", Torch.Zeros(4, 2))]))]),
            "missing parameter(s) 'head.weight2'", "unexpected entry 'head.weight'");
        Rejects(new Bag([("w", Torch.Zeros([3, 4], DType.Int64)), ("b", Torch.Zeros(4))], [("head", new Bag([("weight", Torch.Zeros(4, 2))]))]),
            "dtype mismatch for 'w': the checkpoint has F32, the module's parameter is Int64");
        var missing = Assert.Throws<CheckpointException>(() => Checkpoint.Load(new Bag([]), PathOf("nope.safetensors")));
        Assert.IsType<FileNotFoundException>(missing.InnerException);
    }

    // ---- atomic saves ----

    [Fact]
    public void AFailedSaveLeavesTheTargetUntouchedAndNoTemporaryFile()
    {
        var path = PathOf("atomic.safetensors");
        var net = new TinyNet(1);
        var opt = new Adam(net.Parameters());
        Train(net, opt, 1);
        Checkpoint.Save(net, path, opt);
        var original = File.ReadAllBytes(path);
        Train(net, opt, 1);

        // Fail after the header and the first tensor's bytes are written.
        int written = 0;
        SafeTensors.BeforeWriteTensor = name => { if (++written == 2) throw new IOException($"disk full (simulated) before '{name}'"); };
        var e = Assert.Throws<IOException>(() => Checkpoint.Save(net, path, opt));
        SafeTensors.BeforeWriteTensor = null;
        Assert.StartsWith("disk full (simulated)", e.Message);
        Assert.Equal(2, written);
        Assert.Equal(original, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(dir));

        // The rename itself fails when the target is a folder: the folder survives, the temporary file is removed.
        var folder = PathOf("a-folder");
        Directory.CreateDirectory(folder);
        Assert.ThrowsAny<Exception>(() => Checkpoint.Save(net, folder));
        Assert.True(Directory.Exists(folder));
        Assert.Equal([path], Directory.GetFiles(dir));

        // A missing folder: nothing is created.
        Assert.ThrowsAny<IOException>(() => Checkpoint.Save(net, Path.Combine(dir, "missing", "x.safetensors")));
        Assert.False(Directory.Exists(Path.Combine(dir, "missing")));

        // Unstorable arguments are rejected before the file is opened.
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(net, path, metadata: new Dictionary<string, string> { ["optimizer.lr"] = "1" }));
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(new Bag([], [("optimizer", new Bag([("state", Torch.Zeros(1))]))]), path));
        Assert.Equal(original, File.ReadAllBytes(path));

        // And a successful save replaces the file whole.
        Checkpoint.Save(net, path, opt);
        Assert.NotEqual(original, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    // ---- validation: every rule, and forged sizes that must not allocate ----

    static Bag SmallBag() => new([("w", Torch.Tensor(new float[] { 9, 9, 9, 9, 9, 9 }, 2, 3)), ("b", Torch.Tensor(new double[] { 7, 7 }, 2))]);

    const string GoodJson = """{"b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[16,40]}}""";

    static byte[] GoodData()
    {
        var data = new byte[40];
        for (int i = 0; i < 2; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8 * i), i + 0.25);
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(16 + 4 * i), i * 1.5f);
        return data;
    }

    const long AllocationLimit = 64L << 20;

    /// <summary>Loads a forged file; it must fail with CheckpointException, allocate little, and leave the module as it was.</summary>
    void AssertRejected(byte[] file, string fragment, Module? module = null)
    {
        var m = module ?? SmallBag();
        var path = PathOf("forged.safetensors");
        File.WriteAllBytes(path, file);
        string before = Snapshot(m);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var e = Record.Exception(() => Checkpoint.Load(m, path));
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(e is CheckpointException, $"expected CheckpointException containing '{fragment}', got {e?.GetType().Name ?? "success"}: {e}");
        Assert.True(e!.Message.Contains(fragment, StringComparison.Ordinal), $"expected '{fragment}' in: {e.Message}");
        Assert.True(allocated < AllocationLimit, $"loading allocated {allocated} bytes");
        Assert.Equal(before, Snapshot(m));
    }

    [Fact]
    public void TheHandBuiltBaseFileIsValid()
    {
        var m = SmallBag();
        var path = PathOf("good.safetensors");
        File.WriteAllBytes(path, Build(GoodJson, GoodData()));
        Checkpoint.Load(m, path);
        Assert.Equal([0.25, 1.25], m.NamedParameters().Last().Parameter.ToArray<double>());
        Assert.Equal([0f, 1.5f, 3f, 4.5f, 6f, 7.5f], m.NamedParameters().First().Parameter.ToArray<float>());
    }

    [Fact]
    public void ForgedSizesAreRejectedBeforeAnyLargeAllocation()
    {
        var data = GoodData();
        AssertRejected(Build(GoodJson, data, 1UL << 60), "header length 1152921504606846976 is above the limit");
        AssertRejected(Build(GoodJson, data, ulong.MaxValue), "is above the limit");
        AssertRejected(Build(GoodJson, data, 99_999_999), "runs past the end of the file");
        AssertRejected(Build(GoodJson, data, (ulong)GoodJson.Length + 41), "runs past the end of the file");
        AssertRejected(Build(GoodJson.Replace("[2,3]", "[1000000000,1000000000]"), data), "has more than 2147483647 elements");
        AssertRejected(Build(GoodJson.Replace("[2,3]", "[46341,46341]"), data), "has more than 2147483647 elements");
        AssertRejected(Build(GoodJson.Replace("[2,3]", "[1000000000,1000000000]").Replace("[16,40]", "[16,8000000000000000016]"), data), "not an integer in [0, 40]");
        AssertRejected(Build(GoodJson.Replace("[2,3]", "[1e9,1e9]"), data), "shape[0] = 1e9 is not an integer");
        AssertRejected(Build(GoodJson.Replace("[2,3]", "[4294967297,1]"), data), "shape[0] = 4294967297 is not an integer");
        AssertRejected(Build(GoodJson.Replace("[16,40]", "[16,18446744073709551615]"), data), "data offset 18446744073709551615 is not an integer in [0, 40]");
        AssertRejected(Build(GoodJson.Replace("[16,40]", "[16,99999999999999999999999]"), data), "is not an integer in [0, 40]");
        AssertRejected(Build(GoodJson.Replace("[2,3]", "[0,1000000000,1000000000]"), data), "needs 0 bytes, but data_offsets [16, 40] hold 24");
    }

    public static TheoryData<string, string, string> BadFiles() => new()
    {
        { "empty file", "", "fewer than the 8 of the header length" },
        { "7 bytes", "1234567", "fewer than the 8 of the header length" },
        { "header length 0", "len0", "too small for a JSON object" },
        { "not JSON", "json:{\"b\":", "the header is not valid JSON" },
        { "not an object", "json:[1,2]", "the header does not start with '{'" },
        { "leading space", "json: {}", "the header does not start with '{'" },
        { "trailing garbage", "json:" + GoodJson + "x", "the header is not valid JSON" },
        { "deep nesting", "json:{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]}", "the header is not valid JSON" },
        { "invalid UTF-8", "utf8", "the header is not valid UTF-8" },
        { "lone surrogate", "json:" + GoodJson.Replace("\"w\"", "\"\\ud800\""), "the header holds a string that is not valid Unicode" },
        { "duplicate tensor", "json:" + GoodJson.Replace("}}", "},\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}"), "names 'b' twice" },
        { "duplicate field", "json:" + GoodJson.Replace("\"shape\":[2],", "\"shape\":[2],\"shape\":[2],"), "has 'shape' twice" },
        { "unknown dtype", "json:" + GoodJson.Replace("F64", "F16"), "has dtype 'F16'; supported are F32, F64, I32, I64 and BOOL" },
        { "dtype not a string", "json:" + GoodJson.Replace("\"F64\"", "8"), "'dtype' is a JSON Number, not a string" },
        { "unknown field", "json:" + GoodJson.Replace("\"shape\":[2],", "\"shape\":[2],\"offsets\":[0,16],"), "unknown field 'offsets'" },
        { "missing offsets", "json:" + GoodJson.Replace(",\"data_offsets\":[0,16]", ""), "lacks 'data_offsets'" },
        { "negative dim", "json:" + GoodJson.Replace("[2,3]", "[-2,-3]"), "shape[0] = -2 is not an integer" },
        { "fractional dim", "json:" + GoodJson.Replace("[2,3]", "[2.0,3]"), "shape[0] = 2.0 is not an integer" },
        { "three offsets", "json:" + GoodJson.Replace("[0,16]", "[0,8,16]"), "'data_offsets' must be an array [begin, end]" },
        { "reversed offsets", "json:" + GoodJson.Replace("[0,16]", "[16,0]"), "end before they begin" },
        { "size mismatch", "json:" + GoodJson.Replace("[16,40]", "[16,36]"), "needs 24 bytes, but data_offsets [16, 36] hold 20" },
        { "overlap", "json:" + GoodJson.Replace("[2,3]", "[2,4]").Replace("[16,40]", "[8,40]"), "overlaps the tensor before it" },
        { "gap", "json:" + GoodJson.Replace("[2,3]", "[5]").Replace("[16,40]", "[20,40]"), "there is a gap of 4 bytes" },
        { "uncovered tail", "json:" + GoodJson.Replace("[2,3]", "[5]").Replace("[16,40]", "[16,36]"), "the tensors cover 36 bytes of data, but the file holds 40" },
        { "metadata not strings", "json:" + GoodJson.Replace("}}", "},\"__metadata__\":{\"epoch\":7}}"), "metadata 'epoch' is a JSON Number, not a string" },
        { "metadata not an object", "json:" + GoodJson.Replace("}}", "},\"__metadata__\":[]}"), "'__metadata__' is a JSON Array" },
        { "entry not an object", "json:" + GoodJson.Replace("}}", "},\"x\":5}"), "tensor 'x' is a JSON Number, not an object" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void MalformedFilesAreRejectedWithAClearMessage(string what, string spec, string fragment)
    {
        byte[] file = spec switch
        {
            "" => [],
            "1234567" => Encoding.ASCII.GetBytes(spec),
            "len0" => Build("", GoodData()),
            "utf8" => Build(GoodJson, GoodData()).Select((x, i) => i == 10 ? (byte)0xFF : x).ToArray(), // inside the name "b"
            _ => Build(spec["json:".Length..], GoodData()),
        };
        _ = what;
        AssertRejected(file, fragment);
    }

    [Fact]
    public void BoolBytesOtherThanZeroOrOneAreRejected()
    {
        var m = new Bag([("e", Torch.Tensor(new[] { true, false }, 2))]);
        var json = """{"e":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}""";
        AssertRejected(Build(json, [1, 2]), "BOOL element 1 is byte 2, not 0 or 1", m);
        var path = PathOf("bool.safetensors");
        File.WriteAllBytes(path, Build(json, [0, 1]));
        Checkpoint.Load(m, path);
        Assert.Equal([false, true], m.Parameters().Single().ToArray<bool>());
    }

    // ---- fuzzing ----

    static readonly string[] NumberSwaps = ["0", "1", "7", "41", "1000000000", "2147483647", "2147483648", "4294967296", "9223372036854775807", "18446744073709551615", "99999999999999999999", "-1", "1e9", "1.5", "00"];
    static readonly string[] StringSwaps = ["\"F16\"", "\"BOOL\"", "\"I64\"", "\"F64\"", "\"I32\"", "\"__metadata__\"", "\"\"", "\"W\"", "\"shape\"", "\"dtype\"", "\"data_offsets\"", "\"optimizer.state.W.exp_avg\"", "\"optimizer.state.W.step\"", "\"optimizer.type\"", "\"Sgd\"", "\"-1\"", "\"NaN\"", "\"1e400\"", "\"x\"", "5", "null", "{}", "[]"];
    static readonly string[] ArraySwaps = ["[1000000000,1000000000]", "[]", "[0]", "[4294967296]", "[1e9,1e9]", "[-1]", "[0,18446744073709551615]", "[0,9223372036854775807]", "[\"a\"]", "[[[[[[[[[[1]]]]]]]]]]", "null", "{}", "[1.5]", "[46341,46341]", "[0,0]", "[3,4,0]"];

    static byte[] Mutate(Random rng, byte[] original, out string how)
    {
        ulong n0 = BinaryPrimitives.ReadUInt64LittleEndian(original);
        string json = Encoding.UTF8.GetString(original, 8, (int)n0);
        var data = original.AsSpan(8 + (int)n0).ToArray();
        var file = (byte[])original.Clone();
        switch (rng.Next(9))
        {
            case 0: // random bit flips anywhere
            {
                int k = rng.Next(1, 4);
                for (int i = 0; i < k; i++) file[rng.Next(file.Length)] ^= (byte)(1 << rng.Next(8));
                how = $"{k} bit flips";
                return file;
            }
            case 1: // byte changes inside the header
            {
                int k = rng.Next(1, 3);
                for (int i = 0; i < k; i++) file[8 + rng.Next((int)n0)] = (byte)rng.Next(256);
                how = $"{k} header bytes";
                return file;
            }
            case 2: // truncation
            {
                int len = rng.Next(file.Length);
                how = $"truncated to {len}";
                return file.AsSpan(0, len).ToArray();
            }
            case 3: // header length edits
            {
                ulong[] choices = [0, 1, 7, n0 - 1, n0 + 1, n0 + 8, (ulong)file.Length, (ulong)file.Length - 8, 1UL << 60, ulong.MaxValue, (ulong)rng.NextInt64(), (ulong)rng.Next(file.Length), SafeTensors.MaxHeaderLength, SafeTensors.MaxHeaderLength + 1];
                ulong v = choices[rng.Next(choices.Length)];
                BinaryPrimitives.WriteUInt64LittleEndian(file, v);
                how = $"header length {v}";
                return file;
            }
            case 4: // data edits: flips (values change, loads may succeed), appended or removed bytes
            {
                int kind = rng.Next(3);
                if (kind == 0 && data.Length > 0) { data[rng.Next(data.Length)] ^= (byte)rng.Next(1, 256); how = "data byte"; }
                else if (kind == 1) { data = [.. data, .. new byte[rng.Next(1, 9)]]; how = "appended bytes"; }
                else { data = data.AsSpan(0, Math.Max(0, data.Length - rng.Next(1, 9))).ToArray(); how = "removed data bytes"; }
                return Build(json, data);
            }
            default: // JSON edits, mostly with a consistent header length so validation goes deep
            {
                string edited;
                int kind = rng.Next(6);
                if (kind == 0) edited = Swap(rng, json, @"-?\d+", NumberSwaps, out how);
                else if (kind == 1) edited = Swap(rng, json, "\"[^\"]*\"", StringSwaps, out how);
                else if (kind == 2) edited = Swap(rng, json, @"\[[^\[\]]*\]", ArraySwaps, out how);
                else if (kind == 3)
                {
                    int at = rng.Next(json.Length), len = rng.Next(1, 24);
                    len = Math.Min(len, json.Length - at);
                    edited = json.Remove(at, len);
                    how = $"deleted json[{at}..+{len}]";
                }
                else if (kind == 4)
                {
                    int at = rng.Next(json.Length), len = Math.Min(rng.Next(1, 40), json.Length - at);
                    edited = json.Insert(rng.Next(json.Length), json.Substring(at, len));
                    how = "duplicated a json slice";
                }
                else
                {
                    // Forge one entry's shape and offsets together so that the sizes agree with each other but not the file.
                    var entries = Regex.Matches(json, "\"shape\":\\[[^\\]]*\\],\"data_offsets\":\\[\\d+,\\d+\\]");
                    var m = entries[rng.Next(entries.Count)];
                    edited = json.Remove(m.Index, m.Length).Insert(m.Index, "\"shape\":[1000000000,1000000000],\"data_offsets\":[0,4000000000000000000]");
                    how = "forged shape and offsets";
                }
                if (rng.Next(5) == 0) { how += ", old header length"; return Build(edited, data, n0); }
                if (rng.Next(2) == 0) edited = edited.PadRight(edited.Length + rng.Next(8));
                return Build(edited, data);
            }
        }
    }

    static string Swap(Random rng, string json, string pattern, string[] choices, out string how)
    {
        var ms = Regex.Matches(json, pattern);
        var m = ms[rng.Next(ms.Count)];
        string to = choices[rng.Next(choices.Length)];
        how = $"{m.Value} -> {to} at {m.Index}";
        return json.Remove(m.Index, m.Length).Insert(m.Index, to);
    }

    [Fact]
    public void FuzzedCheckpointsLoadOrFailCleanly()
    {
        var net = new TinyNet(1);
        var opt = new Adam(net.Parameters(), 0.01);
        var schedule = new CosineAnnealingLr(opt, 10);
        Train(net, opt, 2, schedule);
        var source = PathOf("fuzz-source.safetensors");
        Checkpoint.Save(net, source, opt, new Dictionary<string, string> { ["epoch"] = "2" });
        var original = File.ReadAllBytes(source);

        var target = new TinyNet(5);
        var targetOpt = new Adam(target.Parameters(), 0.02);
        var path = PathOf("fuzz.safetensors");
        var rng = new Random(20240611);
        int loaded = 0, rejected = 0;
        long maxAllocated = 0;
        for (int iter = 0; iter < 2500; iter++)
        {
            var file = Mutate(rng, original, out var how);
            File.WriteAllBytes(path, file);
            string before = Snapshot(target), beforeOpt = Snapshot(targetOpt);
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            var e = Record.Exception(() => Checkpoint.Load(target, path, targetOpt));
            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            maxAllocated = Math.Max(maxAllocated, allocated);
            Assert.True(allocated < AllocationLimit, $"iteration {iter} ({how}): loading allocated {allocated} bytes");
            if (e is null) { loaded++; continue; }
            Assert.True(e is CheckpointException, $"iteration {iter} ({how}): {e.GetType().Name} escaped: {e}");
            rejected++;
            Assert.True(before == Snapshot(target), $"iteration {iter} ({how}): the module changed on a failed load");
            Assert.True(beforeOpt == Snapshot(targetOpt), $"iteration {iter} ({how}): the optimizer changed on a failed load");
        }
        // Both outcomes occur: data-only edits load, structural ones are rejected.
        Assert.True(rejected >= 2000, $"only {rejected} of 2500 mutations were rejected");
        Assert.True(loaded >= 100, $"only {loaded} of 2500 mutations loaded");
        // The untouched file still loads and restores the source exactly.
        Checkpoint.Load(target, source, targetOpt);
        Assert.Equal(Snapshot(net), Snapshot(target));
        Assert.Equal(Snapshot(opt), Snapshot(targetOpt));
    }
}
