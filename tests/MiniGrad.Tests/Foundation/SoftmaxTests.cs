namespace MiniGrad.Tests.Foundation;

// Every test runs on each device of TestDevices (inputs made on the CPU and moved with To(device)).
[Collection("Ilgpu")]
public class SoftmaxTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    /// <summary>Reference (log-)softmax over one dim with plain loops, in double.</summary>
    static double[] Ref(double[] x, int[] shape, int dim, bool log)
    {
        int outer = shape[..dim].Aggregate(1, (a, b) => a * b), d = shape[dim], inner = shape[(dim + 1)..].Aggregate(1, (a, b) => a * b);
        var y = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int k = 0; k < d; k++) max = Math.Max(max, x[(o * d + k) * inner + i]);
                for (int k = 0; k < d; k++) sum += Math.Exp(x[(o * d + k) * inner + i] - max);
                for (int k = 0; k < d; k++)
                {
                    double z = x[(o * d + k) * inner + i] - max;
                    y[(o * d + k) * inner + i] = log ? z - Math.Log(sum) : Math.Exp(z) / sum;
                }
            }
        return y;
    }

    public static TheoryData<int[], int> Cases => new()
    {
        { [5], 0 }, { [5], -1 }, { [3, 4], 1 }, { [3, 4], 0 }, { [2, 3, 4], 1 }, { [2, 3, 4], -3 },
        { [2, 3, 4], 2 }, { [7, 5, 33], 1 }, { [40, 2000], 1 }, { [2000, 40], 0 },
        { [8, 500], 1 }, { [500, 8], 0 }, // long rows and columns sized for ilgpu-cpu
    };

    // One kernel group per softmax row on ILGPU: the 80 000-element cases are left out on the slow ilgpu-cpu.
    public static IEnumerable<object[]> CasesOnDevices =>
        TestDevices.Cross(Cases, TestDevices.SmallOnSlow(10_000));

    [Theory]
    [MemberData(nameof(CasesOnDevices))]
    public void ForwardMatchesReference(string device, int[] shape, int dim)
    {
        var dev = Device.Parse(device);
        var x = (H.Rnd(shape.Sum() + dim, shape) * 3.0).To(dev);
        int d = dim < 0 ? dim + shape.Length : dim;
        Assert.Equal(dev, x.Softmax(dim).Device);
        H.Close(Ref(x.Arr(), shape, d, log: false), x.Softmax(dim), 1e-14);
        H.Close(Ref(x.Arr(), shape, d, log: true), x.LogSoftmax(dim), 1e-13);
        // Float32: rounding grows with the square root of the summed length.
        var x32 = x.To(DType.Float32);
        var y32 = x32.LogSoftmax(dim);
        Assert.Equal(DType.Float32, y32.DType);
        double tol = 1e-6 * Math.Sqrt(shape[d]);
        H.Close(Ref(x32.ToArray<double>(), shape, d, log: true), y32.ToArray<double>(), 4 * tol);
        H.Close(Ref(x32.ToArray<double>(), shape, d, log: false), x32.Softmax(dim).ToArray<double>(), tol);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void RowsSumToOne(string device)
    {
        var y = H.Rnd(Device.Parse(device), 3, 4, 5, 6).Softmax(1);
        H.Close(Enumerable.Repeat(1.0, 24).ToArray(), y.Sum(1), 1e-14);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void LogSoftmaxKeepsTheLogSumBesideAHugeMax(string device)
    {
        // (x - max) - log(sum) as PyTorch: x - (max + log(sum)) lost the log-sum when |max| dwarfs it, on rows of 8 to 1024
        // classes (the short-row kernel). Float64 with 1e30: [-ln 2, -ln 2, -1e30, ...]; float32 at 1e6 + i.
        var d = Device.Parse(device);
        var r = new double[8]; r[0] = r[1] = 1e30;
        var x = Torch.Tensor(r, 1, 8).To(d).RequiresGrad_();
        var y = x.LogSoftmax(1);
        H.Close([-Math.Log(2), -Math.Log(2), -1e30, -1e30, -1e30, -1e30, -1e30, -1e30], y, 1e-15);
        y.Sum().Backward();
        H.Close([-3, -3, 1, 1, 1, 1, 1, 1], x.Grad!, 1e-12);
        foreach (int c in new[] { 8, 29, 1000 })
        {
            var v = Enumerable.Range(0, c).Select(i => 1e6 + i % 8).ToArray();
            var f = Torch.Tensor(v.Select(z => (float)z).ToArray(), 1, c).To(d).LogSoftmax(1).ToArray<float>();
            var want = Ref(v.Select(z => z - 1e6).ToArray(), [1, c], 1, true); // the same row shifted: exact in float64
            for (int i = 0; i < c; i++) Assert.True(Math.Abs(f[i] - want[i]) < 1e-5, $"C={c} [{i}]: {f[i]} against {want[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void StableForLargeInputs(string device)
    {
        var x = H.D([1000, 1001, 1002, -1000, 0, 1000], 2, 3).To(Device.Parse(device));
        var y = x.LogSoftmax(1).Arr();
        Assert.All(y, v => Assert.True(double.IsFinite(v)));
        H.Close(Ref(x.Arr(), [2, 3], 1, true), y, 1e-14);
        var s = x.To(DType.Float32).Softmax(1).ToArray<float>();
        double z = 1 + Math.Exp(-1) + Math.Exp(-2);
        H.Close([Math.Exp(-2) / z, Math.Exp(-1) / z, 1 / z, 0, 0, 1], s.Select(v => (double)v).ToArray(), 1e-6);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void NegativeInfinityGetsZeroProbability(string device)
    {
        var x = H.D([double.NegativeInfinity, 0, 0], 3).To(Device.Parse(device));
        H.Close([0, 0.5, 0.5], x.Softmax(0));
        H.Close([double.NegativeInfinity, Math.Log(0.5), Math.Log(0.5)], x.LogSoftmax(0));
    }

    public static IEnumerable<object[]> StridedOrContiguousDims => TestDevices.Cross(new TheoryData<int> { 1, 2 });

    [Theory]
    [MemberData(nameof(StridedOrContiguousDims))]
    public void LargeBackwardOverAStridedOrContiguousDim(string device, int dim)
    {
        // [64, 300, 50]: many outer slabs, so both CPU kernels split across cores; dim 1 is strided, dim 2 contiguous.
        // On the slow ilgpu-cpu (one kernel group per softmax row), [2, 60, 50].
        var dev = Device.Parse(device);
        int[] shape = TestDevices.IsSlow(device) ? [2, 60, 50] : [64, 300, 50];
        var x = H.Leaf(dev, 43, shape);
        var g = H.Rnd(dev, 44, shape);
        x.LogSoftmax(dim).Backward(g);
        Assert.Equal(dev, x.Grad!.Device);
        var lg = x.Grad!.Arr();
        x.ZeroGrad();
        x.Softmax(dim).Backward(g);
        var sg = x.Grad!.Arr();
        var y = Ref(x.Arr(), shape, dim, log: false);
        var gv = g.Arr();
        int d = shape[dim], inner = dim == 1 ? shape[2] : 1;
        for (int o = 0; o < shape[0] * (dim == 1 ? 1 : shape[1]); o += 5)
            for (int i = 0; i < inner; i += 7)
            {
                double gs = 0, gy = 0;
                for (int k = 0; k < d; k++) { int at = (o * d + k) * inner + i; gs += gv[at]; gy += gv[at] * y[at]; }
                for (int k = 0; k < d; k += 11)
                {
                    int at = (o * d + k) * inner + i;
                    Assert.Equal(gv[at] - y[at] * gs, lg[at], 1e-12);
                    Assert.Equal(y[at] * (gv[at] - gy), sg[at], 1e-12);
                }
            }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void BackwardMatchesTheJacobian(string device)
    {
        var d = Device.Parse(device);
        var x = H.Leaf(d, 8, 2, 4);
        var g = H.Rnd(d, 9, 2, 4);
        x.Softmax(1).Backward(g);
        var y = Ref(x.Arr(), [2, 4], 1, false);
        var gv = g.Arr();
        var expected = new double[8];
        for (int r = 0; r < 2; r++)
        {
            double dot = 0;
            for (int k = 0; k < 4; k++) dot += gv[r * 4 + k] * y[r * 4 + k];
            for (int k = 0; k < 4; k++) expected[r * 4 + k] = y[r * 4 + k] * (gv[r * 4 + k] - dot);
        }
        H.Close(expected, x.Grad!, 1e-14);

        x.ZeroGrad();
        x.LogSoftmax(0).Backward(g);
        var ly = Ref(x.Arr(), [2, 4], 0, false);
        for (int c = 0; c < 4; c++)
        {
            double sum = gv[c] + gv[4 + c];
            for (int r = 0; r < 2; r++) expected[r * 4 + c] = gv[r * 4 + c] - ly[r * 4 + c] * sum;
        }
        H.Close(expected, x.Grad!, 1e-14);
    }
}
