using MiniGrad.Backends.Cpu;
using MiniGrad.Nn;

namespace MiniGrad.Tests.Foundation;

/// <summary>Torch.NewScope(), Dispose() and what they must never free: parameters, gradients, optimizer state, buffers,
/// what an op saved for its backward, what a hook kept.</summary>
[Collection("Ilgpu")]
public class ScopeTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    [Fact]
    public void AScopeDisposesWhatWasCreatedInsideAndNothingElse()
    {
        var outside = Torch.Ones(3);
        Tensor inside, kept, detached;
        using (var scope = Torch.NewScope())
        {
            inside = outside * outside;
            kept = scope.Keep(outside + outside);
            detached = (outside + outside + outside).DetachFromScope(); // its first sum stays in the scope
            Assert.Equal(2, scope.Count);
        }
        Assert.True(inside.IsDisposed);
        Assert.False(outside.IsDisposed);
        Assert.False(kept.IsDisposed);
        Assert.False(detached.IsDisposed);
        Assert.Equal([2f, 2, 2], kept.ToArray<float>());
        Assert.Equal([3f, 3, 3], detached.ToArray<float>());
        var e = Assert.Throws<ObjectDisposedException>(() => inside.ToArray<float>());
        Assert.Contains("MoveToOuterScope", e.Message);
        Assert.Throws<ObjectDisposedException>(() => inside + outside);
    }

    [Fact]
    public void MoveToOuterScopeHandsATensorToTheEnclosingScope()
    {
        Tensor moved;
        using (var outer = Torch.NewScope())
        {
            using (Torch.NewScope()) moved = Torch.Ones(2).MoveToOuterScope();
            Assert.False(moved.IsDisposed);
            Assert.Equal(1, outer.Count);
        }
        Assert.True(moved.IsDisposed);
    }

    [Fact]
    public void KeepRejectsATensorOfAnotherScopeAndScopesEndInOrder()
    {
        var t = Torch.Ones(2);
        using (var scope = Torch.NewScope())
        {
            var e = Assert.Throws<ArgumentException>(() => scope.Keep(t));
            Assert.Equal("t", e.ParamName);
            var inner = Torch.NewScope();
            var order = Assert.Throws<InvalidOperationException>(() => scope.Dispose());
            Assert.Contains("reverse order", order.Message);
            inner.Dispose();
        }
        Assert.False(t.IsDisposed);
    }

    [Fact]
    public void DisposeIsIdempotentAndSharedStorageStaysForTheOtherOwners()
    {
        var a = Torch.Tensor([1f, 2, 3, 4], 4);
        var view = a.Reshape(2, 2);
        a.Dispose();
        a.Dispose();
        Assert.True(a.IsDisposed);
        Assert.Equal([1f, 2, 3, 4], view.ToArray<float>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ALossMadeInAScopeStillGoesBackwardAfterIt(string device)
    {
        var dev = Device.Parse(device);
        Torch.ManualSeed(3);
        var w = Torch.Randn([4, 3], DType.Float64).To(dev).RequiresGrad_();
        var x = Torch.Randn([5, 4], DType.Float64).To(dev);
        static Tensor F(Tensor x, Tensor w) { var h = x.MatMul(w); return (h.Tanh() * h.Sigmoid()).Sum(); }
        var expected = Grad(w, () => F(x, w));

        Tensor loss;
        using (var scope = Torch.NewScope())
        {
            loss = scope.Keep(F(x, w));
            x.Dispose(); // an input the ops saved may go too: they keep their own reference
        }
        w.Grad = null;
        loss.Backward();
        Assert.Equal(expected, w.Grad!.ToArray<double>());
    }

    static double[] Grad(Tensor w, Func<Tensor> f)
    {
        w.Grad = null;
        f().Backward();
        return w.Grad!.ToArray<double>();
    }

    [Fact]
    public void ParametersGradientsOptimizerStateAndBuffersOutliveTheStepsScope()
    {
        Torch.ManualSeed(1);
        Linear lin;
        BatchNorm1d norm;
        using (Torch.NewScope())
        {
            lin = new Linear(3, 2);
            norm = new BatchNorm1d(2);
        }
        var opt = new Adam(lin.Parameters(), 0.1);
        Tensor? seenByHook = null;
        lin.Weight.RegisterHook(g => { seenByHook = g; return null; });
        for (int step = 0; step < 2; step++)
        {
            using var scope = Torch.NewScope();
            opt.ZeroGrad();
            norm.Forward(lin.Forward(Torch.Randn(4, 3))).Pow(2).Sum().Backward();
            opt.Step();
        }
        Assert.False(lin.Weight.IsDisposed);
        Assert.False(lin.Weight.Grad!.IsDisposed);
        Assert.False(norm.RunningMean!.IsDisposed);
        Assert.False(seenByHook!.IsDisposed);
        Assert.Equal(lin.Weight.Grad.ToArray<float>(), seenByHook.ToArray<float>());
        foreach (var buffer in opt.State(lin.Weight)!.Buffers.Values) Assert.False(buffer.IsDisposed);
    }

    [Fact]
    public void OptimizerStateIsUpdatedInPlaceAndZeroGradDisposesTheGradients()
    {
        var p = new Parameter(Torch.Tensor([1f, -2], 2));
        var opt = new Adam([p], 0.1);
        (p * p).Sum().Backward();
        opt.Step();
        var expAvg = opt.State(p)!.Buffers["exp_avg"];
        var before = expAvg.ToArray<float>();
        var grad = p.Grad!;
        opt.ZeroGrad();
        Assert.True(grad.IsDisposed);
        Assert.Null(p.Grad);
        (p * p).Sum().Backward();
        opt.Step();
        Assert.Same(expAvg, opt.State(p)!.Buffers["exp_avg"]);
        Assert.NotEqual(before, expAvg.ToArray<float>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void TrainingInScopesGivesTheSameBitsAsWithout(string device)
    {
        var plain = Train(device, scoped: false);
        var scoped = Train(device, scoped: true);
        Assert.Equal(plain, scoped);
    }

    /// <summary>A few steps of the speech recipe's shape in small: BiLSTM, Linear, CTC, clipping, Adam; the final weights.</summary>
    internal static float[] Train(string device, bool scoped, int steps = 4)
    {
        var dev = Device.Parse(device);
        Torch.ManualSeed(7);
        var lstm = new Lstm(6, 8, 2, bidirectional: true);
        var proj = new Linear(16, 5);
        lstm.To(dev);
        proj.To(dev);
        var ps = lstm.Parameters().Concat(proj.Parameters()).ToList();
        var opt = new Adam(ps, 0.01);
        var x = Torch.Randn(12, 3, 6).To(dev);
        var targets = Torch.Randint(1, 5, [3, 4]).To(dev);
        int[] inputLengths = [12, 10, 7], targetLengths = [4, 3, 2];
        for (int step = 0; step < steps; step++)
        {
            using var scope = scoped ? Torch.NewScope() : null;
            opt.ZeroGrad();
            var lp = proj.Forward(lstm.Forward(x, inputLengths).Output).LogSoftmax(2);
            Functional.CtcLoss(lp, targets, inputLengths, targetLengths).Backward();
            Functional.ClipGradNorm(ps, 1.0);
            opt.Step();
        }
        return [.. ps.SelectMany(p => p.ToArray<float>())];
    }
}

/// <summary>The pool's counters are process-wide, so this runs alone (after the parallel tests).</summary>
[Collection("NumThreads")]
public class StoragePoolTests
{
    [Fact]
    public void AfterWarmUpAScopedTrainingStepTakesAllItsStorageFromThePool()
    {
        Assert.SkipWhen(StoragePool.Check, "MINIGRAD_POOL_CHECK=1: the checker never reuses storage");
        ScopeTests.Train("cpu", scoped: true, steps: 3); // warm-up: the pool fills
        long before = StoragePool.Misses;
        ScopeTests.Train("cpu", scoped: true, steps: 3);
        // A new model and optimizer allocate their parameters, state and inputs afresh; the steps themselves reuse.
        long setup = StoragePool.Misses - before;
        before = StoragePool.Misses;
        ScopeTests.Train("cpu", scoped: true, steps: 6);
        Assert.Equal(setup, StoragePool.Misses - before);
    }

    [Fact]
    public void SizeClassesRoundUpByLessThanAnEighthAndRepeat()
    {
        Assert.Equal([1024, 1152, 1152, 2048, 2304, 106_496], new[] { 1024, 1025, 1152, 2048, 2049, 100_000 }.Select(StoragePool.SizeClass));
        var classes = new HashSet<int>();
        for (int n = 256; n < 65_536; n++)
        {
            int c = StoragePool.SizeClass(n);
            Assert.True(c >= n && c < n + n / 8 + 1, $"{n} -> {c}");
            Assert.Equal(c, StoragePool.SizeClass(c));
            Assert.True(StoragePool.SizeClass(n - 1) <= c);
            classes.Add(c);
        }
        Assert.Equal(8 * 8 + 1, classes.Count); // eight per power of two from 256 on, and 65,536 itself
        // Each array is as long as its class, in the checker too (whose NaN past a tensor's end catches a kernel reading there).
        Assert.Equal(1152, StoragePool.Rent<float>(1030).Length);
    }

    [Fact]
    public void ATensorALittleShorterThanAReturnedOneReusesItsStorage()
    {
        Assert.SkipWhen(StoragePool.Check, "MINIGRAD_POOL_CHECK=1: the checker never reuses storage");
        using (Torch.NewScope()) Torch.Ones(150, 16, 40); // its array goes back to the pool with ones in its first 96,000 elements
        long before = StoragePool.Misses;
        Tensor shorter;
        using (Torch.NewScope()) shorter = Torch.Full([143, 16, 40], 2).MoveToOuterScope(); // a batch 7 steps shorter: the same class
        Assert.Equal(before, StoragePool.Misses);
        var values = shorter.ToArray<float>();
        Assert.Equal(143 * 16 * 40, values.Length);
        Assert.All(values, v => Assert.Equal(2f, v));
        // Ops see the tensor's own elements only, not the ones left past its end (a sum over the array would add 4,480 ones).
        Assert.Equal(2f * 143 * 16 * 40, shorter.Sum().Item<float>());
        Assert.Equal(2f * 143 * 16 * 40, (shorter * 1).Sum().Item<float>());
        shorter.Dispose();
    }

    [Fact]
    public void WithoutScopesTheBackwardAndTheOptimizerStillRecycleTheirTemporaries()
    {
        Assert.SkipWhen(StoragePool.Check, "MINIGRAD_POOL_CHECK=1: the checker never reuses storage");
        ScopeTests.Train("cpu", scoped: false, steps: 3);
        long before = StoragePool.Misses;
        ScopeTests.Train("cpu", scoped: false, steps: 3);
        long three = StoragePool.Misses - before;
        before = StoragePool.Misses;
        ScopeTests.Train("cpu", scoped: false, steps: 6);
        long six = StoragePool.Misses - before;
        // The forward's tensors are the GC's without a scope, but the gradients, the layers' intermediates and the
        // optimizer's temporaries come back: three more steps cost fewer fresh arrays than the first three did in all.
        Assert.True(six - three < three, $"3 steps: {three} fresh arrays, 6 steps: {six}");
    }
}
