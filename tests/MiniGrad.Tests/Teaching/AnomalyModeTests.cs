namespace MiniGrad.Tests.Teaching;

public class AnomalyModeTests
{
    [Fact]
    public void AnInfiniteGradientNamesTheOpAndTheLineThatCreatedIt()
    {
        using var _ = Torch.DetectAnomaly();
        var x = Torch.Tensor(new[] { 4.0, 0.0 }).RequiresGrad_();
        var loss = x.Sqrt().Sum(); // d sqrt(x) / dx = 1 / (2 sqrt(x)) is +inf at 0
        var e = Assert.Throws<AnomalyException>(() => loss.Backward());
        Assert.Equal("SqrtBackward", e.OpName);
        Assert.Equal(0, e.Input);
        Assert.Contains("SqrtBackward returned a gradient for its input 0", e.Message);
        Assert.Contains("+inf at flat index 1", e.Message);
        Assert.Contains($"{nameof(AnomalyModeTests)}.{nameof(AnInfiniteGradientNamesTheOpAndTheLineThatCreatedIt)}", e.Message);
        Assert.Contains("AnomalyModeTests.cs:", e.Message);
        Assert.Contains("AnomalyModeTests.cs:", e.CreatedAt);
        Assert.Contains("Sqrt", e.ForwardStackTrace);
        Assert.IsAssignableFrom<InvalidOperationException>(e);
    }

    [Fact]
    public void ANaNGradientStopsAtTheFirstOpThatMakesIt()
    {
        var x = Torch.Tensor(new[] { 0.0 }).RequiresGrad_();
        Tensor loss;
        using (Torch.DetectAnomaly())
        {
            // log(0) * 0: MulBackward passes a gradient of 0 to log(x), and LogBackward computes 0 / 0 = NaN.
            // (MulBackward's -inf for the constant is not checked: that input needs no gradient.)
            loss = (x.Log() * Torch.Zeros([1], DType.Float64)).Sum();
            var e = Assert.Throws<AnomalyException>(() => loss.Backward(retainGraph: true));
            Assert.Equal("LogBackward", e.OpName);
            Assert.Contains("NaN", e.Message);
            Assert.Contains("AnomalyModeTests.cs", e.Message);
            Assert.Null(x.Grad); // stopped before anything reached the leaf
        }
        // Outside anomaly mode the same backward runs through and leaves the NaN in Grad.
        loss.Backward();
        Assert.True(double.IsNaN(x.Grad!.Item<double>()));
    }

    [Fact]
    public void OpsCreatedOutsideTheScopeAreStillCheckedButHaveNoOrigin()
    {
        var x = Torch.Tensor(new[] { 0.0 }).RequiresGrad_();
        var loss = x.Log().Sum();
        Assert.Null(loss.GradFn!.CreatedAt);
        using var _ = Torch.DetectAnomaly();
        var e = Assert.Throws<AnomalyException>(() => loss.Backward());
        Assert.Equal("LogBackward", e.OpName);
        Assert.Contains("+inf at flat index 0", e.Message); // d log(x) / dx = 1 / x
        Assert.Contains("created outside Torch.DetectAnomaly()", e.Message);
        Assert.Null(e.CreatedAt);
    }

    [Fact]
    public void TheScopeIsOnlyOnWhileOpen()
    {
        Assert.False(Autograd.IsAnomalyEnabled);
        var scope = Torch.DetectAnomaly();
        Assert.True(Autograd.IsAnomalyEnabled);
        var y = Torch.Ones([1], requiresGrad: true).Exp();
        scope.Dispose();
        scope.Dispose(); // twice is harmless
        Assert.False(Autograd.IsAnomalyEnabled);
        Assert.Matches(@"^MiniGrad\.Tests\.Teaching\.AnomalyModeTests\.TheScopeIsOnlyOnWhileOpen in .*AnomalyModeTests\.cs:\d+$", y.GradFn!.CreatedAt);
        Assert.Null(Torch.Ones([1], requiresGrad: true).Exp().GradFn!.CreatedAt);

        // Finite gradients pass untouched in anomaly mode.
        var x = Torch.Tensor(new[] { 1.0, 4.0 }).RequiresGrad_();
        using (Torch.DetectAnomaly()) x.Sqrt().Sum().Backward();
        Assert.Equal([0.5, 0.25], x.Grad!.ToArray<double>());
    }
}
