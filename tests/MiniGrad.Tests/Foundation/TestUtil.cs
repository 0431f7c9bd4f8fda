namespace MiniGrad.Tests.Foundation;

/// <summary>Shared helpers: fixed-seed inputs, independent reference computations, tolerant comparisons.</summary>
internal static class H
{
    /// <summary>Float64 standard normal input from its own generator (independent of other tests).</summary>
    public static Tensor Rnd(int seed, params int[] shape) => Torch.Randn(shape, DType.Float64, generator: new Generator(seed));

    /// <summary>Like Rnd but a leaf that requires grad.</summary>
    public static Tensor Leaf(int seed, params int[] shape) => Rnd(seed, shape).RequiresGrad_();

    /// <summary>Float64 leaf with values in [0.5, 2): safe for Log, Sqrt, Pow and division.</summary>
    public static Tensor PosLeaf(int seed, params int[] shape) =>
        (Torch.Rand(shape, DType.Float64, generator: new Generator(seed)) * 1.5 + 0.5).RequiresGrad_();

    /// <summary>Rnd's values (drawn on the CPU, so every device sees the same numbers) on device d.</summary>
    public static Tensor Rnd(Device d, int seed, params int[] shape) => Rnd(seed, shape).To(d);

    /// <summary>Leaf's values as a leaf on device d.</summary>
    public static Tensor Leaf(Device d, int seed, params int[] shape) => Rnd(d, seed, shape).RequiresGrad_();

    /// <summary>PosLeaf's values as a leaf on device d.</summary>
    public static Tensor PosLeaf(Device d, int seed, params int[] shape) => PosLeaf(seed, shape).Detach().To(d).RequiresGrad_();

    /// <summary>A Float64 tensor from values.</summary>
    public static Tensor D(double[] v, params int[] shape) => Torch.Tensor(v, shape);

    public static double[] Arr(this Tensor t) => t.ToArray<double>();

    public static void Close(double[] expected, double[] actual, double tol = 1e-12)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e)) { Assert.True(double.IsNaN(a), $"index {i}: expected NaN, got {a}"); continue; }
            if (double.IsInfinity(e)) { Assert.Equal(e, a); continue; }
            Assert.True(Math.Abs(e - a) <= tol * Math.Max(1, Math.Abs(e)), $"index {i}: expected {e:R}, got {a:R} (tol {tol})");
        }
    }

    public static void Close(double[] expected, Tensor actual, double tol = 1e-12) => Close(expected, actual.Arr(), tol);

    /// <summary>Reference NumPy broadcasting of two operands, written independently of the library.</summary>
    public static (double[] Values, int[] Shape) Broadcast(double[] a, int[] sa, double[] b, int[] sb, Func<double, double, double> f)
    {
        int rank = Math.Max(sa.Length, sb.Length);
        int[] pa = Pad(sa, rank), pb = Pad(sb, rank), so = new int[rank];
        for (int i = 0; i < rank; i++) so[i] = Math.Max(pa[i], pb[i]);
        int n = so.Aggregate(1, (x, y) => x * y);
        var r = new double[n];
        var idx = new int[rank];
        for (int flat = 0; flat < n; flat++)
        {
            int rem = flat;
            for (int d = rank - 1; d >= 0; d--) { idx[d] = rem % so[d]; rem /= so[d]; }
            r[flat] = f(a[Offset(idx, pa)], b[Offset(idx, pb)]);
        }
        return (r, so);
    }

    public static int[] BroadcastShape(int[] sa, int[] sb)
    {
        int rank = Math.Max(sa.Length, sb.Length);
        int[] pa = Pad(sa, rank), pb = Pad(sb, rank);
        return pa.Zip(pb, Math.Max).ToArray();
    }

    static int[] Pad(int[] s, int rank) => Enumerable.Repeat(1, rank - s.Length).Concat(s).ToArray();

    static int Offset(int[] idx, int[] shape)
    {
        int o = 0;
        for (int d = 0; d < shape.Length; d++) o = o * shape[d] + (shape[d] == 1 ? 0 : idx[d]);
        return o;
    }

    /// <summary>Element at a multi-index of a row-major array.</summary>
    public static double At(double[] v, int[] shape, params int[] idx)
    {
        int o = 0;
        for (int d = 0; d < shape.Length; d++) o = o * shape[d] + idx[d];
        return v[o];
    }

    /// <summary>Asserts that action throws TEx (or a subclass) whose message contains every fragment.</summary>
    public static TEx Throws<TEx>(Action action, params string[] fragments) where TEx : Exception
    {
        var ex = Assert.ThrowsAny<TEx>(action);
        foreach (var f in fragments) Assert.Contains(f, ex.Message);
        return ex;
    }

    /// <summary>Throws for expressions (operators cannot be statements).</summary>
    public static TEx Throws<TEx>(Func<object?> f, params string[] fragments) where TEx : Exception => Throws<TEx>(() => { f(); }, fragments);

    /// <summary>GradCheck that must pass (it throws with both values when it does not).</summary>
    public static void Grad(Func<Tensor[], Tensor> f, params Tensor[] inputs) => Assert.True(GradCheck.Check(f, inputs));
}
