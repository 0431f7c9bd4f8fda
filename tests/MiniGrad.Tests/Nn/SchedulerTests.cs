using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>StepLr and CosineAnnealingLr against values worked out by hand from PyTorch's closed forms.</summary>
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
        // A second scheduler keeps InitialLr (PyTorch's setdefault), so its base is still 0.1, not the current Lr.
        opt.Lr = 0.02;
        var cos = new CosineAnnealingLr(opt, tMax: 2);
        Assert.Equal(0.1, cos.BaseLr);
        Close(0.1, opt.Lr, "epoch 0");

        // Resuming at an epoch needs InitialLr, as PyTorch's 'initial_lr'.
        var fresh = NewSgd(0.4);
        var e = Assert.Throws<ArgumentException>(() => new StepLr(fresh, 2, 0.5, lastEpoch: 4));
        Assert.Contains("InitialLr", e.Message);
        Assert.Equal("lastEpoch", e.ParamName);
        var withInitial = NewSgd(0.8);
        _ = new StepLr(withInitial, 2, 0.5);
        withInitial.Lr = 0.123; // whatever it holds now, the closed form starts from InitialLr = 0.8
        var r = new StepLr(withInitial, 2, 0.5, lastEpoch: 4);
        Assert.Equal(5, r.LastEpoch);
        Close(0.8 * 0.25, withInitial.Lr, "epoch 5");
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
