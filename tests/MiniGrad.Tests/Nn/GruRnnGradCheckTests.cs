using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Finite-difference checks (Float64) of the fused layer node with the GRU and RNN cells, of Gru and Rnn (tanh and relu)
/// with respect to the input, h0 and every parameter, with and without lengths, on every device of
/// <see cref="TestDevices"/>, and of GruCell and RnnCell. Outputs and h_n both enter the checked function.
/// </summary>
[Collection("Ilgpu")]
public class GruRnnGradCheckTests
{
    internal static RnnBase Make(string kind, int inputSize, int hidden, int layers, bool bias, bool batchFirst, bool bidirectional, int seed, DType dtype = DType.Float64) => kind == "gru"
        ? new Gru(inputSize, hidden, layers, bias, batchFirst, 0, bidirectional, dtype, new Generator(seed))
        : new Rnn(inputSize, hidden, layers, kind == "relu" ? Nonlinearity.Relu : Nonlinearity.Tanh, bias, batchFirst, 0, bidirectional, dtype, new Generator(seed));

    /// <summary>Forward of a Gru or an Rnn, with lengths when given.</summary>
    internal static (Tensor Y, Tensor H) Run(RnnBase m, Tensor x, int[]? lengths, Tensor? h0) => m switch
    {
        Gru g => lengths is null ? g.Forward(x, h0) : g.Forward(x, lengths, h0),
        Rnn r => lengths is null ? r.Forward(x, h0) : r.Forward(x, lengths, h0),
        _ => throw new ArgumentException($"not a Gru or Rnn: {m}"),
    };

    static CellKind Kind(string kind) => kind switch { "gru" => CellKind.Gru, "relu" => CellKind.RnnRelu, _ => CellKind.RnnTanh };

    static RecurrentLayerFn.Weights W(Tensor[] a, int at, bool bias) => new(a[at], a[at + 1], bias ? a[at + 2] : null, bias ? a[at + 3] : null);

    static Tensor Small(int seed, params int[] shape) => (H.Rnd(seed, shape) * 0.5).Detach().RequiresGrad_();

    // Hidden size 10 in Float64 runs the kernels' widest vector loop and their scalar tail (as LstmGradCheckTests).
    [Theory]
    [InlineData("gru", 1, false)]
    [InlineData("gru", 2, false)]
    [InlineData("gru", 2, true)]
    [InlineData("tanh", 2, false)]
    [InlineData("relu", 1, false)]
    [InlineData("relu", 2, true)]
    public void FusedLayerNodeAllInputs(string kind, int dirs, bool withLengths)
    {
        var cell = Kind(kind);
        int g = cell.Gates * 10;
        var ps = Enumerable.Range(0, dirs).SelectMany(d => new[] { Small(2 + d, g, 5), Small(4 + d, g, 10), Small(6 + d, g), Small(8 + d, g) });
        int[]? lengths = withLengths ? [4, 3, 1] : null;
        var x = H.Rnd(1, 4, 3, 5);
        if (withLengths) x = x * Torch.Tensor(new double[] { 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0 }, 4, 3, 1); // zero past each length, as the module does
        H.Grad(a => RecurrentLayerFn.Apply(cell, a[0], Enumerable.Range(0, dirs).Select(d => W(a, 1 + 4 * d, true)).ToArray(), a[^1], null, lengths).Output,
            [x.RequiresGrad_(), .. ps, H.Leaf(10, dirs, 3, 10)]);
    }

    [Theory]
    [InlineData("gru")]
    [InlineData("tanh")]
    public void FusedLayerNodeWithoutBiasOrState(string kind)
    {
        var cell = Kind(kind);
        int g = cell.Gates * 3;
        H.Grad(a => RecurrentLayerFn.Apply(cell, a[0], [W(a, 1, false), W(a, 3, false)], null, null).Output,
            H.Leaf(8, 3, 2, 4), Small(9, g, 4), Small(10, g, 3), Small(12, g, 4), Small(13, g, 3));
    }

