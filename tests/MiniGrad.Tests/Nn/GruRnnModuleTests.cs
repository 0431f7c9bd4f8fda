using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Gru, Rnn and their cells as modules: PyTorch's parameter names, shapes and init, the packed semantics (a sequence's
/// results alone and inside any padded batch, the lengths tensor and PackedSequence forms), unbatched input, the tape
/// node, descriptions, and every bad argument named.
/// </summary>
[Collection("Ilgpu")]
public class GruRnnModuleTests
{
    [Fact]
    public void ParametersAreNamedShapedAndDrawnAsPyTorchs()
    {
        var gru = new Gru(5, 4, 2, bidirectional: true, generator: new Generator(1));
        Assert.Equal(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"],
            gru.NamedParameters().Select(p => p.Name));
        var shapes = gru.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape);
        Assert.Equal([12, 5], shapes["weight_ih_l0"]);
        Assert.Equal([12, 8], shapes["weight_ih_l1_reverse"]);
        Assert.Equal([12, 4], shapes["weight_hh_l1"]);
        Assert.Equal([12], shapes["bias_hh_l0_reverse"]);
        Assert.All(gru.Parameters(), p => Assert.All(p.ToArray<double>(), v => Assert.InRange(v, -0.5, 0.5))); // U(-1/sqrt(4), 1/sqrt(4))

