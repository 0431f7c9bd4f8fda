using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// The activations: float64 gradchecks of each on every device, PyTorch's derivatives at the kinks, erf against
/// MathNet, the modules in a Sequential, the Functional forms, and every bad argument.
/// </summary>
[Collection("Ilgpu")]
public class ActivationTests
{
    public static TheoryData<string> DeviceNames => TestDevices.All;

    // Each activation with non-default parameters where it has any, so a parameter that is dropped on the way fails.
    static readonly (string Name, Func<Tensor, Tensor> F)[] All =
    [
        ("Relu", x => x.Relu()),
        ("Tanh", x => x.Tanh()),
        ("Sigmoid", x => x.Sigmoid()),
        ("Gelu", x => x.Gelu()),
        ("GeluTanh", x => x.Gelu(GeluApproximate.Tanh)),
        ("Silu", x => x.Silu()),
        ("LeakyRelu", x => x.LeakyRelu(0.2)),
        ("Elu", x => x.Elu(0.7)),
        ("Softplus", x => x.Softplus(2, 3)),
        ("Hardtanh", x => x.Hardtanh(-0.5, 1.5)),
        ("LogSigmoid", x => x.LogSigmoid()),
        ("Softmax", x => x.Softmax(0)),
        ("LogSoftmax", x => x.LogSoftmax(-1)),
    ];

    public static IEnumerable<object[]> DevicesAndActivations => TestDevices.Cross(All.Select(a => new object[] { a.Name }));

    // Values spread over [-6, 6] so that every branch (and both sides of Hardtanh's and Softplus's thresholds) is hit.
    static Tensor Spread(Device d, int seed, params int[] shape) => (H.Rnd(seed, shape) * 2.5).Detach().To(d).RequiresGrad_();

    [Theory]
    [MemberData(nameof(DevicesAndActivations))]
    public void GradCheck(string device, string name)
    {
        var f = All.Single(a => a.Name == name).F;
        H.Grad(a => f(a[0]), Spread(Device.Parse(device), 11, 4, 6));
    }