    public static IEnumerable<object[]> ModuleCases() => TestDevices.Cross(
        from kind in new[] { "gru", "tanh", "relu" }
        from c in new (int Layers, bool Bi, bool BatchFirst, bool Bias, bool State, bool Lengths)[]
        {
            (2, true, false, true, true, false),   // bidirectional 2-layer with initial state
            (1, false, true, true, true, false),   // batch-first with initial state
            (2, false, false, false, false, false), // no bias, zero state
            (2, true, false, true, true, true),    // the same with lengths
            (1, false, true, true, false, true),   // batch-first, lengths, zero state
            (1, true, true, false, true, true),    // bidirectional, batch-first, no bias, lengths, initial state
        }
        select new object[] { kind, c.Layers, c.Bi, c.BatchFirst, c.Bias, c.State, c.Lengths },
        // ILGPU's CPU accelerator is slow (the two-layer bidirectional cases took 15-50 s each there): there the one-layer
        // bidirectional case with lengths and an initial state, which takes both directions, packing and h0 through
        // its cell kernels; the golden cases cover two layers on that device.
        (device, c) => !TestDevices.IsSlow(device) || ((int)c[1] == 1 && (bool)c[2] && (bool)c[6]));

    [Theory]
    [MemberData(nameof(ModuleCases))]
    public void ModuleInputStateAndParameters(string device, string kind, int layers, bool bidirectional, bool batchFirst, bool bias, bool withState, bool withLengths)
    {
        var dev = Device.Parse(device);
        var m = Make(kind, 3, 2, layers, bias, batchFirst, bidirectional, 30);
        m.To(dev);
        int d = bidirectional ? 2 : 1, T = 4, N = 3;
        int[]? lengths = withLengths ? [2, 4, 1] : null;
        int[] xShape = batchFirst ? [N, T, 3] : [T, N, 3], sShape = [layers * d, N, 2];
        Tensor F(Tensor x, Tensor? h0)
        {
            var (y, h) = Run(m, x, lengths, h0);
            return Torch.Cat([y.Flatten(), h.Flatten()]);
        }
        if (withState) H.Grad(a => F(a[0], a[1]), H.Leaf(dev, 31, xShape), H.Leaf(dev, 32, sShape));
        else H.Grad(a => F(a[0], null), H.Leaf(dev, 31, xShape));
        Tensor x0 = H.Rnd(dev, 34, xShape), s0 = H.Rnd(dev, 35, sShape);
        LstmGradCheckTests.CheckParameters(m, () => F(x0, withState ? s0 : null));
    }

    // On the CPU a one-way layer of 8 or more runs its (length-sorted) batch in two halves (RecurrentLayerFn.Split).
    [Theory]
    [InlineData("gru")]
    [InlineData("relu")]
    public void SplitBatchWithLengths(string kind)
    {
        var m = Make(kind, 2, 2, 1, true, false, false, 70);
        int[] lengths = [3, 1, 5, 2, 5, 4, 1, 3, 2];
        int T = 5, N = lengths.Length;
        Tensor F(Tensor x, Tensor h0)
        {
            var (y, h) = Run(m, x, lengths, h0);
            return Torch.Cat([y.Flatten(), h.Flatten()]);
        }
        H.Grad(a => F(a[0], a[1]), H.Leaf(71, T, N, 2), H.Leaf(72, 1, N, 2));
        Tensor x0 = H.Rnd(74, T, N, 2), s0 = H.Rnd(75, 1, N, 2);
        LstmGradCheckTests.CheckParameters(m, () => F(x0, s0));
    }

    [Theory]
    [InlineData("gru", true, false)]
    [InlineData("gru", true, true)]
    [InlineData("gru", false, false)]
    [InlineData("tanh", true, false)]
    [InlineData("relu", false, true)]
    public void CellInputStateAndParameters(string kind, bool bias, bool unbatched)
    {
        RnnCellBase cell = kind == "gru" ? new GruCell(4, 3, bias, DType.Float64, new Generator(20))
            : new RnnCell(4, 3, bias, kind == "relu" ? Nonlinearity.Relu : Nonlinearity.Tanh, DType.Float64, new Generator(20));
        Tensor Step(Tensor x, Tensor? h) => cell is GruCell g ? g.Forward(x, h) : ((RnnCell)cell).Forward(x, h);
        int[] x = unbatched ? [4] : [2, 4], s = unbatched ? [3] : [2, 3];
        H.Grad(a => Step(a[0], a[1]), H.Leaf(21, x), H.Leaf(22, s));
        var xs = H.Rnd(24, x);
        LstmGradCheckTests.CheckParameters(cell, () => Step(xs, null));
    }

    [Theory]
    [InlineData("gru")]
    [InlineData("tanh")]
    public void Unbatched(string kind)
    {
        var m = Make(kind, 3, 2, 2, true, false, true, 40);
        H.Grad(a => { var (y, h) = Run(m, a[0], null, a[1]); return Torch.Cat([y.Flatten(), h.Flatten()]); }, H.Leaf(41, 5, 3), H.Leaf(42, 4, 2));
    }
}
