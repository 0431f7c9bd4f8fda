namespace MiniGrad.Tests.Cpu;

/// <summary>
/// The CPU backend's strided copies: every permutation of a rank-3 and a rank-4 shape with sides above and below the
/// 32-element transpose tile, in every dtype, against the index arithmetic written out.
/// </summary>
public class PermuteKernelTests
{
    static IEnumerable<int[]> Permutations(int n) => n == 1 ? [[0]]
        : from p in Permutations(n - 1) from at in Enumerable.Range(0, n) select p.Take(at).Append(n - 1).Concat(p.Skip(at)).ToArray();

    public static TheoryData<int[]> Shapes => new() { new[] { 3, 37, 70 }, new[] { 2, 33, 5, 40 }, new[] { 65, 1, 34 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryPermutationMatchesIndexArithmetic(int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var values = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        var x = Torch.Tensor(values, shape);
        foreach (var perm in Permutations(shape.Length))
            foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Int64 })
            {
                var y = x.To(dt).Permute(perm);
                Assert.Equal(perm.Select(p => shape[p]).ToArray(), y.Shape);
                var got = y.To(DType.Float64).ToArray<double>();
                var srcStrides = Strides(shape);
                var outShape = y.Shape;
                for (int i = 0; i < n; i++)
                {
                    int rem = i, src = 0;
                    for (int d = outShape.Length - 1; d >= 0; d--) { src += rem % outShape[d] * srcStrides[perm[d]]; rem /= outShape[d]; }
                    Assert.True(got[i] == values[src], $"{dt} permute [{string.Join(",", perm)}] of [{string.Join(",", shape)}]: element {i} is {got[i]}, expected {values[src]}");
                }
            }
    }

    [Theory]
    [MemberData(nameof(SimdTests.Widths), MemberType = typeof(SimdTests))]
    public void TransposeOfTheLastTwoDimsAtEveryWidth(int bits)
    {
        using var width = MiniGrad.Backends.Cpu.Simd.Limit(bits);
        foreach (var shape in new[] { new[] { 3, 37, 70 }, new[] { 2, 64, 33 }, new[] { 5, 16, 16 }, new[] { 1, 7, 3 } })
            foreach (var dt in new[] { DType.Float32, DType.Float64 })
            {
                int b = shape[0], r = shape[1], c = shape[2];
                var values = Enumerable.Range(0, b * r * c).Select(i => (double)i).ToArray();
                var got = Torch.Tensor(values, shape).To(dt).Transpose(1, 2).To(DType.Float64).ToArray<double>();
                for (int k = 0; k < b; k++)
                    for (int i = 0; i < c; i++)
                        for (int j = 0; j < r; j++)
                            Assert.True(got[(k * c + i) * r + j] == values[(k * r + j) * c + i], $"{dt} at {bits} bits, [{string.Join(",", shape)}]: ({k},{i},{j})");
            }
    }

    [Fact]
    public void BoolTranspose()
    {
        var x = Torch.Tensor(Enumerable.Range(0, 40 * 33).Select(i => (double)(i % 3)).ToArray(), [40, 33]).Gt(0.5);
        var y = x.Transpose(0, 1).To(DType.Float64).ToArray<double>();
        var src = x.To(DType.Float64).ToArray<double>();
        for (int i = 0; i < 33; i++)
            for (int j = 0; j < 40; j++)
                Assert.Equal(src[j * 33 + i], y[i * 40 + j]);
    }

    static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        for (int i = shape.Length - 1, acc = 1; i >= 0; acc *= shape[i], i--) s[i] = acc;
        return s;
    }
}
