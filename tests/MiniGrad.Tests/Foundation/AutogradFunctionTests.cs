using System.Runtime.CompilerServices;

namespace MiniGrad.Tests.Foundation;

// Ops written by users (AutogradFunction, PyTorch's torch.autograd.Function): forward values, gradients against finite
// differences on every device, and that hooks, anomaly mode, graph export and the error checks all see them.

/// <summary>e^x, saving its output as PyTorch's docs do; records what it saw so tests can look.</summary>
sealed class MyExp : AutogradFunction
{
    public bool GradModeInForward = true;
    public bool[]? NeedsSeenInForward, NeedsSeenInBackward;
    public int Backwards;

    protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs)
    {
        GradModeInForward = Autograd.IsGradEnabled;
        NeedsSeenInForward = [.. ctx.NeedsInputGrad];
        var y = inputs[0].Exp();
        ctx.SaveForBackward(y);
        return y;
    }

    protected override Tensor?[] Backward(AutogradContext ctx, Tensor gradOutput)
    {
        Backwards++;
        NeedsSeenInBackward = [.. ctx.NeedsInputGrad];
        return [gradOutput * ctx.SavedTensors[0]];
    }
}

/// <summary>a * b + c with broadcasting; computes only the gradients asked for, and sums each back to its input's shape.</summary>
sealed class MulAdd : AutogradFunction
{
    public List<int> Computed = [];

    protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs)
    {
        Tensor a = inputs[0], b = inputs[1], c = inputs[2];
        ctx.SaveForBackward(a, b);
        ctx.SaveData("shapes", new[] { a.Shape, b.Shape, c.Shape });
        return a * b + c;
    }

    protected override Tensor?[] Backward(AutogradContext ctx, Tensor g)
    {
        Tensor a = ctx.SavedTensors[0], b = ctx.SavedTensors[1];
        var shapes = ctx.GetData<int[][]>("shapes");
        var r = new Tensor?[3];
        if (ctx.NeedsInputGrad[0]) { Computed.Add(0); r[0] = SumTo(g * b, shapes[0]); }
        if (ctx.NeedsInputGrad[1]) { Computed.Add(1); r[1] = SumTo(g * a, shapes[1]); }
        if (ctx.NeedsInputGrad[2]) { Computed.Add(2); r[2] = SumTo(g, shapes[2]); }
        return r;
    }

    // Written with public ops only, as a user would.
    static Tensor SumTo(Tensor g, int[] shape)
    {
        while (g.Rank > shape.Length) g = g.Sum(0);
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] == 1 && g.Size(i) != 1) g = g.Sum([i], keepDim: true);
        return g;
    }
}

/// <summary>Identity forward; backward clips the gradient into [-bound, bound] (a gradient-clipping op, as in RNN training).</summary>
sealed class ClipGradient(double bound) : AutogradFunction
{
    public override string Name => "ClipGradientBackward";

    protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs) => inputs[0];

    protected override Tensor?[] Backward(AutogradContext ctx, Tensor gradOutput) => [gradOutput.Clamp(-bound, bound)];
}

/// <summary>Rows of x picked by an Int64 index: an integer input, which never gets a gradient.</summary>
sealed class PickRows : AutogradFunction
{
    protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs)
    {
        ctx.SaveForBackward(inputs[1]);
        ctx.SaveData("rows", inputs[0].Size(0));
        return inputs[0].IndexSelect(0, inputs[1]);
    }

    // The adjoint of picking rows: a one-hot (picked x rows) matrix, transposed, times the gradient.
    protected override Tensor?[] Backward(AutogradContext ctx, Tensor g)
    {
        var idx = ctx.SavedTensors[0];
        int rows = ctx.GetData<int>("rows");
        var oneHot = idx.Unsqueeze(1).Eq(Torch.Arange(rows, DType.Int64).To(idx.Device).Unsqueeze(0)).To(g.DType);
        return [oneHot.Transpose(0, 1).MatMul(g), null];
    }
}

/// <summary>log x, whose gradient 1/x is infinite at 0: anomaly mode must name it.</summary>
sealed class MyLog : AutogradFunction
{
    protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs)
    {
        ctx.SaveForBackward(inputs[0]);
        return inputs[0].Log();
    }

    protected override Tensor?[] Backward(AutogradContext ctx, Tensor g) => [g / ctx.SavedTensors[0]];
}

