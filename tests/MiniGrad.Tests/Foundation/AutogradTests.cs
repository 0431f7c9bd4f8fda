namespace MiniGrad.Tests.Foundation;

public class AutogradTests
{
    [Fact]
    public void LeavesAndRecordedResults()
    {
        var x = Torch.Ones([2], requiresGrad: true);
        var c = Torch.Ones(2);
        Assert.True(x.RequiresGrad && x.IsLeaf && x.GradFn is null);
        var y = x * c;
        Assert.True(y.RequiresGrad);
        Assert.False(y.IsLeaf);
        Assert.Equal("MulBackward", y.GradFn!.Name);
        Assert.Contains(x, y.GradFn.NextFunctions);
        var z = c * c;
        Assert.False(z.RequiresGrad);
        Assert.Null(z.GradFn);
    }

    [Fact]
    public void GradFnNamesFollowPyTorch()
    {
        var x = H.Leaf(1, 2, 3);
        Assert.Equal("AddBackward", (x + x).GradFn!.Name);
        Assert.Equal("SubBackward", (x - 1).GradFn!.Name);
        Assert.Equal("DivBackward", (x / 2).GradFn!.Name);
        Assert.Equal("ExpBackward", x.Exp().GradFn!.Name);
        Assert.Equal("SumBackward", x.Sum().GradFn!.Name);
        Assert.Equal("LogSoftmaxBackward", x.LogSoftmax(1).GradFn!.Name);
        Assert.Equal("MaxBackward", x.Max(1).Values.GradFn!.Name);
        Assert.Equal("MinBackward", x.Min(1).Values.GradFn!.Name);
        Assert.Equal("AmaxBackward", x.Max([0]).GradFn!.Name);
        Assert.Equal("AminBackward", x.Min([0]).GradFn!.Name);
    }

    [Fact]
    public void GradAccumulatesAcrossBackwardCalls()
    {
        var x = H.D([1, 2, 3], 3).RequiresGrad_();
        (x * x).Sum().Backward();
        H.Close([2, 4, 6], x.Grad!);
        var first = x.Grad!;
        (x * 3.0).Sum().Backward();
        H.Close([5, 7, 9], x.Grad!);
        Assert.Same(first, x.Grad); // in place, as PyTorch's AccumulateGrad: a reference taken before sees the sum
        H.Close([5, 7, 9], first);
        x.ZeroGrad();
        Assert.Null(x.Grad);
        (x * 3.0).Sum().Backward();
        H.Close([3, 3, 3], x.Grad!);
        // An assigned gradient must be like the tensor (PyTorch: "assigned grad has data of a different size").
        var grad = x.Grad;
        H.Throws<ArgumentException>(() => x.Grad = Torch.Ones(5).To(DType.Float64), "Grad:", "[5]", "expected shape [3]");
        H.Throws<ArgumentException>(() => x.Grad = Torch.Ones([1], DType.Float64), "Grad:", "[1]");
        H.Throws<ArgumentException>(() => x.Grad = Torch.Ones(3), "Grad:", "Float32", "Float64");
        Assert.Same(grad, x.Grad);
        x.Grad = Torch.Ones([3], DType.Float64);
        x.Grad = null;
    }

    [Fact]
    public void ShapeOpsThatChangeNothingStillMakeANewTensor()
    {
        // PyTorch returns a new view (not a leaf, with a grad_fn) from squeeze of a dim that is not 1, transpose(d, d),
        // expand to the same shape and .T of a vector: its Grad, hooks and RetainGrad are its own, not the leaf's.
        var x = H.D([1, 2, 3, 4, 5, 6], 2, 3).RequiresGrad_();
        foreach (var y in new[] { x.Squeeze(0), x.Transpose(1, 1), x.Expand(2, 3), x.Expand(-1, 3) })
        {
            Assert.NotSame(x, y);
            Assert.False(y.IsLeaf);
            Assert.Equal(x.Shape, y.Shape);
        }
        var v = x.Flatten();
        Assert.NotSame(v, v.T);
        var c = Torch.Tensor([2.0, 3.0], 2);
        Assert.NotSame(c, c.Squeeze(0));
        var s = x.Squeeze(0);
        Assert.False(s.IsLeaf);
        Assert.Equal("ReshapeBackward", s.GradFn!.Name);
        s.RetainGrad();
        (s * 2.0).Sum().Backward();
        H.Close([2, 2, 2, 2, 2, 2], s.Grad!);
        H.Close([2, 2, 2, 2, 2, 2], x.Grad!);
        Assert.NotSame(s.Grad, x.Grad);
    }

