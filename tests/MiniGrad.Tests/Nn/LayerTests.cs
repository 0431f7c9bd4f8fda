using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>Linear, Embedding, Dropout and Functional: values against hand computations, gradients, initialization.</summary>
public class LayerTests
{
    static void Set(Parameter p, double[] values)
    {
        using (Torch.NoGrad()) p.Copy_(Torch.Tensor(values, p.Shape));
    }

    [Fact]
    public void LinearComputesXWTransposePlusBias()
    {
        var lin = new Linear(3, 2, dtype: DType.Float64);
        Set(lin.Weight, [1, 2, 3, -1, 0, 4]);
        Set(lin.Bias!, [0.5, -2]);
        var y = lin.Forward(H.D([1, 0, -1, 2, 1, 0.5], 2, 3));
        Assert.Equal([2, 2], y.Shape);
        H.Close([1 - 3 + 0.5, -1 - 4 - 2, 2 + 2 + 1.5 + 0.5, -2 + 2 - 2], y);
        Assert.Equal([2, 2], lin.LastOutputShape!);
    }

    [Fact]
    public void LinearKeepsLeadingDimsAndAcceptsOneD()
    {
        var lin = new Linear(4, 5, dtype: DType.Float64, generator: new Generator(1));
        var x = H.Rnd(2, 3, 2, 4);
        var y = lin.Forward(x);
        Assert.Equal([3, 2, 5], y.Shape);
        // Each row equals the 1-D form applied to it.
        H.Close(lin.Forward(x.Select(0, 1).Select(0, 1)).Arr(), y.Select(0, 1).Select(0, 1), 1e-12);
        Assert.Equal([5], lin.Forward(H.Rnd(3, 4)).Shape);
        // in_features = 0: the bias alone, as torch.nn.functional.linear gives (an empty sum is 0).
        var empty = Functional.Linear(Torch.Zeros([2, 0], DType.Float64), Torch.Zeros([3, 0], DType.Float64), Torch.Ones([3], DType.Float64));
        Assert.Equal([2, 3], empty.Shape);
        Assert.Equal(Enumerable.Repeat(1.0, 6), empty.Arr());
    }

    [Fact]
    public void LinearGradCheck() =>
        H.Grad(a => Functional.Linear(a[0], a[1], a[2]), H.Leaf(4, 2, 3, 4), H.Leaf(5, 5, 4), H.Leaf(6, 5));

    [Fact]
    public void LinearWithoutBiasHasOnlyAWeight()
    {
        var lin = new Linear(3, 2, bias: false);
        Assert.Equal(["weight"], lin.NamedParameters().Select(p => p.Name));
        Assert.Null(lin.Bias);
        Assert.Equal("Linear(3, 2, bias=False)", DescribeOf(lin));
    }

    [Fact]
    public void LinearInitMatchesPyTorchBounds()
    {
        var lin = new Linear(100, 50, generator: new Generator(7));
        foreach (var p in lin.Parameters())
        {
            var v = p.ToArray<double>();
            Assert.All(v, e => Assert.InRange(e, -0.1, 0.1));
            Assert.True(v.Min() < -0.09 && v.Max() > 0.09, "weights should spread over U(-1/sqrt(in), 1/sqrt(in))");
        }
        Assert.Equal(new Linear(100, 50, generator: new Generator(7)).Weight.ToArray<float>(), lin.Weight.ToArray<float>());
        Assert.NotEqual(new Linear(100, 50, generator: new Generator(8)).Weight.ToArray<float>(), lin.Weight.ToArray<float>());
    }

    [Fact]
    public void EmbeddingPicksRowsAndAccumulatesGradients()
    {
        var emb = new Embedding(5, 3, DType.Float64);
        Set(emb.Weight, Enumerable.Range(0, 15).Select(i => (double)i).ToArray());
        var idx = Torch.Tensor(new long[] { 4, 0, 4, 2 }, 2, 2);
        var y = emb.Forward(idx);
        Assert.Equal([2, 2, 3], y.Shape);
        H.Close([12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8], y);
        y.Sum().Backward();
        H.Close([1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 2], emb.Weight.Grad!); // row 4 was used twice
        Assert.Equal([3], emb.Forward(Torch.Tensor(new int[] { 1 }).Reshape()).Shape);
    }