/// <summary>An op made of two delegates, for the error paths.</summary>
sealed class Lambda(string name, Func<AutogradContext, Tensor[], Tensor> forward, Func<AutogradContext, Tensor, Tensor?[]> backward) : AutogradFunction
{
    public override string Name => name;
    protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs) => forward(ctx, inputs);
    protected override Tensor?[] Backward(AutogradContext ctx, Tensor gradOutput) => backward(ctx, gradOutput);
}

[Collection("Ilgpu")]
public class AutogradFunctionTests
{
    public static TheoryData<string> DeviceNames => TestDevices.All;

    [Fact]
    public void ForwardRunsUnderNoGradAndApplyRecordsOneNode()
    {
        var x = Torch.Tensor(new[] { 0.0, 1.0, -2.0 }).RequiresGrad_();
        var h = x * 2.0;
        var op = new MyExp();
        var y = op.Apply(h);
        H.Close([1.0, Math.Exp(2), Math.Exp(-4)], y, 1e-15);
        Assert.False(op.GradModeInForward);
        Assert.True(Autograd.IsGradEnabled); // restored after Forward
        Assert.Equal([true], op.NeedsSeenInForward!);
        // One node, MyExpBackward, whose input is the Mul that made h (not Exp's own node: Forward was not recorded).
        Assert.Equal("MyExpBackward", y.GradFn!.Name);
        Assert.Same(h.GradFn, Assert.Single(y.GradFn.NextFunctions));
        Assert.True(y.RequiresGrad);
        Assert.False(y.IsLeaf);
        Assert.Equal([3], y.GradFn.OutputShape);
        Assert.Equal(DType.Float64, y.GradFn.OutputDType);
        Assert.Contains("grad_fn=<MyExpBackward>", y.ToString());

        y.Sum().Backward();
        Assert.Equal(1, op.Backwards);
        Assert.Equal([true], op.NeedsSeenInBackward!);
        H.Close([2.0, 2 * Math.Exp(2), 2 * Math.Exp(-4)], x.Grad!, 1e-15);
    }

