namespace MiniGrad.Tests.Foundation;

// Every test runs on each device of TestDevices (inputs made on the CPU and moved with To(device)).
[Collection("Ilgpu")]
public class ShapeTests
{
    public static TheoryData<string> Devices => TestDevices.All;

    /// <summary>x[a,b,c] = 12a + 4b + c, on the device named.</summary>
    static Tensor X(string device) => Torch.Arange(24, DType.Float64).Reshape(2, 3, 4).To(Device.Parse(device));

    [Theory]
    [MemberData(nameof(Devices))]
    public void SplitAndChunkAsPyTorch(string device)
    {
        var d = Device.Parse(device);
        var x = H.Leaf(d, 1, 5, 2);
        var parts = x.Split(2);
        Assert.Equal([[2, 2], [2, 2], [1, 2]], parts.Select(p => p.Shape));
        Assert.Equal(x.Arr().Skip(8).ToArray(), parts[2].Arr());
        Assert.Equal([[5, 1], [5, 1]], x.Split([1, 1], 1).Select(p => p.Shape));
        Assert.Equal([[2, 2], [3, 2]], x.Split([2, 3]).Select(p => p.Shape));
        Assert.Equal([[3, 2], [2, 2]], x.Chunk(2).Select(p => p.Shape));
        Assert.Equal(3, x.Chunk(4).Length); // torch.chunk(5 rows, 4): pieces of 2, 2, 1
        Assert.Equal(5, x.Chunk(9).Length);
        Assert.Equal([[0], [0], [0]], Torch.Zeros(0).To(d).Chunk(3).Select(p => p.Shape)); // an empty dim: chunks empty pieces, as PyTorch
        (parts[0] * 2.0 + parts[2] * 3.0).Sum().Backward();
        H.Close([2, 2, 2, 2, 0, 0, 0, 0, 6, 6], x.Grad!); // parts[2] (1, 2) broadcast over parts[0]'s 2 rows
        H.Throws<ArgumentException>(() => x.Split([2, 2]), "Split", "add up to", "5");
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Split(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Chunk(0));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ReshapeAndViewKeepRowMajorOrder(string device)
    {
        var d = Device.Parse(device);
        var x = X(device);
        var r = x.Reshape(4, -1);
        Assert.Equal(d, r.Device);
        Assert.Equal(new[] { 4, 6 }, r.Shape);
        Assert.Equal(x.Arr(), r.Arr());
        Assert.Equal(new[] { 6, 4 }, x.View(-1, 4).Shape);
        Assert.Equal(new[] { 24 }, x.Flatten().Shape);
        Assert.Equal(new[] { 2, 1, 12 }, x.Reshape(2, 1, -1).Shape);
        var one = Torch.Ones([1, 1], device: d).Reshape();
        Assert.Empty(one.Shape);
        Assert.Equal(1f, one.Item<float>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void UnsqueezeAndSqueeze(string device)
    {
        var d = Device.Parse(device);
        var x = X(device);
        Assert.Equal(new[] { 1, 2, 3, 4 }, x.Unsqueeze(0).Shape);
        Assert.Equal(new[] { 2, 3, 4, 1 }, x.Unsqueeze(-1).Shape);
        Assert.Equal(new[] { 2, 3, 4, 1 }, x.Unsqueeze(3).Shape);
        Assert.Equal(new[] { 2, 3, 1, 4 }, x.Unsqueeze(-2).Shape);
        var y = Torch.Zeros([1, 3, 1, 2], device: d);
        Assert.Equal(new[] { 3, 2 }, y.Squeeze().Shape);
        Assert.Equal(new[] { 1, 3, 2 }, y.Squeeze(2).Shape);
        Assert.Equal(new[] { 3, 1, 2 }, y.Squeeze(-4).Shape);
        Assert.Equal(new[] { 1, 3, 1, 2 }, y.Squeeze(1).Shape); // size 3: unchanged
        Assert.Equal(d, x.Unsqueeze(1).Squeeze(1).Device);
        Assert.Equal(x.Arr(), x.Unsqueeze(1).Squeeze(1).Arr());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void TransposeAndPermuteMoveElements(string device)
    {
        var d = Device.Parse(device);
        var x = X(device);
        var t = x.Transpose(0, 2);
        Assert.Equal(d, t.Device);
        Assert.Equal(new[] { 4, 3, 2 }, t.Shape);
        var p = x.Permute(2, 0, 1);
        Assert.Equal(new[] { 4, 2, 3 }, p.Shape);
        var tn = x.Transpose(-1, -3);
        var tv = t.Arr(); var pv = p.Arr();
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 4; c++)
                {
                    double e = 12 * a + 4 * b + c;
                    Assert.Equal(e, H.At(tv, [4, 3, 2], c, b, a));
                    Assert.Equal(e, H.At(pv, [4, 2, 3], c, a, b));
                }
        Assert.Equal(tv, tn.Arr());
        Assert.Equal(pv, x.Permute(-1, 0, -2).Arr());
        var m = Torch.Tensor(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3).To(d);
        Assert.Equal(new double[] { 1, 4, 2, 5, 3, 6 }, m.T.Arr());
        Assert.Equal(m.Arr(), m.Transpose(1, -1).Arr()); // a new view of the same shape (AutogradTests: not the same tensor)
        // A 0-d tensor takes dims 0 and -1, as in PyTorch (it threw IndexOutOfRangeException), and no others.
        var s0 = Torch.Scalar(2.0).To(d);
        Assert.Equal(2.0, s0.Transpose(0, -1).Item<double>());
        Assert.Empty(s0.Transpose(0, 0).Shape);
        Assert.Equal("dim1", Assert.Throws<ArgumentOutOfRangeException>(() => s0.Transpose(0, 1)).ParamName);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void NarrowSliceSelect(string device)
    {
        var d = Device.Parse(device);
        var x = X(device);
        var n = x.Narrow(2, 1, 2);
        Assert.Equal(d, n.Device);
        Assert.Equal(new[] { 2, 3, 2 }, n.Shape);
        Assert.Equal(new double[] { 1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22 }, n.Arr());
        Assert.Equal(n.Arr(), x.Narrow(-1, -3, 2).Arr());
        Assert.Equal(new double[] { 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23 }, x.Slice(1, 1, 3).Arr());
        Assert.Equal(x.Slice(1, 1, 3).Arr(), x.Slice(-2, -2, 100).Arr()); // Python-style clipping
        Assert.Equal(new[] { 2, 0, 4 }, x.Slice(1, 2, 1).Shape);
        var s = x.Select(1, 2);
        Assert.Equal(new[] { 2, 4 }, s.Shape);
        Assert.Equal(new double[] { 8, 9, 10, 11, 20, 21, 22, 23 }, s.Arr());
        Assert.Equal(new double[] { 3, 7, 11, 15, 19, 23 }, x.Select(-1, -1).Arr());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void CatAndStack(string device)
    {
        var d = Device.Parse(device);
        var a = Torch.Tensor(new double[] { 1, 2, 3, 4 }, 2, 2).To(d);
        var b = Torch.Tensor(new double[] { 5, 6 }, 2, 1).To(d);
        var c = Torch.Cat([a, b], 1);
        Assert.Equal(d, c.Device);
        Assert.Equal(new[] { 2, 3 }, c.Shape);
        Assert.Equal(new double[] { 1, 2, 5, 3, 4, 6 }, c.Arr());
        Assert.Equal(c.Arr(), Torch.Cat([a, b], -1).Arr());
        var r = Torch.Cat([a, a.Narrow(0, 0, 1)], 0);
        Assert.Equal(new double[] { 1, 2, 3, 4, 1, 2 }, r.Arr());

        var s0 = Torch.Stack([a, a * 10]);
        Assert.Equal(d, s0.Device);
        Assert.Equal(new[] { 2, 2, 2 }, s0.Shape);
        Assert.Equal(new double[] { 1, 2, 3, 4, 10, 20, 30, 40 }, s0.Arr());
        var s2 = Torch.Stack([a, a * 10], -1);
        Assert.Equal(new[] { 2, 2, 2 }, s2.Shape);
        Assert.Equal(new double[] { 1, 10, 2, 20, 3, 30, 4, 40 }, s2.Arr());
        var s1 = Torch.Stack([a, a * 10], 1);
        Assert.Equal(new double[] { 1, 2, 10, 20, 3, 4, 30, 40 }, s1.Arr());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void IndexSelectAndGather(string device)
    {
        var d = Device.Parse(device);
        var x = X(device);
        var idx = Torch.Tensor(new long[] { 2, 0, 2 }).To(d);
        var s = x.IndexSelect(1, idx);
        Assert.Equal(d, s.Device);
        Assert.Equal(new[] { 2, 3, 4 }, s.Shape);
        Assert.Equal(new double[] { 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 20, 21, 22, 23, 12, 13, 14, 15, 20, 21, 22, 23 }, s.Arr());
        Assert.Equal(s.Arr(), x.IndexSelect(-2, Torch.Tensor(new[] { 2, 0, 2 }).To(d)).Arr()); // Int32 indices too

        var m = Torch.Tensor(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3).To(d);
        var g = m.Gather(1, Torch.Tensor(new long[] { 2, 2, 0, 1 }, 2, 2).To(d));
        Assert.Equal(d, g.Device);
        Assert.Equal(new double[] { 3, 3, 4, 5 }, g.Arr());
        var g0 = m.Gather(0, Torch.Tensor(new long[] { 1, 0, 1 }, 1, 3).To(d));
        Assert.Equal(new double[] { 4, 2, 6 }, g0.Arr());
        Assert.Equal(g.Arr(), m.Gather(-1, Torch.Tensor(new[] { 2, 2, 0, 1 }, 2, 2).To(d)).Arr());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ExpandRepeatsSizeOneDims(string device)
    {
        var d = Device.Parse(device);
        var v = Torch.Tensor(new double[] { 1, 2, 3 }, 3, 1).To(d);
        var e = v.Expand(2, 3, 4);
        Assert.Equal(d, e.Device);
        Assert.Equal(new[] { 2, 3, 4 }, e.Shape);
        var ev = e.Arr();
        for (int a = 0; a < 2; a++) for (int b = 0; b < 3; b++) for (int c = 0; c < 4; c++) Assert.Equal(b + 1, H.At(ev, [2, 3, 4], a, b, c));
        Assert.Equal(new[] { 3, 5 }, v.Expand(-1, 5).Shape);
        Assert.Equal(v.Arr(), v.Expand(3, 1).Arr());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void LargePermuteExpandNarrowMatchReference(string device)
    {
        // Big enough for the CPU copy kernels to split rows across cores (fewer rows on the slow ilgpu-cpu).
        var d = Device.Parse(device);
        int a0 = TestDevices.Size(device, 30, 8), r0 = TestDevices.Size(device, 300, 38);
        var x = H.Rnd(d, 40, a0, 200, 70);
        var v = x.Arr();
        var p = x.Permute(2, 0, 1).Arr();
        var n = x.Narrow(1, 50, 100).Arr();
        for (int a = 0; a < a0; a += 7)
            for (int b = 0; b < 200; b += 13)
                for (int c = 0; c < 70; c += 3)
                {
                    double e = H.At(v, [a0, 200, 70], a, b, c);
                    Assert.Equal(e, H.At(p, [70, a0, 200], c, a, b));
                    if (b >= 50 && b < 150) Assert.Equal(e, H.At(n, [a0, 100, 70], a, b - 50, c));
                }
        var row = H.Rnd(d, 41, 1, 5000);
        var big = row.Expand(r0, 5000).Arr();
        var rv = row.Arr();
        for (int r = 0; r < r0; r += 37) Assert.Equal(rv, big[(r * 5000)..((r + 1) * 5000)]);
        // Cat along a middle dim (blocks of rows shared by the cores), and one element broadcast to a big shape (one fill).
        var cat = Torch.Cat([x, x.Narrow(1, 0, 30)], 1).Arr();
        for (int a = 0; a < a0; a++)
            for (int b = 0; b < 230; b += 11)
                Assert.Equal(H.At(v, [a0, 200, 70], a, b % 200, 69), H.At(cat, [a0, 230, 70], a, b, 69));
        var one = H.Rnd(d, 42, 1).Reshape([]);
        Assert.All(one.Expand(a0, 200, 70).Arr(), e => Assert.Equal(one.Item<double>(), e));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void ShapeOpBackwardsRouteTheGradient(string device)
    {
        var d = Device.Parse(device);
        var x = Torch.Arange(6, DType.Float64).Reshape(2, 3).To(d).Detach().RequiresGrad_();
        var w = Torch.Tensor(new double[] { 1, 10, 100, 1000 }, 2, 2).To(d);
        (x.Narrow(1, 1, 2) * w).Sum().Backward();
        Assert.Equal(d, x.Grad!.Device);
        H.Close([0, 1, 10, 0, 100, 1000], x.Grad!);
        x.ZeroGrad();
        (x.IndexSelect(1, Torch.Tensor(new long[] { 0, 0 }).To(d)) * w).Sum().Backward(); // repeated index: summed
        H.Close([11, 0, 0, 1100, 0, 0], x.Grad!);
        x.ZeroGrad();
        (x.Gather(1, Torch.Tensor(new long[] { 2, 2, 1, 0 }, 2, 2).To(d)) * w).Sum().Backward();
        H.Close([0, 0, 11, 1000, 100, 0], x.Grad!);
        x.ZeroGrad();
        (x.Select(0, -1) * Torch.Tensor(new double[] { 1, 2, 3 }).To(d)).Sum().Backward();
        H.Close([0, 0, 0, 1, 2, 3], x.Grad!);
        x.ZeroGrad();
        x.Unsqueeze(0).Expand(4, 2, 3).Sum().Backward();
        H.Close(Enumerable.Repeat(4.0, 6).ToArray(), x.Grad!);
        x.ZeroGrad();
        (x.T * Torch.Tensor(new double[] { 1, 2, 3, 4, 5, 6 }, 3, 2).To(d)).Sum().Backward();
        H.Close([1, 3, 5, 2, 4, 6], x.Grad!);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void CatBackwardSplitsTheGradient(string device)
    {
        var d = Device.Parse(device);
        var a = H.Leaf(d, 1, 2, 2);
        var b = H.Leaf(d, 2, 2, 1);
        var c = Torch.Zeros([2, 3], DType.Float64, d); // does not require grad
        (Torch.Cat([a, c, b], 1) * Torch.Arange(12, DType.Float64, d).Reshape(2, 6)).Sum().Backward();
        Assert.Equal(d, a.Grad!.Device);
        H.Close([0, 1, 6, 7], a.Grad!);
        H.Close([5, 11], b.Grad!);
        Assert.Null(c.Grad);
    }
}
