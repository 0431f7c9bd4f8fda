using MiniGrad.Nn;

namespace MiniGrad.Tests.Teaching;

// Module.Call (PyTorch's __call__): every module whose Forward runs its body through Call, built-in or written by a
// user with any Forward signature, fires its pre-hooks and forward hooks and records its output shape.
public class ModuleCallTests
{
    static Tensor Input(int seed, params int[] shape) => Torch.Randn(shape, DType.Float64, generator: new Generator(seed));

    /// <summary>A user's own module with a Forward of its own signature, written in one line through Call.</summary>
    sealed class ScaledProjection : Module
    {
        readonly Linear fc;
        public ScaledProjection() => fc = RegisterModule("fc", new Linear(3, 2, dtype: DType.Float64, generator: new Generator(1)));
        public int Bodies { get; private set; }
        public Tensor Forward(Tensor x, double scale, bool squash) => Call(x, x =>
        {
            Bodies++;
            var y = fc.Forward(x) * scale;
            return squash ? y.Tanh() : y;
        });
    }

    /// <summary>A user's module that can sit in a Sequential.</summary>
    sealed class Twice : Module, ITensorModule
    {
        public Tensor Forward(Tensor x) => Call(x, x => x * 2.0);
    }

    /// <summary>A user's module that returns its output and a second tensor, like a recurrent layer.</summary>
    sealed class WithState : Module
    {
        public (Tensor Output, Tensor State) Forward(Tensor x) { var (o, s) = Call(x, x => (x + 1.0, x.Sum())); return (o, s); }
    }

    [Fact]
    public void AUserModuleWithItsOwnForwardFiresPreHooksAndForwardHooksAndRecordsItsShape()
    {
        var m = new ScaledProjection();
        Assert.Null(m.LastOutputShape);
        var x = Input(2, 4, 3);
        var order = new List<string>();
        Tensor? preSaw = null, hookIn = null, hookOut = null;
        m.RegisterForwardPreHook((mod, i) => { Assert.Same(m, mod); preSaw = i; order.Add("pre"); });
        m.RegisterForwardHook((mod, i, o) => { Assert.Same(m, mod); (hookIn, hookOut) = (i, o); order.Add("hook"); });
        var y = m.Forward(x, 0.5, squash: false);
        Assert.Equal(["pre", "hook"], order);
        Assert.Same(x, preSaw);
        Assert.Same(x, hookIn);
        Assert.Same(y, hookOut);
        Assert.Equal(1, m.Bodies);
        Assert.Equal([4, 2], m.LastOutputShape!);
        Assert.Contains("[4,2]", m.ToString().Split('\n')[1]); // the (root) row of the summary shows the shape
    }

    [Fact]
    public void APreHookCanReplaceTheInputThatTheBodyAndTheForwardHooksSee()
    {
        var m = new ScaledProjection();
        var x = Input(2, 4, 3);
        var doubled = m.Forward(x * 2.0, 1.0, false).ToArray<double>();
        var plain = m.Forward(x, 1.0, false).ToArray<double>();
        Tensor? hookIn = null;
        var handle = m.RegisterForwardPreHook((mod, i) => i * 2.0);
        m.RegisterForwardHook((mod, i, o) => { hookIn = i; }); // a block: "hookIn = i" alone is a Tensor, which would replace the output
        Assert.Equal(doubled, m.Forward(x, 1.0, false).ToArray<double>());
        Assert.Equal((x * 2.0).ToArray<double>(), hookIn!.ToArray<double>());
        handle.Dispose();
        Assert.Equal(plain, m.Forward(x, 1.0, false).ToArray<double>());
    }

    [Fact]
    public void PreHooksRunInOrderEachSeeingThePreviousReplacement()
    {
        var lin = new Linear(2, 2, dtype: DType.Float64, generator: new Generator(3));
        var expected = lin.Forward(Torch.Tensor(new[] { 20.0, 30.0 })).ToArray<double>();
        var seen = new List<double>();
        lin.RegisterForwardPreHook((m, i) => i + 1.0);
        lin.RegisterForwardPreHook((m, i) => seen.Add(i.ToArray<double>()[0]));
        lin.RegisterForwardPreHook((m, i) => i * 10.0);
        lin.RegisterForwardPreHook((m, i) => null); // null keeps the input
        Assert.Equal(expected, lin.Forward(Torch.Tensor(new[] { 1.0, 2.0 })).ToArray<double>());
        Assert.Equal([2.0], seen);
    }