    public static TheoryData<string> Devices => TestDevices.All;

    [Theory]
    [MemberData(nameof(Devices))]
    public void EmbeddingPaddingRowStartsAtZeroAndGetsNoGradient(string device)
    {
        // torch.nn.Embedding(5, 3, padding_idx=-1): row 4 is zeros and its gradient stays zero; the other rows as usual.
        var d = Device.Parse(device);
        var emb = new Embedding(5, 3, DType.Float64, new Generator(1), paddingIdx: -1);
        emb.To(d);
        Assert.Equal(4, emb.PaddingIdx);
        H.Close([0, 0, 0], emb.Weight.Narrow(0, 4, 1));
        Assert.NotEqual(0.0, emb.Weight.Narrow(0, 0, 1).Abs().Sum().Item<double>());
        Set(emb.Weight, Enumerable.Range(0, 15).Select(i => (double)i).ToArray()); // padding row non-zero: returned as it is
        var idx = Torch.Tensor(new long[] { 4, 0, 4, 2 }, 2, 2).To(d);
        var y = emb.Forward(idx);
        H.Close([12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8], y);
        (y * 2.0).Sum().Backward();
        H.Close([2, 2, 2, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0], emb.Weight.Grad!);
        Assert.Equal("Embedding(5, 3, padding_idx=4)", emb.ToString().Split('\n')[1].Split("  ", StringSplitOptions.RemoveEmptyEntries)[1]);
        H.Throws<ArgumentOutOfRangeException>(() => new Embedding(5, 3, paddingIdx: 5), "Embedding:", "paddingIdx = 5");
        H.Throws<ArgumentOutOfRangeException>(() => Functional.Embedding(idx, emb.Weight, -6), "Embedding:", "paddingIdx = -6");
    }

    [Fact]
    public void EmbeddingFromPretrainedCopiesTheTableAndFreezesIt()
    {
        var table = Torch.Tensor(new double[] { 1, 2, 3, 4, 5, 6 }, 3, 2);
        var frozen = Embedding.FromPretrained(table);
        H.Close([5, 6, 1, 2], frozen.Forward(Torch.Tensor(new long[] { 2, 0 })));
        Assert.False(frozen.Weight.RequiresGrad);
        Assert.Equal(DType.Float64, frozen.Weight.DType);
        var trainable = Embedding.FromPretrained(table, freeze: false, paddingIdx: 0);
        H.Close([1, 2, 3, 4, 5, 6], trainable.Weight); // the padding row keeps its given values
        trainable.Forward(Torch.Tensor(new long[] { 0, 1 })).Sum().Backward();
        H.Close([0, 0, 1, 1, 0, 0], trainable.Weight.Grad!);
        H.Close([1, 2, 3, 4, 5, 6], table); // a copy
        H.Throws<ArgumentException>(() => Embedding.FromPretrained(Torch.Ones(3)), "FromPretrained", "2-D");
    }

