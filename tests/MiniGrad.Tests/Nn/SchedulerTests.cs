using MiniGrad.Tests.Foundation;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// StepLr and CosineAnnealingLr against values worked out by hand from PyTorch's schedules: the closed forms while nothing
/// else touches the rate, PyTorch's chained get_lr() when something does (values checked against libtorch 2.10 through
/// TorchSharp's schedulers).
/// </summary>
public class SchedulerTests
{
    static Sgd NewSgd(double lr) => new([new Parameter(Torch.Zeros(2))], lr);

    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-15, $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void StepLrDecaysEveryStepSizeEpochs()
    {
        var opt = NewSgd(0.1);
        var s = new StepLr(opt, stepSize: 3, gamma: 0.5);
        // Construction takes the first step (epoch 0) and records InitialLr, as PyTorch does.
        Assert.Equal(0, s.LastEpoch);
        Assert.Equal(0.1, opt.InitialLr);
        double[] expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125];
        for (int epoch = 0; epoch < expected.Length; epoch++)
        {
            if (epoch > 0) s.Step();
            Assert.Equal(epoch, s.LastEpoch);
            Close(expected[epoch], opt.Lr, $"epoch {epoch}");
            Assert.Equal(opt.Lr, s.LastLr);
        }
    }

    [Fact]
    public void ExponentialLrAndLambdaLrFollowPyTorch()
    {
        var opt = NewSgd(0.1);
        var e = new ExponentialLr(opt, gamma: 0.5);
        Close(0.1, opt.Lr, "epoch 0");
        e.Step(); e.Step();
        Close(0.025, opt.Lr, "epoch 2");
        opt.Lr = 1; // chained, as PyTorch's: a rate set by hand is carried on
        e.Step();
        Close(0.5, opt.Lr, "after a manual rate");
        var warm = NewSgd(0.2);
        var l = new LambdaLr(warm, epoch => Math.Min(1, (epoch + 1) / 4.0));
        var seen = new List<double> { warm.Lr };
        for (int i = 0; i < 5; i++) { l.Step(); seen.Add(warm.Lr); }
        Assert.Equal([0.05, 0.1, 0.15, 0.2, 0.2, 0.2], seen.Select(v => Math.Round(v, 12)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExponentialLr(NewSgd(0.1), -1));
        H.Throws<InvalidOperationException>(() => new LambdaLr(NewSgd(0.1), _ => double.NaN), "lrLambda(0) = NaN");
    }

    [Fact]
    public void StepLrDefaultGammaIsOneTenth()
    {
        var opt = NewSgd(1.0);
        var s = new StepLr(opt, stepSize: 1);
        s.Step();
        Close(0.1, opt.Lr, "epoch 1");
        s.Step();
        Close(0.01, opt.Lr, "epoch 2");
        Assert.Equal(0.1, s.Gamma);
    }

    [Fact]
    public void CosineAnnealingFollowsTheClosedForm()
    {
        var opt = NewSgd(0.1);
        var s = new CosineAnnealingLr(opt, tMax: 4, etaMin: 0.01);
        // 0.01 + 0.09 * (1 + cos(pi * e / 4)) / 2, with cos(pi/4) = sqrt(2)/2; past tMax the closed form climbs back.
        double h = Math.Sqrt(2) / 2;
        double[] expected =
        [
            0.1, 0.01 + 0.09 * (1 + h) / 2, 0.055, 0.01 + 0.09 * (1 - h) / 2, 0.01,
            0.01 + 0.09 * (1 - h) / 2, 0.055, 0.01 + 0.09 * (1 + h) / 2, 0.1,
        ];
        Close(0.0868198051533946, expected[1], "hand value"); // 0.01 + 0.045 * 1.7071067811865475
        for (int epoch = 0; epoch < expected.Length; epoch++)
        {
            if (epoch > 0) s.Step();
            Assert.True(Math.Abs(expected[epoch] - opt.Lr) <= 1e-16 + 1e-15 * expected[epoch], $"epoch {epoch}: expected {expected[epoch]:R}, got {opt.Lr:R}");
        }
    }

    [Fact]
    public void CosineAnnealingFromABaseRateOfZeroNeverGoesNegative()
    {
        // PyTorch's chained cosine from lr 0 up to etaMin 0.05 reaches -6.9e-18 at the fourth step (rounding): that is 0
        // here, not a negative rate for the optimizer to refuse; the steps before are PyTorch's.
        var p = new Parameter(Torch.Zeros([1], DType.Float64));
        var o = new Sgd([p], 0.0);
        var sc = new CosineAnnealingLr(o, tMax: 2, etaMin: 0.05);
        var lrs = new List<double>();
        for (int i = 0; i < 6; i++) { sc.Step(); lrs.Add(o.Lr); }
        Assert.Equal(0.025, lrs[0], 15);
        Assert.Equal(0.05, lrs[1], 15);
        Assert.Equal(0.0, lrs[3]);
        Assert.All(lrs, lr => Assert.True(lr >= 0));
    }

    [Fact]
    public void CosineAnnealingDefaultsToZeroMinimum()
    {
        var opt = NewSgd(2.0);
        var s = new CosineAnnealingLr(opt, tMax: 2);
        s.Step();
        Close(1.0, opt.Lr, "epoch 1");
        s.Step();
        Close(0.0, opt.Lr, "epoch 2");
    }

    [Fact]
    public void TheOptimizerStepsWithTheScheduledRate()
    {
        var p = new Parameter(Torch.Tensor(new double[] { 0 }, 1));
        var opt = new Sgd([p], lr: 1.0);
        var s = new StepLr(opt, stepSize: 1, gamma: 0.5);
        double expected = 0;
        for (int i = 0; i < 4; i++)
        {
            p.Grad = Torch.Tensor(new double[] { 1 }, 1);
            opt.Step();
            expected -= Math.Pow(0.5, i);
            Assert.Equal(expected, p.ToArray<double>()[0]);
            s.Step();
        }
    }

    [Fact]
    public void SchedulersStartFromInitialLrAndResume()
    {
        var opt = NewSgd(0.1);
        _ = new StepLr(opt, 1, 0.5);
        // A second scheduler keeps InitialLr (PyTorch's setdefault), so its base is still 0.1, not the current Lr; its
        // epoch 0 keeps the current Lr, and epoch 1 halves it (the cosine's ratio (1 + cos(pi/2)) / (1 + cos 0)).
        opt.Lr = 0.02;
        var cos = new CosineAnnealingLr(opt, tMax: 2);
        Assert.Equal(0.1, cos.BaseLr);
        Close(0.02, opt.Lr, "epoch 0");
        cos.Step();
        Close(0.01, opt.Lr, "epoch 1");

        // Resuming at an epoch needs InitialLr, as PyTorch's 'initial_lr'.
        var fresh = NewSgd(0.4);
        var e = Assert.Throws<ArgumentException>(() => new StepLr(fresh, 2, 0.5, lastEpoch: 4));
        Assert.Contains("InitialLr", e.Message);
        Assert.Equal("lastEpoch", e.ParamName);
        var withInitial = NewSgd(0.8);
        _ = new StepLr(withInitial, 2, 0.5);
        withInitial.Lr = 0.123; // what a checkpoint restored: StepLr goes on from it, as PyTorch's does
        var r = new StepLr(withInitial, 2, 0.5, lastEpoch: 4);
        Assert.Equal(5, r.LastEpoch);
        Close(0.123, withInitial.Lr, "epoch 5");
        r.Step();
        Close(0.0615, withInitial.Lr, "epoch 6");
        // A resumed cosine takes its closed form from InitialLr on its first step (PyTorch's _step_count == 1 case).
        var c = NewSgd(0.5);
        c.InitialLr = 0.1;
        _ = new CosineAnnealingLr(c, tMax: 4, etaMin: 0.01, lastEpoch: 1);
        Close(0.055, c.Lr, "epoch 2");
    }

    // PyTorch's schedulers chain from the optimizer's current rate: a rate set by hand is carried on, and two schedulers
    // on one optimizer compose. Before, each Step() set the closed form from InitialLr and overwrote both.
    [Fact]
    public void StepLrCarriesOnARateSetByHandAndComposesWithAnotherSchedule()
    {
        var opt = NewSgd(0.1);
        var s = new StepLr(opt, 3, 0.5);
        var seen = new List<double>();
        for (int e = 1; e < 8; e++)
        {
            if (e == 4) opt.Lr = 1.0;
            s.Step();
            seen.Add(opt.Lr);
        }
        Assert.Equal([0.1, 0.1, 0.05, 1, 1, 0.5, 0.5], seen);

        var two = NewSgd(0.1);
        var a = new StepLr(two, 2, 0.5);
        var b = new StepLr(two, 3, 0.1);
        double[] expected = [0.1, 0.05, 0.005, 0.0025, 0.0025, 0.000125, 0.000125];
        for (int e = 1; e < 8; e++)
        {
            a.Step();
            b.Step();
            Assert.True(Math.Abs(expected[e - 1] - two.Lr) <= 1e-15 * expected[e - 1], $"epoch {e}: expected {expected[e - 1]:R}, got {two.Lr:R}");
        }
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        var opt = NewSgd(0.1);
        Assert.Equal("stepSize", Assert.Throws<ArgumentOutOfRangeException>(() => new StepLr(opt, 0)).ParamName);
        var g = Assert.Throws<ArgumentOutOfRangeException>(() => new StepLr(opt, 2, gamma: -0.5));
        Assert.Equal("gamma", g.ParamName);
        Assert.Contains("gamma must be a finite number >= 0, but got -0.5", g.Message);
        var t = Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLr(opt, 0));
        Assert.Contains("Expected positive integer tMax, but got 0", t.Message);
        Assert.Equal("etaMin", Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLr(opt, 5, etaMin: -1)).ParamName);
        Assert.Equal("lastEpoch", Assert.Throws<ArgumentOutOfRangeException>(() => new StepLr(opt, 1, lastEpoch: -2)).ParamName);
        Assert.Throws<ArgumentNullException>(() => new StepLr(null!, 1));
        Assert.Equal(0.1, opt.Lr);
    }
}
