namespace MiniGrad.Tests.Foundation;

public class FactoryTests
{
    [Fact]
    public void ArangeInfersFloatFromFractionalArguments()
    {
        var a = Torch.Arange(0, 1, 0.25);
        Assert.Equal(DType.Float32, a.DType);
        Assert.Equal(new[] { 0f, 0.25f, 0.5f, 0.75f }, a.ToArray<float>());
        Assert.Equal(DType.Int64, Torch.Arange(2, 8, 2).DType);
        Assert.Equal(new long[] { 2, 4, 6 }, Torch.Arange(2, 8, 2).ToArray<long>());
    }

    [Fact]
    public void DefaultDTypeIsFloat32()
    {
        Assert.Equal(DType.Float32, Torch.Zeros(2, 3).DType);
        Assert.Equal(DType.Float32, Torch.Ones(4).DType);
        Assert.Equal(DType.Float32, Torch.Randn(2).DType);
        Assert.Equal(DType.Float32, Torch.Full([2], 1.5).DType);
        Assert.Equal(DType.Float32, Torch.Tensor(new float[] { 1, 2 }).DType);
        Assert.Equal(Device.Cpu, Torch.Zeros(1).Device);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    [InlineData(DType.Bool)]
    public void FullZerosOnesHonourEveryDType(DType dtype)
    {
        var f = Torch.Full([2, 3], 3, dtype);
        Assert.Equal(dtype, f.DType);
        Assert.Equal(new[] { 2, 3 }, f.Shape);
        Assert.Equal(Enumerable.Repeat(dtype == DType.Bool ? 1.0 : 3.0, 6), f.ToArray<double>());
        Assert.Equal(new double[6], Torch.Zeros([2, 3], dtype).ToArray<double>());
        Assert.Equal(Enumerable.Repeat(1.0, 4), Torch.Ones([4], dtype).ToArray<double>());
    }

    [Fact]
    public void FactoryOverloadsSetRequiresGradAndDevice()
    {
        Assert.True(Torch.Zeros([2], DType.Float64, Device.Cpu, requiresGrad: true).RequiresGrad);
        Assert.True(Torch.Ones([2], requiresGrad: true).RequiresGrad);
        Assert.True(Torch.Full([2], 7, requiresGrad: true).RequiresGrad);
        var r = Torch.Randn([3], DType.Float64, Device.Parse("cpu"), requiresGrad: true);
        Assert.True(r.RequiresGrad && r.IsLeaf);
        Assert.Equal(DType.Float64, r.DType);
        Assert.Equal(Device.Cpu, r.Device);
        Assert.False(Torch.Zeros(2).RequiresGrad);
        var t = Torch.Tensor(new double[] { 1, 2 }, [2], Device.Cpu, requiresGrad: true);
        Assert.True(t.RequiresGrad);
        Assert.Equal(DType.Float64, t.DType);
    }

    [Fact]
    public void TensorFromArrayKeepsValuesShapeAndDType()
    {
        var f = Torch.Tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.Equal(new[] { 2, 3 }, f.Shape);
        Assert.Equal(2, f.Rank);
        Assert.Equal(6, f.Numel);
        Assert.Equal(3, f.Size(-1));
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, f.ToArray<float>());

        Assert.Equal(DType.Float64, Torch.Tensor(new double[] { 1.5 }).DType);
        Assert.Equal(DType.Int32, Torch.Tensor(new[] { 1, 2 }).DType);
        Assert.Equal(DType.Int64, Torch.Tensor(new long[] { 1, 2 }).DType);
        Assert.Equal(DType.Bool, Torch.Tensor(new[] { true, false }).DType);
        Assert.Equal(new long[] { 5, -7 }, Torch.Tensor(new long[] { 5, -7 }).ToArray<long>());
        Assert.Equal(new[] { true, false }, Torch.Tensor(new[] { true, false }).ToArray<bool>());

        // No shape: 1-D; an explicit empty shape through the Array overload: 0-d.
        Assert.Equal(new[] { 3 }, Torch.Tensor(new[] { 1, 2, 3 }).Shape);
        var s = Torch.Tensor((Array)new double[] { 4.5 }, []);
        Assert.Equal(0, s.Rank);
        Assert.Equal(4.5, s.Item<double>());
    }