    [Fact]
    public void AUserModuleForwardHookCanReplaceTheOutputAndBackwardHooksSeeItsGradient()
    {
        var m = new ScaledProjection();
        var x = Input(2, 4, 3).RequiresGrad_();
        var plain = m.Forward(x, 1.0, false).ToArray<double>();
        m.RegisterForwardHook((mod, i, o) => o * 3.0);
        double[]? grad = null;
        m.RegisterFullBackwardHook((mod, g) => grad = g.ToArray<double>());
        var y = m.Forward(x, 1.0, false);
        Assert.Equal(plain.Select(v => 3 * v), y.ToArray<double>(), new Tol());
        Assert.Equal("BackwardHookBackward", y.GradFn!.Name);
        y.Sum().Backward();
        Assert.Equal(Enumerable.Repeat(1.0, 8), grad!);
    }

    [Fact]
    public void AUserModuleInASequentialFiresItsHooksInOrder()
    {
        var user = new Twice();
        var model = new Sequential(new Linear(3, 4, dtype: DType.Float64, generator: new Generator(1)), user, new Relu());
        var order = new List<string>();
        foreach (var (name, m) in model.NamedModules())
        {
            string n = name.Length == 0 ? "root" : name;
            m.RegisterForwardPreHook((mod, i) => order.Add($"pre {n}"));
            m.RegisterForwardHook((mod, i, o) => order.Add($"hook {n} {Shapes.Format(o.Shape)}"));
        }
        model.Forward(Input(3, 5, 3));
        Assert.Equal(["pre root", "pre 0", "hook 0 [5,4]", "pre 1", "hook 1 [5,4]", "pre 2", "hook 2 [5,4]", "hook root [5,4]"], order);
        Assert.Equal([5, 4], user.LastOutputShape!);
    }

    [Fact]
    public void AModuleReturningMoreThanOneThingHooksItsFirstOutput()
    {
        var m = new WithState();
        m.RegisterForwardHook((mod, i, o) => o * 0.0);
        var (output, state) = m.Forward(Torch.Tensor(new[] { 1.0, 2.0, 3.0 }));
        Assert.Equal([0.0, 0.0, 0.0], output.ToArray<double>());
        Assert.Equal(6.0, state.Item<double>());
        Assert.Equal([3], m.LastOutputShape!);
    }

    public static TheoryData<string> BuiltIns => new(Modules().Select(b => b.Name));

