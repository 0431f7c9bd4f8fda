namespace MiniGrad.Tests.Foundation;

// Bad input is rejected before any work, by an exception that names the op, the argument and the values.
public class ErrorTests
{
    static readonly Tensor A34 = Torch.Zeros(3, 4);

    [Fact]
    public void IncompatibleBroadcastShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Torch.Zeros(3, 4) + Torch.Zeros(5, 4));
        Assert.Equal("Add: shapes [3,4] and [5,4] cannot be broadcast: dimension 0 is 3 vs 5", ex.Message);
        H.Throws<ArgumentException>(() => Torch.Zeros(2, 3) - Torch.Zeros(4), "Sub: shapes [2,3] and [4] cannot be broadcast: dimension 1 is 3 vs 4");
        H.Throws<ArgumentException>(() => Torch.Zeros(2, 3) * Torch.Zeros(3, 2), "Mul: shapes [2,3] and [3,2]", "dimension 0 is 2 vs 3");
        H.Throws<ArgumentException>(() => Torch.Zeros(2) / Torch.Zeros(3), "Div: shapes [2] and [3]", "2 vs 3");
        H.Throws<ArgumentException>(() => Torch.Zeros(2).Pow(Torch.Zeros(3)), "Pow: shapes [2] and [3]");
        H.Throws<ArgumentException>(() => Torch.Where(Torch.Zeros([2], DType.Bool), Torch.Zeros(3), Torch.Zeros(3)), "Where: shapes [2] and [3]");
        H.Throws<ArgumentException>(() => Torch.Zeros(2).Lt(Torch.Zeros(3)), "Lt: shapes [2] and [3]");
    }

    [Fact]
    public void MatMulInnerSizes()
    {
        H.Throws<ArgumentException>(() => Torch.Zeros(2, 3).MatMul(Torch.Zeros(4, 5)), "MatMul: shapes [2,3] and [4,5] cannot be multiplied: inner sizes 3 and 4 differ");
        // 1-D operands are reported as given, not as the promoted matrices.
        H.Throws<ArgumentException>(() => Torch.Zeros(3).MatMul(Torch.Zeros(4)), "MatMul: shapes [3] and [4] cannot be multiplied: inner sizes 3 and 4 differ");
        H.Throws<ArgumentException>(() => Torch.Zeros(2, 3).MatMul(Torch.Zeros(4)), "MatMul: shapes [2,3] and [4]", "inner sizes 3 and 4");
        H.Throws<ArgumentException>(() => Torch.Zeros(2).MatMul(Torch.Zeros(3, 5)), "MatMul: shapes [2] and [3,5]", "inner sizes 2 and 3");
        H.Throws<ArgumentException>(() => Torch.Zeros(2, 3, 4).MatMul(Torch.Zeros(3, 4, 5)), "MatMul: shapes [2,3,4] and [3,4,5]", "batch", "[2] and [3]");
        H.Throws<ArgumentException>(() => Torch.Zeros(3).MatMul(Torch.Scalar(1f)), "MatMul", "at least 1 dimension", "[3] and []");
    }

    [Fact]
    public void DimOutOfRange()
    {
        H.Throws<ArgumentOutOfRangeException>(() => A34.Sum(2), "Sum: dim = 2 is out of range for a tensor of rank 2 (expected -2 <= dim < 2)");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Sum([0, -3]), "Sum: dim = -3 is out of range for a tensor of rank 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Mean(5), "Mean: dim = 5");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Max(2), "Max: dim = 2 is out of range");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Min([3]), "Min: dim = 3 is out of range");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Softmax(2), "Softmax: dim = 2 is out of range for a tensor of rank 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.LogSoftmax(-3), "LogSoftmax: dim = -3 is out of range for a tensor of rank 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Transpose(0, 2), "Transpose: dim1 = 2 is out of range for a tensor of rank 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Transpose(-3, 0), "Transpose: dim0 = -3");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Unsqueeze(3), "Unsqueeze: dim = 3 is out of range for a tensor of rank 2 (expected -3 <= dim < 3)");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Unsqueeze(-4), "Unsqueeze: dim = -4");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Squeeze(2), "Squeeze: dim = 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Narrow(2, 0, 1), "Narrow: dim = 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Select(-3, 0), "Select: dim = -3");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Size(2), "Size: dim = 2");
        H.Throws<ArgumentOutOfRangeException>(() => Torch.Scalar(1f).Size(0), "Size: dim = 0 is out of range for a 0-d tensor");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Permute(0, 2), "Permute: dim = 2");
        H.Throws<ArgumentOutOfRangeException>(() => Torch.Cat([A34, A34], 2), "Cat: dim = 2");
        H.Throws<ArgumentOutOfRangeException>(() => Torch.Stack([A34, A34], 3), "Stack: dim = 3 is out of range for a tensor of rank 2 (expected -3 <= dim < 3)");
        H.Throws<ArgumentOutOfRangeException>(() => A34.IndexSelect(2, Torch.Tensor(new long[] { 0 })), "IndexSelect: dim = 2");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Gather(-3, Torch.Zeros([3, 4], DType.Int64)), "Gather: dim = -3");
    }

    [Fact]
    public void DTypeMismatches()
    {
        H.Throws<ArgumentException>(() => Torch.Zeros(2) + Torch.Zeros([2], DType.Int64), "Add: dtypes Float32 and Int64 do not match");
        H.Throws<ArgumentException>(() => Torch.Zeros([2], DType.Float64) * Torch.Zeros(2), "Mul: dtypes Float64 and Float32 do not match");
        H.Throws<ArgumentException>(() => Torch.Arange(4).Reshape(2, 2).MatMul(Torch.Arange(4).Reshape(2, 2)), "MatMul: expected floating point tensors, but dtype is Int64");
        H.Throws<ArgumentException>(() => Torch.Zeros(2).MatMul(Torch.Zeros([2], DType.Float64)), "MatMul: dtypes Float32 and Float64 do not match");
        H.Throws<ArgumentException>(() => Torch.Arange(3).Exp(), "Exp: expected a floating point tensor, but dtype is Int64");
        H.Throws<ArgumentException>(() => Torch.Arange(3).Log(), "Log:", "Int64");
        H.Throws<ArgumentException>(() => Torch.Tensor(new[] { 1, 2 }).Tanh(), "Tanh:", "Int32");
        H.Throws<ArgumentException>(() => Torch.Arange(3) / Torch.Arange(3), "Div: expected floating point tensors, but dtype is Int64");
        H.Throws<ArgumentException>(() => Torch.Arange(3).Pow(2), "Pow:", "Int64");
        H.Throws<ArgumentException>(() => Torch.Arange(3).Softmax(0), "Softmax:", "Int64");
        H.Throws<ArgumentException>(() => Torch.Arange(3).Mean(), "Mean:", "Int64");
        H.Throws<ArgumentException>(() => Torch.Arange(3).Dropout(0.5), "Dropout:", "Int64");
        H.Throws<ArgumentException>(() => Torch.Ones([2], DType.Bool) + Torch.Ones([2], DType.Bool), "Add:", "Bool");
        H.Throws<ArgumentException>(() => Torch.Ones([2], DType.Bool).Mean(), "Mean:", "Bool"); // Sum counts (Int64), as in PyTorch
        H.Throws<ArgumentException>(() => Torch.Where(Torch.Ones(2), Torch.Ones(2), Torch.Ones(2)), "Where: condition must be Bool, but dtype is Float32");
        H.Throws<ArgumentException>(() => Torch.Cat([Torch.Zeros(2), Torch.Zeros([2], DType.Int64)]), "Cat: tensor 1 has dtype Int64, but tensor 0 has Float32");
        H.Throws<InvalidOperationException>(() => Torch.Zeros([2], DType.Int32, requiresGrad: true), "RequiresGrad", "Int32");
    }

    [Fact]
    public void BackwardMisuse()
    {
        H.Throws<InvalidOperationException>(() => Torch.Ones(2).Sum().Backward(), "Backward: the tensor does not require grad");
        var x = Torch.Ones([2, 3], requiresGrad: true);
        H.Throws<InvalidOperationException>(() => (x * 2.0).Backward(), "Backward", "scalar", "[2,3]");
        H.Throws<ArgumentException>(() => (x * 2.0).Backward(Torch.Ones(3, 2)), "Backward: gradient shape [3,2] does not match the tensor's shape [2,3]");
        H.Throws<ArgumentException>(() => (x * 2.0).Backward(Torch.Ones([2, 3], DType.Float64)), "Backward: gradient dtype Float64 does not match the tensor's dtype Float32");
        Assert.Null(x.Grad);
    }

    [Fact]
    public void ReshapeToAWrongSize()
    {
        H.Throws<ArgumentException>(() => A34.Reshape(5, 3), "Reshape: shape [5,3] is invalid for a tensor of 12 elements (shape [3,4])");
        H.Throws<ArgumentException>(() => A34.View(5, -1), "View: shape [5,-1] is invalid for a tensor of 12 elements");
        H.Throws<ArgumentException>(() => A34.Reshape(-1, -1), "Reshape: only one dimension can be -1", "[-1,-1]");
        H.Throws<ArgumentException>(() => A34.Reshape(-2, 6), "Reshape: invalid size -2 at dimension 0");
        H.Throws<ArgumentException>(() => A34.Expand(3, 5), "Expand:", "[3,4]", "[3,5]", "dimension 1 is 4 vs 5");
        H.Throws<ArgumentException>(() => A34.Permute(0, 0), "Permute: dims [0,0] repeat a dimension");
        H.Throws<ArgumentException>(() => A34.Permute(0), "Permute: got 1 dims [0] for a tensor of rank 2");
    }

    [Fact]
    public void CatAndStackShapeMismatch()
    {
        H.Throws<ArgumentException>(() => Torch.Cat([Torch.Zeros(2, 3), Torch.Zeros(2, 4)], 0),
            "Cat: tensor 1 has shape [2,4], which does not match tensor 0's [2,3] except in dimension 0");
        H.Throws<ArgumentException>(() => Torch.Cat([Torch.Zeros(2, 3), Torch.Zeros(2)], 1), "Cat: tensor 1 has shape [2]");
        H.Throws<ArgumentException>(() => Torch.Cat([], 0), "Cat: expected a non-empty list");
        H.Throws<ArgumentException>(() => Torch.Stack([Torch.Zeros(2, 3), Torch.Zeros(3, 2)]), "Stack: expects each tensor to be equal size, but got [2,3] at entry 0 and [3,2] at entry 1");
    }

    [Fact]
    public void IndexOutOfRange()
    {
        H.Throws<ArgumentOutOfRangeException>(() => A34.Gather(1, Torch.Tensor(new long[] { 0, 4, 1 }, 1, 3)), "Gather: index 4 is out of range for dimension 1 of size 4");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Gather(0, Torch.Tensor(new long[] { -1 }, 1, 1)), "Gather: index -1 is out of range for dimension 0 of size 3");
        H.Throws<ArgumentOutOfRangeException>(() => A34.IndexSelect(0, Torch.Tensor(new long[] { 1, 3 })), "IndexSelect: index 3 is out of range for dimension 0 of size 3");
        H.Throws<ArgumentOutOfRangeException>(() => A34.IndexSelect(-1, Torch.Tensor(new[] { 9 })), "IndexSelect: index 9 is out of range for dimension 1 of size 4");
        H.Throws<ArgumentException>(() => A34.IndexSelect(0, Torch.Zeros(2)), "IndexSelect: index must be Int64 or Int32, but dtype is Float32");
        H.Throws<ArgumentException>(() => A34.Gather(1, Torch.Zeros([3], DType.Int64)), "Gather: index must have the same rank as the input (2), but has shape [3]");
        H.Throws<ArgumentException>(() => A34.Gather(1, Torch.Zeros([4, 1], DType.Int64)), "Gather: index shape [4,1] exceeds input shape [3,4] at dimension 0");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Select(0, 3), "Select: index 3 is out of range for dimension 0 of size 3");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Narrow(1, 2, 3), "Narrow: start (2) + length (3) exceeds dimension 1 of size 4");
        H.Throws<ArgumentOutOfRangeException>(() => A34.Narrow(1, 5, 0), "Narrow: start = 5 is out of range for dimension 1 of size 4");
    }

    [Fact]
    public void ItemOnAMultiElementTensor() =>
        H.Throws<InvalidOperationException>(() => A34.Item<float>(), "Item: a tensor with 12 elements (shape [3,4]) cannot be converted to a scalar");

    [Fact]
    public void FactoryArguments()
    {
        H.Throws<ArgumentException>(() => Torch.Randint(5, 5, [3]), "Randint: expected low < high, but got low = 5, high = 5");
        H.Throws<ArgumentException>(() => Torch.Randint(7, 2, [3]), "low = 7, high = 2");
        H.Throws<ArgumentException>(() => Torch.Randint(0, 2, [3], DType.Bool), "Randint: dtype Bool is not supported");
        H.Throws<ArgumentException>(() => Torch.Randint(0, 1L << 40, [3], DType.Int32), "Randint:", "does not fit dtype Int32");
        H.Throws<ArgumentException>(() => Torch.Randn([2, -1]), "Randn: size must be non-negative, but size[1] = -1");
        H.Throws<ArgumentException>(() => Torch.Randn([2], DType.Int64), "Randn: dtype Int64 is not supported");
        H.Throws<ArgumentException>(() => Torch.Zeros(-3), "Zeros: size must be non-negative, but size[0] = -3");
        H.Throws<ArgumentException>(() => Torch.Tensor(new float[] { 1, 2, 3 }, 2, 2), "Tensor: 3 values cannot fill shape [2,2] (4 elements)");
        H.Throws<ArgumentException>(() => Torch.Arange(0, 5, 0), "Arange: step must be non-zero");
        H.Throws<ArgumentException>(() => Torch.Arange(5, 0, 1), "Arange: the range [5, 0)", "step 1");
        H.Throws<ArgumentOutOfRangeException>(() => Torch.Ones(3).Dropout(1.5), "Dropout: probability has to be between 0 and 1, but got 1.5");
        H.Throws<ArgumentException>(() => Torch.Ones(3).ToArray<string>(), "String");
    }

    [Fact]
    public void ReducingAnEmptyDimension()
    {
        H.Throws<ArgumentException>(() => Torch.Zeros(3, 0).Max(1), "Max: cannot reduce over dimension 1 of size 0 (shape [3,0])");
        H.Throws<ArgumentException>(() => Torch.Zeros(0).Min(), "Min: cannot reduce over dimension 0 of size 0");
    }

    [Fact]
    public void ClampNeedsABound() => H.Throws<ArgumentException>(() => A34.Clamp(), "Clamp: at least one of min and max");

    [Fact]
    public void FailedOpsRecordNothing()
    {
        // Validation happens before any state changes: a rejected op leaves the inputs' gradients untouched.
        var x = Torch.Ones([2, 3], requiresGrad: true);
        Assert.ThrowsAny<ArgumentException>(() => x.MatMul(Torch.Ones(2)));
        Assert.ThrowsAny<ArgumentException>(() => x + Torch.Ones(4));
        Assert.Null(x.Grad);
        Assert.True(x.IsLeaf);
    }
}
