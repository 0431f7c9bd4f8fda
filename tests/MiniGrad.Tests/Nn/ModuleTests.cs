using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>Sequential and Lstm as modules: names, modes, gradients bookkeeping, the summary table, and LSTM semantics.</summary>
public class ModuleTests
{
    static Sequential Model() => new(new Lstm(4, 3, 2, bidirectional: true, generator: new Generator(1)), new Dropout(0.5), new Linear(6, 5, generator: new Generator(2)));

    [Fact]
    public void SequentialNamesParametersWithDots()
    {
        var names = Model().NamedParameters().Select(p => p.Name).ToArray();
        string[] lstm = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"];
        Assert.Equal([.. lstm.Select(n => "0." + n), "2.weight", "2.bias"], names);
        var shapes = Model().NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape);
        Assert.Equal([12, 4], shapes["0.weight_ih_l0"]);
        Assert.Equal([12, 6], shapes["0.weight_ih_l1_reverse"]); // layer 1 reads both directions of layer 0
        Assert.Equal([12, 3], shapes["0.weight_hh_l1"]);
        Assert.Equal([12], shapes["0.bias_hh_l0"]);
        Assert.Equal(["", "0", "1", "2"], Model().NamedModules().Select(m => m.Name));
    }

    [Fact]
    public void TiedWeightsComeOnceAndAModuleCannotContainItself()
    {
        // As PyTorch: a module used twice (tied weights) gives its parameters once, so an optimizer takes them; a
        // checkpoint still stores them under both names, as state_dict does.
        var lin = new Linear(2, 2, generator: new Generator(1));
        var m = new Sequential(lin, new Relu(), lin);
        Assert.Equal(["0.weight", "0.bias"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], m.NamedParameters(removeDuplicate: false).Select(p => p.Name));
        Assert.Equal(["", "0", "1"], m.NamedModules().Select(x => x.Name));
        var opt = new Sgd(m.Parameters(), 0.1);
        m.Forward(Torch.Ones(3, 2)).Sum().Backward();
        opt.Step();
        using var dir = new MiniGrad.Tests.Speech.TempDir();
        Checkpoint.Save(m, dir["tied.safetensors"]);
        Assert.Equal(4, SafeTensors.ReadHeader(dir["tied.safetensors"]).Entries.Count);
        var copy = new Sequential(new Linear(2, 2), new Relu(), new Linear(2, 2));
        Checkpoint.Load(copy, dir["tied.safetensors"]);
        H.Close(lin.Weight.Arr(), ((Linear)copy[2]).Weight);
        // A module inside itself would make every walk over the tree endless.
        var s = new Sequential(new Linear(2, 2));
        H.Throws<ArgumentException>(() => s.Add(s), "cannot be its own descendant");
        var outer = new Sequential(s);
        H.Throws<ArgumentException>(() => s.Add(outer), "is or contains this");
        Assert.Equal(1, s.Count);
    }

    sealed class Stack : Module
    {
        public readonly ModuleList Layers;
        public Stack() => Layers = RegisterModule("layers", new ModuleList(new Linear(3, 4, generator: new Generator(1)), new Dropout(0.5), new Linear(4, 2, generator: new Generator(2))));
        public Tensor Forward(Tensor x) => ((Linear)Layers[2]).Forward(((Dropout)Layers[1]).Forward(((Linear)Layers[0]).Forward(x)).Relu());
    }

    [Fact]
    public void ModuleListRegistersItsModulesWithoutAForwardOfItsOwn()
    {
        // torch.nn.ModuleList: children "0", "1", ... that parameters, Train/Eval and checkpoints reach.
        var m = new Stack();
        Assert.Equal(["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(3, m.Layers.Count);
        Assert.Same(m.Layers[2], m.Layers[-1]);
        Assert.Equal([typeof(Linear), typeof(Dropout), typeof(Linear)], m.Layers.Select(l => l.GetType()));
        m.Eval();
        Assert.All(m.Layers, l => Assert.False(l.Training));
        Assert.Equal([5, 2], m.Forward(Torch.Ones(5, 3)).Shape);
        using var dir = new MiniGrad.Tests.Speech.TempDir();
        Checkpoint.Save(m, dir["stack.safetensors"]);
        var copy = new Stack();
        using (Torch.NoGrad()) ((Linear)copy.Layers[0]).Weight.Copy_(Torch.Zeros(4, 3));
        Checkpoint.Load(copy, dir["stack.safetensors"]);
        H.Close(((Linear)m.Layers[0]).Weight.Arr(), ((Linear)copy.Layers[0]).Weight);
        H.Throws<ArgumentOutOfRangeException>(() => m.Layers[3], "ModuleList: index 3 is out of range for 3 modules");
        Assert.Throws<ArgumentNullException>(() => m.Layers.Add(null!));
        Assert.Equal(3, m.Layers.Count);
    }

    sealed class Heads : Module
    {
        public readonly ModuleDict Out;
        public Heads() => Out = RegisterModule("heads", new ModuleDict([new("digit", new Linear(3, 10, generator: new Generator(1))), new("speaker", new Linear(3, 4, generator: new Generator(2)))]));
        public Tensor Forward(Tensor x, string task) => ((Linear)Out[task]).Forward(x);
    }

    [Fact]
    public void ModuleDictRegistersItsModulesUnderTheirKeysInOrder()
    {
        // torch.nn.ModuleDict: children under their keys, in insertion order, reached by parameters, Train/Eval and checkpoints.
        var m = new Heads();
        Assert.Equal(["heads.digit.weight", "heads.digit.bias", "heads.speaker.weight", "heads.speaker.bias"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(["digit", "speaker"], m.Out.Keys);
        Assert.Equal(2, m.Out.Count);
        Assert.True(m.Out.ContainsKey("speaker"));
        Assert.False(m.Out.TryGetValue("noise", out _));
        Assert.Equal([10], m.Forward(Torch.Ones(3), "digit").Shape);
        Assert.Equal([2, 4], m.Forward(Torch.Ones(2, 3), "speaker").Shape);
        m.Out.Add("noise", new Dropout(0.1));
        Assert.Equal(["digit", "speaker", "noise"], m.Out.Select(kv => kv.Key));
        m.Eval();
        Assert.All(m.Out.Values, l => Assert.False(l.Training));
        using var dir = new MiniGrad.Tests.Speech.TempDir();
        Checkpoint.Save(m, dir["heads.safetensors"]);
        var copy = new Heads();
        copy.Out.Add("noise", new Dropout(0.1));
        Checkpoint.Load(copy, dir["heads.safetensors"]);
        H.Close(((Linear)m.Out["speaker"]).Weight.Arr(), ((Linear)copy.Out["speaker"]).Weight);
        H.Throws<KeyNotFoundException>(() => m.Out["head"], "no module under 'head'", "[digit, speaker, noise]");
        H.Throws<ArgumentException>(() => m.Out.Add("digit", new Linear(3, 2)), "key 'digit' is already present");
        H.Throws<ArgumentException>(() => m.Out.Add("a.b", new Linear(3, 2)), "must not contain '.'");
        Assert.Throws<ArgumentNullException>(() => m.Out.Add("x", null!));
        Assert.Equal(3, m.Out.Count); // the refused adds left it as it was
        Assert.Equal(4, m.NamedParameters().Count());
    }

    [Fact]
    public void StateDictAndLoadStateDictAsPyTorch()
    {
        // state_dict: parameters then buffers by dotted name; load_state_dict: strict by default, shapes always checked,
        // nothing copied when anything is wrong; non-strict copies the common names and reports the rest.
        var m = new Sequential(new Linear(3, 2, generator: new Generator(1)), new BatchNorm1d(2));
        IReadOnlyDictionary<string, Tensor> state;
        using (Torch.NewScope()) state = m.StateDict(); // outside any scope: still usable after the scope ends
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"], state.Keys);
        Assert.All(state.Values, t => Assert.False(t.RequiresGrad));
        var copy = new Sequential(new Linear(3, 2, generator: new Generator(2)), new BatchNorm1d(2));
        Assert.NotEqual(((Linear)m[0]).Weight.Arr(), ((Linear)copy[0]).Weight.Arr());
        var (missing, unexpected) = copy.LoadStateDict(state);
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        Assert.Equal(((Linear)m[0]).Weight.Arr(), ((Linear)copy[0]).Weight.Arr());
        Assert.True(((Linear)copy[0]).Weight.RequiresGrad); // still a trainable parameter

        var other = new Sequential(new Linear(3, 2, generator: new Generator(3)), new BatchNorm1d(2));
        var before = ((Linear)other[0]).Weight.Arr();
        var partial = state.Where(kv => kv.Key.StartsWith("0.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        partial["extra.weight"] = Torch.Ones(2);
        H.Throws<ArgumentException>(() => other.LoadStateDict(partial), "LoadStateDict", "missing key(s) '1.weight'", "unexpected key(s) 'extra.weight'", "strict: false");
        Assert.Equal(before, ((Linear)other[0]).Weight.Arr()); // unchanged
        var (miss, unexp) = other.LoadStateDict(partial, strict: false);
        Assert.Equal(["1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"], miss);
        Assert.Equal(["extra.weight"], unexp);
        Assert.Equal(((Linear)m[0]).Weight.Arr(), ((Linear)other[0]).Weight.Arr());

        var wrong = new Dictionary<string, Tensor>(state) { ["0.bias"] = Torch.Zeros(3) };
        H.Throws<ArgumentException>(() => other.LoadStateDict(wrong, strict: false), "'0.bias' has shape [3]", "[2] in the module");
        var doubles = state.ToDictionary(kv => kv.Key, kv => kv.Value.DType.IsFloating() ? kv.Value.To(DType.Float64) : kv.Value);
        copy.LoadStateDict(doubles); // converted to the module's dtype
        Assert.Equal(DType.Float32, ((Linear)copy[0]).Weight.DType);
    }

    [Fact]
    public void ApplyRunsOnEveryModuleChildrenFirst()
    {
        // PyTorch's model.apply(init): every submodule, depth first, the root last.
        var m = new Sequential(new Linear(3, 4, generator: new Generator(1)), new Sequential(new Relu(), new Linear(4, 2, generator: new Generator(2))));
        var seen = new List<string>();
        Assert.Same(m, m.Apply(x => seen.Add(x.GetType().Name)));
        Assert.Equal(["Linear", "Relu", "Linear", "Sequential", "Sequential"], seen);
        var shared = new Linear(2, 2);
        int calls = 0;
        new Sequential(shared, shared).Apply(x => { if (ReferenceEquals(x, shared)) calls++; });
        Assert.Equal(1, calls); // a child registered twice is one child, as PyTorch's children() yields it once
        m.Apply(x => { if (x is Linear l) using (Torch.NoGrad()) l.Weight.Copy_(Torch.FullLike(l.Weight, 0.5)); });
        Assert.All(m.Parameters().Where(p => p.Rank == 2), p => Assert.All(p.ToArray<float>(), v => Assert.Equal(0.5f, v)));
    }

    [Fact]
    public void ToDTypeCastsFloatingParametersBuffersAndGradients()
    {
        // PyTorch's model.double(): every floating parameter and buffer (and gradient) in place; integer buffers keep theirs.
        var m = new Sequential(new Lstm(3, 4, generator: new Generator(1)), new Linear(4, 2, generator: new Generator(2)));
        var bn = new BatchNorm1d(2);
        var x = Torch.Randn([5, 2, 3], generator: new Generator(3));
        ((Linear)m[1]).Forward(((Lstm)m[0]).Forward(x).Output).Sum().Backward();
        var w32 = m.Parameters().First().Arr();
        Assert.Same(m, m.Double());
        Assert.All(m.Parameters(), p => Assert.Equal(DType.Float64, p.DType));
        Assert.All(m.Parameters(), p => Assert.Equal(DType.Float64, p.Grad!.DType));
        H.Close(w32, m.Parameters().First(), 0); // the same values, widened
        var y = ((Linear)m[1]).Forward(((Lstm)m[0]).Forward(x.To(DType.Float64)).Output);
        Assert.Equal(DType.Float64, y.DType);
        bn.Double();
        Assert.Equal([DType.Float64, DType.Float64, DType.Int64], bn.Buffers().Select(b => b.DType));
        Assert.Equal(DType.Float32, bn.Float().Parameters().First().DType);
        H.Throws<ArgumentException>(() => m.To(DType.Int64), "Module.To", "Int64", "not a floating type");
        Assert.All(m.Parameters(), p => Assert.Equal(DType.Float64, p.DType)); // nothing changed
    }

    [Fact]
    public void SequentialForwardBackwardAndZeroGrad()
    {
        var m = Model();
        var y = m.Forward(Torch.Randn([7, 2, 4], generator: new Generator(3)));
        Assert.Equal([7, 2, 5], y.Shape);
        y.Sum().Backward();
        Assert.All(m.Parameters(), p => Assert.NotNull(p.Grad));
        Assert.All(m.Parameters(), p => Assert.Equal(p.Shape, p.Grad!.Shape));
        m.ZeroGrad();
        Assert.All(m.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void TrainAndEvalReachEveryLayer()
    {
        var m = Model();
        var x = Torch.Randn([5, 2, 4], generator: new Generator(4));
        Assert.All(m.NamedModules(), e => Assert.True(e.Module.Training));
        var a = m.Forward(x).ToArray<float>();
        var b = m.Forward(x).ToArray<float>();
        Assert.NotEqual(a, b); // dropout draws a new mask each time while training
        m.Eval();
        Assert.All(m.NamedModules(), e => Assert.False(e.Module.Training));
        Assert.Equal(m.Forward(x).ToArray<float>(), m.Forward(x).ToArray<float>());
        m.Train();
        Assert.All(m.NamedModules(), e => Assert.True(e.Module.Training));
    }

    [Fact]
    public void SummaryTableListsLayersShapesAndCounts()
    {
        var m = Model();
        m.Forward(Torch.Randn([7, 2, 4], generator: new Generator(5)));
        var s = m.ToString();
        Assert.Contains("Sequential(3)", s);
        Assert.Contains("Lstm(4, 3, num_layers=2, bidirectional=True)", s);
        Assert.Contains("Dropout(p=0.5)", s);
        Assert.Contains("Linear(6, 5, bias=True)", s);
        int lstm = 2 * (12 * 4 + 12 * 3 + 24) + 2 * (12 * 6 + 12 * 3 + 24), linear = 6 * 5 + 5;
        var row0 = s.Split('\n').Single(l => l.StartsWith("0 "));
        Assert.Contains("[7,2,6]", row0);
        Assert.EndsWith($"{lstm:N0}", row0.TrimEnd());
        Assert.EndsWith($"{linear:N0}", s.Split('\n').Single(l => l.StartsWith("2 ")).TrimEnd());
        Assert.Contains($"total parameters: {lstm + linear:N0}", s);
    }

    [Fact]
    public void LstmInterLayerDropoutOnlyWhileTraining()
    {
        var x = Torch.Randn([6, 3, 4], generator: new Generator(6));
        var plain = new Lstm(4, 5, 2, generator: new Generator(7));
        var dropped = new Lstm(4, 5, 2, dropout: 0.5, generator: new Generator(7));
        var reference = plain.Forward(x).Output.ToArray<float>();
        Assert.NotEqual(reference, dropped.Forward(x).Output.ToArray<float>());
        dropped.Eval();
        Assert.Equal(reference, dropped.Forward(x).Output.ToArray<float>());
        // One layer: nothing between layers, so dropout never applies.
        Assert.Equal(new Lstm(4, 5, generator: new Generator(8)).Forward(x).Output.ToArray<float>(),
            new Lstm(4, 5, dropout: 0.5, generator: new Generator(8)).Forward(x).Output.ToArray<float>());
    }

    [Fact]
    public void LstmShapesForEveryLayout()
    {
        var lstm = new Lstm(4, 3, 2, bidirectional: true, dtype: DType.Float64, generator: new Generator(9));
        var x = H.Rnd(10, 5, 2, 4);
        var (y, (h, c)) = lstm.Forward(x);
        Assert.Equal([5, 2, 6], y.Shape);
        Assert.Equal([4, 2, 3], h.Shape);
        Assert.Equal([4, 2, 3], c.Shape);
        // h_n holds each direction's last step: forward at t = T-1, reverse at t = 0.
        H.Close(y.Select(0, 4).Narrow(1, 0, 3).Arr(), h.Select(0, 2), 0);
        H.Close(y.Select(0, 0).Narrow(1, 3, 3).Arr(), h.Select(0, 3), 0);

        // Unbatched (T, I) equals the batch of one.
        var (yu, (hu, cu)) = lstm.Forward(x.Select(1, 1));
        Assert.Equal([5, 6], yu.Shape);
        Assert.Equal([4, 3], hu.Shape);
        H.Close(y.Select(1, 1).Arr(), yu, 1e-14);
        H.Close(c.Select(1, 1).Arr(), cu, 1e-14);

        // Batch-first takes and returns (N, T, ...), state stays (layers * D, N, H).
        var bf = new Lstm(4, 3, 2, batchFirst: true, bidirectional: true, dtype: DType.Float64, generator: new Generator(9));
        var (yb, (hb, _)) = bf.Forward(x.Transpose(0, 1));
        Assert.Equal([2, 5, 6], yb.Shape);
        H.Close(y.Transpose(0, 1).Arr(), yb, 1e-14);
        H.Close(h.Arr(), hb, 1e-14);
    }

    [Fact]
    public void LstmCellStepsMatchTheLstm()
    {
        var lstm = new Lstm(4, 3, dtype: DType.Float64, generator: new Generator(11));
        var cell = new LstmCell(4, 3, dtype: DType.Float64);
        using (Torch.NoGrad())
            foreach (var (name, p) in cell.NamedParameters()) p.Copy_(lstm.NamedParameters().Single(q => q.Name == name + "_l0").Parameter);
        var x = H.Rnd(12, 6, 2, 4);
        var (h0, c0) = (H.Rnd(13, 1, 2, 3), H.Rnd(14, 1, 2, 3));
        var (y, (hn, cn)) = lstm.Forward(x, (h0, c0));
        (Tensor h, Tensor c) s = (h0.Select(0, 0), c0.Select(0, 0));
        for (int t = 0; t < 6; t++)
        {
            s = cell.Forward(x.Select(0, t), s);
            H.Close(y.Select(0, t).Arr(), s.h, 1e-13);
        }
        H.Close(cn.Arr(), s.c, 1e-13);
        Assert.Equal("LstmCell(4, 3)", LayerTests.DescribeOf(cell));
    }

    [Fact]
    public void LstmInitAndDescription()
    {
        var lstm = new Lstm(10, 16, 3, bias: false, batchFirst: true, dropout: 0.25, generator: new Generator(15));
        Assert.Equal("Lstm(10, 16, num_layers=3, bias=False, batch_first=True, dropout=0.25)", LayerTests.DescribeOf(lstm));
        Assert.Equal(6, lstm.NamedParameters().Count());
        foreach (var p in lstm.Parameters())
        {
            var v = p.ToArray<double>();
            Assert.All(v, e => Assert.InRange(e, -0.25, 0.25)); // 1/sqrt(16)
            Assert.True(v.Min() < -0.2 && v.Max() > 0.2);
        }
    }

    [Fact]
    public void BackwardTwiceWithRetainedGraphDoublesGradients()
    {
        var lstm = new Lstm(3, 4, 2, bidirectional: true, dtype: DType.Float64, generator: new Generator(16));
        var x = H.Leaf(17, 5, 2, 3);
        var (y, (h, c)) = lstm.Forward(x);
        var loss = y.Sum() + (c * c).Sum() + h.Sum();
        loss.Backward(retainGraph: true);
        var once = lstm.Parameters().Select(p => p.Grad!.Arr()).Append(x.Grad!.Arr()).ToArray();
        loss.Backward();
        var twice = lstm.Parameters().Select(p => p.Grad!.Arr()).Append(x.Grad!.Arr()).ToArray();
        for (int i = 0; i < once.Length; i++) H.Close(once[i].Select(v => 2 * v).ToArray(), twice[i], 1e-12);
    }

    [Fact]
    public void NoGradForwardRecordsNothing()
    {
        var lstm = new Lstm(3, 4, 2, generator: new Generator(18));
        using (Torch.NoGrad())
        {
            var (y, (h, c)) = lstm.Forward(Torch.Randn(4, 2, 3));
            Assert.False(y.RequiresGrad);
            Assert.False(c.RequiresGrad);
        }
        var (y2, (_, c2)) = lstm.Forward(Torch.Randn(50, 2, 3));
        Assert.True(y2.RequiresGrad && c2.RequiresGrad);
        Assert.Equal("LstmLayerBackward", y2.GradFn!.Name);
        // One node per layer and direction, whatever T is: the graph of 50 steps stays tiny.
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Function>([y2.GradFn]);
        while (stack.Count > 0)
            foreach (var next in stack.Pop().NextFunctions)
                if (next is Function f && seen.Add(f)) stack.Push(f);
        Assert.InRange(seen.Count, 1, 6);
    }
}
