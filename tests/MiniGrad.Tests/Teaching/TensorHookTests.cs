namespace MiniGrad.Tests.Teaching;

public class TensorHookTests
{
    static Tensor D(params double[] v) => Torch.Tensor(v);

    [Fact]
    public void ALeafHookSeesTheSummedGradientOnceBeforeItIsAccumulated()
    {
        var x = D(1, 2, 3).RequiresGrad_();
        var seen = new List<double[]>();
        x.RegisterHook(g => seen.Add(g.ToArray<double>()));
        (x * 3.0 + x * x).Sum().Backward();
        Assert.Equal([[5.0, 7.0, 9.0]], seen); // 3 + 2x, from both uses together
        Assert.Equal([5.0, 7.0, 9.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void ALeafHookCanReplaceTheGradient()
    {
        var x = D(1, 2, 3).RequiresGrad_();
        x.RegisterHook(g => g * 10.0);
        (x * x).Sum().Backward();
        Assert.Equal([20.0, 40.0, 60.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void HooksRunInOrderEachSeeingThePreviousReplacement()
    {
        var x = D(1, 2).RequiresGrad_();
        var order = new List<string>();
        x.RegisterHook(g => { order.Add("first"); return g + 1.0; });
        x.RegisterHook(g => { order.Add($"second {g.ToArray<double>()[0]}"); return g * 2.0; });
        x.Sum().Backward();
        Assert.Equal(["first", "second 2"], order);
        Assert.Equal([4.0, 4.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void ANonLeafHookSeesTheGradientWithRespectToThatTensor()
    {
        var x = D(1, 2, 3).RequiresGrad_();
        var h = x * x;
        double[]? seen = null;
        h.RegisterHook(g => seen = g.ToArray<double>());
        (h * D(1, 10, 100)).Sum().Backward();
        Assert.Equal([1.0, 10.0, 100.0], seen!);
        Assert.Equal([2.0, 40.0, 600.0], x.Grad!.ToArray<double>());
        Assert.Null(h.Grad); // a hook does not make a non-leaf keep its gradient
    }

    [Fact]
    public void ANonLeafHookCanChangeWhatFlowsUpstream()
    {
        var x = D(1, 2, 3).RequiresGrad_();
        var h = x * x;
        h.RegisterHook(g => Torch.Where(g.Gt(5.0), Torch.ZerosLike(g), g)); // drop the large gradients
        (h * D(1, 10, 100)).Sum().Backward();
        Assert.Equal([2.0, 0.0, 0.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void AHookOnTheRootGetsTheSeedAndALeafRootWorksToo()
    {
        var x = D(1, 2).RequiresGrad_();
        var loss = (x * x).Sum();
        double seed = 0;
        loss.RegisterHook(g => seed = g.Item<double>());
        loss.Backward();
        Assert.Equal(1.0, seed);

        var leaf = D(1, 2).RequiresGrad_();
        leaf.RegisterHook(g => g * 3.0);
        leaf.Backward(D(1, 1));
        Assert.Equal([3.0, 3.0], leaf.Grad!.ToArray<double>());
    }

    [Fact]
    public void RemovedHooksAreNoLongerCalled()
    {
        var x = D(1, 2).RequiresGrad_();
        int calls = 0;
        var handle = x.RegisterHook(g => { calls++; return g * 100.0; });
        x.Sum().Backward();
        Assert.Equal(1, calls);
        handle.Remove();
        handle.Dispose(); // twice is harmless
        x.ZeroGrad();
        x.Sum().Backward();
        Assert.Equal(1, calls);
        Assert.Equal([1.0, 1.0], x.Grad!.ToArray<double>());

        var h = x * 2.0;
        using (h.RegisterHook(g => g * 0.0)) { }
        x.ZeroGrad();
        h.Sum().Backward();
        Assert.Equal([2.0, 2.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void AHookMayRemoveItselfWhileRunning()
    {
        var x = D(1).RequiresGrad_();
        int calls = 0;
        HookHandle? handle = null;
        handle = x.RegisterHook(g => { calls++; handle!.Remove(); });
        x.Sum().Backward();
        x.Sum().Backward();
        Assert.Equal(1, calls);
    }

    [Fact]
    public void HooksRunAgainOnARetainedGraph()
    {
        var x = D(2).RequiresGrad_();
        var h = x * x;
        int calls = 0;
        h.RegisterHook(_ => calls++);
        var loss = h.Sum();
        loss.Backward(retainGraph: true);
        loss.Backward();
        Assert.Equal(2, calls);
        Assert.Equal([8.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void BadHooksAndTargetsAreRejectedWithClearMessages()
    {
        var c = D(1, 2);
        var e = Assert.Throws<InvalidOperationException>(() => c.RegisterHook(g => g));
        Assert.Contains("does not require grad", e.Message);

        var x = D(1, 2).RequiresGrad_();
        var h = x.Exp();
        h.RegisterHook(g => Torch.Ones([3], DType.Float64));
        e = Assert.Throws<InvalidOperationException>(() => h.Sum().Backward());
        Assert.Contains("hook on the output of ExpBackward", e.Message);
        Assert.Contains("shape [3]", e.Message);
        Assert.Contains("expected shape [2]", e.Message);

        var y = D(1, 2).RequiresGrad_();
        y.RegisterHook(g => g.To(DType.Float32));
        e = Assert.Throws<InvalidOperationException>(() => (y * 2.0).Sum().Backward());
        Assert.Contains("hook on a leaf tensor", e.Message);
        Assert.Contains("Float32", e.Message);
    }

    [Fact]
    public void HooksRunWithoutRecording()
    {
        var x = D(1, 2).RequiresGrad_();
        bool? gradMode = null;
        x.RegisterHook(g => { gradMode = Autograd.IsGradEnabled; return g * 2.0; });
        (x * x).Sum().Backward();
        Assert.False(gradMode);
        Assert.Equal([4.0, 8.0], x.Grad!.ToArray<double>());
        Assert.False(x.Grad.RequiresGrad);
    }
}