    [Fact]
    public void NothingIsRecordedWithoutGradOrUnderNoGrad()
    {
        var op = new MyExp();
        var plain = op.Apply(Torch.Tensor(new[] { 1.0 }));
        Assert.Null(plain.GradFn);
        Assert.False(plain.RequiresGrad);
        Assert.Equal([false], op.NeedsSeenInForward!);

        var x = Torch.Tensor(new[] { 1.0 }).RequiresGrad_();
        Tensor y;
        using (Torch.NoGrad()) y = op.Apply(x);
        Assert.Null(y.GradFn);
        Assert.False(y.RequiresGrad);
        Assert.Equal([false], op.NeedsSeenInForward!);
        H.Close([Math.E], y, 1e-15);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void GradCheckPassesOnEveryDevice(string device)
    {
        var d = Device.Parse(device);
        Assert.True(GradCheck.Check(x => new MyExp().Apply(x[0]), [H.Leaf(d, 1, 2, 3)]));
        // Several inputs with broadcasting, one that requires no grad, and the op composed with built-ins on both sides.
        var op = new MulAdd();
        Assert.True(GradCheck.Check(x => op.Apply(x[0].Tanh(), x[1], x[2]).Sigmoid(), [H.Leaf(d, 2, 2, 3), H.Rnd(d, 3, 3), H.Leaf(d, 4, 2, 1)]));
        Assert.DoesNotContain(1, op.Computed); // the gradient nobody needed was never computed
        Assert.Contains(0, op.Computed);
        Assert.Contains(2, op.Computed);
        // An integer input next to a float one.
        var idx = Torch.Tensor(new long[] { 2, 0, 2 }, 3).To(d);
        Assert.True(GradCheck.Check(x => new PickRows().Apply(x[0], x[1]) * 3.0, [H.Leaf(d, 5, 4, 2), idx]));
    }

    [Fact]
    public void GradCheckCatchesAWrongBackwardInAUsersOp()
    {
        // exp's derivative off by 1%: finite differences see it, at the first element.
        var wrong = new Lambda("SloppyExpBackward", (ctx, xs) => { var y = xs[0].Exp(); ctx.SaveForBackward(y); return y; },
            (ctx, g) => [g * ctx.SavedTensors[0] * 1.01]);
        var e = Assert.Throws<InvalidOperationException>(() => GradCheck.Check(x => wrong.Apply(x[0]), [H.Leaf(1, 2, 3)]));
        Assert.StartsWith("GradCheck: gradient mismatch for input 0 at flat index 0", e.Message);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void ForwardValuesAndGradientsMatchTheBuiltIns(string device)
    {
        var d = Device.Parse(device);
        var a = H.Leaf(d, 6, 2, 3);
        var b = H.Leaf(d, 7, 3);
        var c = H.Leaf(d, 8, 1);
        var mine = new MulAdd().Apply(a, b, c);
        var builtIn = a * b + c;
        H.Close(builtIn.Arr(), mine, 1e-15);
        var w = H.Rnd(d, 9, 2, 3);
        (mine * w).Sum().Backward();
        var ours = new[] { a, b, c }.Select(t => t.Grad!.Arr()).ToArray();
        foreach (var t in new[] { a, b, c }) t.ZeroGrad();
        (builtIn * w).Sum().Backward();
        H.Close(a.Grad!.Arr(), ours[0], 1e-14);
        H.Close(b.Grad!.Arr(), ours[1], 1e-14);
        H.Close(c.Grad!.Arr(), ours[2], 1e-14);
        Assert.Equal(d, a.Grad!.Device);
    }

    [Fact]
    public void AGradientClippingOpChangesOnlyTheBackward()
    {
        var x = Torch.Tensor(new[] { 1.0, 2.0, 3.0 }).RequiresGrad_();
        var y = new ClipGradient(1.5).Apply(x);
        H.Close([1.0, 2.0, 3.0], y);
        Assert.Equal("ClipGradientBackward", y.GradFn!.Name);
        (y * Torch.Tensor(new[] { -4.0, 0.5, 9.0 })).Sum().Backward();
        H.Close([-1.5, 0.5, 1.5], x.Grad!);
    }

    [Fact]
    public void TensorHooksFireOnTheOpsInputAndOutput()
    {
        var x = Torch.Tensor(new[] { 0.0, 1.0 }).RequiresGrad_();
        var op = new MyExp();
        var y = op.Apply(x);
        var seen = new List<string>();
        // A hook on the op's output sees d loss / d y and may replace what the user's Backward receives.
        y.RegisterHook(g => { seen.Add($"y {string.Join(",", g.Arr())}"); return g * 10.0; });
        x.RegisterHook(g => seen.Add($"x {string.Join(",", g.Arr().Select(v => Math.Round(v, 6)))}"));
        (y * Torch.Tensor(new[] { 1.0, 2.0 })).Sum().Backward();
        Assert.Equal(["y 1,2", $"x 10,{Math.Round(20 * Math.E, 6)}"], seen);
        H.Close([10.0, 20 * Math.E], x.Grad!, 1e-15);
    }

    [Fact]
    public void AnomalyModeNamesTheUsersOpAndTheLineThatAppliedIt()
    {
        using var _ = Torch.DetectAnomaly();
        var x = Torch.Tensor(new[] { 2.0, 0.0 }).RequiresGrad_();
        int line = Line(); var y = new MyLog().Apply(x);
        var e = Assert.Throws<AnomalyException>(() => y.Sum().Backward());
        Assert.Equal("MyLogBackward", e.OpName);
        Assert.Equal(0, e.Input);
        Assert.Contains("MyLogBackward returned a gradient for its input 0", e.Message);
        Assert.Contains("+inf at flat index 1", e.Message);
        Assert.Contains($"{nameof(AutogradFunctionTests)}.{nameof(AnomalyModeNamesTheUsersOpAndTheLineThatAppliedIt)}", e.Message);
        Assert.EndsWith($"AutogradFunctionTests.cs:{line}", e.CreatedAt);
        Assert.Null(x.Grad);
    }

    static int Line([CallerLineNumber] int line = 0) => line;

    [Fact]
    public void GraphExportShowsTheOpByName()
    {
        var x = Torch.Tensor(new[] { 1.0, 2.0 }).RequiresGrad_();
        var loss = new MyExp().Apply(x * 3.0).Sum();
        var names = new Dictionary<Tensor, string> { [x] = "x", [loss] = "loss" };
        var dot = loss.ToDot(names);
        var mermaid = loss.ToMermaid(names);
        // out <- f0 SumBackward <- f1 MyExpBackward <- f2 MulBackward <- t0 x (breadth-first ids)
        Assert.Contains("f1 [label=\"MyExpBackward\\n[2] Float64\"]", dot);
        Assert.Contains("f2 -> f1;", dot);
        Assert.Contains("f1 -> f0;", dot);
        Assert.Contains("t0 [label=\"x (input)", dot);
        Assert.Contains("f1[\"MyExpBackward<br/>[2] Float64\"]", mermaid);
        Assert.Contains("f2 --> f1", mermaid);
    }

    [Fact]
    public void SavedTensorsAreFreedAfterBackwardUnlessTheGraphIsRetained()
    {
        var x = Torch.Tensor(new[] { 1.0 }).RequiresGrad_();
        var op = new MyExp();
        var loss = op.Apply(x); // the root itself, so the second-time error is the op's
        loss.Backward(retainGraph: true);
        loss.Backward();
        Assert.Equal(2, op.Backwards);
        H.Close([2 * Math.E], x.Grad!, 1e-15);
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("MyExpBackward", e.Message);
        Assert.Contains("second time", e.Message);
        Assert.Equal(2, op.Backwards);
    }

    [Fact]
    public void BackwardMayReturnASavedTensorBelowAnotherNode()
    {
        // A fused loss computes its gradient in Forward and returns the saved tensor from Backward (g is 1 here). Its
        // saved tensors are freed right after the node, while that gradient still flows down to x * 2 below.
        var preGrad = new Lambda("PreGradLoss", (ctx, i) => { ctx.SaveForBackward(i[0] * 2); return (i[0] * i[0]).Sum(); },
            (ctx, g) => [ctx.SavedTensors[0]]);
        var x = Torch.Tensor(new[] { 1.0, 2 }).RequiresGrad_();
        preGrad.Apply(x * 2).Backward();
        H.Close([8, 16], x.Grad!);
    }

    [Fact]
    public void NonDifferentiableOutputsLeaveTheGraph()
    {
        var x = Torch.Tensor(new[] { 1.0, -2.0 }).RequiresGrad_();
        var marked = new Lambda("SignBackward2", (ctx, xs) => { var s = xs[0].Sign(); ctx.MarkNonDifferentiable(s); return s; }, (_, g) => [g]).Apply(x);
        Assert.False(marked.RequiresGrad);
        Assert.Null(marked.GradFn);
        H.Close([1.0, -1.0], marked);
        // An integer output cannot require grad, marked or not; returning an input as-is gives a new tensor outside the graph.
        var ints = new Lambda("ArgBackward", (_, xs) => xs[0].ArgMax(0), (_, g) => [g]).Apply(x);
        Assert.Equal(DType.Int64, ints.DType);
        Assert.False(ints.RequiresGrad);
        var same = new Lambda("IdBackward", (ctx, xs) => { ctx.MarkNonDifferentiable(xs[0]); return xs[0]; }, (_, g) => [g]).Apply(x);
        Assert.NotSame(x, same);
        Assert.False(same.RequiresGrad);
        Assert.True(x.RequiresGrad);
    }

    static Tensor Id(Tensor[] xs) => xs[0] * 1.0;

    static InvalidOperationException BackwardFails(Func<AutogradContext, Tensor, Tensor?[]> backward, params Tensor[] inputs)
    {
        var y = new Lambda("BadBackward", (_, xs) => Id(xs), backward).Apply(inputs);
        return Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
    }

    [Fact]
    public void WrongNumberOfGradientsIsAnError()
    {
        var x = Torch.Ones([2], DType.Float64).RequiresGrad_();
        var e = BackwardFails((_, g) => [g, g], x);
        Assert.Equal("BadBackward: Backward returned 2 gradients, but Forward took 1 input; return one per input, null where none is needed", e.Message);
        e = BackwardFails((_, g) => [], x);
        Assert.Contains("returned 0 gradients, but Forward took 1 input", e.Message);
        e = BackwardFails((_, g) => null!, x);
        Assert.Contains("BadBackward: Backward returned null; expected an array with one gradient (or null) per input, 1 in all", e.Message);
        Assert.Null(x.Grad);
    }

    [Fact]
    public void AGradientOfTheWrongShapeOrDTypeNamesTheOpTheInputAndWhatWasExpected()
    {
        var x = Torch.Ones([2, 3], DType.Float64).RequiresGrad_();
        var z = Torch.Ones([3], DType.Float64).RequiresGrad_();
        var e = BackwardFails((_, g) => [g, g], x, z);
        Assert.Equal("BadBackward: Backward returned an invalid gradient for input 1: got shape [2,3], Float64 on cpu; expected shape [3], Float64 on cpu, like the input (sum a broadcast gradient back down to the input's shape)", e.Message);
        e = BackwardFails((_, g) => [g.To(DType.Float32), null], x, z);
        Assert.Equal("BadBackward: Backward returned an invalid gradient for input 0: got shape [2,3], Float32 on cpu; expected shape [2,3], Float64 on cpu, like the input (convert it with To(DType.Float64))", e.Message);
        Assert.Null(x.Grad);
        Assert.Null(z.Grad);
    }

    [Fact]
    public void AGradientOnTheWrongDeviceIsAnError()
    {
        var other = TestDevices.Names.FirstOrDefault(n => n != "cpu");
        Assert.SkipWhen(other is null, "needs a second device");
        var d = Device.Parse(other!);
        var x = Torch.Ones([2], DType.Float64).To(d).RequiresGrad_();
        var e = BackwardFails((_, g) => [g.To(Device.Cpu)], x);
        Assert.Equal($"BadBackward: Backward returned an invalid gradient for input 0: got shape [2], Float64 on cpu; expected shape [2], Float64 on {d}, like the input (move it with To(device))", e.Message);
    }

    [Fact]
    public void GradientsForIntegerInputsAreErrorsAndUnneededOnesAreDropped()
    {
        var x = Torch.Ones([2], DType.Float64).RequiresGrad_();
        var idx = Torch.Tensor(new long[] { 0, 1 }, 2);
        var e = BackwardFails((_, g) => [g, g], x, idx);
        Assert.Equal("BadBackward: Backward returned a gradient for input 1, which is Int64 and cannot have one; return null there", e.Message);
        // A float input that does not require grad: its gradient (even a malformed one) is dropped, as in PyTorch.
        var c = Torch.Ones([2], DType.Float64);
        var y = new Lambda("LaxBackward", (_, xs) => xs[0] * xs[1], (_, g) => [g, Torch.Zeros([7])]).Apply(x, c);
        y.Sum().Backward();
        H.Close([1.0, 1.0], x.Grad!);
        Assert.Null(c.Grad);
    }

    [Fact]
    public void MisusesOfApplyAndTheContextAreClearErrors()
    {
        var x = Torch.Ones([2], DType.Float64).RequiresGrad_();
        var e = Assert.Throws<ArgumentNullException>(() => new MyExp().Apply(x, null!));
        Assert.Contains("MyExpBackward: input 1 is null", e.Message);
        Assert.Throws<ArgumentNullException>(() => new MyExp().Apply(null!));

        var noOutput = Assert.Throws<InvalidOperationException>(() => new Lambda("NullBackward", (_, _) => null!, (_, g) => [g]).Apply(x));
        Assert.Equal("NullBackward: Forward returned null; expected the output tensor", noOutput.Message);

        var late = BackwardFails((ctx, g) => { ctx.SaveForBackward(g); return [g]; }, x);
        Assert.Equal("BadBackward: SaveForBackward can only be called in Forward; Backward sees what Forward saved", late.Message);

        var missing = Assert.Throws<KeyNotFoundException>(() =>
            new Lambda("DataBackward", (ctx, xs) => { ctx.SaveData("k", 2.0); return Id(xs); }, (ctx, g) => [g * ctx.GetData<double>("scale")]).Apply(x).Sum().Backward());
        Assert.Contains("DataBackward: no data was saved under 'scale' (saved: k)", missing.Message);
        var cast = Assert.Throws<InvalidCastException>(() =>
            new Lambda("DataBackward", (ctx, xs) => { ctx.SaveData("k", 2.0); return Id(xs); }, (ctx, g) => [g * ctx.GetData<int>("k")]).Apply(x).Sum().Backward());
        Assert.Contains("DataBackward: data 'k' is a Double, not a Int32", cast.Message);

        var wrongMark = Assert.Throws<InvalidOperationException>(() =>
            new Lambda("MarkBackward", (ctx, xs) => { ctx.MarkNonDifferentiable(xs[0]); return Id(xs); }, (_, g) => [g]).Apply(x));
        Assert.Contains("MarkBackward: MarkNonDifferentiable was given a tensor that Forward did not return", wrongMark.Message);

        var nullSaved = Assert.Throws<ArgumentNullException>(() =>
            new Lambda("SaveBackward", (ctx, xs) => { ctx.SaveForBackward(xs[0], null!); return Id(xs); }, (_, g) => [g]).Apply(x));
        Assert.Contains("SaveBackward: SaveForBackward got null at position 1", nullSaved.Message);
    }
}