    [Fact]
    public void CopyFromASourceThatRequiresGradIsRefusedRatherThanLosingTheGradient()
    {
        // PyTorch records CopyBackwards; Copy_ records no graph, so the gradient would silently not reach x.
        var x = H.D([1, 2, 3], 3).RequiresGrad_();
        var a = Torch.Zeros([3], DType.Float64);
        H.Throws<InvalidOperationException>(() => a.Copy_(x * 2.0), "Copy_", "source requires grad");
        H.Close([0, 0, 0], a);
        a.Copy_((x * 2.0).Detach());
        H.Close([2, 4, 6], a);
        using (Torch.NoGrad()) a.Copy_(x * 3.0);
        H.Close([3, 6, 9], a);
    }

    [Fact]
    public void InPlaceArithmeticAsPyTorch()
    {
        var x = Torch.Ones(2, 3);
        Assert.Same(x, x.Add_(2).Mul_(3));
        H.Close([9, 9, 9, 9, 9, 9], x.To(DType.Float64));
        x.Sub_(Torch.Tensor(new[] { 1f, 2, 3 }, 3)).Div_(2); // broadcast over the rows
        H.Close([4, 3.5, 3, 4, 3.5, 3], x.To(DType.Float64));
        x.Clamp_(max: 3.5);
        H.Close([3.5, 3.5, 3, 3.5, 3.5, 3], x.To(DType.Float64));
        x.Zero_();
        H.Close([0, 0, 0, 0, 0, 0], x.To(DType.Float64));
        Assert.Equal(new long[] { 7, 7 }, Torch.Zeros([2], DType.Int64).Fill_(7).ToArray<long>());
        var p = new MiniGrad.Nn.Parameter(Torch.Ones(3));
        H.Throws<InvalidOperationException>(() => p.Mul_(0.5), "in-place", "Torch.NoGrad()");
        using (Torch.NoGrad()) p.Mul_(0.5).Add_(Torch.Ones(3));
        H.Close([1.5, 1.5, 1.5], p.To(DType.Float64));
        Assert.True(p.RequiresGrad);
        H.Throws<ArgumentException>(() => Torch.Ones(3).Add_(Torch.Ones(2, 3)), "Copy_", "cannot be broadcast");
    }

    [Fact]
    public void RetainGradKeepsANonLeafGradient()
    {
        // PyTorch's retain_grad(): the gradient after the tensor's hooks, summed over Backward calls; the root too.
        var x = H.D([1, 2, 3], 3).RequiresGrad_();
        var y = (x * 2.0).RetainGrad();
        y.RegisterHook(g => g * 10.0);
        Assert.True(y.RetainsGrad);
        Assert.False(x.RetainsGrad); // a leaf keeps its gradient anyway
        var z = (y * y).Sum().RetainGrad();
        z.Backward(retainGraph: true);
        H.Close([40, 80, 120], y.Grad!); // dz/dy = 2y = [4, 8, 12], times 10 by the hook
        H.Close([1], z.Grad!);
        z.Backward();
        H.Close([80, 160, 240], y.Grad!);
        Assert.Null((x * 3.0).Grad); // not retained: no gradient kept
        Assert.Throws<InvalidOperationException>(() => H.D([1, 2], 2).RetainGrad());
    }

    [Fact]
    public void BackwardWithAnExplicitGradient()
    {
        var x = H.D([1, 2, 3], 3).RequiresGrad_();
        var y = x * x;
        y.Backward(H.D([1, 10, 100], 3));
        H.Close([2, 40, 600], x.Grad!);
        Assert.Equal(DType.Float64, x.Grad!.DType);
        Assert.False(x.Grad.RequiresGrad);
    }

    [Fact]
    public void BackwardOfALeafSeedsItsOwnGrad()
    {
        var x = Torch.Scalar(3.0, requiresGrad: true);
        x.Backward();
        Assert.Equal(1.0, x.Grad!.Item<double>());
    }

