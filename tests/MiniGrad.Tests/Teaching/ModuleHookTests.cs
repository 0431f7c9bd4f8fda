using MiniGrad.Nn;

namespace MiniGrad.Tests.Teaching;

public class ModuleHookTests
{
    static Linear Fc(int i, int o, int seed) => new(i, o, dtype: DType.Float64, generator: new Generator(seed));
    static Tensor Input(int seed, params int[] shape) => Torch.Randn(shape, DType.Float64, generator: new Generator(seed));

    [Fact]
    public void AForwardHookSeesTheModuleItsInputAndItsOutput()
    {
        var fc = Fc(3, 2, 1);
        var x = Input(2, 4, 3);
        (Module M, Tensor In, Tensor Out)? seen = null;
        fc.RegisterForwardHook((m, i, o) => seen = (m, i, o));
        var y = fc.Forward(x);
        Assert.Same(fc, seen!.Value.M);
        Assert.Same(x, seen.Value.In);
        Assert.Same(y, seen.Value.Out);
        Assert.Equal([4, 2], seen.Value.Out.Shape);
    }

    [Fact]
    public void AForwardHookCanReplaceTheOutputAndCanBeRemoved()
    {
        var fc = Fc(3, 2, 1);
        var x = Input(2, 4, 3);
        var plain = fc.Forward(x).ToArray<double>();
        var handle = fc.RegisterForwardHook((m, i, o) => o * 2.0);
        Assert.Equal(plain.Select(v => 2 * v), fc.Forward(x).ToArray<double>());
        handle.Dispose();
        Assert.Equal(plain, fc.Forward(x).ToArray<double>());
    }

    [Fact]
    public void ForwardHooksFireForEveryLayerOfASequentialInOrder()
    {
        var model = new Sequential(Fc(3, 4, 1), new Dropout(0.5), Fc(4, 2, 2));
        model.Eval();
        var order = new List<string>();
        foreach (var (name, m) in model.NamedModules())
            m.RegisterForwardHook((mod, i, o) => order.Add($"{(name.Length == 0 ? "root" : name)} {mod.GetType().Name} {Shapes.Format(i.Shape)}->{Shapes.Format(o.Shape)}"));
        model.Forward(Input(3, 5, 3));
        Assert.Equal(["0 Linear [5,3]->[5,4]", "1 Dropout [5,4]->[5,4]", "2 Linear [5,4]->[5,2]", "root Sequential [5,3]->[5,2]"], order);
    }

    [Fact]
    public void ABackwardHookGetsTheGradientWithRespectToTheOutput()
    {
        var fc = Fc(3, 2, 1);
        (Module M, double[] G)? seen = null;
        fc.RegisterFullBackwardHook((m, g) => seen = (m, g.ToArray<double>()));
        var y = fc.Forward(Input(2, 4, 3));
        (y * Torch.Tensor(new[] { 1.0, -3.0 })).Sum().Backward();
        Assert.Same(fc, seen!.Value.M);
        Assert.Equal([1.0, -3.0, 1.0, -3.0, 1.0, -3.0, 1.0, -3.0], seen.Value.G);
    }

    [Fact]
    public void ABackwardHookCanScaleTheGradientsThatReachTheParameters()
    {
        var x = Input(2, 4, 3).RequiresGrad_();
        var plain = Fc(3, 2, 1);
        plain.Forward(x).Tanh().Sum().Backward();
        var expectedX = x.Grad!.ToArray<double>();
        x.ZeroGrad();

        var hooked = Fc(3, 2, 1);
        var handle = hooked.RegisterFullBackwardHook((m, g) => g * 0.5);
        hooked.Forward(x).Tanh().Sum().Backward();
        Assert.Equal(plain.Weight.Grad!.ToArray<double>().Select(v => v * 0.5), hooked.Weight.Grad!.ToArray<double>(), new Tol());
        Assert.Equal(plain.Bias!.Grad!.ToArray<double>().Select(v => v * 0.5), hooked.Bias!.Grad!.ToArray<double>(), new Tol());
        Assert.Equal(expectedX.Select(v => v * 0.5), x.Grad!.ToArray<double>(), new Tol());

        handle.Remove();
        hooked.ZeroGrad();
        hooked.Forward(x).Tanh().Sum().Backward();
        Assert.Equal(plain.Weight.Grad!.ToArray<double>(), hooked.Weight.Grad!.ToArray<double>(), new Tol());
    }

    [Fact]
    public void BackwardHooksRunOutermostFirstAndWorkWhenTheOutputIsALeaf()
    {
        var inner = new Dropout(0.5);
        var model = new Sequential(inner);
        model.Eval(); // in eval mode Dropout returns its input: a leaf
        var order = new List<string>();
        inner.RegisterFullBackwardHook((m, g) => order.Add($"dropout {g.ToArray<double>()[0]}"));
        model.RegisterFullBackwardHook((m, g) => { order.Add("sequential"); return g * 3.0; });
        var x = Torch.Tensor(new[] { 1.0, 2.0 }).RequiresGrad_();
        var y = model.Forward(x);
        Assert.NotSame(x, y);
        Assert.Equal("BackwardHookBackward", y.GradFn!.Name);
        y.Sum().Backward();
        Assert.Equal(["sequential", "dropout 3"], order);
        Assert.Equal([3.0, 3.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void WithoutHooksModulesAddNoNodesAndNoGradModeAddsNone()
    {
        var fc = Fc(3, 2, 1);
        fc.RegisterForwardHook((m, i, o) => { }); // forward hooks alone add no node either
        var y = fc.Forward(Input(2, 4, 3));
        Assert.NotEqual("BackwardHookBackward", y.GradFn!.Name);
        fc.RegisterFullBackwardHook((m, g) => { });
        Assert.Equal("BackwardHookBackward", fc.Forward(Input(2, 4, 3)).GradFn!.Name);
        using (Torch.NoGrad()) Assert.Null(fc.Forward(Input(2, 4, 3)).GradFn);
    }

    [Fact]
    public void LstmModulesCallTheirHooks()
    {
        var lstm = new Lstm(3, 4, dtype: DType.Float64, generator: new Generator(5));
        int[]? outShape = null;
        double[]? gradOut = null;
        lstm.RegisterForwardHook((m, i, o) => outShape = o.Shape);
        lstm.RegisterFullBackwardHook((m, g) => gradOut = g.ToArray<double>());
        var (output, _) = lstm.Forward(Input(6, 5, 2, 3));
        Assert.Equal([5, 2, 4], outShape!);
        output.Sum().Backward();
        Assert.Equal(Enumerable.Repeat(1.0, 40), gradOut!);
        Assert.NotNull(lstm.Parameters().First().Grad);

        var cell = new LstmCell(3, 4, dtype: DType.Float64, generator: new Generator(5));
        cell.RegisterForwardHook((m, i, o) => outShape = o.Shape);
        cell.Forward(Input(7, 3));
        Assert.Equal([4], outShape!);
    }

    [Fact]
    public void ABackwardHookReturningTheWrongShapeIsRejected()
    {
        var fc = Fc(3, 2, 1);
        fc.RegisterFullBackwardHook((m, g) => Torch.Ones([2], DType.Float64));
        var e = Assert.Throws<InvalidOperationException>(() => fc.Forward(Input(2, 4, 3).RequiresGrad_()).Sum().Backward());
        Assert.Contains("backward hook of Linear", e.Message);
        Assert.Contains("expected shape [4,2]", e.Message);
    }

    sealed class Tol : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= 1e-12 * Math.Max(1, Math.Abs(a));
        public int GetHashCode(double v) => 0;
    }
}
