namespace MiniGrad.Tests.Foundation;

// Expected strings follow PyTorch's printing (precision 4, linewidth 80, threshold 1000, edgeitems 3), with the
// shape and dtype always appended.
public class FormatTests
{
    [Fact]
    public void IntegralFloatMatrix() =>
        Assert.Equal("tensor([[1., 2., 3.],\n        [4., 5., 6.]], shape=[2,3], dtype=Float32)",
            Torch.Tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3).ToString());

    [Fact]
    public void FractionalFloatMatrixAlignsColumns() =>
        Assert.Equal("tensor([[ 1.5000, -2.2500,  3.0000],\n        [ 0.1250, 10.0000, -0.5000]], shape=[2,3], dtype=Float32)",
            Torch.Tensor(new float[] { 1.5f, -2.25f, 3, 0.125f, 10, -0.5f }, 2, 3).ToString());

    [Fact]
    public void IntVector() =>
        Assert.Equal("tensor([  1, -20, 300], shape=[3], dtype=Int64)", Torch.Tensor(new long[] { 1, -20, 300 }).ToString());

    [Fact]
    public void Int32AndBoolVectors()
    {
        Assert.Equal("tensor([7, 8], shape=[2], dtype=Int32)", Torch.Tensor(new[] { 7, 8 }).ToString());
        Assert.Equal("tensor([ True, False], shape=[2], dtype=Bool)", Torch.Tensor(new[] { true, false }).ToString());
    }

    [Fact]
    public void ZeroDimensional()
    {
        Assert.Equal("tensor(2.5000, shape=[], dtype=Float64)", Torch.Scalar(2.5).ToString());
        Assert.Equal("tensor(3., shape=[], dtype=Float32)", Torch.Scalar(3f).ToString());
    }

    [Fact]
    public void GradFnAndRequiresGradAreShown()
    {
        var a = Torch.Tensor(new float[] { 1, 2 }, [2], requiresGrad: true);
        Assert.Equal("tensor([1., 2.], shape=[2], dtype=Float32, requires_grad=True)", a.ToString());
        Assert.Equal("tensor([1., 4.], shape=[2], dtype=Float32, grad_fn=<MulBackward>)", (a * a).ToString());
        Assert.Equal("tensor(3., shape=[], dtype=Float32, grad_fn=<SumBackward>)", a.Sum().ToString());
        Assert.Equal("tensor([1., 2.], shape=[2], dtype=Float32)", a.Detach().ToString());
    }

    [Fact]
    public void ThreeDimensionalSeparatesBlocksWithABlankLine() =>
        Assert.Equal("tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], shape=[2,2,2], dtype=Int64)",
            Torch.Arange(8).Reshape(2, 2, 2).ToString());

    [Fact]
    public void ScientificNotationForTinyOrWideRanges()
    {
        Assert.Equal("tensor([1.0000e-05, 1.0000e+00], shape=[2], dtype=Float64)", Torch.Tensor(new[] { 1e-5, 1 }).ToString());
        // PyTorch switches to scientific notation when the largest magnitude is over 1000x the smallest.
        Assert.Equal("tensor([5.0000e-01, 1.0000e+03], shape=[2], dtype=Float64)", Torch.Tensor(new[] { 0.5, 1000 }).ToString());
        Assert.Equal("tensor([1.0000e+00, 1.0000e+04], shape=[2], dtype=Float64)", Torch.Tensor(new[] { 1.0, 10000 }).ToString());
        Assert.Equal("tensor([   1., 1000.], shape=[2], dtype=Float64)", Torch.Tensor(new[] { 1.0, 1000 }).ToString());
    }

    [Fact]
    public void NonFiniteValuesDoNotWidenTheColumns() =>
        Assert.Equal("tensor([nan, inf, -inf, 1.], shape=[4], dtype=Float64)",
            Torch.Tensor(new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1 }).ToString());

    [Fact]
    public void EmptyTensor() => Assert.Equal("tensor([], shape=[0], dtype=Float32)", Torch.Zeros(0).ToString());

    [Fact]
    public void LongRowsWrapAtEightyColumns()
    {
        // 20 elements of width 3 ("19.") take 5 characters each: (80 - 7) / 5 = 14 per line.
        var s = Torch.Arange(20, DType.Float32).ToString();
        Assert.Equal("tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n        14., 15., 16., 17., 18., 19.], shape=[20], dtype=Float32)", s);
    }

    [Fact]
    public void LargeVectorIsSummarized() =>
        Assert.Equal("tensor([   0,    1,    2,  ..., 1997, 1998, 1999], shape=[2000], dtype=Int64)", Torch.Arange(2000).ToString());

    [Fact]
    public void LargeMatrixIsSummarizedInBothDims()
    {
        var s = Torch.Arange(10_000).Reshape(100, 100).ToString();
        Assert.Equal(
            "tensor([[   0,    1,    2,  ...,   97,   98,   99],\n" +
            "        [ 100,  101,  102,  ...,  197,  198,  199],\n" +
            "        [ 200,  201,  202,  ...,  297,  298,  299],\n" +
            "        ...,\n" +
            "        [9700, 9701, 9702,  ..., 9797, 9798, 9799],\n" +
            "        [9800, 9801, 9802,  ..., 9897, 9898, 9899],\n" +
            "        [9900, 9901, 9902,  ..., 9997, 9998, 9999]], shape=[100,100], dtype=Int64)", s);
        var big = Torch.Randn(300, 300).ToString();
        Assert.Contains("...", big);
        Assert.True(big.Length < 2000, $"summary is {big.Length} characters");
        Assert.EndsWith("shape=[300,300], dtype=Float32)", big);
    }

    [Fact]
    public void SmallTensorIsNotSummarized() => Assert.DoesNotContain("...", Torch.Arange(1000).ToString());
}
