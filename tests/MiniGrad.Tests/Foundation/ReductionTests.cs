namespace MiniGrad.Tests.Foundation;

// Every test runs on each device of TestDevices (inputs made on the CPU and moved with To(device)); the large cases,
// there to make the CPU kernels split work across cores, are smaller or left out on the slow ilgpu-cpu.
[Collection("Ilgpu")]
public class ReductionTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    /// <summary>Reference reduction over a set of dims, written with plain loops.</summary>
    static (double[] Values, int[] Shape) Reduce(double[] x, int[] shape, int[] dims, bool keepDim, Func<IEnumerable<double>, double> agg)
    {
        int rank = shape.Length;
        var norm = dims.Select(d => d < 0 ? d + rank : d).ToHashSet();
        var kept = shape.Select((s, i) => norm.Contains(i) ? 1 : s).ToArray();
        var groups = new List<double>[kept.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < groups.Length; i++) groups[i] = new();
        var idx = new int[rank];
        for (int flat = 0; flat < x.Length; flat++)
        {
            int rem = flat;
            for (int d = rank - 1; d >= 0; d--) { idx[d] = rem % shape[d]; rem /= shape[d]; }
            int o = 0;
            for (int d = 0; d < rank; d++) o = o * kept[d] + (norm.Contains(d) ? 0 : idx[d]);
            groups[o].Add(x[flat]);
        }
        var outShape = keepDim ? kept : shape.Where((_, i) => !norm.Contains(i)).ToArray();
        return (groups.Select(g => agg(g)).ToArray(), outShape);
    }

    public static TheoryData<int[], int[], bool> Cases => new()
    {
        { [4], [0], false },
        { [3, 4], [0], false },
        { [3, 4], [1], true },
        { [3, 4], [-1], false },
        { [2, 3, 4], [0, 2], false },
        { [2, 3, 4], [0, 2], true },
        { [2, 3, 4], [-1, -3], true },
        { [2, 3, 4], [1], true },
        { [2, 3, 4], [0, 1, 2], false },
        { [2, 3, 4, 5], [1, 3], false },
        { [64, 5000], [1], false }, // many long rows: split across cores
        { [5000, 64], [0], true },
        { [16, 600], [1], false }, // the same two, sized for ilgpu-cpu
        { [600, 16], [0], true },
    };

    public static IEnumerable<object[]> CasesOnDevices =>
        TestDevices.Cross(Cases, TestDevices.SmallOnSlow(10_000));

    [Theory]
    [MemberData(nameof(CasesOnDevices))]
    public void SumMeanMaxMinOverDims(string device, int[] shape, int[] dims, bool keepDim)
    {
        var d = Device.Parse(device);
        var x = H.Rnd(d, 10, shape);
        var v = x.Arr();
        foreach (var (op, agg) in new (Func<Tensor, Tensor>, Func<IEnumerable<double>, double>)[]
                 {
                     (t => t.Sum(dims, keepDim), g => g.Sum()),
                     (t => t.Mean(dims, keepDim), g => g.Average()),
                     (t => t.Max(dims, keepDim), g => g.Max()),
                     (t => t.Min(dims, keepDim), g => g.Min()),
                 })
        {
            var (ev, es) = Reduce(v, shape, dims, keepDim, agg);
            var r = op(x);
            Assert.Equal(d, r.Device);
            Assert.Equal(es, r.Shape);
            H.Close(ev, r, 1e-12);
        }
        if (dims.Length == 1)
        {
            var (sum, _) = Reduce(v, shape, dims, keepDim, g => g.Sum());
            H.Close(sum, x.Sum(dims[0], keepDim), 1e-12);
            var (mean, _) = Reduce(v, shape, dims, keepDim, g => g.Average());
            H.Close(mean, x.Mean(dims[0], keepDim), 1e-12);
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ReductionsOverAllElementsAreZeroDimensional(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, -2, 3, 4, -5, 6], 2, 3).To(d);
        foreach (var (r, e) in new[] { (x.Sum(), 7.0), (x.Mean(), 7 / 6.0), (x.Max(), 6.0), (x.Min(), -5.0) })
        {
            Assert.Equal(d, r.Device);
            Assert.Empty(r.Shape);
            Assert.Equal(e, r.Item<double>(), 15);
        }
        var l = Torch.Tensor(new long[] { 1, 2, 3, 4, 5, 6 }, 2, 3).To(d);
        Assert.Equal(21L, l.Sum().Item<long>());
        Assert.Equal(6L, l.Max().Item<long>());
        Assert.Equal(DType.Int64, Torch.Arange(4, device: d).Sum().DType);
        Assert.Equal(6L, Torch.Arange(4, device: d).Sum().Item<long>());
        Assert.Equal(DType.Float32, Torch.Ones([3], device: d).Sum().DType);
        Assert.Equal(3f, Torch.Ones([3], device: d).Sum().Item<float>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void LargeSumIsAccurate(string device)
    {
        var x = H.Rnd(Device.Parse(device), 20, TestDevices.Size(device, 1_000_003, 50_003));
        var v = x.Arr();
        double exact = v.Sum();
        Assert.Equal(exact, x.Sum().Item<double>(), 1e-9);
        Assert.Equal(exact / v.Length, x.Mean().Item<double>(), 1e-12);
        var f = x.To(DType.Float32);
        double fsum = f.ToArray<float>().Sum(z => (double)z);
        Assert.True(Math.Abs(fsum - f.Sum().Item<float>()) < 0.05, $"float32 sum {f.Sum().Item<float>()} vs {fsum}");
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void LongFloat32SumsKeepTheirAccuracy(string device)
    {
        // One running float32 sum of a million 0.1f drifts by 1% (each add rounds at the size of the total); PyTorch's
        // cascade sum gives 0.09999994 for the mean. Over the last dim, over a leading one, and over everything.
        var d = Device.Parse(device);
        int n = TestDevices.Size(device, 1_000_000, 200_000);
        static void Near(double expected, float got, string what) =>
            Assert.True(Math.Abs(got - expected) <= 2e-6 * Math.Abs(expected), $"{what}: {got} against {expected}");
        var mean0 = Torch.Full([n, 2], 0.1, device: d).Mean(0).ToArray<float>();
        Near(0.1, mean0[0], "Mean(0)"); Near(0.1, mean0[1], "Mean(0)");
        var sum1 = Torch.Full([3, n], 0.1, device: d).Sum(1).ToArray<float>();
        Assert.All(sum1, s => Near(0.1 * n, s, "Sum(1)"));
        Near(0.1 * 3 * n, Torch.Full([3, n], 0.1, device: d).Sum().Item<float>(), "Sum()");
        var x = H.Rnd(d, 21, 4 * n).To(DType.Float32) + 3; // positive, varied values: the same drift on a random sum
        var v = x.ToArray<float>();
        Near(v.Sum(z => (double)z), x.Sum().Item<float>(), "random Sum()");
        var cols = x.Reshape(n, 4).Sum(0).ToArray<float>();
        for (int c = 0; c < 4; c++) Near(Enumerable.Range(0, n).Sum(i => (double)v[i * 4 + c]), cols[c], "random Sum(0)");
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void VarStdAndArgMaxWithoutDimAsPyTorch(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, 2, 4, 7, 0, -3], 2, 3).To(d);
        H.Close([18, 2, 24.5], x.Var(0), 1e-12);
        Assert.Equal(353.0 / 30, x.Var().Item<double>(), 12);
        H.Close([14.0 / 9, 158.0 / 9], x.Var(1, correction: 0), 1e-12); // the population variance
        H.Close([Math.Sqrt(7.0 / 3), Math.Sqrt(79.0 / 3)], x.Std([1]), 1e-12);
        Assert.Equal([2, 1], x.Std(1, keepDim: true).Shape);
        Assert.True(double.IsPositiveInfinity(H.D([1, 2], 2).To(d).Var(0, correction: 2).Item<double>())); // n - correction = 0
        H.Grad(a => a[0].Var([1]), H.Leaf(d, 3, 3, 4));
        H.Grad(a => a[0].Std(0, correction: 0), H.Leaf(d, 4, 3, 4));
        Assert.Equal(3L, x.ArgMax().Item<long>());
        Assert.Equal(5L, x.ArgMin().Item<long>());
        Assert.Empty(x.ArgMax().Shape);
        Assert.Equal(0L, H.D([5, 5, 1], 3).To(d).ArgMax().Item<long>()); // the first of ties
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Var(0, correction: -1));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void MaxAndMinOverADimReturnValuesAndIndices(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, 5, 3, 7, 2, 7, 0, -1, -1], 3, 3).To(d);
        var (v, i) = x.Max(1);
        Assert.Equal(d, v.Device);
        Assert.Equal(d, i.Device);
        H.Close([5, 7, 0], v);
        Assert.Equal(new long[] { 1, 0, 0 }, i.ToArray<long>()); // ties: first occurrence
        Assert.Equal(DType.Int64, i.DType);
        var (v0, i0) = x.Max(0, keepDim: true);
        Assert.Equal(new[] { 1, 3 }, v0.Shape);
        Assert.Equal(new[] { 1, 3 }, i0.Shape);
        H.Close([7, 5, 7], v0);
        Assert.Equal(new long[] { 1, 0, 1 }, i0.ToArray<long>());
        var (mn, mi) = x.Min(-1);
        H.Close([1, 2, -1], mn);
        Assert.Equal(new long[] { 0, 1, 1 }, mi.ToArray<long>());
        Assert.Equal(new long[] { 1, 0, 0 }, x.ArgMax(1).ToArray<long>());
        Assert.Equal(new long[] { 2, 2, 2 }, x.ArgMin(0).ToArray<long>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void LargeMaxOverADimFindsEveryIndex(string device)
    {
        // Many rows, so the CPU arg-reduction kernel splits them across cores (fewer on the slow ilgpu-cpu).
        int rows = TestDevices.Size(device, 500, 50), cols = TestDevices.Size(device, 3000, 600);
        var x = H.Rnd(Device.Parse(device), 42, rows, cols);
        var v = x.Arr();
        var (vals, idx) = x.Max(1);
        var (mins, minIdx) = x.Min(0);
        var iv = idx.ToArray<long>();
        var mv = minIdx.ToArray<long>();
        var mn = mins.Arr();
        for (int r = 0; r < rows; r++)
        {
            var row = v[(r * cols)..((r + 1) * cols)];
            Assert.Equal(Array.IndexOf(row, row.Max()), iv[r]);
        }
        for (int c = 0; c < cols; c += 17)
        {
            var col = Enumerable.Range(0, rows).Select(r => v[r * cols + c]).ToArray();
            Assert.Equal(Array.IndexOf(col, col.Min()), mv[c]);
            Assert.Equal(col.Min(), mn[c]);
        }
        Assert.Equal(Enumerable.Range(0, rows).Select(r => v[(r * cols)..((r + 1) * cols)].Max()), vals.Arr());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void MaxPropagatesNaN(string device)
    {
        var x = H.D([1, double.NaN, 3], 3).To(Device.Parse(device));
        Assert.True(double.IsNaN(x.Max().Item<double>()));
        var (v, i) = x.Max(0);
        Assert.True(double.IsNaN(v.Item<double>()));
        Assert.Equal(1L, i.Item<long>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void SumBackwardBroadcastsTheGradient(string device)
    {
        var d = Device.Parse(device);
        var x = H.Leaf(d, 30, 2, 3, 4);
        var g = H.Rnd(d, 31, 2, 4);
        x.Sum(1).Backward(g);
        Assert.Equal(d, x.Grad!.Device);
        var gv = g.Arr();
        var expected = new double[24];
        for (int a = 0; a < 2; a++) for (int b = 0; b < 3; b++) for (int c = 0; c < 4; c++) expected[a * 12 + b * 4 + c] = gv[a * 4 + c];
        H.Close(expected, x.Grad!);

        var y = H.Leaf(d, 32, 2, 3);
        y.Mean().Backward();
        H.Close(Enumerable.Repeat(1 / 6.0, 6).ToArray(), y.Grad!, 1e-15);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void MaxOverADimSendsTheGradientToTheFirstMaximum(string device)
    {
        var x = H.D([1, 5, 5, 7, 2, 7], 2, 3).To(Device.Parse(device)).RequiresGrad_();
        x.Max(1).Values.Sum().Backward();
        H.Close([0, 1, 0, 1, 0, 0], x.Grad!);
        x.ZeroGrad();
        x.Min(0).Values.Sum().Backward();
        H.Close([1, 0, 1, 0, 1, 0], x.Grad!);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void AmaxSharesTheGradientAmongTies(string device)
    {
        var x = H.D([1, 5, 5, 7, 2, 7], 2, 3).To(Device.Parse(device)).RequiresGrad_();
        x.Max([1]).Sum().Backward();
        H.Close([0, 0.5, 0.5, 0.5, 0, 0.5], x.Grad!);
        x.ZeroGrad();
        x.Max().Backward();
        H.Close([0, 0, 0, 0.5, 0, 0.5], x.Grad!);
        x.ZeroGrad();
        x.Min([0, 1]).Backward();
        H.Close([1, 0, 0, 0, 0, 0], x.Grad!);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ReducingAZeroDimensionalTensor(string device)
    {
        var d = Device.Parse(device);
        var s = Torch.Scalar(4.0).To(d).RequiresGrad_();
        Assert.Equal(d, s.Sum().Device);
        Assert.Equal(4.0, s.Sum().Item<double>());
        Assert.Equal(4.0, s.Sum(0).Item<double>());
        Assert.Equal(4.0, s.Max(-1).Values.Item<double>());
        s.Sum().Backward();
        Assert.Equal(d, s.Grad!.Device);
        Assert.Equal(1.0, s.Grad!.Item<double>());
    }

    // PyTorch counts with Sum on a Bool tensor ((pred == target).sum()): the result is Int64. It threw before.
    [Theory]
    [MemberData(nameof(Devices))]
    public void SumOfABoolTensorCountsAsInt64(string device)
    {
        var m = Torch.Tensor(new[] { true, false, true, true, false, true }, 2, 3).To(Device.Parse(device));
        Assert.Equal(DType.Int64, m.Sum().DType);
        Assert.Equal(4L, m.Sum().Item<long>());
        Assert.Equal(new long[] { 2, 0, 2 }, m.Sum(0).ToArray<long>());
        Assert.Equal(new long[] { 2, 2 }, m.Sum([1]).ToArray<long>());
        // So does an Int32 tensor (PyTorch promotes integer sums to Int64: no overflow at 2^31).
        var big = Torch.Tensor(new[] { int.MaxValue, int.MaxValue, 1 }, 3).To(Device.Parse(device));
        Assert.Equal(DType.Int64, big.Sum().DType);
        Assert.Equal(2L * int.MaxValue + 1, big.Sum().Item<long>());
        Assert.Equal(DType.Int64, big.Sum(0, keepDim: true).DType);
    }

    // PyTorch's sum, mean, amax and amin with dim=[] reduce over every dim.
    [Theory]
    [MemberData(nameof(Devices))]
    public void AnEmptyListOfDimsReducesEverything(string device)
    {
        var x = H.D([1, 2, 3, 4, 5, 6], 2, 3).To(Device.Parse(device));
        foreach (bool keep in new[] { false, true })
        {
            var sum = x.Sum([], keep);
            Assert.Equal(keep ? [1, 1] : Array.Empty<int>(), sum.Shape);
            Assert.Equal(21.0, sum.Sum().Item<double>());
            Assert.Equal(3.5, x.Mean([], keep).Sum().Item<double>());
            Assert.Equal(6.0, x.Max([], keep).Sum().Item<double>());
            Assert.Equal(1.0, x.Min([], keep).Sum().Item<double>());
        }
    }

    // Max() and Min() of every element share the gradient among the elements equal to the result, and a NaN result
    // among the NaNs (PyTorch's evenly_distribute_backward); before, every gradient was NaN.
    [Theory]
    [MemberData(nameof(Devices))]
    public void WholeMaxAndMinSendTheGradientToTheNaNs(string device)
    {
        var d = Device.Parse(device);
        var x = H.D([1, double.NaN, 3], 3).To(d).RequiresGrad_();
        Assert.True(double.IsNaN(x.Max().Item<double>()));
        x.Max().Backward();
        H.Close([0, 1, 0], x.Grad!);
        var y = H.D([1, double.NaN, 3, double.NaN], 4).To(d).RequiresGrad_();
        y.Min().Backward();
        H.Close([0, 0.5, 0, 0.5], y.Grad!);
        var z = H.D([3, 1, 3], 3).To(d).RequiresGrad_();
        z.Max().Backward();
        H.Close([0.5, 0, 0.5], z.Grad!);
        Assert.Equal("MaxBackward", z.Max().GradFn!.Name); // PyTorch: MaxBackward1 (names here drop the digit)
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void SumOverAnEmptyDimIsZero(string device)
    {
        var z = Torch.Zeros([3, 0], device: Device.Parse(device));
        Assert.Equal(new float[3], z.Sum(1).ToArray<float>());
        Assert.Equal(0f, z.Sum().Item<float>());
    }
}
