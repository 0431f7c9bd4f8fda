namespace MiniGrad.Tests.Foundation;

// Every differentiable op against central finite differences in Float64, on every device of TestDevices (inputs drawn
// on the CPU, then moved, so every device checks the same points).
[Collection("Ilgpu")]
public class GradCheckTests
{
    static IEnumerable<object[]> OnDevices(IEnumerable<ITheoryDataRow> cases) => TestDevices.Cross(cases);

    public static TheoryData<string> DeviceNames => TestDevices.All;

    public static TheoryData<int[], int[]> BroadcastPairs => new()
    {
        { [3, 4], [3, 4] },
        { [3, 1, 4], [2, 1] },
        { [2, 3], [3] },
        { [4, 1], [1, 5] },
        { [2, 3], [] },
        { [], [2, 3] },
    };

    public static IEnumerable<object[]> BroadcastPairsOnDevices => OnDevices(BroadcastPairs);

    [Theory]
    [MemberData(nameof(BroadcastPairsOnDevices))]
    public void AddSubMulDivBroadcast(string device, int[] sa, int[] sb)
    {
        var d = Device.Parse(device);
        H.Grad(x => x[0] + x[1], H.Leaf(d, 1, sa), H.Leaf(d, 2, sb));
        H.Grad(x => x[0] - x[1], H.Leaf(d, 1, sa), H.Leaf(d, 2, sb));
        H.Grad(x => x[0] * x[1], H.Leaf(d, 1, sa), H.Leaf(d, 2, sb));
        H.Grad(x => x[0] / x[1], H.Leaf(d, 1, sa), H.PosLeaf(d, 2, sb));
        H.Grad(x => x[0].Pow(x[1]), H.PosLeaf(d, 1, sa), H.Leaf(d, 2, sb));
        H.Grad(x => Torch.Where(x[0].Gt(0.0), x[0], x[1]), H.Leaf(d, 1, sa), H.Leaf(d, 2, sb));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void ScalarOperands(string device)
    {
        var d = Device.Parse(device);
        var x = H.Leaf(d, 3, 2, 3);
        H.Grad(a => a[0] + 2.0, x);
        H.Grad(a => 2.0 - a[0], x);
        H.Grad(a => a[0] * -1.5, x);
        H.Grad(a => a[0] / 4.0, x);
        H.Grad(a => 3.0 / a[0], H.PosLeaf(d, 3, 2, 3));
        H.Grad(a => -a[0], x);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void OnlyOneInputRequiresGrad(string device)
    {
        var d = Device.Parse(device);
        H.Grad(a => a[0] * a[1], H.Leaf(d, 4, 3), H.Rnd(d, 5, 3));
        H.Grad(a => a[0].MatMul(a[1]), H.Rnd(d, 4, 2, 3), H.Leaf(d, 5, 3, 2));
    }

    public static TheoryData<string> UnaryNames => new() { "Neg", "Exp", "Log", "Sqrt", "Abs", "Tanh", "Sigmoid", "Relu", "Pow2", "Pow-1.5", "Pow0", "Clamp", "ClampMin", "ClampMax", "Sign", "Square" };

    public static IEnumerable<object[]> UnaryNamesOnDevices => OnDevices(UnaryNames);

    [Theory]
    [MemberData(nameof(UnaryNamesOnDevices))]
    public void Unary(string device, string name)
    {
        Func<Tensor, Tensor> f = name switch
        {
            "Neg" => x => x.Neg(),
            "Exp" => x => x.Exp(),
            "Log" => x => x.Log(),
            "Sqrt" => x => x.Sqrt(),
            "Abs" => x => x.Abs(),
            "Tanh" => x => x.Tanh(),
            "Sigmoid" => x => x.Sigmoid(),
            "Relu" => x => x.Relu(),
            "Pow2" => x => x.Pow(2),
            "Pow-1.5" => x => x.Pow(-1.5),
            "Pow0" => x => x.Pow(0),
            "Clamp" => x => x.Clamp(-0.5, 0.7),
            "ClampMin" => x => x.Clamp(min: 0.1),
            "ClampMax" => x => x.Clamp(max: -0.1),
            "Sign" => x => x.Sign() * x,
            _ => x => x * x,
        };
        bool positive = name is "Log" or "Sqrt" or "Pow-1.5";
        var d = Device.Parse(device);
        var input = positive ? H.PosLeaf(d, 6, 3, 4) : H.Leaf(d, 6, 3, 4);
        H.Grad(a => f(a[0]), input);
    }

    public static TheoryData<int[], int[], bool> ReduceCases => new()
    {
        { [5], [0], false },
        { [3, 4], [1], false },
        { [3, 4], [0], true },
        { [2, 3, 4], [0, 2], false },
        { [2, 3, 4], [0, 2], true },
        { [2, 3, 4], [-1, 1], true },
        { [2, 3, 4], [0, 1, 2], false },
    };

    public static IEnumerable<object[]> ReduceCasesOnDevices => OnDevices(ReduceCases);

    [Theory]
    [MemberData(nameof(ReduceCasesOnDevices))]
    public void Reductions(string device, int[] shape, int[] dims, bool keepDim)
    {
        var x = H.Leaf(Device.Parse(device), 7, shape);
        H.Grad(a => a[0].Sum(dims, keepDim), x);
        H.Grad(a => a[0].Mean(dims, keepDim), x);
        H.Grad(a => a[0].Max(dims, keepDim), x);
        H.Grad(a => a[0].Min(dims, keepDim), x);
        H.Grad(a => a[0].Sum(dims[0], keepDim), x);
        H.Grad(a => a[0].Mean(dims[0], keepDim), x);
        H.Grad(a => a[0].Max(dims[0], keepDim).Values, x);
        H.Grad(a => a[0].Min(dims[0], keepDim).Values, x);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void ReductionsOverAllElements(string device)
    {
        var x = H.Leaf(Device.Parse(device), 8, 3, 4);
        H.Grad(a => a[0].Sum(), x);
        H.Grad(a => a[0].Mean(), x);
        H.Grad(a => a[0].Max(), x);
        H.Grad(a => a[0].Min(), x);
        H.Grad(a => a[0].Sum() * a[0], x);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void MaxWithTwoWayTiesSharesTheGradient(string device)
    {
        // With two tied maxima the central difference is exactly 1/2 each, the shared gradient of amax.
        var d = Device.Parse(device);
        var x = H.D([1, 3, 3, -2, 0.5, 0.5], 2, 3).To(d).RequiresGrad_();
        H.Grad(a => a[0].Max(), x);
        H.Grad(a => a[0].Max([1]), x);
        H.Grad(a => a[0].Min([1], keepDim: true), x);
        H.Grad(a => a[0].Max([0]), H.D([2, 1, 2, 0], 4).To(d).RequiresGrad_());
    }

    public static TheoryData<int[], int> SoftmaxCases => new()
    {
        { [5], 0 }, { [3, 4], 1 }, { [3, 4], 0 }, { [2, 3, 4], 1 }, { [2, 3, 4], 0 }, { [2, 3, 4], -1 }, { [2, 3, 4], -2 },
    };

    public static IEnumerable<object[]> SoftmaxCasesOnDevices => OnDevices(SoftmaxCases);

    [Theory]
    [MemberData(nameof(SoftmaxCasesOnDevices))]
    public void SoftmaxAndLogSoftmax(string device, int[] shape, int dim)
    {
        var x = H.Leaf(Device.Parse(device), 9, shape);
        H.Grad(a => a[0].Softmax(dim), x);
        H.Grad(a => a[0].LogSoftmax(dim), x);
    }

    public static TheoryData<int[], int[]> MatMulShapes => new()
    {
        { [3, 4], [4, 5] },
        { [4], [4] },
        { [4], [4, 3] },
        { [3, 4], [4] },
        { [2, 3, 4], [4, 5] },
        { [3, 4], [2, 4, 5] },
        { [2, 1, 3, 4], [3, 4, 2] },
        { [4], [2, 4, 3] },
        { [2, 3, 4], [4] },
        { [1, 7], [7, 1] },
    };

    public static IEnumerable<object[]> MatMulShapesOnDevices => OnDevices(MatMulShapes);

    [Theory]
    [MemberData(nameof(MatMulShapesOnDevices))]
    public void MatMul(string device, int[] sa, int[] sb)
    {
        var d = Device.Parse(device);
        H.Grad(a => a[0].MatMul(a[1]), H.Leaf(d, 10, sa), H.Leaf(d, 11, sb));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void ShapeOps(string device)
    {
        var d = Device.Parse(device);
        var x = H.Leaf(d, 12, 2, 3, 4);
        H.Grad(a => a[0].Reshape(4, -1), x);
        H.Grad(a => a[0].View(-1), x);
        H.Grad(a => a[0].Transpose(0, 2), x);
        H.Grad(a => a[0].Transpose(-1, 1), x);
        H.Grad(a => a[0].Permute(1, 2, 0), x);
        H.Grad(a => a[0].Unsqueeze(1), x);
        H.Grad(a => a[0].Unsqueeze(-1).Squeeze(), x);
        H.Grad(a => a[0].Narrow(1, 1, 2), x);
        H.Grad(a => a[0].Narrow(-1, 0, 3), x);
        H.Grad(a => a[0].Slice(2, 1, -1), x);
        H.Grad(a => a[0].Select(1, 1), x);
        H.Grad(a => a[0].Select(-1, -1), x);
        H.Grad(a => a[0].Expand(3, 2, 3, 4), x);
        H.Grad(a => a[0].Narrow(1, 0, 1).Expand(2, 5, 4), x);
        H.Grad(a => a[0].IndexSelect(2, Torch.Tensor(new long[] { 3, 0, 3, 1 }).To(d)), x);
        H.Grad(a => a[0].Gather(1, Torch.Tensor(new long[] { 0, 2, 2, 1, 1, 1, 0, 0 }, 2, 1, 4).To(d)), x);
        H.Grad(a => a[0].Squeeze(0), H.Leaf(d, 13, 1, 3));
        H.Grad(a => a[0].T, H.Leaf(d, 13, 2, 3));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void CatAndStack(string device)
    {
        var d = Device.Parse(device);
        H.Grad(a => Torch.Cat([a[0], a[1], a[0]], 1), H.Leaf(d, 14, 2, 3), H.Leaf(d, 15, 2, 1));
        H.Grad(a => Torch.Cat([a[0], a[1]], -3), H.Leaf(d, 14, 2, 3, 2), H.Leaf(d, 15, 1, 3, 2));
        H.Grad(a => Torch.Stack([a[0], a[1]], 1), H.Leaf(d, 16, 2, 3), H.Leaf(d, 17, 2, 3));
        H.Grad(a => Torch.Stack([a[0], a[1] * a[0]], -1), H.Leaf(d, 16, 4), H.Leaf(d, 17, 4));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void DropoutWithAFixedGenerator(string device) =>
        H.Grad(a => a[0].Dropout(0.4, generator: new Generator(3)), H.Leaf(Device.Parse(device), 18, 5, 6));

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void ComposedExpression(string device)
    {
        // A small network: log-softmax of tanh(x W + b), picked by target, averaged.
        var d = Device.Parse(device);
        var target = Torch.Tensor(new long[] { 2, 0, 1 }, 3, 1).To(d);
        H.Grad(a => (a[0].MatMul(a[1]) + a[2]).Tanh().LogSoftmax(1).Gather(1, target).Mean() * -1.0,
            H.Leaf(d, 19, 3, 4), H.Leaf(d, 20, 4, 3), H.Leaf(d, 21, 3));
    }
}