    static IEnumerable<(string Name, Module Module, Func<Module, Tensor, object> Forward, Tensor Input, int[] Shape, int[]? HookedInput)> Modules()
    {
        var g = new Generator(9);
        yield return ("Linear", new Linear(3, 5, dtype: DType.Float64, generator: g), (m, x) => ((Linear)m).Forward(x), Input(1, 2, 3), [2, 5], null);
        yield return ("Conv1d", new Conv1d(3, 4, 3, dtype: DType.Float64, generator: g), (m, x) => ((Conv1d)m).Forward(x), Input(1, 2, 3, 7), [2, 4, 5], null);
        yield return ("MaxPool1d", new MaxPool1d(2), (m, x) => ((MaxPool1d)m).Forward(x), Input(1, 2, 3, 6), [2, 3, 3], null);
        yield return ("AvgPool1d", new AvgPool1d(3), (m, x) => ((AvgPool1d)m).Forward(x), Input(1, 2, 3, 6), [2, 3, 2], null);
        yield return ("LayerNorm", new LayerNorm(3, dtype: DType.Float64), (m, x) => ((LayerNorm)m).Forward(x), Input(1, 2, 3), [2, 3], null);
        yield return ("BatchNorm1d", new BatchNorm1d(3, dtype: DType.Float64), (m, x) => ((BatchNorm1d)m).Forward(x), Input(1, 4, 3), [4, 3], null);
        yield return ("Gelu", new Gelu(), (m, x) => ((Gelu)m).Forward(x), Input(1, 2, 3), [2, 3], null);
        yield return ("Dropout", new Dropout(0.5, g), (m, x) => ((Dropout)m).Forward(x), Input(1, 2, 3), [2, 3], null);
        yield return ("Embedding", new Embedding(10, 4, DType.Float64, g), (m, x) => ((Embedding)m).Forward(x), Torch.Tensor(new long[] { 1, 7, 3 }, 3), [3, 4], null);
        yield return ("Sequential", new Sequential(new Tanh()), (m, x) => ((Sequential)m).Forward(x), Input(1, 2, 3), [2, 3], null);
        yield return ("Lstm", new Lstm(3, 4, dtype: DType.Float64, generator: g), (m, x) => ((Lstm)m).Forward(x), Input(1, 5, 2, 3), [5, 2, 4], null);
        yield return ("Gru bidirectional", new Gru(3, 4, bidirectional: true, dtype: DType.Float64, generator: g), (m, x) => ((Gru)m).Forward(x, [5, 2]), Input(1, 5, 2, 3), [5, 2, 8], null);
        yield return ("Rnn in a Sequential slot", new Rnn(3, 4, dtype: DType.Float64, generator: g), (m, x) => ((ITensorModule)m).Forward(x), Input(1, 5, 3), [5, 4], null);
        yield return ("Gru packed", new Gru(3, 4, dtype: DType.Float64, generator: g), (m, x) => ((Gru)m).Forward(Functional.PackPaddedSequence(x, [5, 2], enforceSorted: false)), Input(1, 5, 2, 3), [7, 4], [7, 3]); // the hooks see the packed data
        yield return ("LstmCell", new LstmCell(3, 4, dtype: DType.Float64, generator: g), (m, x) => ((LstmCell)m).Forward(x), Input(1, 2, 3), [2, 4], null);
        yield return ("GruCell", new GruCell(3, 4, dtype: DType.Float64, generator: g), (m, x) => ((GruCell)m).Forward(x), Input(1, 3), [4], null);
        yield return ("RnnCell", new RnnCell(3, 4, dtype: DType.Float64, generator: g), (m, x) => ((RnnCell)m).Forward(x), Input(1, 2, 3), [2, 4], null);
    }

    [Theory]
    [MemberData(nameof(BuiltIns))]
    public void BuiltInModulesFireEachHookOnceAndRecordTheirShape(string name)
    {
        var (_, m, forward, x, shape, hookedInput) = Modules().Single(b => b.Name == name);
        var order = new List<string>();
        m.RegisterForwardPreHook((mod, i) => order.Add($"pre {Shapes.Format(i.Shape)}"));
        m.RegisterForwardHook((mod, i, o) => order.Add($"hook {Shapes.Format(o.Shape)}"));
        forward(m, x);
        Assert.Equal([$"pre {Shapes.Format(hookedInput ?? x.Shape)}", $"hook {Shapes.Format(shape)}"], order);
        Assert.Equal(shape, m.LastOutputShape!);
    }

    [Fact]
    public void APreHookOnAPackedRecurrentLayerCanReplaceThePackedData()
    {
        var gru = new Gru(3, 4, dtype: DType.Float64, generator: new Generator(4));
        var x = Input(1, 5, 2, 3);
        var expected = gru.Forward(Functional.PackPaddedSequence(x * 0.5, [5, 2], enforceSorted: false));
        gru.RegisterForwardPreHook((m, i) => i * 0.5);
        var got = gru.Forward(Functional.PackPaddedSequence(x, [5, 2], enforceSorted: false));
        Assert.Equal(expected.Output.Data.ToArray<double>(), got.Output.Data.ToArray<double>(), new Tol());
        Assert.Equal(expected.H.ToArray<double>(), got.H.ToArray<double>(), new Tol());
    }

    sealed class Tol : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= 1e-12 * Math.Max(1, Math.Abs(a));
        public int GetHashCode(double v) => 0;
    }
}