    [Fact]
    public void XavierAndKaimingInitsUseTorchsFansAndGains()
    {
        // (out, in, k) = (64, 32, 3): fan_in 96, fan_out 192. Uniform bounds are exact; normal stds within sampling error.
        var w = Torch.Zeros(64, 32, 3);
        double Bound(Tensor t) => t.Abs().Max().Item<float>();
        Init.XavierUniform_(w, generator: new Generator(1));
        double b = Math.Sqrt(6.0 / (96 + 192));
        Assert.InRange(Bound(w), 0.97 * b, b);
        Init.KaimingUniform_(w, nonlinearity: "relu", generator: new Generator(2));
        b = Math.Sqrt(2) * Math.Sqrt(3.0 / 96);
        Assert.InRange(Bound(w), 0.97 * b, b);
        Init.KaimingUniform_(w, a: Math.Sqrt(5), generator: new Generator(3)); // PyTorch's Linear/Conv default: 1/sqrt(fan_in)
        Assert.InRange(Bound(w), 0.97 / Math.Sqrt(96), 1 / Math.Sqrt(96));
        Init.KaimingNormal_(w, fanOut: true, nonlinearity: "relu", generator: new Generator(4));
        Assert.InRange(w.Std().Item<float>(), 0.95 * Math.Sqrt(2.0 / 192), 1.05 * Math.Sqrt(2.0 / 192));
        Init.XavierNormal_(w, gain: Init.CalculateGain("tanh"), generator: new Generator(5));
        Assert.InRange(w.Std().Item<float>(), 0.95 * 5.0 / 3 * Math.Sqrt(2.0 / 288), 1.05 * 5.0 / 3 * Math.Sqrt(2.0 / 288));
        H.Throws<ArgumentException>(() => Init.XavierUniform_(Torch.Zeros(5)), "XavierUniform_", "at least 2");
        H.Throws<ArgumentException>(() => Init.CalculateGain("swish"), "unknown nonlinearity 'swish'");
        Assert.Equal(Math.Sqrt(2 / (1 + 0.01 * 0.01)), Init.CalculateGain("leaky_relu"), 15); // PyTorch's default slope 0.01
        Assert.Equal([2, 3], Torch.Rand(2, 3).Shape);
    }

    [Fact]
    public void FlattenAndIdentityInASequential()
    {
        // torch.nn.Flatten() keeps the batch dim: (N, C, L) -> (N, C * L); Identity passes its input on.
        var net = new Sequential(new Conv1d(2, 3, 3, generator: new Generator(1)), new Flatten(), new Identity(), new Linear(3 * 4, 5, generator: new Generator(2)));
        var x = Torch.Randn([4, 2, 6], generator: new Generator(3));
        Assert.Equal([4, 5], ((ITensorModule)net).Forward(x).Shape);
        Assert.Equal([2, 3 * 4 * 5], new Flatten().Forward(Torch.Zeros(2, 3, 4, 5)).Shape);
        Assert.Equal([2, 12, 5], new Flatten(1, 2).Forward(Torch.Zeros(2, 3, 4, 5)).Shape);
        Assert.Equal([120], new Flatten(0, -1).Forward(Torch.Zeros(2, 3, 4, 5)).Shape);
        Assert.Equal([1], new Flatten().Forward(Torch.Scalar(2.0)).Shape);
        var y = Torch.Ones(3);
        Assert.Same(y, new Identity().Forward(y));
        H.Throws<ArgumentException>(() => new Flatten(2, 1).Forward(Torch.Zeros(2, 3, 4)), "Flatten", "startDim");
        Assert.Contains("Flatten(start_dim=1, end_dim=-1)", net.ToString());
    }

    [Fact]
    public void EmbeddingGradCheck()
    {
        var idx = Torch.Tensor(new long[] { 1, 3, 1 });
        H.Grad(a => Functional.Embedding(idx, a[0]), H.Leaf(9, 4, 2));
    }

    [Fact]
    public void DropoutActsOnlyInTraining()
    {
        var drop = new Dropout(0.25, new Generator(3));
        var x = Torch.Ones([1000], DType.Float64);
        var v = drop.Forward(x).Arr();
        Assert.All(v, e => Assert.True(e == 0 || Math.Abs(e - 1 / 0.75) < 1e-12, $"unexpected value {e}"));
        int zeros = v.Count(e => e == 0);
        Assert.InRange(zeros, 180, 320);
        drop.Eval();
        Assert.Equal(x.Arr(), drop.Forward(x).Arr());
        Assert.Equal("Dropout(p=0.25)", DescribeOf(drop));
        H.Close(x.Arr(), Functional.Dropout(x, 0.5, training: false));
    }

    internal static string DescribeOf(Module m) => m.ToString().Split('\n')[1].Split("  ", StringSplitOptions.RemoveEmptyEntries)[1].Trim();
}