    [Fact]
    public void SecondBackwardThroughAFreedGraphThrows()
    {
        var x = H.Leaf(2, 3);
        var y = (x.Exp() * x).Sum();
        y.Backward();
        var first = x.Grad!.Arr();
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("retainGraph: true", ex.Message);
        Assert.Contains("second time", ex.Message);
        Assert.Equal(first, x.Grad!.Arr()); // nothing was accumulated by the failed call
    }

    [Fact]
    public void RetainGraphAllowsASecondBackwardThatAccumulates()
    {
        var x = H.Leaf(3, 4);
        var y = (x.Tanh() * x).Sum();
        y.Backward(retainGraph: true);
        var once = x.Grad!.Arr();
        y.Backward(retainGraph: true);
        H.Close(once.Select(v => 2 * v).ToArray(), x.Grad!, 1e-15);
        y.Backward(); // the last one may free the graph
        H.Close(once.Select(v => 3 * v).ToArray(), x.Grad!, 1e-15);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void NonScalarBackwardNeedsAGradient()
    {
        var x = H.Leaf(4, 2, 3);
        var ex = Assert.Throws<InvalidOperationException>(() => (x * 2.0).Backward());
        Assert.Contains("scalar", ex.Message);
        Assert.Contains("[2,3]", ex.Message);
    }

    [Fact]
    public void DiamondGraphSumsTheGradients()
    {
        var x = H.D([0.5, -1, 2], 3).RequiresGrad_();
        var s = x * x;                   // shared subexpression
        var y = (s.Exp() + s * 3.0).Sum(); // two paths into s
        y.Backward();
        H.Close(x.Arr().Select(v => 2 * v * (Math.Exp(v * v) + 3)).ToArray(), x.Grad!, 1e-14);

        var z = H.D([1, 2], 2).RequiresGrad_();
        (z + z + z * z).Sum().Backward(); // a leaf used three times
        H.Close([4, 6], z.Grad!);
    }

    [Fact]
    public void DetachCutsTheGraph()
    {
        var x = H.D([1, 2], 2).RequiresGrad_();
        var d = (x * 2.0).Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
        H.Close([2, 4], d);
        (x * d).Sum().Backward(); // d is a constant
        H.Close([2, 4], x.Grad!);
    }

    [Fact]
    public void RequiresGradUnderscoreTurnsALeafOnAndOff()
    {
        var x = Torch.Ones(3);
        Assert.Same(x, x.RequiresGrad_());
        Assert.True(x.RequiresGrad);
        x.RequiresGrad_(false);
        Assert.False(x.RequiresGrad);
        Assert.Null((x * 2.0).GradFn);
        var y = Torch.Ones([3], requiresGrad: true) * 2.0;
        Assert.Throws<InvalidOperationException>(() => y.RequiresGrad_(false));
        var ex = Assert.Throws<InvalidOperationException>(() => Torch.Arange(3).RequiresGrad_());
        Assert.Contains("Int64", ex.Message);
    }

    [Fact]
    public void NoGradStopsRecordingOnThisThreadOnly()
    {
        var x = Torch.Ones([2], requiresGrad: true);
        Tensor? other = null;
        using (Torch.NoGrad())
        {
            Assert.False(Autograd.IsGradEnabled);
            var y = x * 2.0;
            Assert.False(y.RequiresGrad);
            Assert.Null(y.GradFn);
            var t = new Thread(() => other = x * 2.0);
            t.Start();
            t.Join();
            using (Torch.NoGrad()) Assert.False(Autograd.IsGradEnabled); // nested scopes
            Assert.False(Autograd.IsGradEnabled);
        }
        Assert.True(Autograd.IsGradEnabled);
        Assert.NotNull(other!.GradFn); // another thread still recorded
        Assert.True((x * 2.0).RequiresGrad);
    }

    [Fact]
    public void ToBetweenFloatTypesIsDifferentiable()
    {
        var x = Torch.Tensor(new float[] { 1, 2 }, [2], requiresGrad: true);
        (x.To(DType.Float64) * H.D([3, 4], 2)).Sum().Backward();
        Assert.Equal(DType.Float32, x.Grad!.DType);
        Assert.Equal(new float[] { 3, 4 }, x.Grad.ToArray<float>());
        Assert.False(x.To(DType.Int64).RequiresGrad);
    }

    [Fact]
    public void LongChainDoesNotOverflowTheStack()
    {
        var x0 = Torch.Scalar(1.0, requiresGrad: true);
        var x = x0;
        const int n = 100_000;
        for (int i = 0; i < n; i++) x = x * 1.0000001 + 0.0;
        x.Backward();
        double expected = Math.Pow(1.0000001, n);
        Assert.Equal(expected, x.Item<double>(), 1e-9);
        Assert.Equal(expected, x0.Grad!.Item<double>(), 1e-9);
    }

    [Fact]
    public void GradientsOfIntermediatesAreNotKept()
    {
        var x = H.Leaf(5, 3);
        var y = x * 2.0;
        y.Sum().Backward();
        Assert.Null(y.Grad);
        Assert.NotNull(x.Grad);
    }

    [Fact]
    public void DropoutUsesTheGeneratorAndScales()
    {
        var x = Torch.Ones([10_000], DType.Float64, requiresGrad: true);
        var y = x.Dropout(0.25, generator: new Generator(1));
        var v = y.Arr();
        Assert.All(v, e => Assert.True(e == 0 || Math.Abs(e - 4 / 3.0) < 1e-15));
        double kept = v.Count(e => e != 0) / 10_000.0;
        Assert.InRange(kept, 0.73, 0.77);
        Assert.Equal(v, x.Dropout(0.25, generator: new Generator(1)).Arr()); // same generator seed, same mask
        Assert.NotEqual(v, x.Dropout(0.25, generator: new Generator(2)).Arr());
        y.Sum().Backward();
        Assert.Equal(v, x.Grad!.Arr()); // the gradient uses the same mask and scale

        Assert.Same(x, x.Dropout(0.5, training: false));
        Assert.Same(x, x.Dropout(0));
        Assert.All(x.Dropout(1).Arr(), e => Assert.Equal(0, e));
        Torch.ManualSeed(5);
        var a = x.Dropout(0.5).Arr();
        Torch.ManualSeed(5);
        Assert.Equal(a, x.Dropout(0.5).Arr());
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.25)]
    [InlineData(0.9)]
    [InlineData(1e-300)]
    public void DropoutKeepsExactlyWhereTheNextDrawIsAtLeastP(double p)
    {
        // The rule of the mask, element by element in order: keep (scale 1 / (1 - p), rounded once to the dtype) where
        // the generator's NextDouble() >= p, else 0; one draw per element, so the stream goes on from where it stops.
        const int n = 4099;
        var reference = new Generator(7);
        var expected = Enumerable.Range(0, n).Select(_ => reference.NextDouble() >= p).ToArray();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var g = new Generator(7);
            var y = Torch.Ones([n], dtype).Dropout(p, generator: g).Arr();
            double keep = dtype == DType.Float32 ? (float)(1 / (1 - p)) : 1 / (1 - p);
            Assert.Equal(expected.Select(k => k ? keep : 0.0), y);
            var after = new Generator(7);
            for (int i = 0; i < n; i++) after.NextUInt64();
            Assert.Equal(after.NextUInt64(), g.NextUInt64());
        }
        // At the boundary: a probability equal to the draw keeps the element, the next double above it drops it.
        double u = new Generator(11).NextDouble();
        Assert.Equal([1 / (1 - u)], Torch.Ones([1], DType.Float64).Dropout(u, generator: new Generator(11)).Arr());
        Assert.Equal([0.0], Torch.Ones([1], DType.Float64).Dropout(Math.BitIncrement(u), generator: new Generator(11)).Arr());
    }

    [Fact]
    public void GradCheckDetectsAWrongGradient()
    {
        // x * detach(x) has the analytic gradient x but the true one 2x: GradCheck must say so.
        var ex = Assert.Throws<InvalidOperationException>(() => GradCheck.Check(a => a[0] * a[0].Detach(), [H.Leaf(6, 3)]));
        Assert.Contains("gradient mismatch for input 0", ex.Message);
        Assert.True(GradCheck.Check(a => a[0] * a[0], [H.Leaf(6, 3)]));
        Assert.Throws<ArgumentException>(() => GradCheck.Check(a => a[0] * 2.0, [Torch.Ones([2], requiresGrad: true)]));
    }
}