    [Theory]
    [MemberData(nameof(DevicesAndActivations))]
    public void Float32AgreesWithFloat64(string device, string name)
    {
        var f = All.Single(a => a.Name == name).F;
        var d = Device.Parse(device);
        var x64 = Spread(d, 12, 5, 7);
        var x32 = x64.Detach().To(DType.Float32).RequiresGrad_();
        var (y64, y32) = (f(x64), f(x32));
        Assert.Equal(DType.Float32, y32.DType);
        H.Close(y64.Arr(), y32, 1e-6);
        y64.Sum().Backward();
        y32.Sum().Backward();
        H.Close(x64.Grad!.Arr(), x32.Grad!, 1e-5);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void DerivativesAtTheKinksArePyTorchs(string device)
    {
        var d = Device.Parse(device);
        double[] Grad(Func<Tensor, Tensor> f, params double[] at)
        {
            var x = H.D(at, at.Length).To(d).RequiresGrad_();
            f(x).Sum().Backward();
            return x.Grad!.Arr();
        }
        Assert.Equal([0.0], Grad(x => x.Relu(), 0));
        // PyTorch's threshold_backward: 0 where x <= 0, else the gradient, so it passes where x is NaN (whole vectors and a tail).
        double[] kinks = [.. Enumerable.Repeat(new[] { double.NaN, -0.0, 0, 1, -1 }, 4).SelectMany(v => v)];
        Assert.Equal([.. Enumerable.Repeat(new[] { 1.0, 0, 0, 1, 0 }, 4).SelectMany(v => v)], Grad(x => x.Relu(), kinks));
        Assert.Equal([0.2, 0.2, 1], Grad(x => x.LeakyRelu(0.2), -1, 0, 1));
        Assert.Equal([0.7, 1], Grad(x => x.Elu(0.7), 0, 1e-300));
        Assert.Equal([0.0, 1, 0], Grad(x => x.Hardtanh(-0.5, 1.5), -0.5, 0, 1.5));
        // beta * x == threshold takes the log1p branch (a sigmoid slope); just above it the function is x itself.
        H.Close([1 / (1 + Math.Exp(-3)), 1], Grad(x => x.Softplus(2, 3), 1.5, 1.5000001));
        H.Close([0.5], Grad(x => x.Gelu(), 0));
        H.Close([0.5], Grad(x => x.Gelu(GeluApproximate.Tanh), 0));
        H.Close([0.5], Grad(x => x.Silu(), 0));
        H.Close([0.5], Grad(x => x.LogSigmoid(), 0));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void ValuesAreStableAtLargeArguments(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([-1000, -40, 40, 1000], 4).To(d);
        H.Close([-1000, -40, -4.248354255291589e-18, 0], x.LogSigmoid(), 1e-12);
        H.Close([0, 0, 40, 1000], x.Softplus(), 1e-12);
        H.Close([0, 0, 40, 1000], x.Silu(), 1e-12);
        H.Close([-1, -1, 40, 1000], x.Elu(), 1e-12);
        // Phi(-40) is about 3.7e-350, below double's range: -0, not NaN; Gelu(-5) = -5 Phi(-5) keeps full relative accuracy.
        H.Close([0, 0, 40, 1000], x.Gelu(), 1e-12);
        var g = H.D([-5], 1).To(d).Gelu().Item<double>();
        Assert.True(Math.Abs(g - -5 * 2.866515718791939e-7) <= 1e-14 * 1.5e-6, $"Gelu(-5) = {g:R}");
    }

    [Fact]
    public void ErfAndErfcMatchMathNet()
    {
        for (double x = -6; x <= 26; x += 0.0137) // up to where erfc leaves the normal doubles
        {
            double erf = ActivationMath<SystemMath>.Erf(x), erfc = ActivationMath<SystemMath>.Erfc(x);
            double wantErf = MathNet.Numerics.SpecialFunctions.Erf(x), wantErfc = MathNet.Numerics.SpecialFunctions.Erfc(x);
            Assert.True(Math.Abs(erf - wantErf) <= 2e-15 * Math.Max(1e-3, Math.Abs(wantErf)), $"erf({x:R}) = {erf:R}, MathNet {wantErf:R}");
            // Below 2, erfc = 1 - erf (absolutely accurate); from 2 on, the continued fraction (relatively accurate, to the
            // rounding of x^2 in e^(-x^2)).
            double tol = x < 2 ? 2e-15 * Math.Max(1, wantErfc) : 1e-13 * wantErfc;
            Assert.True(Math.Abs(erfc - wantErfc) <= tol, $"erfc({x:R}) = {erfc:R}, MathNet {wantErfc:R}");
        }
        Assert.Equal(0.0, ActivationMath<SystemMath>.Erf(0));
        Assert.True(double.IsNaN(ActivationMath<SystemMath>.Erf(double.NaN)));
        Assert.Equal(2.0, ActivationMath<SystemMath>.Erfc(double.NegativeInfinity));
        Assert.Equal(0.0, ActivationMath<SystemMath>.Erfc(double.PositiveInfinity));
    }

    [Fact]
    public void GeluExactIsXTimesTheNormalCdf()
    {
        double[] xs = [-3, -1.5, -0.2, 0.1, 0.8, 2.5];
        var want = xs.Select(v => v * MathNet.Numerics.Distributions.Normal.CDF(0, 1, v)).ToArray();
        H.Close(want, H.D(xs, xs.Length).Gelu(), 1e-14);
    }

    [Fact]
    public void ModulesChainInSequentialAndTrain()
    {
        Torch.ManualSeed(3);
        var net = new Sequential(new Linear(4, 8, dtype: DType.Float64), new Gelu(), new Linear(8, 8, dtype: DType.Float64), new Silu(),
            new LeakyRelu(0.1), new Elu(), new Softplus(), new Hardtanh(-2, 2), new Tanh(), new Sigmoid(), new Relu(), new LogSigmoid(),
            new Linear(8, 3, dtype: DType.Float64), new MiniGrad.Nn.LogSoftmax(1));
        var x = H.Rnd(4, 5, 4);
        var y = net.Forward(x);
        Assert.Equal([5, 3], y.Shape);
        H.Close(Enumerable.Repeat(1.0, 5).ToArray(), y.Exp().Sum(1), 1e-12);
        y.Sum().Backward();
        Assert.All(net.Parameters(), p => Assert.NotNull(p.Grad));
        Assert.Equal([5, 8], ((Module)net[1]).LastOutputShape!);
        var softmax = new MiniGrad.Nn.Softmax(-1);
        H.Close(x.Softmax(-1).Arr(), softmax.Forward(x));
    }

    [Fact]
    public void ModulesDescribeThemselvesWithTheirParameters()
    {
        Assert.Equal("Relu()", LayerTests.DescribeOf(new Relu()));
        Assert.Equal("Gelu(approximate='tanh')", LayerTests.DescribeOf(new Gelu(GeluApproximate.Tanh)));
        Assert.Equal("LeakyRelu(negative_slope=0.01)", LayerTests.DescribeOf(new LeakyRelu()));
        Assert.Equal("Elu(alpha=1.0)", LayerTests.DescribeOf(new Elu()));
        Assert.Equal("Softplus(beta=2.0, threshold=5.0)", LayerTests.DescribeOf(new Softplus(2, 5)));
        Assert.Equal("Hardtanh(min_val=-2.0, max_val=0.5)", LayerTests.DescribeOf(new Hardtanh(-2, 0.5)));
        Assert.Equal("Softmax(dim=1)", LayerTests.DescribeOf(new MiniGrad.Nn.Softmax(1)));
        Assert.Empty(new Gelu().Parameters());
    }

    [Fact]
    public void FunctionalFormsMatchTheTensorMethods()
    {
        var x = H.Rnd(5, 3, 4) * 2.0;
        H.Close(x.Gelu(GeluApproximate.Tanh).Arr(), Functional.Gelu(x, GeluApproximate.Tanh));
        H.Close(x.Silu().Arr(), Functional.Silu(x));
        H.Close(x.LeakyRelu(0.3).Arr(), Functional.LeakyRelu(x, 0.3));
        H.Close(x.Elu(2).Arr(), Functional.Elu(x, 2));
        H.Close(x.Softplus(0.5, 2).Arr(), Functional.Softplus(x, 0.5, 2));
        H.Close(x.Hardtanh(-0.3, 0.3).Arr(), Functional.Hardtanh(x, -0.3, 0.3));
        H.Close(x.LogSigmoid().Arr(), Functional.LogSigmoid(x));
        H.Close(x.Relu().Arr(), Functional.Relu(x));
        H.Close(x.Tanh().Arr(), Functional.Tanh(x));
        H.Close(x.Sigmoid().Arr(), Functional.Sigmoid(x));
        H.Close(x.Softmax(0).Arr(), Functional.Softmax(x, 0));
        H.Close(x.LogSoftmax(1).Arr(), Functional.LogSoftmax(x, 1));
        // Against plain formulas, so a shared mistake in both forms would still show.
        var v = x.Arr();
        H.Close(v.Select(a => a > 0 ? a : 0.3 * a).ToArray(), x.LeakyRelu(0.3));
        H.Close(v.Select(a => a > 0 ? a : 2 * (Math.Exp(a) - 1)).ToArray(), x.Elu(2), 1e-14);
        H.Close(v.Select(a => 0.5 * a > 2 ? a : Math.Log(1 + Math.Exp(0.5 * a)) / 0.5).ToArray(), x.Softplus(0.5, 2), 1e-14);
        H.Close(v.Select(a => Math.Clamp(a, -0.3, 0.3)).ToArray(), x.Hardtanh(-0.3, 0.3));
        H.Close(v.Select(a => Math.Log(1 / (1 + Math.Exp(-a)))).ToArray(), x.LogSigmoid(), 1e-14);
        H.Close(v.Select(a => a / (1 + Math.Exp(-a))).ToArray(), x.Silu(), 1e-14);
        H.Close(v.Select(a => 0.5 * a * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (a + 0.044715 * a * a * a)))).ToArray(), x.Gelu(GeluApproximate.Tanh), 1e-14);
    }

