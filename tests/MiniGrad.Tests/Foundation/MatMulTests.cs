using MathNet.Numerics.LinearAlgebra;

namespace MiniGrad.Tests.Foundation;

// MathNet.Numerics is the independent reference: its managed product is slow but plainly correct. Every test runs on
// each device of TestDevices (inputs made on the CPU and moved with To(device)); the big products are left out on the
// slow ilgpu-cpu.
[Collection("Ilgpu")]
public class MatMulTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    static Matrix<double> M(double[] rowMajor, int rows, int cols) => Matrix<double>.Build.DenseOfRowMajor(rows, cols, rowMajor);
    static double[] RowMajor(Matrix<double> m) => m.ToRowMajorArray();

    public static TheoryData<int, int, int> Sizes => new()
    {
        { 1, 1, 1 }, { 1, 7, 1 }, { 7, 1, 7 }, { 7, 7, 7 }, { 33, 7, 1 }, { 1, 33, 257 },
        { 33, 257, 7 }, { 257, 33, 33 }, { 64, 64, 64 }, { 257, 257, 257 }, { 3, 300, 2 },
    };

    public static IEnumerable<object[]> SizesOnDevices =>
        TestDevices.Cross(Sizes, (d, c) => !TestDevices.IsSlow(d) || (long)(int)c[0] * (int)c[1] * (int)c[2] <= 60_000);

    [Theory]
    [MemberData(nameof(SizesOnDevices))]
    public void Float64MatchesMathNet(string device, int m, int k, int n)
    {
        var d = Device.Parse(device);
        var a = H.Rnd(d, m * 1000 + k, m, k);
        var b = H.Rnd(d, n * 1000 + k + 1, k, n);
        var c = a.MatMul(b);
        Assert.Equal(d, c.Device);
        Assert.Equal(new[] { m, n }, c.Shape);
        H.Close(RowMajor(M(a.Arr(), m, k) * M(b.Arr(), k, n)), c, 1e-12 * Math.Sqrt(k));
    }

    [Theory]
    [MemberData(nameof(SizesOnDevices))]
    public void Float32MatchesMathNet(string device, int m, int k, int n)
    {
        var d = Device.Parse(device);
        var a = Torch.Randn([m, k], generator: new Generator(m + 7 * k)).To(d);
        var b = Torch.Randn([k, n], generator: new Generator(n + 11 * k)).To(d);
        var c = a.MatMul(b);
        Assert.Equal(d, c.Device);
        Assert.Equal(DType.Float32, c.DType);
        var ra = Matrix<float>.Build.DenseOfRowMajor(m, k, a.ToArray<float>());
        var rb = Matrix<float>.Build.DenseOfRowMajor(k, n, b.ToArray<float>());
        // Exact product of the float inputs in double, compared with float32 rounding bounds.
        var exact = RowMajor(M(a.ToArray<double>(), m, k) * M(b.ToArray<double>(), k, n));
        H.Close(exact, c.ToArray<double>(), 1e-5 * Math.Sqrt(k));
        H.Close((ra * rb).ToRowMajorArray().Select(x => (double)x).ToArray(), c.ToArray<double>(), 1e-5 * Math.Sqrt(k));
    }

    public static TheoryData<int[], int[]> BatchShapes => new()
    {
        { [4, 3, 5], [4, 5, 2] },
        { [4, 3, 5], [5, 2] },        // shared right operand
        { [3, 5], [4, 5, 2] },        // shared left operand
        { [2, 1, 3, 5], [4, 5, 7] },  // batch dims broadcast to [2,4]
        { [1, 33, 7], [3, 7, 33] },
        { [2, 3, 1, 4], [1, 4, 9] },
    };

    public static IEnumerable<object[]> BatchShapesOnDevices => TestDevices.Cross(BatchShapes);

    [Theory]
    [MemberData(nameof(BatchShapesOnDevices))]
    public void BatchedWithBroadcastBatchDims(string device, int[] sa, int[] sb)
    {
        var d = Device.Parse(device);
        var a = H.Rnd(d, 1, sa);
        var b = H.Rnd(d, 2, sb);
        var c = a.MatMul(b);
        Assert.Equal(d, c.Device);
        int m = sa[^2], k = sa[^1], n = sb[^1];
        var batch = H.BroadcastShape(sa[..^2], sb[..^2]);
        Assert.Equal(batch.Concat([m, n]), c.Shape);
        // Reference: broadcast each operand to the full batch with the library's Expand (checked elsewhere), then one
        // MathNet product per matrix.
        var ea = a.Expand([.. batch, m, k]).Arr();
        var eb = b.Expand([.. batch, k, n]).Arr();
        var cv = c.Arr();
        int count = batch.Aggregate(1, (x, y) => x * y);
        for (int i = 0; i < count; i++)
        {
            var r = RowMajor(M(ea[(i * m * k)..((i + 1) * m * k)], m, k) * M(eb[(i * k * n)..((i + 1) * k * n)], k, n));
            H.Close(r, cv[(i * m * n)..((i + 1) * m * n)], 1e-12);
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void OneDimensionalOperands(string device)
    {
        var d = Device.Parse(device);
        var v = H.D([1, 2, 3], 3).To(d);
        var w = H.D([4, 5, 6], 3).To(d);
        var dot = v.MatMul(w);
        Assert.Equal(d, dot.Device);
        Assert.Empty(dot.Shape);
        Assert.Equal(32, dot.Item<double>());

        var m = H.D([1, 2, 3, 4, 5, 6], 2, 3).To(d);
        var mv = m.MatMul(v);
        Assert.Equal(new[] { 2 }, mv.Shape);
        H.Close([14, 32], mv);
        var vm = H.D([1, -1], 2).To(d).MatMul(m);
        Assert.Equal(new[] { 3 }, vm.Shape);
        H.Close([-3, -3, -3], vm);

        var batch = Torch.Stack([m, m * 2]); // [2,2,3]
        var bv = batch.MatMul(v);
        Assert.Equal(new[] { 2, 2 }, bv.Shape);
        H.Close([14, 32, 28, 64], bv);
        var vb = H.D([1, 1], 2).To(d).MatMul(batch);
        Assert.Equal(new[] { 2, 3 }, vb.Shape);
        H.Close([5, 7, 9, 10, 14, 18], vb);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void MatMulBackwardIsTheTransposedProducts(string device)
    {
        var d = Device.Parse(device);
        var a = H.Leaf(d, 5, 3, 4);
        var b = H.Leaf(d, 6, 4, 2);
        var g = H.Rnd(d, 7, 3, 2);
        a.MatMul(b).Backward(g);
        Assert.Equal(d, a.Grad!.Device);
        H.Close(RowMajor(M(g.Arr(), 3, 2) * M(b.Arr(), 4, 2).Transpose()), a.Grad!, 1e-12);
        H.Close(RowMajor(M(a.Arr(), 3, 4).Transpose() * M(g.Arr(), 3, 2)), b.Grad!, 1e-12);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void EmptyInnerDimensionGivesZeros(string device)
    {
        var d = Device.Parse(device);
        var c = Torch.Zeros([300, 0], device: d).MatMul(Torch.Zeros([0, 200], device: d));
        Assert.Equal(d, c.Device);
        Assert.Equal(new[] { 300, 200 }, c.Shape);
        Assert.All(c.ToArray<float>(), v => Assert.Equal(0f, v));
    }
}
