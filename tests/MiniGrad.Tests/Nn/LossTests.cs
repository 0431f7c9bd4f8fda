using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// CrossEntropyLoss, NllLoss, MseLoss and BceWithLogitsLoss: float64 gradchecks on every device (with respect to the
/// input, and to the target where PyTorch has that gradient), hand-computed references for the weighted mean and label
/// smoothing, unbatched inputs, Int32 targets, and every bad argument.
/// </summary>
[Collection("Ilgpu")]
public class LossTests
{
    public static TheoryData<string> DeviceNames => TestDevices.All;

    static Tensor Idx(Device d, long[] v, params int[] shape) => Torch.Tensor(v, shape).To(d);
    static Tensor Probs(Device d, int seed, params int[] shape) => H.Rnd(seed, shape).Softmax(1).Detach().To(d);

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void CrossEntropyAtExtremeLogitsIsPyTorchs(string device)
    {
        var d = Device.Parse(device);
        // float32 logits near 1e6: loss 3.34901 (m + log-sum in one float32 number gave 3.375) and its gradient.
        var x = Torch.Tensor(new[] { 1e6f, 1e6f + 2, 1e6f + 3 }, 1, 3).To(d).RequiresGrad_();
        var loss = Functional.CrossEntropy(x, Idx(d, [0], 1));
        double z = Math.Exp(-3) + Math.Exp(-1) + 1;
        Assert.Equal(3 + Math.Log(z), loss.Item<float>(), 5);
        loss.Backward();
        H.Close([Math.Exp(-3) / z - 1, Math.Exp(-1) / z, 1 / z], x.Grad!.To(DType.Float64), 1e-6);
        // float64 ties at 1e30: softmax 0.5, 0.5, 0.
        var big = Torch.Tensor(new[] { 1e30, 1e30, 0 }, 1, 3).To(d).RequiresGrad_();
        Functional.CrossEntropy(big, Idx(d, [2], 1)).Backward();
        H.Close([0.5, 0.5, -1], big.Grad!, 1e-15);
        // +inf among the logits: NaN loss and gradient, as PyTorch's log_softmax gives (inf - inf).
        var inf = Torch.Tensor(new[] { double.PositiveInfinity, 2, 3 }, 1, 3).To(d).RequiresGrad_();
        var li = Functional.CrossEntropy(inf, Idx(d, [1], 1));
        Assert.True(double.IsNaN(li.Item<double>()));
        li.Backward();
        Assert.All(inf.Grad!.Arr(), g => Assert.True(double.IsNaN(g)));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void IgnoredItemsHoldingMinusInfinityDoNotTurnTheLossNaN(string device)
    {
        // PyTorch leaves ignored items out; here their -inf times a weight of 0 was NaN (NllLoss, and CrossEntropy over
        // (N, C, d) or with label smoothing).
        var d = Device.Parse(device);
        double ninf = double.NegativeInfinity;
        var x = Torch.Tensor(new[] { 1, ninf, 2, ninf, 3, ninf }, 1, 3, 2).To(d).RequiresGrad_();
        var t = Idx(d, [0, -100], 1, 2);
        var ce = Functional.CrossEntropy(x, t);
        Assert.Equal(2.40760596444438, ce.Item<double>(), 12);
        ce.Backward();
        var g = x.Grad!.Arr(); // the kept position's gradient (the ignored all -inf column's is NaN, as PyTorch's log_softmax backward gives)
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        H.Close([Math.Exp(1) / z - 1, Math.Exp(2) / z, Math.Exp(3) / z], [g[0], g[2], g[4]], 1e-12);
        Assert.Equal(1.0, Functional.NllLoss(Torch.Tensor(new[] { -1, ninf, -2, -1, -3, -1 }, 1, 3, 2).To(d), t).Item<double>(), 12);
        var rows = Torch.Tensor(new[] { 1, 2, 3, ninf, 0, 0 }, 2, 3).To(d);
        Assert.Equal(2.30760596444438, Functional.CrossEntropy(rows, Idx(d, [0, -100], 2), labelSmoothing: 0.1).Item<double>(), 5);
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void CrossEntropyGradChecks(string device)
    {
        var d = Device.Parse(device);
        var t = Idx(d, [2, 0, -100, 4, 1, 2], 6);
        var w = H.PosLeaf(7, 5).Detach().To(d);
        foreach (var r in new[] { Reduction.None, Reduction.Mean, Reduction.Sum })
        {
            H.Grad(a => Functional.CrossEntropy(a[0], t, reduction: r), H.Leaf(d, 1, 6, 5));
            H.Grad(a => Functional.CrossEntropy(a[0], t, w, reduction: r, labelSmoothing: 0.3), H.Leaf(d, 2, 6, 5));
            H.Grad(a => Functional.CrossEntropy(a[0], Idx(d, [2, 0, 2, 4, 1, 3], 6), w, ignoreIndex: 2, reduction: r), H.Leaf(d, 3, 6, 5));
        }
        // (N, C, d1, d2) with weights, ignoreIndex and smoothing; probabilities, whose gradient reaches the target too.
        var ts = Idx(d, [0, 1, 2, 1, -100, 0, 2, 2, 1, 0, 0, 1], 2, 2, 3);
        H.Grad(a => Functional.CrossEntropy(a[0], ts, w.Narrow(0, 0, 3), labelSmoothing: 0.1), H.Leaf(d, 4, 2, 3, 2, 3));
        H.Grad(a => Functional.CrossEntropy(a[0], a[1], w, labelSmoothing: 0.2), H.Leaf(d, 5, 4, 5), Probs(d, 6, 4, 5).RequiresGrad_());
        H.Grad(a => Functional.CrossEntropy(a[0], a[1], reduction: Reduction.None), H.Leaf(d, 8, 2, 4, 3), Probs(d, 9, 2, 4, 3));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void NllMseBceGradChecks(string device)
    {
        var d = Device.Parse(device);
        var t = Idx(d, [3, -100, 0, 1, 3], 5);
        var w = H.PosLeaf(7, 4).Detach().To(d);
        foreach (var r in new[] { Reduction.None, Reduction.Mean, Reduction.Sum })
        {
            H.Grad(a => Functional.NllLoss(a[0].LogSoftmax(1), t, w, reduction: r), H.Leaf(d, 1, 5, 4));
            H.Grad(a => Functional.MseLoss(a[0], a[1], r), H.Leaf(d, 2, 3, 4), H.Leaf(d, 3, 3, 4));
            var target = H.Rnd(4, 3, 4).Sigmoid().Detach().To(d).RequiresGrad_();
            H.Grad(a => Functional.BinaryCrossEntropyWithLogits(a[0], a[1], a[2], r, a[3]),
                H.Leaf(d, 5, 3, 4), target, H.PosLeaf(d, 6, 3, 1), H.PosLeaf(d, 7, 4));
        }
        H.Grad(a => Functional.NllLoss(a[0], Idx(d, [0, 2, 1, 1], 2, 2), w.Narrow(0, 0, 3)), H.Leaf(d, 8, 2, 3, 2));
    }

    [Fact]
    public void CrossEntropyMatchesAHandComputation()
    {
        // loss_i = (1 - e) (-w[t_i] logp_i[t_i]) + e (-sum_c w_c logp_i[c]) / C; mean divides by sum of w[t_i] over non-ignored i.
        var x = H.Rnd(1, 4, 3);
        long[] t = [2, -1, 0, 1];
        double[] w = [0.5, 2, 1.5];
        double e = 0.25;
        var lp = x.LogSoftmax(1).Arr();
        double sum = 0, wsum = 0;
        var per = new double[4];
        for (int i = 0; i < 4; i++)
        {
            if (t[i] == -1) continue;
            double smooth = -Enumerable.Range(0, 3).Sum(c => w[c] * lp[i * 3 + c]) / 3;
            per[i] = (1 - e) * -w[t[i]] * lp[i * 3 + t[i]] + e * smooth;
            sum += per[i];
            wsum += w[t[i]];
        }
        var loss = new CrossEntropyLoss(H.D(w, 3), ignoreIndex: -1, labelSmoothing: e);
        H.Close([sum / wsum], loss.Forward(x, Torch.Tensor(t, 4)).Reshape(1));
        H.Close(per, Functional.CrossEntropy(x, Torch.Tensor(t, 4), H.D(w, 3), -1, Reduction.None, e));
        H.Close([sum], Functional.CrossEntropy(x, Torch.Tensor(t, 4), H.D(w, 3), -1, Reduction.Sum, e).Reshape(1));
        // Probabilities that are one-hot give the class-index loss (without weights the mean divides by N either way).
        var onehot = H.D([0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0], 4, 3);
        H.Close(Functional.CrossEntropy(x, Torch.Tensor(new long[] { 2, 0, 0, 1 }, 4)).Arr(), Functional.CrossEntropy(x, onehot), 1e-14);
    }

    [Fact]
    public void UnbatchedInputsAndInt32TargetsWork()
    {
        var x = H.Rnd(2, 5);
        var ce = Functional.CrossEntropy(x, Torch.Tensor(new long[] { 3 }, 1).Reshape(), reduction: Reduction.None);
        Assert.Empty(ce.Shape);
        H.Close([-x.LogSoftmax(0).Arr()[3]], ce.Reshape(1));
        var probs = H.Rnd(3, 5).Softmax(0);
        Assert.Empty(Functional.CrossEntropy(x, probs).Shape);
        H.Close(Functional.CrossEntropy(x.Unsqueeze(0), probs.Unsqueeze(0)).Arr(), Functional.CrossEntropy(x, probs), 1e-15);
        Assert.Empty(Functional.NllLoss(x.LogSoftmax(0), Torch.Tensor(new long[] { 1 }, 1).Reshape(), reduction: Reduction.None).Shape);
        var xb = H.Rnd(4, 3, 5);
        H.Close(Functional.CrossEntropy(xb, Torch.Tensor(new long[] { 0, 4, 2 }, 3)).Arr(), Functional.CrossEntropy(xb, Torch.Tensor(new[] { 0, 4, 2 }, 3)));
    }

    [Theory]
    [MemberData(nameof(DeviceNames))]
    public void EveryTargetIgnoredGivesNaNAndAZeroGradient(string device)
    {
        var d = Device.Parse(device);
        var x = H.Leaf(d, 1, 3, 4);
        var loss = Functional.CrossEntropy(x, Idx(d, [5, 5, 5], 3), ignoreIndex: 5, labelSmoothing: 0.1);
        Assert.True(double.IsNaN(loss.Item<double>()));
        loss.Backward();
        Assert.All(x.Grad!.Arr(), g => Assert.Equal(0.0, g));
        Assert.Equal(0.0, Functional.CrossEntropy(x, Idx(d, [5, 5, 5], 3), ignoreIndex: 5, reduction: Reduction.Sum).Item<double>());
    }

    [Fact]
    public void BceWithLogitsIsStableAndMatchesTheDefinition()
    {
        var x = H.D([-800, -3, 0, 2, 800], 5);
        var t = H.D([1, 0.2, 0.5, 0, 0], 5);
        var loss = Functional.BinaryCrossEntropyWithLogits(x, t, reduction: Reduction.None).Arr();
        Assert.All(loss, v => Assert.True(double.IsFinite(v)));
        H.Close([800, 0.2 * Math.Log(1 + Math.Exp(3)) + 0.8 * Math.Log(1 + Math.Exp(-3)), Math.Log(2), Math.Log(1 + Math.Exp(2)), 800], loss, 1e-14);
        // posWeight p scales the positive term: -(p t log s + (1 - t) log(1 - s)).
        var pw = H.D([3], 1);
        double s = 1 / (1 + Math.Exp(3));
        H.Close([-(3 * 0.2 * Math.Log(s) + 0.8 * Math.Log(1 - s))],
            Functional.BinaryCrossEntropyWithLogits(x.Narrow(0, 1, 1), t.Narrow(0, 1, 1), posWeight: pw, reduction: Reduction.None), 1e-14);
    }

    [Fact]
    public void MseIsTheMeanSquaredDifference()
    {
        var (a, b) = (H.Rnd(1, 2, 3), H.Rnd(2, 2, 3));
        var diff = a.Arr().Zip(b.Arr(), (p, q) => (p - q) * (p - q)).ToArray();
        H.Close([diff.Average()], new MseLoss().Forward(a, b).Reshape(1), 1e-14);
        H.Close([diff.Sum()], Functional.MseLoss(a, b, Reduction.Sum).Reshape(1), 1e-14);
        H.Close(diff, Functional.MseLoss(a, b, Reduction.None));
    }

    [Fact]
    public void BadArgumentsThrowNamingThemAndChangeNothing()
    {
        var x = H.Leaf(1, 4, 5);
        var t = Torch.Tensor(new long[] { 0, 1, 2, 3 }, 4);
        // Shapes.
        Assert.Equal("target", H.Throws<ArgumentException>(() => Functional.CrossEntropy(x, Torch.Tensor(new long[] { 0, 1, 2 }, 3)), "CrossEntropy", "[3]", "[4,5]", "expected [4]").ParamName);
        H.Throws<ArgumentException>(() => Functional.NllLoss(H.Rnd(2, 2, 3, 4), Torch.Tensor(new long[] { 0, 1, 2, 0, 1, 2 }, 2, 3)), "NllLoss", "[2,3]", "expected [2,4]");
        H.Throws<ArgumentException>(() => Functional.CrossEntropy(x, H.Rnd(2, 4, 4)), "CrossEntropy", "class probabilities", "[4,4]");
        H.Throws<ArgumentException>(() => Functional.CrossEntropy(H.Rnd(2), t), "CrossEntropy", "0-d");
        H.Throws<ArgumentException>(() => Functional.MseLoss(x, H.Rnd(3, 4, 1)), "MseLoss", "[4,1]", "[4,5]");
        H.Throws<ArgumentException>(() => Functional.BinaryCrossEntropyWithLogits(x, H.Rnd(3, 5)), "BinaryCrossEntropyWithLogits", "target");
        Assert.Equal("posWeight", H.Throws<ArgumentException>(() => Functional.BinaryCrossEntropyWithLogits(x, H.Rnd(3, 4, 5), posWeight: H.Rnd(4, 4)), "posWeight", "[4]", "broadcast").ParamName);
        Assert.Equal("weight", H.Throws<ArgumentException>(() => Functional.BinaryCrossEntropyWithLogits(x, H.Rnd(3, 4, 5), weight: H.Rnd(4, 2, 4, 5)), "weight").ParamName);
        // Class indices out of range, named with their position.
        var e = H.Throws<ArgumentOutOfRangeException>(() => Functional.CrossEntropy(x, Torch.Tensor(new long[] { 0, 1, 5, 3 }, 4)), "target[2] = 5", "[0, 5)", "ignoreIndex = -100");
        Assert.Equal("target", e.ParamName);
        H.Throws<ArgumentOutOfRangeException>(() => Functional.NllLoss(H.Rnd(2, 2, 3, 2), Torch.Tensor(new long[] { 0, 1, -1, 0 }, 2, 2)), "target[1, 0] = -1");
        // Weights.
        Assert.Equal("weight", H.Throws<ArgumentException>(() => Functional.CrossEntropy(x, t, H.D([1, 2, 3], 3)), "weight", "[3]", "C = 5").ParamName);
        H.Throws<ArgumentException>(() => Functional.NllLoss(x, t, Torch.Ones([5], DType.Float32)), "weight", "Float32", "Float64");
        H.Throws<ArgumentException>(() => new CrossEntropyLoss(Torch.Tensor(new long[] { 1, 1 }, 2)), "CrossEntropyLoss", "weight", "Int64");
        // Label smoothing outside [0, 1].
        foreach (var bad in new[] { -0.1, 1.5, double.NaN })
        {
            Assert.Equal("labelSmoothing", H.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(labelSmoothing: bad), "labelSmoothing", "[0, 1]").ParamName);
            H.Throws<ArgumentOutOfRangeException>(() => Functional.CrossEntropy(x, t, labelSmoothing: bad), "CrossEntropy", "labelSmoothing");
        }
        // Dtypes.
        Assert.Equal("input", H.Throws<ArgumentException>(() => Functional.CrossEntropy(Torch.Tensor(new long[] { 1, 2 }, 1, 2), t.Narrow(0, 0, 1)), "input", "Int64").ParamName);
        H.Throws<ArgumentException>(() => Functional.CrossEntropy(x, Torch.Tensor(new[] { true, false, true, true }, 4)), "target", "Bool");
        H.Throws<ArgumentException>(() => Functional.NllLoss(x, H.Rnd(3, 4, 5)), "NllLoss", "class indices", "Float64");
        H.Throws<ArgumentException>(() => Functional.CrossEntropy(x, H.Rnd(3, 4, 5).To(DType.Float32)), "target", "Float32", "Float64");
        H.Throws<ArgumentException>(() => Functional.MseLoss(x, H.Rnd(3, 4, 5).To(DType.Float32)), "MseLoss", "Float32");
        // Reductions.
        Assert.Equal("reduction", H.Throws<ArgumentOutOfRangeException>(() => new MseLoss((Reduction)9), "MseLoss", "9").ParamName);
        H.Throws<ArgumentOutOfRangeException>(() => Functional.CrossEntropy(x, t, reduction: (Reduction)(-1)), "CrossEntropy", "reduction");
        Assert.Null(x.Grad);
        Assert.True(x.IsLeaf);
    }
}