    [Fact]
    public void ScalarIsZeroDimensional()
    {
        var s = Torch.Scalar(2.5f);
        Assert.Empty(s.Shape);
        Assert.Equal(1, s.Numel);
        Assert.Equal(DType.Float32, s.DType);
        Assert.Equal(2.5f, s.Item<float>());
        Assert.Equal(DType.Float64, Torch.Scalar(1.0).DType);
    }

    [Fact]
    public void ArangeLikePyTorch()
    {
        var a = Torch.Arange(5);
        Assert.Equal(DType.Int64, a.DType);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, a.ToArray<long>());
        Assert.Equal(new long[] { 0, 3, 6, 9 }, Torch.Arange(0, 10, 3).ToArray<long>());
        Assert.Equal(new long[] { 5, 4, 3, 2, 1 }, Torch.Arange(5, 0, -1).ToArray<long>());
        var f = Torch.Arange(1, 2, 0.25, DType.Float64);
        Assert.Equal(new[] { 1, 1.25, 1.5, 1.75 }, f.ToArray<double>());
        Assert.Equal(DType.Float32, Torch.Arange(3, DType.Float32).DType);
        Assert.Empty(Torch.Arange(0).ToArray<long>());
        // Two whole-number literals are start and end (a literal 0 also converts to DType: Arange(-5, 0) was Arange(-5, Float32)).
        Assert.Equal(new long[] { -5, -4, -3, -2, -1 }, Torch.Arange(-5, 0).ToArray<long>());
        Assert.Equal(new long[] { 2, 3, 4 }, Torch.Arange(2, 5).ToArray<long>());
        H.Throws<ArgumentException>(() => Torch.Arange(5, 0), "Arange:", "runs against step"); // was [0, 1, 2, 3, 4] in Float32
    }

    // Found against libtorch: these gave silently cut, clamped or empty results; libtorch throws for each (or, for an
    // integer arange with a fractional start or step, disagrees with itself between int64 and int32).
    [Fact]
    public void ArangeAndFullRefuseWhatTheyCannotRepresent()
    {
        H.Throws<ArgumentException>(() => Torch.Arange(0, double.NaN, 0.5), "Arange:", "unsupported range", "NaN");
        H.Throws<ArgumentException>(() => Torch.Arange(double.NegativeInfinity, 1), "Arange:", "finite");
        H.Throws<ArgumentException>(() => Torch.Arange(0, 5, 1, DType.Bool), "Arange:", "Bool");
        Assert.Equal("step", H.Throws<ArgumentException>(() => Torch.Arange(0, 5, 1.5, DType.Int64), "whole numbers", "Int64").ParamName);
        Assert.Equal("start", H.Throws<ArgumentException>(() => Torch.Arange(-2.5, 2.5, 1, DType.Int32), "whole numbers").ParamName);
        H.Throws<ArgumentException>(() => Torch.Arange(0, 1e10, 1), "Arange:", "more than a tensor holds");
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, Torch.Arange(0, 4.5, 1, DType.Int64).ToArray<long>()); // a fractional end is fine
        Assert.Equal("end", H.Throws<ArgumentException>(() => Torch.Arange(2147483646.0, 2147483650.0, 1, DType.Int32), "Arange:", "2147483649", "Int32", "overflow").ParamName);

        H.Throws<ArgumentException>(() => Torch.Full([2], 1e20, DType.Int32), "Full:", "1E+20", "Int32", "overflow");
        H.Throws<ArgumentException>(() => Torch.Full([2], double.NaN, DType.Int64), "Full:", "NaN", "Int64");
        H.Throws<ArgumentException>(() => Torch.Full([2], double.PositiveInfinity, DType.Int32), "Full:");
        H.Throws<ArgumentException>(() => Torch.Full([2], 1e300), "Full:", "Float32");
        H.Throws<ArgumentException>(() => Torch.FullLike(Torch.Tensor(new long[] { 1, 2 }), 1e20), "Full:", "Int64");
        // What fits still works: a fraction is dropped for integers (as PyTorch does), infinities and NaN fill floats.
        Assert.Equal(new[] { 2147483647, 2147483647 }, Torch.Full([2], 2147483647.9, DType.Int32).ToArray<int>());
        Assert.Equal(new[] { float.PositiveInfinity }, Torch.Full([1], double.PositiveInfinity).ToArray<float>());
        Assert.True(float.IsNaN(Torch.Full([1], double.NaN).ToArray<float>()[0]));
        Assert.Equal(new[] { true, true }, Torch.Full([2], 2, DType.Bool).ToArray<bool>());
    }

    [Fact]
    public void ToConvertsBetweenEveryDType()
    {
        var x = Torch.Tensor(new float[] { -1.7f, 0f, 2.5f });
        Assert.Equal(new double[] { -1.7f, 0, 2.5 }, x.To(DType.Float64).ToArray<double>());
        Assert.Equal(new[] { -1, 0, 2 }, x.To(DType.Int32).ToArray<int>()); // truncates toward zero, like PyTorch
        Assert.Equal(new long[] { -1, 0, 2 }, x.To(DType.Int64).ToArray<long>());
        Assert.Equal(new[] { true, false, true }, x.To(DType.Bool).ToArray<bool>());
        Assert.Equal(new float[] { 1, 0 }, Torch.Tensor(new[] { true, false }).To(DType.Float32).ToArray<float>());
        Assert.Equal(new long[] { 1, 0 }, Torch.Tensor(new[] { true, false }).To(DType.Int64).ToArray<long>());
        Assert.Equal(new[] { 3, -4 }, Torch.Tensor(new long[] { 3, -4 }).To(DType.Int32).ToArray<int>());
        // Int64 -> Int32 keeps the low 32 bits, as C++'s cast and PyTorch (and the ILGPU backend); it saturated.
        Assert.Equal(new[] { 1, -1294967296 }, Torch.Tensor(new long[] { 4294967297L, 3000000000L }).To(DType.Int32).ToArray<int>());
        foreach (DType d in Enum.GetValues<DType>()) Assert.Equal(d, x.To(d).DType);
        Assert.Same(x, x.To(DType.Float32));
    }

    [Fact]
    public void ToArrayAndItemConvertToTheRequestedType()
    {
        var x = Torch.Tensor(new long[] { 1, 2, 3 });
        Assert.Equal(new double[] { 1, 2, 3 }, x.ToArray<double>());
        Assert.Equal(new float[] { 1, 2, 3 }, x.ToArray<float>());
        Assert.Equal(7L, Torch.Full([1, 1], 7, DType.Int64).Item<long>());
        Assert.Equal(7.0, Torch.Full([1, 1], 7, DType.Int64).Item<double>());
        Assert.True(Torch.Full([], 1, DType.Bool).Item<bool>());
    }

    [Fact]
    public void RandintDefaultsToInt64AndHonoursDType()
    {
        Torch.ManualSeed(3);
        var r = Torch.Randint(0, 10, [2, 3]);
        Assert.Equal(DType.Int64, r.DType);
        Assert.Equal(new[] { 2, 3 }, r.Shape);
        Assert.Equal(DType.Int32, Torch.Randint(0, 10, [4], DType.Int32).DType);
        var f = Torch.Randint(-5, 5, [100], DType.Float32).ToArray<float>();
        Assert.All(f, v => Assert.True(v == MathF.Floor(v) && v >= -5 && v < 5));
    }

    [Fact]
    public void RandintCoversTheHalfOpenRangeUniformly()
    {
        var v = Torch.Randint(-3, 4, [140_000], generator: new Generator(11)).ToArray<long>();
        var counts = v.GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Enumerable.Range(-3, 7).Select(i => (long)i), counts.Keys.Order());
        Assert.DoesNotContain(4L, v);
        Assert.All(counts.Values, c => Assert.InRange(c, 19_000, 21_000)); // 20,000 expected, sd ~130
        // A range of one value always gives it.
        Assert.All(Torch.Randint(9, 10, [50]).ToArray<long>(), x => Assert.Equal(9, x));
    }

    [Fact]
    public void RandnHasStandardNormalMoments()
    {
        var v = Torch.Randn([1_000_000], DType.Float64, generator: new Generator(2024)).ToArray<double>();
        var stats = new MathNet.Numerics.Statistics.DescriptiveStatistics(v);
        Assert.True(Math.Abs(stats.Mean) < 0.005, $"mean {stats.Mean}");
        Assert.True(Math.Abs(stats.StandardDeviation - 1) < 0.005, $"std {stats.StandardDeviation}");
        Assert.True(Math.Abs(stats.Skewness) < 0.02, $"skewness {stats.Skewness}");
        // About 68.27% within one sd.
        double within = v.Count(x => Math.Abs(x) < 1) / (double)v.Length;
        Assert.InRange(within, 0.680, 0.685);
        // Float32 draws have the same moments.
        var f = Torch.Randn([1_000_000], generator: new Generator(7)).ToArray<float>().Select(x => (double)x).ToArray();
        Assert.True(Math.Abs(f.Average()) < 0.005);
        Assert.True(Math.Abs(MathNet.Numerics.Statistics.Statistics.StandardDeviation(f) - 1) < 0.005);
    }

    [Fact]
    public void RandIsUniformInUnitInterval()
    {
        var v = Torch.Rand([100_000], DType.Float64, generator: new Generator(5)).ToArray<double>();
        Assert.All(v, x => Assert.True(x >= 0 && x < 1));
        Assert.InRange(v.Average(), 0.495, 0.505);
    }

    [Fact]
    public void ManualSeedRepeatsTheStream()
    {
        Torch.ManualSeed(42);
        var a = Torch.Randn(100).ToArray<float>();
        var ia = Torch.Randint(0, 1000, [50]).ToArray<long>();
        Torch.ManualSeed(42);
        var b = Torch.Randn(100).ToArray<float>();
        var ib = Torch.Randint(0, 1000, [50]).ToArray<long>();
        Assert.Equal(a, b);
        Assert.Equal(ia, ib);
        Torch.ManualSeed(43);
        Assert.NotEqual(a, Torch.Randn(100).ToArray<float>());
    }

    [Fact]
    public void GeneratorsAreIndependentStreams()
    {
        var g1 = new Generator(9);
        var g2 = new Generator(9);
        var a = Torch.Randn([10], DType.Float64, generator: g1).ToArray<double>();
        Torch.Randn(50); // the default generator does not disturb g2
        Assert.Equal(a, Torch.Randn([10], DType.Float64, generator: g2).ToArray<double>());
        // Successive draws from one generator differ; reseeding restarts it.
        Assert.NotEqual(a, Torch.Randn([10], DType.Float64, generator: g1).ToArray<double>());
        g1.ManualSeed(9);
        Assert.Equal(a, Torch.Randn([10], DType.Float64, generator: g1).ToArray<double>());
        Assert.Equal(new Generator(1).NextUInt64(), new Generator(1).NextUInt64());
        Assert.NotEqual(new Generator(1).NextUInt64(), new Generator(2).NextUInt64());
    }

    [Fact]
    public void GeneratorNextBelowStaysInRange()
    {
        var g = new Generator(3);
        var seen = new bool[3];
        for (int i = 0; i < 1000; i++) { var v = g.NextBelow(3); Assert.True(v < 3); seen[v] = true; }
        Assert.All(seen, Assert.True);
    }
}
