using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Finite-difference checks (Float64) of the fused LSTM node, LstmCell and Lstm with respect to the input, the initial
/// state and every parameter. Outputs, h_n and c_n all enter the checked function, so every gradient path is covered.
/// </summary>
public class LstmGradCheckTests
{
    static RecurrentLayerFn.Weights W(Tensor[] a, int at, bool bias) => new(a[at], a[at + 1], bias ? a[at + 2] : null, bias ? a[at + 3] : null);

    // Hidden size 10 in Float64 runs the kernels' Vector512 loop (8 lanes) and their scalar tail.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void FusedLayerNodeAllInputs(int dirs)
    {
        var ps = Enumerable.Range(0, dirs).SelectMany(d => new[] { Small(2 + d, 40, 5), Small(4 + d, 40, 10), Small(6 + d, 40), Small(8 + d, 40) });
        H.Grad(a =>
        {
            var (y, c) = RecurrentLayerFn.Apply(CellKind.Lstm, a[0], Enumerable.Range(0, dirs).Select(d => W(a, 1 + 4 * d, true)).ToArray(), a[^2], a[^1]);
            return Torch.Cat([y.Flatten(), c!.Flatten()]);
        }, [H.Leaf(1, 4, 3, 5), .. ps, H.Leaf(10, dirs, 3, 10), H.Leaf(11, dirs, 3, 10)]);
    }

    [Fact]
    public void FusedLayerNodeWithoutBiasOrState() =>
        H.Grad(a => RecurrentLayerFn.Apply(CellKind.Lstm, a[0], [W(a, 1, false), W(a, 3, false)], null, null).Output,
            H.Leaf(8, 3, 2, 4), Small(9, 12, 4), Small(10, 12, 3), Small(12, 12, 4), Small(13, 12, 3));

    [Fact]
    public void OnlyTheFinalCellStateUsed() =>
        H.Grad(a => RecurrentLayerFn.Apply(CellKind.Lstm, a[0], [W(a, 1, true)], a[5], a[6]).C!,
            H.Leaf(11, 3, 2, 4), Small(12, 12, 4), Small(13, 12, 3), Small(14, 12), Small(15, 12), H.Leaf(16, 1, 2, 3), H.Leaf(17, 1, 2, 3));

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void LstmCellInputStateAndParameters(bool bias, bool unbatched)
    {
        var cell = new LstmCell(4, 3, bias, DType.Float64, new Generator(20));
        int[] x = unbatched ? [4] : [2, 4], s = unbatched ? [3] : [2, 3];
        H.Grad(a => { var (h, c) = cell.Forward(a[0], (a[1], a[2])); return Torch.Cat([h.Flatten(), c.Flatten()]); },
            H.Leaf(21, x), H.Leaf(22, s), H.Leaf(23, s));
        var xs = H.Rnd(24, x);
        CheckParameters(cell, () => { var (h, c) = cell.Forward(xs); return Torch.Cat([h.Flatten(), c.Flatten()]); });
    }

    [Theory]
    [InlineData(2, true, false, true, true)]   // bidirectional 2-layer with initial state
    [InlineData(1, false, true, true, true)]   // batch-first with initial state
    [InlineData(2, false, false, false, false)] // no bias, zero state
    [InlineData(1, true, true, false, false)]  // bidirectional, batch-first, no bias
    public void LstmInputStateAndParameters(int layers, bool bidirectional, bool batchFirst, bool bias, bool withState)
    {
        var lstm = new Lstm(3, 2, layers, bias, batchFirst, 0, bidirectional, DType.Float64, new Generator(30));
        int d = bidirectional ? 2 : 1, T = 4, N = 2;
        int[] xShape = batchFirst ? [N, T, 3] : [T, N, 3], sShape = [layers * d, N, 2];
        Tensor Run(Tensor x, Tensor? h0, Tensor? c0)
        {
            var (y, (h, c)) = h0 is null ? lstm.Forward(x) : lstm.Forward(x, (h0, c0!));
            return Torch.Cat([y.Flatten(), h.Flatten(), c.Flatten()]);
        }
        if (withState) H.Grad(a => Run(a[0], a[1], a[2]), H.Leaf(31, xShape), H.Leaf(32, sShape), H.Leaf(33, sShape));
        else H.Grad(a => Run(a[0], null, null), H.Leaf(31, xShape));
        Tensor x0 = H.Rnd(34, xShape), h0 = H.Rnd(35, sShape), c0 = H.Rnd(36, sShape);
        CheckParameters(lstm, () => withState ? Run(x0, h0, c0) : Run(x0, null, null));
    }

