using MiniGrad.Tests.Foundation;
using System.Text.Json;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Optimizers against libtorch's trajectories (Golden/optim, copied from shared/golden/optim), PyTorch's update rules
/// written out by hand where the golden cases do not reach (dampening, Float32), argument errors, and ClipGradNorm.
/// The golden trajectories run on every device of <see cref="TestDevices"/>.
/// </summary>
[Collection("Ilgpu")]
public class OptimTests
{
    static string Dir => GoldenDir.Of("optim");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var device in TestDevices.Names)
            foreach (var f in Directory.GetFiles(Dir, "*.json").OrderBy(f => f, StringComparer.Ordinal)) data.Add(device, Path.GetFileName(f));
        return data;
    }

    [Fact]
    public void GoldenFolderHasEveryOptimizerCase()
    {
        var names = Directory.GetFiles(Dir, "*.json").Select(Path.GetFileNameWithoutExtension).OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(["adam", "adam_weight_decay", "adamw", "sgd", "sgd_momentum_weight_decay", "sgd_nesterov"], names);
    }

    /// <summary>Minimizes sum(a * (p - b)^2) step by step in float64 and compares p after each step (README: 1e-12 + 1e-10 |expected|).</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLibtorchTrajectory(string device, string file)
    {
        var dev = Device.Parse(device);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, file)));
        var root = doc.RootElement;
        string name = root.GetProperty("name").GetString()!;
        Assert.Equal("float64", root.GetProperty("dtype").GetString());
        var shape = root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        double[] Arr(string key) => root.GetProperty(key).EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var o = root.GetProperty("options");
        double Opt(string key, double dflt) => o.TryGetProperty(key, out var v) ? v.GetDouble() : dflt;

        var p = new Parameter(Torch.Tensor(Arr("p0"), shape, dev));
        var a = Torch.Tensor(Arr("a"), shape, dev);
        var b = Torch.Tensor(Arr("b"), shape, dev);
        Optimizer opt = name.StartsWith("sgd", StringComparison.Ordinal)
            ? new Sgd([p], Opt("lr", double.NaN), Opt("momentum", 0), Opt("dampening", 0), Opt("weight_decay", 0),
                o.TryGetProperty("nesterov", out var n) && n.GetBoolean())
            : name.StartsWith("adamw", StringComparison.Ordinal)
                ? new AdamW([p], Opt("lr", double.NaN), Opt("beta1", 0.9), Opt("beta2", 0.999), Opt("eps", 1e-8), Opt("weight_decay", 1e-2))
                : new Adam([p], Opt("lr", double.NaN), Opt("beta1", 0.9), Opt("beta2", 0.999), Opt("eps", 1e-8), Opt("weight_decay", 0));

        var expected = root.GetProperty("expected_p_after_each_step").EnumerateArray().Select(s => s.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        Assert.Equal(6, expected.Length);
        for (int step = 0; step < expected.Length; step++)
        {
            opt.ZeroGrad();
            var loss = (a * (p - b).Pow(2.0)).Sum();
            loss.Backward();
            opt.Step();
            Assert.Equal(dev, p.Device);
            Assert.All(opt.State(p)!.Buffers.Values, t => Assert.Equal(dev, t.Device));
            var actual = p.ToArray<double>();
            for (int i = 0; i < actual.Length; i++)
                Assert.True(Math.Abs(actual[i] - expected[step][i]) <= 1e-12 + 1e-10 * Math.Abs(expected[step][i]),
                    $"{name}: step {step + 1}, element {i}: expected {expected[step][i]:R}, got {actual[i]:R}");
        }
    }

    /// <summary>SGD with dampening (not in the golden set), written out from torch.optim.SGD's loop in plain doubles.</summary>
    [Fact]
    public void SgdMomentumWithDampeningFollowsPyTorchsRule()
    {
        double[] p0 = [0.5, -1.25, 2.0], c = [1.0, 2.0, -3.0];
        var p = new Parameter(Torch.Tensor(p0, 3));
        var target = Torch.Tensor(c, 3);
        const double lr = 0.1, momentum = 0.8, dampening = 0.3, wd = 0.05;
        var opt = new Sgd([p], lr, momentum, dampening, wd);

        var refP = (double[])p0.Clone();
        double[]? buf = null;
        for (int step = 0; step < 4; step++)
        {
            opt.ZeroGrad();
            ((p - target).Pow(2.0).Sum() * 0.5).Backward(); // grad = p - c
            opt.Step();

            var d = new double[3];
            for (int i = 0; i < 3; i++) d[i] = (refP[i] - c[i]) + wd * refP[i];
            if (buf is null) buf = (double[])d.Clone();
            else for (int i = 0; i < 3; i++) buf[i] = momentum * buf[i] + (1 - dampening) * d[i];
            for (int i = 0; i < 3; i++) refP[i] -= lr * buf[i];

            var actual = p.ToArray<double>();
            for (int i = 0; i < 3; i++) Assert.True(Math.Abs(actual[i] - refP[i]) <= 1e-14, $"step {step}, element {i}: expected {refP[i]:R}, got {actual[i]:R}");
        }
        Assert.Equal(4, opt.State(p)!.Step);
        Assert.Equal(buf, opt.State(p)!.Buffers["momentum_buffer"].ToArray<double>(), (x, y) => Math.Abs(x - y) <= 1e-14);
    }

    /// <summary>One Adam step on a Float32 parameter equals the formula evaluated in float64 to float32 accuracy.</summary>
    [Fact]
    public void AdamUpdatesFloat32ParametersInTheirDtype()
    {
        var p = new Parameter(Torch.Tensor(new float[] { 1f, -2f }, 2));
        var opt = new Adam([p], lr: 0.1);
        p.Grad = Torch.Tensor(new float[] { 0.5f, -4f }, 2);
        opt.Step();
        Assert.Equal(DType.Float32, p.DType);
        // First step: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2, so p -= lr * g / (|g| + eps) = lr * sign(g) (up to eps).
        var actual = p.ToArray<float>();
        Assert.Equal(1 - 0.1 * 0.5 / (0.5 + 1e-8), actual[0], 6);
        Assert.Equal(-2 + 0.1 * 4 / (4 + 1e-8), actual[1], 6);
        var s = opt.State(p)!;
        Assert.Equal(1, s.Step);
        Assert.Equal(new[] { 0.05f, -0.4f }, s.Buffers["exp_avg"].ToArray<float>(), (x, y) => Math.Abs(x - y) < 1e-7);
        Assert.Equal(DType.Float32, s.Buffers["exp_avg_sq"].DType);
    }

    /// <summary>RMSprop: the first step from a zero average is lr * g / (sqrt(1 - alpha) |g| + eps); later steps, centered
    /// and with momentum and weight decay, follow torch.optim.RMSprop's update evaluated here in float64.</summary>
    [Fact]
    public void RmsPropFollowsTorchsUpdate()
    {
        var p = new Parameter(Torch.Tensor(new double[] { 1, -2 }, 2));
        var opt = new RmsProp([p], lr: 0.01);
        p.Grad = Torch.Tensor(new double[] { 0.5, -4 }, 2);
        opt.Step();
        H.Close([1 - 0.01 * 0.5 / (0.1 * 0.5 + 1e-8), -2 + 0.01 * 4 / (0.1 * 4 + 1e-8)], p, 1e-15);
        Assert.Equal(["square_avg"], opt.State(p)!.Buffers.Keys);

        double[] x = [1, -2], v = [0, 0], m = [0, 0], b = [0, 0];
        var q = new Parameter(Torch.Tensor(x.ToArray(), 2));
        var o = new RmsProp([q], lr: 0.05, alpha: 0.8, eps: 1e-6, weightDecay: 0.1, momentum: 0.9, centered: true);
        for (int step = 0; step < 4; step++)
        {
            double[] grad = [0.3 * (step + 1), -1.5 / (step + 1)];
            q.Grad = Torch.Tensor(grad.ToArray(), 2);
            o.Step();
            for (int i = 0; i < 2; i++)
            {
                double g = grad[i] + 0.1 * x[i];
                v[i] = 0.8 * v[i] + 0.2 * g * g;
                m[i] += (g - m[i]) * 0.2;
                double avg = Math.Sqrt(v[i] - m[i] * m[i]) + 1e-6;
                b[i] = 0.9 * b[i] + g / avg;
                x[i] -= 0.05 * b[i];
            }
            H.Close(x, q, 1e-13);
        }
        Assert.Equal(["square_avg", "grad_avg", "momentum_buffer"], o.State(q)!.Buffers.Keys.OrderBy(k => k == "square_avg" ? 0 : k == "grad_avg" ? 1 : 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RmsProp([q], alpha: -0.1));
    }

    /// <summary>PyTorch's addcmul order for the second moment, v + (1 - beta2) g g: g * g alone overflowed float32 at |g| = 1e20,
    /// leaving v = inf and the parameter frozen for good.</summary>
    [Fact]
    public void AdamSurvivesAHugeFloat32Gradient()
    {
        var p = new Parameter(Torch.Tensor(new float[] { 2f }, 1));
        var opt = new Adam([p]);
        p.Grad = Torch.Tensor(new float[] { 1e20f }, 1);
        opt.Step();
        Assert.True(float.IsFinite(opt.State(p)!.Buffers["exp_avg_sq"].ToArray<float>()[0]));
        Assert.Equal(1.999f, p.ToArray<float>()[0], 5);
        p.Grad = Torch.Tensor(new float[] { 1f }, 1);
        opt.Step();
        Assert.Equal(1.99833f, p.ToArray<float>()[0], 4); // PyTorch: 1.99833 (it stayed at 2)
    }

    /// <summary>AdamW shrinks by (1 - lr*wd) before the Adam step; Adam with the same weight decay adds it to the gradient instead.</summary>
    [Fact]
    public void AdamWDecouplesWeightDecayAndAdamDoesNot()
    {
        var pw = new Parameter(Torch.Tensor(new double[] { 2.0 }, 1));
        var pa = new Parameter(Torch.Tensor(new double[] { 2.0 }, 1));
        var adamw = new AdamW([pw], lr: 0.1, weightDecay: 0.5);
        var adam = new Adam([pa], lr: 0.1, weightDecay: 0.5);
        pw.Grad = Torch.Tensor(new double[] { 1.0 }, 1);
        pa.Grad = Torch.Tensor(new double[] { 1.0 }, 1);
        adamw.Step();
        adam.Step();
        // AdamW: 2 * (1 - 0.05) = 1.9, then the Adam step of size lr (first step, g > 0): 1.9 - 0.1 * 1/(1 + 1e-8).
        Assert.Equal(1.9 - 0.1 / (1 + 1e-8), pw.ToArray<double>()[0], 12);
        // Adam: g = 1 + 0.5 * 2 = 2, first step moves by lr * g/(|g| + eps).
        Assert.Equal(2 - 0.1 * 2 / (2 + 1e-8), pa.ToArray<double>()[0], 12);
        Assert.Equal(0.01, new AdamW([new Parameter(Torch.Zeros(1))]).WeightDecay);
    }

    [Fact]
    public void ParametersWithoutGradientsAreSkippedAndZeroGradClears()
    {
        var p = new Parameter(Torch.Tensor(new double[] { 1, 2 }, 2));
        var q = new Parameter(Torch.Tensor(new double[] { 3, 4 }, 2));
        var opt = new Sgd([p, q], lr: 0.5, momentum: 0.9);
        p.Grad = Torch.Tensor(new double[] { 1, 1 }, 2);
        opt.Step();
        Assert.Equal([0.5, 1.5], p.ToArray<double>());
        Assert.Equal([3.0, 4.0], q.ToArray<double>());
        Assert.Null(opt.State(q));
        Assert.NotNull(opt.State(p));
        opt.ZeroGrad();
        Assert.Null(p.Grad);
        Assert.Null(q.Grad);
        Assert.True(p.IsLeaf);
        Assert.True(p.RequiresGrad);
    }

    [Fact]
    public void LrIsASettableOptionAndOptionsUsePyTorchNames()
    {
        var p = new Parameter(Torch.Zeros(2));
        var opt = new Sgd([p], lr: 0.1, momentum: 0.9, nesterov: true);
        opt.Lr = 0.25;
        Assert.Equal(0.25, opt.Lr);
        Assert.Equal(0.25, opt.Options["lr"]);
        Assert.Equal(["dampening", "lr", "momentum", "nesterov", "weight_decay"], opt.Options.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.True(opt.Nesterov);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => opt.Lr = -1);
        Assert.Contains("Invalid learning rate: -1", e.Message);
        Assert.Equal(0.25, opt.Lr);
        // Turning momentum off would break Nesterov's requirement: rejected, and nothing changes.
        var n = Assert.Throws<ArgumentException>(() => opt.SetOption("momentum", 0));
        Assert.Contains("Nesterov momentum requires a momentum and zero dampening", n.Message);
        Assert.Equal(0.9, opt.Momentum);
        Assert.Throws<ArgumentException>(() => opt.SetOption("betas", 1));
    }

    public static TheoryData<string, string, string> BadArguments() => new()
    {
        { "sgd lr", "lr", "Sgd: Invalid learning rate: -0.1" },
        { "sgd lr NaN", "lr", "Sgd: Invalid learning rate: NaN" },
        { "sgd momentum", "momentum", "Sgd: Invalid momentum value: -0.5" },
        { "sgd weight decay", "weightDecay", "Sgd: Invalid weight_decay value: -0.01" },
        { "sgd nesterov no momentum", "nesterov", "Sgd: Nesterov momentum requires a momentum and zero dampening (got momentum = 0, dampening = 0)" },
        { "sgd nesterov dampening", "nesterov", "Sgd: Nesterov momentum requires a momentum and zero dampening (got momentum = 0.9, dampening = 0.1)" },
        { "adam lr", "lr", "Adam: Invalid learning rate: -0.001" },
        { "adam eps", "eps", "Adam: Invalid epsilon value: -1E-08" },
        { "adam beta1", "beta1", "Adam: Invalid beta parameter at index 0: 1" },
        { "adam beta2", "beta2", "Adam: Invalid beta parameter at index 1: -0.1" },
        { "adam weight decay", "weightDecay", "Adam: Invalid weight_decay value: -1" },
        { "adamw beta1", "beta1", "AdamW: Invalid beta parameter at index 0: 1.5" },
        { "adamw lr", "lr", "AdamW: Invalid learning rate: -Infinity" },
    };

    [Theory]
    [MemberData(nameof(BadArguments))]
    public void BadArgumentsNameTheArgumentAndValue(string which, string argument, string message)
    {
        IEnumerable<Parameter> ps = [new Parameter(Torch.Zeros(2))];
        Action make = which switch
        {
            "sgd lr" => () => new Sgd(ps, -0.1),
            "sgd lr NaN" => () => new Sgd(ps, double.NaN),
            "sgd momentum" => () => new Sgd(ps, 0.1, momentum: -0.5),
            "sgd weight decay" => () => new Sgd(ps, 0.1, weightDecay: -0.01),
            "sgd nesterov no momentum" => () => new Sgd(ps, 0.1, nesterov: true),
            "sgd nesterov dampening" => () => new Sgd(ps, 0.1, momentum: 0.9, dampening: 0.1, nesterov: true),
            "adam lr" => () => new Adam(ps, -0.001),
            "adam eps" => () => new Adam(ps, eps: -1e-8),
            "adam beta1" => () => new Adam(ps, beta1: 1.0),
            "adam beta2" => () => new Adam(ps, beta2: -0.1),
            "adam weight decay" => () => new Adam(ps, weightDecay: -1),
            "adamw beta1" => () => new AdamW(ps, beta1: 1.5),
            "adamw lr" => () => new AdamW(ps, double.NegativeInfinity),
            _ => throw new InvalidOperationException(which),
        };
        var e = Assert.ThrowsAny<ArgumentException>(make);
        Assert.Equal(argument, e.ParamName);
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void ParameterListErrors()
    {
        var p = new Parameter(Torch.Zeros(2, 3));
        var empty = Assert.Throws<ArgumentException>(() => new Adam([]));
        Assert.Contains("Adam: optimizer got an empty parameter list", empty.Message);
        var dup = Assert.Throws<ArgumentException>(() => new Sgd([p, p], 0.1));
        Assert.Contains("parameter 1 (shape [2,3]) appears more than once", dup.Message);
        Assert.Throws<ArgumentException>(() => new Sgd([p, null!], 0.1));
        Assert.Throws<ArgumentNullException>(() => new Sgd(null!, 0.1));
    }

    // ---- ClipGradNorm ----

    static Parameter WithGrad(double[] grad)
    {
        var p = new Parameter(Torch.Zeros([grad.Length], DType.Float64));
        p.Grad = Torch.Tensor(grad, grad.Length);
        return p;
    }

    [Fact]
    public void ClipGradNormScalesByMaxNormOverTotalWhenAbove()
    {
        // Gradient norms 5 and 12: total sqrt(25 + 144) = 13.
        var p1 = WithGrad([3, 4]);
        var p2 = WithGrad([12]);
        var none = new Parameter(Torch.Zeros(3));
        double total = Functional.ClipGradNorm([p1, none, p2], 6.5);
        Assert.Equal(13.0, total, 14);
        double coef = 6.5 / (13 + 1e-6);
        Assert.Equal([3 * coef, 4 * coef], p1.Grad!.ToArray<double>(), (x, y) => Math.Abs(x - y) < 1e-15);
        Assert.Equal([12 * coef], p2.Grad!.ToArray<double>(), (x, y) => Math.Abs(x - y) < 1e-15);
        Assert.Null(none.Grad);
        // The clipped gradients now have norm maxNorm * 13 / (13 + 1e-6), just under 6.5.
        Assert.Equal(6.5 * 13 / (13 + 1e-6), Functional.ClipGradNorm([p1, p2], 100), 12);
    }

    [Fact]
    public void ClipGradNormLeavesSmallGradientsAlone()
    {
        var p = WithGrad([0.3, -0.4]);
        Assert.Equal(0.5, Functional.ClipGradNorm([p], 0.5 + 1e-6), 15); // factor (0.5 + 1e-6) / (0.5 + 1e-6) = 1: no change
        Assert.Equal([0.3, -0.4], p.Grad!.ToArray<double>());
        Assert.Equal(0.5, Functional.ClipGradNorm([p], 10), 15);
        Assert.Equal([0.3, -0.4], p.Grad!.ToArray<double>());
        Assert.Equal(0.0, Functional.ClipGradNorm([new Parameter(Torch.Zeros(2))], 1.0));
    }

    [Fact]
    public void ClipGradNormWorksOnFloat32AndZeroMaxNorm()
    {
        var p = new Parameter(Torch.Zeros(2));
        p.Grad = Torch.Tensor(new float[] { 6f, 8f }, 2);
        Assert.Equal(10.0, Functional.ClipGradNorm([p], 0), 6);
        Assert.Equal(DType.Float32, p.Grad!.DType);
        Assert.Equal([0f, 0f], p.Grad.ToArray<float>());
    }

    [Fact]
    public void ClipGradNormErrors()
    {
        var p = WithGrad([1, double.PositiveInfinity]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.ClipGradNorm([p], -1));
        Assert.Equal("maxNorm", e.ParamName);
        Assert.Contains("maxNorm must be a number >= 0, but got -1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Functional.ClipGradNorm([p], double.NaN));
        var nf = Assert.Throws<InvalidOperationException>(() => Functional.ClipGradNorm([p], 1, errorIfNonfinite: true));
        Assert.Contains("non-finite (Infinity)", nf.Message);
        Assert.Equal([1, double.PositiveInfinity], p.Grad!.ToArray<double>());
        // Without the check, PyTorch's behaviour: the factor is 0, so finite entries become 0 and infinite ones NaN.
        Assert.Equal(double.PositiveInfinity, Functional.ClipGradNorm([p], 1));
        var g = p.Grad!.ToArray<double>();
        Assert.Equal(0.0, g[0]);
        Assert.True(double.IsNaN(g[1]));
    }
}
