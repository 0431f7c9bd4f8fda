using MathNet.Numerics.LinearAlgebra;

namespace MiniGrad.Tests.Foundation;

// MathNet.Numerics is the independent reference: its managed product is slow but plainly correct.
public class MatMulTests
{
    static Matrix<double> M(double[] rowMajor, int rows, int cols) => Matrix<double>.Build.DenseOfRowMajor(rows, cols, rowMajor);
    static double[] RowMajor(Matrix<double> m) => m.ToRowMajorArray();

    public static TheoryData<int, int, int> Sizes => new()
    {
        { 1, 1, 1 }, { 1, 7, 1 }, { 7, 1, 7 }, { 7, 7, 7 }, { 33, 7, 1 }, { 1, 33, 257 },
        { 33, 257, 7 }, { 257, 33, 33 }, { 64, 64, 64 }, { 257, 257, 257 }, { 3, 300, 2 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Float64MatchesMathNet(int m, int k, int n)
    {
        var a = H.Rnd(m * 1000 + k, m, k);
        var b = H.Rnd(n * 1000 + k + 1, k, n);
        var c = a.MatMul(b);
        Assert.Equal(new[] { m, n }, c.Shape);
        H.Close(RowMajor(M(a.Arr(), m, k) * M(b.Arr(), k, n)), c, 1e-12 * Math.Sqrt(k));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Float32MatchesMathNet(int m, int k, int n)
    {
        var a = Torch.Randn([m, k], generator: new Generator(m + 7 * k));
        var b = Torch.Randn([k, n], generator: new Generator(n + 11 * k));
        var c = a.MatMul(b);
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

    [Theory]
    [MemberData(nameof(BatchShapes))]
    public void BatchedWithBroadcastBatchDims(int[] sa, int[] sb)
    {
        var a = H.Rnd(1, sa);
        var b = H.Rnd(2, sb);
        var c = a.MatMul(b);
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

    [Fact]
    public void OneDimensionalOperands()
    {
        var v = H.D([1, 2, 3], 3);
        var w = H.D([4, 5, 6], 3);
        var dot = v.MatMul(w);
        Assert.Empty(dot.Shape);
        Assert.Equal(32, dot.Item<double>());

        var m = H.D([1, 2, 3, 4, 5, 6], 2, 3);
        var mv = m.MatMul(v);
        Assert.Equal(new[] { 2 }, mv.Shape);
        H.Close([14, 32], mv);
        var vm = H.D([1, -1], 2).MatMul(m);
        Assert.Equal(new[] { 3 }, vm.Shape);
        H.Close([-3, -3, -3], vm);

        var batch = Torch.Stack([m, m * 2]); // [2,2,3]
        var bv = batch.MatMul(v);
        Assert.Equal(new[] { 2, 2 }, bv.Shape);
        H.Close([14, 32, 28, 64], bv);
        var vb = H.D([1, 1], 2).MatMul(batch);
        Assert.Equal(new[] { 2, 3 }, vb.Shape);
        H.Close([5, 7, 9, 10, 14, 18], vb);
    }

    [Fact]
    public void MatMulBackwardIsTheTransposedProducts()
    {
        var a = H.Leaf(5, 3, 4);
        var b = H.Leaf(6, 4, 2);
        var g = H.Rnd(7, 3, 2);
        a.MatMul(b).Backward(g);
        H.Close(RowMajor(M(g.Arr(), 3, 2) * M(b.Arr(), 4, 2).Transpose()), a.Grad!, 1e-12);
        H.Close(RowMajor(M(a.Arr(), 3, 4).Transpose() * M(g.Arr(), 3, 2)), b.Grad!, 1e-12);
    }

    [Fact]
    public void EmptyInnerDimensionGivesZeros()
    {
        var c = Torch.Zeros(300, 0).MatMul(Torch.Zeros(0, 200));
        Assert.Equal(new[] { 300, 200 }, c.Shape);
        Assert.All(c.ToArray<float>(), v => Assert.Equal(0f, v));
    }
}