    [Fact]
    public void BadArgumentsThrowNamingThemAndChangeNothing()
    {
        var ints = Torch.Tensor(new long[] { 1, -2 }, 2);
        H.Throws<ArgumentException>(() => ints.Gelu(), "Gelu", "Int64", "floating point");
        H.Throws<ArgumentException>(() => ints.Silu(), "Silu", "Int64");
        H.Throws<ArgumentException>(() => Functional.LogSigmoid(ints), "LogSigmoid", "Int64");
        var x = H.Leaf(1, 3);
        var e = H.Throws<ArgumentException>(() => x.Hardtanh(1, -1), "Hardtanh", "minVal = 1", "maxVal = -1");
        Assert.Equal("minVal", e.ParamName);
        Assert.Equal("beta", H.Throws<ArgumentOutOfRangeException>(() => x.Softplus(0), "Softplus", "beta = 0").ParamName);
        Assert.Equal("threshold", H.Throws<ArgumentOutOfRangeException>(() => x.Softplus(1, double.NaN), "threshold").ParamName);
        Assert.Equal("negativeSlope", H.Throws<ArgumentOutOfRangeException>(() => x.LeakyRelu(double.NaN), "LeakyRelu", "NaN").ParamName);
        Assert.Equal("alpha", H.Throws<ArgumentOutOfRangeException>(() => x.Elu(double.PositiveInfinity), "Elu", "not finite").ParamName);
        Assert.Equal("approximate", H.Throws<ArgumentOutOfRangeException>(() => x.Gelu((GeluApproximate)7), "Gelu", "7").ParamName);
        H.Throws<ArgumentOutOfRangeException>(() => new Gelu((GeluApproximate)2), "Gelu");
        H.Throws<ArgumentException>(() => new Hardtanh(2, 1), "Hardtanh", "minVal = 2");
        H.Throws<ArgumentOutOfRangeException>(() => new Softplus(beta: 0), "Softplus", "beta");
        H.Throws<ArgumentOutOfRangeException>(() => new LeakyRelu(double.NaN), "LeakyRelu");
        H.Throws<ArgumentOutOfRangeException>(() => new Elu(double.NaN), "Elu");
        H.Throws<ArgumentException>(() => new MiniGrad.Nn.Softmax(2).Forward(x), "Softmax", "2");
        Assert.Null(x.Grad);
        Assert.True(x.IsLeaf);
    }
}
