using MiniGrad.Nn;

namespace MiniGrad.Tests.Foundation;

// Backward computes only the gradients some input needs: MatMul runs one GEMM, not two, when one operand is data (the
// input of every Linear and Conv1d layer), and the elementwise ops return null for inputs outside the graph.
[Collection("Ilgpu")]
public class NeedsInputGradTests
{
    public static TheoryData<string> DeviceNames => TestDevices.All;

    /// <summary>GEMMs launched on this thread while action runs.</summary>
    static long GemmsIn(Action action)
    {
        long before = MatMulFn.Gemms;
        action();
        return MatMulFn.Gemms - before;
    }

    [Theory]
    [InlineData(false, true, 1)]
    [InlineData(true, false, 1)]
    [InlineData(true, true, 2)]
    public void MatMulBackwardRunsOneGemmPerInputThatNeedsAGradient(bool aNeeds, bool bNeeds, int gemms)
    {
        var a = H.Rnd(1, 4, 3).RequiresGrad_(aNeeds);
        var b = H.Rnd(2, 3, 5).RequiresGrad_(bNeeds);
        var loss = a.MatMul(b).Sum();
        Assert.Equal(gemms, GemmsIn(() => loss.Backward()));
        Assert.Equal(aNeeds, a.Grad is not null);
        Assert.Equal(bNeeds, b.Grad is not null);
    }

    [Fact]
    public void ALinearLayerOnDataRunsOneGemmForward_AndOneBackward()
    {
        var layer = new Linear(3, 2, dtype: DType.Float64, generator: new Generator(1));
        var x = H.Rnd(3, 8, 3); // data: no gradient wanted
        Tensor loss = null!;
        Assert.Equal(1, GemmsIn(() => loss = layer.Forward(x).Sum()));
        Assert.Equal(1, GemmsIn(() => loss.Backward())); // the weight's gradient only; x's is never computed
        Assert.NotNull(layer.Weight.Grad);
        // The same layer on an input that needs its gradient (a hidden layer) runs both.
        var h = H.Leaf(4, 8, 3);
        loss = layer.Forward(h).Sum();
        Assert.Equal(2, GemmsIn(() => loss.Backward()));
        Assert.NotNull(h.Grad);
    }

    [Fact]
    public void AConv1dOnDataSkipsTheGemmForTheUnfoldedInput()
    {
        var w = H.Leaf(5, 4, 2, 3);
        var x = H.Rnd(6, 2, 2, 10);
        var loss = Functional.Conv1d(x, w).Sum();
        Assert.Equal(1, GemmsIn(() => loss.Backward()));
        Assert.NotNull(w.Grad);
    }

    [Fact]
    public void TheBackwardOfABinaryOpReturnsNullForTheInputOutsideTheGraph()
    {
        var x = H.Leaf(7, 2, 3);
        var c = H.Rnd(8, 3).Abs() + 0.5;
        var g = Torch.OnesLike(x);
        var ops = new (string Name, Tensor Y)[]
        {
            ("MmBackward", x.MatMul(H.Rnd(9, 3, 4))), ("AddBackward", x + c), ("SubBackward", x - c), ("MulBackward", x * c),
            ("DivBackward", x / c), ("PowBackward", (x.Abs() + 0.5).Pow(c)), ("WhereBackward", Torch.Where(c.Gt(1.0), x, c)),
        };
        foreach (var (name, y) in ops)
        {
            Assert.Equal(name, y.GradFn!.Name);
            var grads = y.GradFn.Backward(Torch.OnesLike(y));
            Assert.Equal(2, grads.Length);
            Assert.True(grads[0] is not null, $"{name}: the input in the graph got no gradient");
            Assert.True(grads[1] is null, $"{name}: computed a gradient for the input outside the graph");
        }
        // And the other way round.
        var (yx, yc) = (c / x, c.Pow(x));
        Assert.Null(yx.GradFn!.Backward(g)[0]);
        Assert.NotNull(yx.GradFn!.Backward(g)[1]);
        Assert.Null(yc.GradFn!.Backward(g)[0]);
        var cat = Torch.Cat([c.Unsqueeze(0), x, c.Unsqueeze(0)]).GradFn!.Backward(Torch.Ones([4, 3], DType.Float64));
        Assert.Equal([false, true, false], cat.Select(t => t is not null));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void GradientsStayRightWhenOnlySomeInputsNeedThem(string device)
    {
        var d = Device.Parse(device);
        H.Grad(a => a[0].MatMul(a[1]), H.Leaf(d, 1, 2, 4, 3), H.Rnd(d, 2, 3, 2));
        H.Grad(a => a[0].MatMul(a[1]), H.Rnd(d, 1, 4, 3), H.Leaf(d, 2, 2, 3, 2));
        H.Grad(a => a[0] / a[1], H.Rnd(d, 3, 2, 3), H.PosLeaf(d, 4, 3));
        H.Grad(a => a[0] / a[1], H.Leaf(d, 3, 2, 3), H.PosLeaf(d, 4, 3).Detach());
        H.Grad(a => a[0].Pow(a[1]), H.PosLeaf(d, 5, 2, 3).Detach(), H.Leaf(d, 6, 3));
        H.Grad(a => a[0].Pow(a[1]), H.PosLeaf(d, 5, 2, 3), H.Rnd(d, 6, 3));
        H.Grad(a => Torch.Where(a[1].Gt(0.0), a[0], a[1]), H.Rnd(d, 7, 2, 3), H.Leaf(d, 8, 3));
        H.Grad(a => a[0] - a[1], H.Rnd(d, 7, 2, 3), H.Leaf(d, 8, 3));
        H.Grad(a => Torch.Cat([a[0], a[1]], 1), H.Rnd(d, 7, 2, 3), H.Leaf(d, 8, 2, 2));
    }
}
