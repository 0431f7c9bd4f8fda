namespace MiniGrad.Tests.Foundation;

// Every test runs on each device of TestDevices: inputs are made on the CPU (or with a device argument) and moved with
// To(device), results come back with ToArray and are compared as on the CPU.
[Collection("Ilgpu")]
public class ElementwiseTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    public static TheoryData<int[], int[]> BroadcastShapes => new()
    {
        { [3, 4], [3, 4] },
        { [3, 1, 4], [2, 1] },
        { [2, 3], [3] },
        { [4, 1], [1, 5] },
        { [2, 3], [] },
        { [], [2, 3] },
        { [1], [2, 1, 3] },
        { [5, 1, 1], [1, 1, 6] },
        { [2, 70_000], [70_000] }, // long rows: the CPU kernel splits a row into chunks
    };

    // The long-row case is about the CPU kernel's chunking: left out on the slow ilgpu-cpu.
    public static IEnumerable<object[]> BroadcastShapesOnDevices =>
        TestDevices.Cross(BroadcastShapes, TestDevices.SmallOnSlow(10_000));

    [Theory]
    [MemberData(nameof(BroadcastShapesOnDevices))]
    public void ArithmeticBroadcastsLikeNumPy(string device, int[] sa, int[] sb)
    {
        var d = Device.Parse(device);
        var a = H.Rnd(d, 1, sa);
        var b = (H.Rnd(2, sb) * 0.5 + 2.0).To(d); // away from 0 for Div
        double[] av = a.Arr(), bv = b.Arr();
        foreach (var (op, f) in new (Func<Tensor, Tensor, Tensor>, Func<double, double, double>)[]
                 { ((x, y) => x + y, (x, y) => x + y), ((x, y) => x - y, (x, y) => x - y),
                   ((x, y) => x * y, (x, y) => x * y), ((x, y) => x / y, (x, y) => x / y),
                   ((x, y) => x.Add(y), (x, y) => x + y), ((x, y) => x.Sub(y), (x, y) => x - y),
                   ((x, y) => x.Mul(y), (x, y) => x * y), ((x, y) => x.Div(y), (x, y) => x / y) })
        {
            var (ev, es) = H.Broadcast(av, sa, bv, sb, f);
            var r = op(a, b);
            Assert.Equal(d, r.Device);
            Assert.Equal(es, r.Shape);
            H.Close(ev, r, 0);
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void Float32ArithmeticMatchesFloat32Reference(string device)
    {
        var d = Device.Parse(device);
        var a = Torch.Tensor(new float[] { 1.5f, -2f, 3.25f, 0.1f }, 2, 2).To(d);
        var b = Torch.Tensor(new float[] { 0.5f, 4f }, 2).To(d);
        Assert.Equal(d, (a + b).Device);
        Assert.Equal(new[] { 2f, 2f, 3.75f, 4.1f }, (a + b).ToArray<float>());
        Assert.Equal(new[] { 1f, -6f, 2.75f, 0.1f - 4f }, (a - b).ToArray<float>());
        Assert.Equal(new[] { 0.75f, -8f, 1.625f, 0.4f }, (a * b).ToArray<float>());
        Assert.Equal(new[] { 3f, -0.5f, 6.5f, 0.1f / 4f }, (a / b).ToArray<float>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void IntegerArithmeticStaysInteger(string device)
    {
        var d = Device.Parse(device);
        var a = Torch.Tensor(new long[] { 1, 2, 3 }).To(d);
        var b = Torch.Tensor(new long[] { 10, 20, 30 }).To(d);
        Assert.Equal(d, (a + b).Device);
        Assert.Equal(new long[] { 11, 22, 33 }, (a + b).ToArray<long>());
        Assert.Equal(new long[] { -9, -18, -27 }, (a - b).ToArray<long>());
        Assert.Equal(new long[] { 10, 40, 90 }, (a * b).ToArray<long>());
        Assert.Equal(new long[] { -1, -2, -3 }, (-a).ToArray<long>());
        Assert.Equal(new long[] { 3, 4, 5 }, (a + 2).ToArray<long>());
        Assert.Equal(new[] { 2, 4 }, (Torch.Tensor(new[] { 1, 2 }).To(d) * 2).ToArray<int>());
        Assert.Equal(new long[] { 1, 0, 3 }, Torch.Tensor(new long[] { 1, -2, 3 }).To(d).Relu().ToArray<long>());
        Assert.Equal(new long[] { 1, 2, 3 }, Torch.Tensor(new long[] { -1, 2, -3 }).To(d).Abs().ToArray<long>());
        // abs wraps at the minimum value, as in PyTorch (it threw an OverflowException)
        Assert.Equal(new long[] { long.MinValue, 3 }, Torch.Tensor(new long[] { long.MinValue, -3 }).To(d).Abs().ToArray<long>());
        Assert.Equal(new[] { int.MinValue, 3 }, Torch.Tensor(new[] { int.MinValue, -3 }).To(d).Abs().ToArray<int>());
    }

    // PyTorch promotes an integer tensor mixed with a fractional Python number to float; MiniGrad does not promote dtypes,
    // so such a scalar is refused instead of being cut to a whole number (Int64 x * 1.5 came out as x).
    [Theory]
    [MemberData(nameof(Devices))]
    public void AnIntegerTensorRefusesAScalarItCannotHold(string device)
    {
        var d = Device.Parse(device);
        var x = Torch.Tensor(new long[] { -3, 0, 5 }).To(d);
        foreach (Func<Tensor> op in new Func<Tensor>[] { () => x * 1.5, () => 1.5 * x, () => x + 0.5, () => x - 0.5, () => x.Lt(2.5),
                     () => x.Eq(double.NaN), () => Torch.Where(x.Gt(0), x, 0.5), () => x.Clamp(-1.5, 2.5), () => x.Clamp(max: 2.5) })
        {
            var e = Assert.Throws<ArgumentException>(() => op());
            Assert.Contains("Int64", e.Message);
            Assert.Contains("To(DType.Float32)", e.Message);
        }
        var big = Assert.Throws<ArgumentException>(() => Torch.Tensor(new[] { 1, 2 }).To(d) + 3e9);
        Assert.Equal("scalar", big.ParamName);
        Assert.Contains("3000000000", big.Message);
        var bound = Assert.Throws<ArgumentException>(() => x.Clamp(min: 0.25));
        Assert.Equal("min", bound.ParamName);
        // Whole numbers still work, and a Bool tensor compares with 0 and 1.
        Assert.Equal(new long[] { -6, 0, 10 }, (x * 2.0).ToArray<long>());
        Assert.Equal(new long[] { -1, 0, 2 }, x.Clamp(-1, 2).ToArray<long>());
        Assert.Equal(new[] { true, false, false }, x.Lt(-2.0).ToArray<bool>());
        Assert.Equal(new[] { false, true, true }, x.Ge(0).Eq(1.0).ToArray<bool>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ClampRefusesANaNBound(string device)
    {
        var x = H.D([-3, 0, 5], 3).To(Device.Parse(device));
        Assert.Equal("min", Assert.Throws<ArgumentException>(() => x.Clamp(double.NaN, 1)).ParamName);
        Assert.Equal("max", Assert.Throws<ArgumentException>(() => x.Clamp(max: double.NaN)).ParamName);
        H.Close([-1, 0, 1], x.Clamp(-1, 1));
    }

    // PyTorch's pow backward masks the base's gradient where the exponent is 0: d(0^0)/da = 0, not 0 * 0^-1 = NaN.
    [Theory]
    [MemberData(nameof(Devices))]
    public void PowWithATensorExponentGivesZeroBaseGradientAtExponentZero(string device)
    {
        var d = Device.Parse(device);
        var a = H.D([0, 0, 2, 3], 4).To(d).RequiresGrad_();
        var b = H.D([0, 2, 0, 2], 4).To(d).RequiresGrad_();
        a.Pow(b).Sum().Backward();
        H.Close([0, 0, 0, 6], a.Grad!);
        H.Close([0, 0, Math.Log(2), 9 * Math.Log(3)], b.Grad!);
        // The exponent's gradient at a zero base is masked only where the exponent is >= 0; below, it is inf * -inf.
        var z = H.D([0, -0.0, 0], 3).To(d).RequiresGrad_();
        var e = H.D([-1, -1, 0.5], 3).To(d).RequiresGrad_();
        z.Pow(e).Sum().Backward();
        Assert.Equal([double.NegativeInfinity, double.PositiveInfinity, 0], e.Grad!.Arr());
    }

    // PyTorch's sign is (0 < x) - (x < 0): 0 at NaN, and so is Abs's gradient there; empty float64 tensors run the
    // TensorPrimitives-backed ops (which refuse empty spans) to empty results.
    [Theory]
    [MemberData(nameof(Devices))]
    public void SignAtNaNIsZeroAndEmptyTensorsMapToEmpty(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([double.NaN, -2, 0, 3], 4).To(d).RequiresGrad_();
        Assert.Equal([0, -1, 0, 1], x.Sign().Arr());
        x.Abs().Sum().Backward();
        Assert.Equal([0, -1, 0, 1], x.Grad!.Arr());
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
        {
            var empty = Torch.Zeros([2, 0], dtype).To(d).RequiresGrad_();
            foreach (var f in new Func<Tensor, Tensor>[] { t => t.Sigmoid(), t => t.Tanh(), t => t.Exp(), t => t.Log() })
            {
                var y = f(empty);
                Assert.Equal([2, 0], y.Shape);
                y.Sum().Backward();
                Assert.Equal([2, 0], empty.Grad!.Shape);
                empty.Grad = null;
            }
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ScalarOperandsOnEitherSide(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, 2, 4], 3).To(d);
        Assert.Equal(d, (x + 2).Device);
        H.Close([3, 4, 6], x + 2);
        H.Close([3, 4, 6], 2 + x);
        H.Close([-1, 0, 2], x - 2);
        H.Close([1, 0, -2], 2 - x);
        H.Close([3, 6, 12], x * 3);
        H.Close([3, 6, 12], 3 * x);
        H.Close([0.5, 1, 2], x / 2);
        H.Close([4, 2, 1], 4 / x);
        H.Close([-1, -2, -4], -x);
        var y = Torch.Ones([2], device: d) * 2.5;
        Assert.Equal(DType.Float32, y.DType);
        Assert.Equal(new[] { 2.5f, 2.5f }, y.ToArray<float>());
    }

    public static TheoryData<string, double[]> UnaryInputs => new()
    {
        { "Neg", [-2, -0.5, 0, 0.5, 3] },
        { "Exp", [-2, -0.5, 0, 0.5, 3] },
        { "Log", [0.1, 0.5, 1, 2.5, 100] },
        { "Sqrt", [0, 0.25, 1, 2, 100] },
        { "Abs", [-2, -0.5, 0, 0.5, 3] },
        { "Tanh", [-20, -0.5, 0, 0.5, 3] },
        { "Sigmoid", [-40, -0.5, 0, 0.5, 40] },
        { "Relu", [-2, -0.5, 0, 0.5, 3] },
    };

    static (Func<Tensor, Tensor> Op, Func<double, double> Ref) Unary(string name) => name switch
    {
        "Neg" => (x => x.Neg(), x => -x),
        "Exp" => (x => x.Exp(), Math.Exp),
        "Log" => (x => x.Log(), Math.Log),
        "Sqrt" => (x => x.Sqrt(), Math.Sqrt),
        "Abs" => (x => x.Abs(), Math.Abs),
        "Tanh" => (x => x.Tanh(), Math.Tanh),
        "Sigmoid" => (x => x.Sigmoid(), MathNet.Numerics.SpecialFunctions.Logistic),
        "Relu" => (x => x.Relu(), x => Math.Max(x, 0)),
        _ => throw new ArgumentException(name),
    };

    public static IEnumerable<object[]> UnaryInputsOnDevices => TestDevices.Cross(UnaryInputs);

    [Theory]
    [MemberData(nameof(UnaryInputsOnDevices))]
    public void UnaryForwardMatchesReference(string device, string name, double[] input)
    {
        var d = Device.Parse(device);
        var (op, f) = Unary(name);
        var r = op(Torch.Tensor(input).To(d));
        Assert.Equal(d, r.Device);
        H.Close(input.Select(f).ToArray(), r, 1e-14);
        // Float32 agrees to float precision.
        var r32 = op(Torch.Tensor(input.Select(v => (float)v).ToArray()).To(d));
        Assert.Equal(DType.Float32, r32.DType);
        Assert.Equal(d, r32.Device);
        H.Close(input.Select(v => f((float)v)).ToArray(), r32.ToArray<double>(), 1e-6);
    }

    [Theory]
    [MemberData(nameof(UnaryInputsOnDevices))]
    public void UnaryBackwardMatchesDerivative(string device, string name, double[] input)
    {
        var d = Device.Parse(device);
        var (op, f) = Unary(name);
        var x = Torch.Tensor(input).To(d).RequiresGrad_();
        op(x).Sum().Backward();
        Func<double, double> df = name switch
        {
            "Neg" => _ => -1,
            "Exp" => Math.Exp,
            "Log" => v => 1 / v,
            "Sqrt" => v => 0.5 / Math.Sqrt(v),
            "Abs" => v => Math.Sign(v),
            "Tanh" => v => 1 - Math.Tanh(v) * Math.Tanh(v),
            "Sigmoid" => v => f(v) * (1 - f(v)),
            _ => v => v > 0 ? 1 : 0,
        };
        Assert.Equal(d, x.Grad!.Device);
        H.Close(input.Select(df).ToArray(), x.Grad!, 1e-12);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void UnaryOpsKeepShape(string device)
    {
        var x = H.PosLeaf(Device.Parse(device), 3, 2, 3, 4);
        foreach (var y in new[] { x.Exp(), x.Log(), x.Sqrt(), x.Tanh(), x.Sigmoid(), x.Relu(), x.Abs(), -x, x.Pow(2), x.Clamp(0.7, 1.2) })
            Assert.Equal(new[] { 2, 3, 4 }, y.Shape);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void LargeUnaryMatchesElementwiseReference(string device)
    {
        // Big enough for the CPU kernel to split across cores (smaller on the slow ilgpu-cpu).
        var x = H.Rnd(Device.Parse(device), 4, TestDevices.Size(device, 300_000, 30_000));
        var v = x.Arr();
        H.Close(v.Select(Math.Tanh).ToArray(), x.Tanh(), 1e-14);
        H.Close(v.Select(Math.Exp).ToArray(), x.Exp(), 1e-14);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void MaskedFillAndNeWithAScalar(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, -2, 3, -4, 5, -6], 2, 3).To(d).RequiresGrad_();
        var y = x.MaskedFill(x.Detach().Lt(0), double.NegativeInfinity); // a padding mask before a softmax
        Assert.Equal([1, double.NegativeInfinity, 3, double.NegativeInfinity, 5, double.NegativeInfinity], y.Arr());
        var rowMask = Torch.Tensor(new[] { true, false, true }, 3).To(d); // broadcast over the rows
        var z = x.MaskedFill(rowMask, 0);
        H.Close([0, -2, 0, 0, 5, 0], z);
        z.Sum().Backward();
        H.Close([0, 1, 0, 0, 1, 0], x.Grad!);
        Assert.Equal([false, true, true, true, true, true], x.Detach().Ne(1.0).ToArray<bool>());
        H.Throws<ArgumentException>(() => x.MaskedFill(x.Detach(), 0), "MaskedFill", "Bool");
        // mask and tensor broadcast together, as PyTorch's out-of-place masked_fill: (6, 1) with (2) gives (6, 2)
        Assert.Equal([6, 2], x.Detach().Reshape(6, 1).MaskedFill(Torch.Tensor(new[] { true, false }, 2).To(d), 0).Shape);
        H.Throws<ArgumentException>(() => x.MaskedFill(Torch.Tensor(new[] { true, false }, 2).To(d), 0), "MaskedFill");
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void PowWithScalarAndTensorExponents(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([0.5, 2, 3], 3).To(d);
        H.Close([0.25, 4, 9], x.Pow(2));
        H.Close([Math.Sqrt(0.5), Math.Sqrt(2), Math.Sqrt(3)], x.Pow(0.5), 1e-15);
        // x ** 0.5 is sqrt(x), as in PyTorch: NaN at -inf (pow's +inf) and -0 at -0
        var r = Torch.Tensor([float.NegativeInfinity, -0f, 4f], 3).To(d).Pow(0.5).ToArray<float>();
        Assert.True(float.IsNaN(r[0]), $"(-inf) ** 0.5 = {r[0]}");
        Assert.True(r[1] == 0 && float.IsNegative(r[1]), $"(-0) ** 0.5 = {r[1]}");
        Assert.Equal(2f, r[2]);
        var inv = Torch.Tensor([float.NegativeInfinity, -0f, 4f], 3).To(d).Pow(-0.5).ToArray<float>(); // PyTorch's rsqrt
        Assert.True(float.IsNaN(inv[0]) && float.IsNegativeInfinity(inv[1]) && inv[2] == 0.5f, string.Join(", ", inv));
        var xi = Torch.Tensor([double.NegativeInfinity, 4.0], 2).To(d).RequiresGrad_();
        xi.Pow(0.5).Sum().Backward();
        Assert.True(double.IsNaN(xi.Grad!.Arr()[0]), "d/dx x ** 0.5 at -inf is NaN in PyTorch");
        Assert.Equal(0.25, xi.Grad!.Arr()[1], 15);
        H.Close([1, 1, 1], x.Pow(0));
        H.Close([2, 0.5, 1 / 3.0], x.Pow(-1), 1e-15);
        var e = H.D([3, -1, 0.5], 3).To(d);
        H.Close([0.125, 0.5, Math.Sqrt(3)], x.Pow(e), 1e-15);
        // Broadcast exponent: [3,1] ** [2].
        var b = H.D([1, 2, 3], 3, 1).To(d).Pow(H.D([2, 3], 2).To(d));
        Assert.Equal(d, b.Device);
        Assert.Equal(new[] { 3, 2 }, b.Shape);
        H.Close([1, 1, 4, 8, 9, 27], b);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void PowBackward(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([0.5, 2, 3], 3).To(d).RequiresGrad_();
        x.Pow(3).Sum().Backward();
        Assert.Equal(d, x.Grad!.Device);
        H.Close([0.75, 12, 27], x.Grad!);
        var a = H.D([2, 3], 2).To(d).RequiresGrad_();
        var e = H.D([3, 0.5], 2).To(d).RequiresGrad_();
        a.Pow(e).Sum().Backward();
        H.Close([3 * 4, 0.5 / Math.Sqrt(3)], a.Grad!, 1e-15);
        H.Close([8 * Math.Log(2), Math.Sqrt(3) * Math.Log(3)], e.Grad!, 1e-15);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void PowGradientAtZeroBaseIsFinite(string device)
    {
        // d(0^e)/de is 0 (PyTorch masks log(0)); d(0^2)/dx is 0.
        var d = Device.Parse(device);
        var a = H.D([0, 2], 2).To(d).RequiresGrad_();
        var e = H.D([2, 2], 2).To(d).RequiresGrad_();
        a.Pow(e).Sum().Backward();
        H.Close([0, 4], a.Grad!);
        H.Close([0, 4 * Math.Log(2)], e.Grad!, 1e-15);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ClampForwardAndBackward(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([-2, -1, 0, 1, 2], 5).To(d).RequiresGrad_();
        var y = x.Clamp(-1, 1);
        Assert.Equal(d, y.Device);
        H.Close([-1, -1, 0, 1, 1], y);
        y.Sum().Backward();
        H.Close([0, 1, 1, 1, 0], x.Grad!); // the bounds themselves pass the gradient, as in PyTorch
        H.Close([0, 0, 0, 1, 2], x.Detach().Clamp(min: 0));
        H.Close([-2, -1, 0, 0.5, 0.5], x.Detach().Clamp(max: 0.5));
        Assert.Equal(new long[] { 1, 1, 2, 3, 3 }, Torch.Arange(5, device: d).Clamp(1, 3).ToArray<long>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void WhereSelectsAndBroadcasts(string device)
    {
        var d = Device.Parse(device);
        var c = Torch.Tensor(new[] { true, false, true }, 3).To(d);
        var a = H.D([1, 2], 2, 1).To(d).RequiresGrad_();
        var b = H.D([10, 20, 30], 3).To(d).RequiresGrad_();
        var r = Torch.Where(c, a, b);
        Assert.Equal(d, r.Device);
        Assert.Equal(new[] { 2, 3 }, r.Shape);
        H.Close([1, 20, 1, 2, 20, 2], r);
        r.Sum().Backward();
        H.Close([2, 2], a.Grad!);
        H.Close([0, 2, 0], b.Grad!);
        H.Close([1, 5, 3], Torch.Where(c, H.D([1, 2, 3], 3).To(d), 5.0));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ComparisonsGiveBool(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, 2, 3], 3).To(d);
        var y = H.D([3, 2, 1], 3).To(d);
        Assert.Equal(d, x.Eq(y).Device);
        Assert.Equal(new[] { false, true, false }, x.Eq(y).ToArray<bool>());
        Assert.Equal(new[] { true, false, true }, x.Ne(y).ToArray<bool>());
        Assert.Equal(new[] { true, false, false }, x.Lt(y).ToArray<bool>());
        Assert.Equal(new[] { true, true, false }, x.Le(y).ToArray<bool>());
        Assert.Equal(new[] { false, false, true }, x.Gt(y).ToArray<bool>());
        Assert.Equal(new[] { false, true, true }, x.Ge(y).ToArray<bool>());
        Assert.Equal(new[] { false, true, true }, x.Gt(1.5).ToArray<bool>());
        Assert.Equal(DType.Bool, x.Eq(2.0).DType);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void SignIsNotDifferentiable(string device)
    {
        var x = H.D([-2, 0, 3], 3).To(Device.Parse(device)).RequiresGrad_();
        H.Close([-1, 0, 1], x.Sign());
        (x.Sign() * x).Sum().Backward(); // d(sign(x) * x) = sign(x) + 0
        H.Close([-1, 0, 1], x.Grad!);
    }
}