        var rnn = new Rnn(3, 9, bias: false);
        Assert.Equal(["weight_ih_l0", "weight_hh_l0"], rnn.NamedParameters().Select(p => p.Name));
        Assert.Equal([9, 3], rnn.NamedParameters().First().Parameter.Shape);
        Assert.Equal(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], new GruCell(3, 2).NamedParameters().Select(p => p.Name));
        Assert.Equal([6, 3], new GruCell(3, 2).WeightIh.Shape);
        Assert.Equal([2, 2], new RnnCell(3, 2).WeightHh.Shape);

        Assert.Contains("Gru(5, 4, num_layers=2, bidirectional=True)", gru.ToString());
        Assert.Contains("Rnn(3, 9, nonlinearity='relu', bias=False, batch_first=True)", new Rnn(3, 9, nonlinearity: Nonlinearity.Relu, bias: false, batchFirst: true).ToString());
        Assert.Contains("GruCell(3, 2, bias=False)", new GruCell(3, 2, bias: false).ToString());
    }

    [Fact]
    public void OneFusedNodePerLayerNamedByItsCell()
    {
        var (y, h) = new Gru(3, 4, 2, generator: new Generator(2)).Forward(Torch.Randn(50, 2, 3));
        Assert.Equal("GruLayerBackward", y.GradFn!.Name);
        Assert.True(h.RequiresGrad);
        Assert.Equal("RnnLayerBackward", new Rnn(3, 4).Forward(Torch.Randn(5, 2, 3)).Output.GradFn!.Name);
        using (Torch.NoGrad()) Assert.False(new Gru(3, 4).Forward(Torch.Randn(5, 2, 3)).Output.RequiresGrad);
    }

    // The backward consumes the layer's buffers; a retained graph walked again recomputes them (with lengths, both directions).
    [Theory]
    [InlineData("gru")]
    [InlineData("tanh")]
    public void BackwardTwiceWithRetainedGraphDoublesGradients(string kind)
    {
        var m = GruRnnGradCheckTests.Make(kind, 3, 4, 2, true, false, true, 16);
        var x = H.Leaf(17, 5, 3, 3);
        var h0 = H.Leaf(18, 4, 3, 4);
        var (y, h) = GruRnnGradCheckTests.Run(m, x, [5, 2, 4], h0);
        var loss = y.Sum() + (h * h).Sum();
        loss.Backward(retainGraph: true);
        var once = m.Parameters().Select(p => p.Grad!.Arr()).Append(x.Grad!.Arr()).Append(h0.Grad!.Arr()).ToArray();
        loss.Backward();
        var twice = m.Parameters().Select(p => p.Grad!.Arr()).Append(x.Grad!.Arr()).Append(h0.Grad!.Arr()).ToArray();
        for (int i = 0; i < once.Length; i++) H.Close(once[i].Select(v => 2 * v).ToArray(), twice[i], 1e-12);
    }

    // What batched evaluation relies on: each sequence's output frames and h_n are those of the sequence run alone,
    // whatever its batchmates and however much padding (even NaN) follows it.
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SequenceAloneEqualsInsideAnyPaddedBatch(string device)
    {
        var dev = Device.Parse(device);
        foreach (var kind in new[] { "gru", "relu" })
        {
            var m = GruRnnGradCheckTests.Make(kind, 4, 3, 2, true, false, true, 80);
            m.To(dev);
            int[] lengths = [5, 2, 7, 1, 7, 3];
            int N = lengths.Length;
            var seqs = lengths.Select((l, n) => H.Rnd(81 + n, l, 4).To(dev)).ToArray();
            var h0 = H.Rnd(90, 4, N, 3).To(dev);
            foreach (int T in new[] { 7, 10 })
            {
                var padded = Torch.Stack(seqs.Select(s => s.Shape[0] == T ? s : Torch.Cat([s, Torch.Full([T - s.Shape[0], 4], double.NaN, DType.Float64, dev)])).ToArray(), 1);
                var (y, hn) = GruRnnGradCheckTests.Run(m, padded, lengths, h0);
                for (int n = 0; n < N; n++)
                {
                    var (ya, ha) = GruRnnGradCheckTests.Run(m, seqs[n].Unsqueeze(1), null, h0.Narrow(1, n, 1));
                    Close(ya.Squeeze(1), y.Select(1, n).Narrow(0, 0, lengths[n]), $"{kind} T={T} sequence {n}: output");
                    Assert.All(y.Select(1, n).Narrow(0, lengths[n], T - lengths[n]).ToArray<double>(), v => Assert.Equal(0.0, v));
                    Close(ha.Squeeze(1), hn.Select(1, n), $"{kind} T={T} sequence {n}: h_n");
                }
            }
        }
    }

    static void Close(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var (e, a) = (expected.ToArray<double>(), actual.ToArray<double>());
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= 1e-12, $"{what}[{i}]: expected {e[i]:R}, got {a[i]:R}");
    }

    [Fact]
    public void LengthsTensorAndPackedSequenceGiveTheLengthsResult()
    {
        var gru = new Gru(2, 3, 1, batchFirst: true, bidirectional: true, dtype: DType.Float64, generator: new Generator(100));
        var x = H.Rnd(101, 3, 5, 2);
        int[] lengths = [5, 1, 3];
        var (y, h) = gru.Forward(x, lengths);
        var (y32, h32) = gru.Forward(x, Torch.Tensor(lengths, 3), null);
        Assert.Equal(y.ToArray<double>(), y32.ToArray<double>());
        Assert.Equal(h.ToArray<double>(), h32.ToArray<double>());
        var (py, hp) = gru.Forward(Functional.PackPaddedSequence(x, lengths, batchFirst: true, enforceSorted: false));
        Assert.Equal(y.ToArray<double>(), Functional.PadPackedSequence(py, batchFirst: true, totalLength: 5).Padded.ToArray<double>());
        Assert.Equal(h.ToArray<double>(), hp.ToArray<double>());
        Assert.Equal([9, 6], py.Data.Shape);
        Assert.Equal(gru.Forward(x).Output.ToArray<double>(), gru.Forward(x, [5, 5, 5]).Output.ToArray<double>());

        var rnn = new Rnn(2, 3, 2, Nonlinearity.Relu, dtype: DType.Float64, generator: new Generator(102));
        var xt = x.Transpose(0, 1);
        var (ry, rh) = rnn.Forward(xt, lengths);
        var (rpy, rph) = rnn.Forward(Functional.PackPaddedSequence(xt, Torch.Tensor(lengths, 3), enforceSorted: false));
        Assert.Equal(ry.ToArray<double>(), Functional.PadPackedSequence(rpy, totalLength: 5).Padded.ToArray<double>());
        Assert.Equal(rh.ToArray<double>(), rph.ToArray<double>());
    }

    [Fact]
    public void UnbatchedInputGivesTheBatchOfOne()
    {
        var gru = new Gru(3, 2, 2, bidirectional: true, dtype: DType.Float64, generator: new Generator(110));
        var x = H.Rnd(111, 4, 3);
        var h0 = H.Rnd(112, 4, 2);
        var (y, h) = gru.Forward(x, h0);
        Assert.Equal([4, 4], y.Shape);
        Assert.Equal([4, 2], h.Shape);
        var (yb, hb) = gru.Forward(x.Unsqueeze(1), h0.Unsqueeze(1));
        Assert.Equal(yb.Squeeze(1).ToArray<double>(), y.ToArray<double>());
        Assert.Equal(hb.Squeeze(1).ToArray<double>(), h.ToArray<double>());
        var cell = new GruCell(3, 2, dtype: DType.Float64, generator: new Generator(113));
        Assert.Equal(cell.Forward(x.Narrow(0, 0, 2), h0.Narrow(0, 0, 2)).Select(0, 1).ToArray<double>(),
            cell.Forward(x.Select(0, 1), h0.Select(0, 1)).ToArray<double>());
    }

    [Fact]
    public void CellIsTheLayerOfOneStep()
    {
        // A GruCell with a Gru's weights gives the Gru's first step.
        var gru = new Gru(3, 4, dtype: DType.Float64, generator: new Generator(120));
        var cell = new GruCell(3, 4, dtype: DType.Float64);
        using (Torch.NoGrad())
            foreach (var ((_, p), (_, q)) in cell.NamedParameters().Zip(gru.NamedParameters())) p.Copy_(q);
        var x = H.Rnd(121, 1, 2, 3);
        var h0 = H.Rnd(122, 1, 2, 4);
        Assert.Equal(gru.Forward(x, h0).H.Squeeze(0).ToArray<double>(), cell.Forward(x.Squeeze(0), h0.Squeeze(0)).ToArray<double>());
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        H.Throws<ArgumentOutOfRangeException>(() => new Gru(0, 3), "Gru:", "inputSize", "0");
        H.Throws<ArgumentOutOfRangeException>(() => new Rnn(2, 3, dropout: 1.5), "Rnn:", "dropout", "1.5");
        H.Throws<ArgumentOutOfRangeException>(() => new Rnn(2, 3, nonlinearity: (Nonlinearity)7), "Rnn:", "Tanh", "Relu");
        H.Throws<ArgumentException>(() => new GruCell(2, 3, dtype: DType.Int32), "GruCell:", "Int32", "Float32 or Float64");

        var gru = new Gru(4, 3, 2, bidirectional: true);
        var x = Torch.Randn(5, 2, 4);
        H.Throws<ArgumentException>(() => gru.Forward(Torch.Randn(5, 2, 3)), "Gru:", "input", "[5,2,3]", "input_size = 4");
        H.Throws<ArgumentException>(() => gru.Forward(Torch.Randn(2, 5, 2, 4)), "Gru:", "[2,5,2,4]", "3-D", "2-D");
        H.Throws<ArgumentException>(() => gru.Forward(Torch.Zeros([0, 2, 4])), "Gru:", "at least one time step");
        H.Throws<ArgumentException>(() => gru.Forward(Torch.Randn([5, 2, 4], DType.Float64)), "Gru:", "input", "Float64", "Float32");
        var e = H.Throws<ArgumentException>(() => gru.Forward(x, Torch.Zeros(2, 2, 3)), "Gru:", "h0", "[2,2,3]", "expected [4,2,3]");
        Assert.Equal("h0", e.ParamName);
        H.Throws<ArgumentException>(() => gru.Forward(x.Select(1, 0), Torch.Zeros(4, 2, 3)), "Gru:", "h0", "expected [4,3]");
        H.Throws<ArgumentException>(() => gru.Forward(x, Torch.Zeros([4, 2, 3], DType.Float64)), "Gru:", "h0", "Float64");
        // Forward(input, h0) with a lengths tensor in h0's place says how to pass lengths.
        H.Throws<ArgumentException>(() => gru.Forward(x, Torch.Tensor(new long[] { 5, 3 }, 2)), "Gru:", "h0", "Forward(input, lengths, h0)");

        e = H.Throws<ArgumentException>(() => gru.Forward(x, [5, 0]), "Gru:", "lengths[1] = 0; expected 1 <= length <= T = 5");
        Assert.Equal("lengths", e.ParamName);
        H.Throws<ArgumentException>(() => gru.Forward(x, [5, 2, 1]), "lengths has 3 entries; expected one per sequence (N = 2)");
        H.Throws<ArgumentException>(() => gru.Forward(x, Torch.Tensor([4.0, 2], 2), null), "expected a 1-D Int64 or Int32 tensor");
        H.Throws<ArgumentException>(() => gru.Forward(Torch.Randn(5, 4), [5]), "Gru:", "lengths given for an unbatched input");
        Assert.Throws<ArgumentNullException>(() => gru.Forward(x, (int[])null!));
        H.Throws<ArgumentException>(() => gru.Forward(Functional.PackPaddedSequence(Torch.Randn(4, 3, 5), [3, 2, 1])), "Gru:", "expected (frames, input_size = 4)");

        var rnn = new Rnn(4, 3);
        H.Throws<ArgumentException>(() => rnn.Forward(x, Torch.Zeros(1, 3, 3)), "Rnn:", "h0", "[1,3,3]", "expected [1,2,3]");
        var cell = new GruCell(4, 3);
        H.Throws<ArgumentException>(() => cell.Forward(Torch.Randn(2, 5)), "GruCell:", "input", "[2,5]", "input_size = 4");
        e = H.Throws<ArgumentException>(() => cell.Forward(Torch.Randn(2, 4), Torch.Zeros(3, 3)), "GruCell:", "h", "[3,3]", "[2,3]");
        Assert.Equal("h", e.ParamName);
    }

    // As PyTorch: a batch of no sequences runs, to empty outputs and states, and a backward through them gives zero
    // gradients (a time axis of length 0 stays an error, as there).
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void AnEmptyBatchGivesEmptyOutputsAndZeroGradients(string device)
    {
        var dev = Device.Parse(device);
        foreach (var (m, dirs, nl) in new (Module, int, int)[] { (new Lstm(3, 4, 2, bidirectional: true), 2, 2), (new Gru(3, 4), 1, 1), (new Rnn(3, 4, 2, batchFirst: true), 1, 2) })
        {
            m.To(dev);
            bool batchFirst = m is Rnn;
            var x = Torch.Zeros(batchFirst ? [0, 5, 3] : [5, 0, 3]).To(dev).RequiresGrad_();
            var (y, h) = m switch
            {
                Lstm l => l.Forward(x) is var r ? (r.Output, r.State.H) : default,
                Gru g => g.Forward(x) is var r ? (r.Output, r.H) : default,
                _ => ((Rnn)m).Forward(x) is var r ? (r.Output, r.H) : default,
            };
            Assert.Equal(batchFirst ? [0, 5, dirs * 4] : [5, 0, dirs * 4], y.Shape);
            Assert.Equal([dirs * nl, 0, 4], h.Shape);
            (y.Sum() + h.Sum()).Backward();
            Assert.All(m.Parameters(), p => Assert.Equal(0.0, p.Grad!.Abs().Sum().To(Device.Cpu).Item<double>()));
            Assert.Equal(x.Shape, x.Grad!.Shape);
        }
        var empty = Torch.Zeros([0, 3]).To(dev);
        var gruCell = new GruCell(3, 4);
        gruCell.To(dev);
        Assert.Equal([0, 4], gruCell.Forward(empty).Shape);
        var lstmCell = new LstmCell(3, 4);
        lstmCell.To(dev);
        Assert.Equal([0, 4], lstmCell.Forward(empty).H.Shape);
        var lstm = new Lstm(3, 4);
        lstm.To(dev);
        Assert.Equal([5, 0, 4], lstm.Forward(Torch.Zeros([5, 0, 3]).To(dev), Array.Empty<int>()).Output.Shape);
    }
}