    // On the CPU a one-way layer runs a batch of 8 or more in two halves, one per core (RecurrentLayerFn.Split): the
    // gradients must still be right, and every sample's output must be exactly what it is when run alone.
    [Fact]
    public void OneWayLayerWithSplitBatch()
    {
        var lstm = new Lstm(3, 2, 2, dtype: DType.Float64, generator: new Generator(50));
        int T = 3, N = 9;
        Tensor Run(Tensor x, Tensor h0, Tensor c0)
        {
            var (y, (h, c)) = lstm.Forward(x, (h0, c0));
            return Torch.Cat([y.Flatten(), h.Flatten(), c.Flatten()]);
        }
        H.Grad(a => Run(a[0], a[1], a[2]), H.Leaf(51, T, N, 3), H.Leaf(52, 2, N, 2), H.Leaf(53, 2, N, 2));
        Tensor x0 = H.Rnd(54, T, N, 3), s0 = H.Rnd(55, 2, N, 2), s1 = H.Rnd(56, 2, N, 2);
        CheckParameters(lstm, () => Run(x0, s0, s1));

        var whole = lstm.Forward(x0, (s0, s1)).Output.ToArray<double>();
        for (int n = 0; n < N; n++)
        {
            var alone = lstm.Forward(x0.Narrow(1, n, 1), (s0.Narrow(1, n, 1), s1.Narrow(1, n, 1))).Output.ToArray<double>();
            for (int t = 0; t < T; t++)
                for (int j = 0; j < 2; j++)
                    Assert.Equal(alone[t * 2 + j], whole[(t * N + n) * 2 + j]);
        }
    }

    [Fact]
    public void UnbatchedLstm()
    {
        var lstm = new Lstm(3, 2, 2, bidirectional: true, dtype: DType.Float64, generator: new Generator(40));
        H.Grad(a => { var (y, (h, c)) = lstm.Forward(a[0], (a[1], a[2])); return Torch.Cat([y.Flatten(), h.Flatten(), c.Flatten()]); },
            H.Leaf(41, 5, 3), H.Leaf(42, 4, 2), H.Leaf(43, 4, 2));
    }

    static Tensor Small(int seed, params int[] shape) => (H.Rnd(seed, shape) * 0.5).Detach().RequiresGrad_();

    /// <summary>Central differences of sum(w * f()) for every element of every parameter against Backward's gradients (on the module's device).</summary>
    internal static void CheckParameters(Module m, Func<Tensor> f, double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3)
    {
        Tensor? w = null;
        double Loss() { using (Torch.NoGrad()) return (f() * w!).Sum().Item<double>(); }
        m.ZeroGrad();
        var y = f();
        w = H.Rnd(99, y.Shape).To(y.Device);
        (y * w).Sum().Backward();
        int checkedCount = 0;
        foreach (var (name, p) in m.NamedParameters())
        {
            var analytic = p.Grad!.ToArray<double>();
            var x0 = p.ToArray<double>();
            for (int j = 0; j < x0.Length; j++)
            {
                double At(double delta)
                {
                    var x = (double[])x0.Clone();
                    x[j] += delta;
                    using (Torch.NoGrad()) p.Copy_(Torch.Tensor(x, p.Shape).To(p.Device));
                    return Loss();
                }
                double numeric = (At(eps) - At(-eps)) / (2 * eps);
                Assert.True(Math.Abs(numeric - analytic[j]) <= atol + rtol * Math.Abs(numeric),
                    $"{name}[{j}]: analytic {analytic[j]:R}, numeric {numeric:R}");
                checkedCount++;
            }
            using (Torch.NoGrad()) p.Copy_(Torch.Tensor(x0, p.Shape).To(p.Device));
        }
        Assert.True(checkedCount > 0, "no parameters were checked");
    }
}
