using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Sequences of different lengths in one batch (PyTorch's packed semantics): finite-difference checks (Float64) with
/// lengths, a sequence's results the same alone and inside any padded batch, PackedSequence's layout, and every bad
/// argument. The libtorch conformance is <see cref="LstmPackedGoldenTests"/>.
/// </summary>
public class LstmPackedTests
{
    [Theory]
    [InlineData(2, true, false, true, true)]    // bidirectional 2-layer with initial state
    [InlineData(1, false, true, true, true)]    // batch-first with initial state
    [InlineData(2, false, false, false, false)] // no bias, zero state
    [InlineData(1, true, true, false, true)]    // bidirectional, batch-first, no bias, initial state
    public void GradCheckWithLengths(int layers, bool bidirectional, bool batchFirst, bool bias, bool withState)
    {
        var lstm = new Lstm(3, 2, layers, bias, batchFirst, 0, bidirectional, DType.Float64, new Generator(60));
        int d = bidirectional ? 2 : 1, T = 4, N = 3;
        int[] lengths = [2, 4, 1], xShape = batchFirst ? [N, T, 3] : [T, N, 3], sShape = [layers * d, N, 2];
        Tensor Run(Tensor x, Tensor? h0, Tensor? c0)
        {
            var (y, (h, c)) = h0 is null ? lstm.Forward(x, lengths) : lstm.Forward(x, lengths, (h0, c0!));
            return Torch.Cat([y.Flatten(), h.Flatten(), c.Flatten()]);
        }
        if (withState) H.Grad(a => Run(a[0], a[1], a[2]), H.Leaf(61, xShape), H.Leaf(62, sShape), H.Leaf(63, sShape));
        else H.Grad(a => Run(a[0], null, null), H.Leaf(61, xShape));
        Tensor x0 = H.Rnd(64, xShape), h0 = H.Rnd(65, sShape), c0 = H.Rnd(66, sShape);
        LstmGradCheckTests.CheckParameters(lstm, () => withState ? Run(x0, h0, c0) : Run(x0, null, null));
    }

    // A one-way layer of 8 or more runs its (length-sorted) batch in two halves on the CPU (RecurrentLayerFn.Split).
    [Fact]
    public void GradCheckWithLengthsAndSplitBatch()
    {
        var lstm = new Lstm(2, 2, 1, dtype: DType.Float64, generator: new Generator(70));
        int[] lengths = [3, 1, 5, 2, 5, 4, 1, 3, 2];
        int T = 5, N = lengths.Length;
        Tensor Run(Tensor x, Tensor h0, Tensor c0)
        {
            var (y, (h, c)) = lstm.Forward(x, lengths, (h0, c0));
            return Torch.Cat([y.Flatten(), h.Flatten(), c.Flatten()]);
        }
        H.Grad(a => Run(a[0], a[1], a[2]), H.Leaf(71, T, N, 2), H.Leaf(72, 1, N, 2), H.Leaf(73, 1, N, 2));
        Tensor x0 = H.Rnd(74, T, N, 2), s0 = H.Rnd(75, 1, N, 2), s1 = H.Rnd(76, 1, N, 2);
        LstmGradCheckTests.CheckParameters(lstm, () => Run(x0, s0, s1));
    }

    // What transcribe (one utterance, no padding) and batched eval must agree on: each sequence's output frames, h_n and
    // c_n are those of the sequence run alone, whatever its batchmates and however much padding (even NaN) follows it.
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SequenceAloneEqualsInsideAnyPaddedBatch(string device)
    {
        var dev = Device.Parse(device);
        var lstm = new Lstm(4, 3, 2, bidirectional: true, dtype: DType.Float64, generator: new Generator(80));
        lstm.To(dev);
        int[] lengths = [5, 2, 7, 1, 7, 3];
        int N = lengths.Length;
        var seqs = lengths.Select((l, n) => H.Rnd(81 + n, l, 4).To(dev)).ToArray();
        var h0 = H.Rnd(90, 4, N, 3).To(dev);
        var c0 = H.Rnd(91, 4, N, 3).To(dev);
        foreach (int T in new[] { 7, 10 })
        {
            // Padded with NaN: no value of the padding may reach any result.
            var padded = Torch.Stack(seqs.Select(s => s.Shape[0] == T ? s : Torch.Cat([s, Torch.Full([T - s.Shape[0], 4], double.NaN, DType.Float64, dev)])).ToArray(), 1);
            var (y, (hn, cn)) = lstm.Forward(padded, lengths, (h0, c0));
            for (int n = 0; n < N; n++)
            {
                var (ya, (ha, ca)) = lstm.Forward(seqs[n].Unsqueeze(1), (h0.Narrow(1, n, 1), c0.Narrow(1, n, 1)));
                Close(ya.Squeeze(1), y.Select(1, n).Narrow(0, 0, lengths[n]), $"T={T} sequence {n}: output");
                Assert.All(y.Select(1, n).Narrow(0, lengths[n], T - lengths[n]).ToArray<double>(), v => Assert.Equal(0.0, v));
                Close(ha.Squeeze(1), hn.Select(1, n), $"T={T} sequence {n}: h_n");
                Close(ca.Squeeze(1), cn.Select(1, n), $"T={T} sequence {n}: c_n");
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
    public void PackedSequenceLayoutIsPyTorchs()
    {
        // lengths [2, 4, 1]: sorted order (1, 0, 2), batch sizes (3, 2, 1, 1), like pack_padded_sequence(enforce_sorted=False).
        var x = Torch.Arange(4 * 3).To(DType.Float64).Reshape(4, 3, 1).RequiresGrad_();
        var p = Functional.PackPaddedSequence(x, [2, 4, 1], enforceSorted: false);
        Assert.Equal([3, 2, 1, 1], p.BatchSizes);
        Assert.Equal([1L, 0, 2], p.SortedIndices!.ToArray<long>());
        Assert.Equal([1L, 0, 2], p.UnsortedIndices!.ToArray<long>());
        Assert.Equal([2, 4, 1], p.Lengths);
        // Frames t of the running sequences, longest first: x[t, n] = 3t + n.
        Assert.Equal([1.0, 0, 2, 4, 3, 7, 10], p.Data.Flatten().ToArray<double>());
        var (back, lens) = Functional.PadPackedSequence(p, paddingValue: -1, totalLength: 5);
        Assert.Equal([5, 3, 1], back.Shape);
        Assert.Equal([2L, 4, 1], lens.ToArray<long>());
        Assert.Equal([0.0, 1, 2, 3, 4, -1, -1, 7, -1, -1, 10, -1, -1, -1, -1], back.Flatten().ToArray<double>());
        // Differentiable: the gradient reaches the packed frames only.
        (back * Torch.Arange(15).To(DType.Float64).Reshape(5, 3, 1)).Sum().Backward();
        Assert.Equal([0.0, 1, 2, 3, 4, 0, 0, 7, 0, 0, 10, 0], x.Grad!.Flatten().ToArray<double>());

        var sorted = Functional.PackPaddedSequence(x.Detach().Transpose(0, 1), Torch.Tensor([4, 2, 1], 3), batchFirst: true);
        Assert.Null(sorted.SortedIndices);
        Assert.Null(sorted.UnsortedIndices);
        Assert.Equal([3, 2, 1, 1], sorted.BatchSizes);
        // enforceSorted: false keeps the index tensors even for a batch that happens to be sorted (PyTorch: tensor([0, 1, 2])),
        // and so do the outputs of a recurrent layer run on it.
        var anyOrder = Functional.PackPaddedSequence(x.Detach(), [4, 2, 1], enforceSorted: false);
        Assert.Equal([0L, 1, 2], anyOrder.SortedIndices!.ToArray<long>());
        Assert.Equal([0L, 1, 2], anyOrder.UnsortedIndices!.ToArray<long>());
        var lstm = new Lstm(1, 2, generator: new Generator(1));
        lstm.Double();
        Assert.Equal([0L, 1, 2], lstm.Forward(anyOrder).Output.SortedIndices!.ToArray<long>());
        Assert.Null(lstm.Forward(sorted).Output.SortedIndices);
        // A batch of no sequences: PyTorch's "Cannot pack empty tensors", not an exception from inside.
        H.Throws<ArgumentException>(() => Functional.PackPaddedSequence(Torch.Randn(4, 0, 3), new int[0], enforceSorted: false), "input", "no sequences");
    }

    [Fact]
    public void PackSequencePacksAListAsPackPaddedSequenceDoes()
    {
        // torch.nn.utils.rnn.pack_sequence([a, b, c]) == pack_padded_sequence(pad_sequence([a, b, c]), lengths), and
        // differentiable in each sequence.
        var a = H.Leaf(1, 4, 2); var b = H.Leaf(2, 2, 2); var c = H.Leaf(3, 3, 2);
        var p = Functional.PackSequence([b, a, c], enforceSorted: false);
        Assert.Equal([3, 3, 2, 1], p.BatchSizes);
        Assert.Equal([1L, 2, 0], p.SortedIndices!.ToArray<long>());
        var padded = Torch.Stack([Torch.Cat([b.Detach(), Torch.Zeros([2, 2], DType.Float64)]), a.Detach(), Torch.Cat([c.Detach(), Torch.Zeros([1, 2], DType.Float64)])], 1);
        Assert.Equal(Functional.PackPaddedSequence(padded, [2, 4, 3], enforceSorted: false).Data.Arr(), p.Data.Arr());
        (p.Data * 3.0).Sum().Backward();
        H.Close(Enumerable.Repeat(3.0, 8).ToArray(), a.Grad!);
        H.Close(Enumerable.Repeat(3.0, 4).ToArray(), b.Grad!);
        H.Throws<ArgumentException>(() => Functional.PackSequence([b, a]), "lengths[1] = 4", "enforceSorted");
        H.Throws<ArgumentException>(() => Functional.PackSequence([a, Torch.Zeros(2, 3)]), "PackSequence", "sequences[1]");
        H.Throws<ArgumentException>(() => Functional.PackSequence([]), "PackSequence", "empty");
    }

    [Fact]
    public void LengthsTensorAndPackedSequenceGiveTheLengthsResult()
    {
        var lstm = new Lstm(2, 3, 1, batchFirst: true, bidirectional: true, dtype: DType.Float64, generator: new Generator(100));
        var x = H.Rnd(101, 3, 5, 2);
        int[] lengths = [5, 1, 3];
        var (y, (h, c)) = lstm.Forward(x, lengths);
        var (y32, (h32, c32)) = lstm.Forward(x, Torch.Tensor(lengths, 3));
        Assert.Equal(y.ToArray<double>(), y32.ToArray<double>());
        Assert.Equal(h.ToArray<double>(), h32.ToArray<double>());
        var (py, (hp, cp)) = lstm.Forward(Functional.PackPaddedSequence(x, lengths, batchFirst: true, enforceSorted: false));
        Assert.Equal(y.ToArray<double>(), Functional.PadPackedSequence(py, batchFirst: true, totalLength: 5).Padded.ToArray<double>());
        Assert.Equal(h.ToArray<double>(), hp.ToArray<double>());
        Assert.Equal(c.ToArray<double>(), cp.ToArray<double>());
        Assert.Equal([9, 6], py.Data.Shape);
        // All lengths T: the same as no lengths.
        Assert.Equal(lstm.Forward(x).Output.ToArray<double>(), lstm.Forward(x, [5, 5, 5]).Output.ToArray<double>());
    }

    [Fact]
    public void BadLengthsAreNamed()
    {
        var lstm = new Lstm(2, 3, dtype: DType.Float64, generator: new Generator(110));
        var x = H.Rnd(111, 4, 3, 2);
        var e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, [4, 0, 2]));
        Assert.Equal("lengths", e.ParamName);
        Assert.Contains("lengths[1] = 0; expected 1 <= length <= T = 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, [4, 5, 2]));
        Assert.Contains("lengths[1] = 5; expected 1 <= length <= T = 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, [4, 2]));
        Assert.Contains("lengths has 2 entries; expected one per sequence (N = 3)", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, Torch.Tensor([4.0, 2, 1], 3)));
        Assert.Contains("expected a 1-D Int64 or Int32 tensor", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, Torch.Tensor([4L, 2, 1], 1, 3)));
        Assert.Contains("expected a 1-D Int64 or Int32 tensor", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(H.Rnd(112, 4, 2), [4]));
        Assert.Contains("lengths given for an unbatched input", e.Message);
        Assert.Throws<ArgumentNullException>(() => lstm.Forward(x, (int[])null!));

        e = Assert.Throws<ArgumentException>(() => Functional.PackPaddedSequence(x, [2, 4, 1]));
        Assert.Contains("lengths[1] = 4 is longer than lengths[0] = 2; expected lengths sorted in decreasing order when enforceSorted is true", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.PackPaddedSequence(x, [2, 7, 1], enforceSorted: false));
        Assert.Contains("lengths[1] = 7; expected 1 <= length <= T = 4", e.Message);
        var p = Functional.PackPaddedSequence(x, [3, 2, 1]);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.PadPackedSequence(p, totalLength: 2));
        Assert.Contains("totalLength = 2 is shorter than the longest sequence (3 steps)", r.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(Functional.PackPaddedSequence(H.Rnd(113, 4, 3, 5), [3, 2, 1])));
        Assert.Contains("expected (frames, input_size = 2)", e.Message);
    }
}
