namespace MiniGrad;

// Reductions: Sum and Mean (the backward expands the gradient back), Max and Min (the gradient goes to the
// selected element, or is shared among ties when reducing several dims at once).
public partial class Tensor
{
    /// <summary>Sum of all elements (0-d).</summary>
    public Tensor Sum() => SumFn.Apply(this, AllDims(), false);
    /// <summary>Sum over one dim.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => SumFn.Apply(this, Dims("Sum", [dim]), keepDim);
    /// <summary>Sum over several dims (all of them when dims is empty).</summary>
    public Tensor Sum(int[] dims, bool keepDim = false) => SumFn.Apply(this, Dims("Sum", dims), keepDim);

    /// <summary>Mean of all elements (0-d).</summary>
    public Tensor Mean() => Mean(AllDims());
    /// <summary>Mean over one dim.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);
    /// <summary>Mean over several dims (all of them when dims is empty).</summary>
    public Tensor Mean(int[] dims, bool keepDim = false)
    {
        if (!DType.IsFloating()) throw new ArgumentException($"Mean: expected a floating point tensor, but dtype is {DType}; convert with To(DType.Float32)");
        var d = Dims("Mean", dims);
        long count = 1;
        foreach (var i in d) count *= Raw.Shape[i];
        return SumFn.Apply(this, d, keepDim) / count;
    }

#pragma warning disable RS0026 // optional parameters on several overloads, as PyTorch's var/std(dim, correction, keepdim): no older overload to break
    /// <summary>Variance over every element, with Bessel's correction by default (torch.var: divides by n - correction).</summary>
    public Tensor Var(double correction = 1) => Var(AllDims(), correction);
    /// <summary>Variance over one dim (torch.var(dim, correction, keepdim)).</summary>
    public Tensor Var(int dim, double correction = 1, bool keepDim = false) => Var([dim], correction, keepDim);
    /// <summary>Variance over several dims (all of them when dims is empty): sum((x - mean)^2) / (n - correction); n -
    /// correction &lt;= 0 gives inf or NaN, as in PyTorch. Differentiable (written with Mean and Sum).</summary>
    public Tensor Var(int[] dims, double correction = 1, bool keepDim = false)
    {
        if (!DType.IsFloating()) throw new ArgumentException($"Var: expected a floating point tensor, but dtype is {DType}; convert with To(DType.Float32)");
        if (!(correction >= 0) || double.IsInfinity(correction))
            throw new ArgumentOutOfRangeException(nameof(correction), correction, $"Var: correction = {correction}; expected a finite number >= 0 (1: unbiased, 0: the population variance)");
        var d = Dims("Var", dims);
        long count = 1;
        foreach (var i in d) count *= Raw.Shape[i];
        var centered = this - Mean(d, keepDim: true);
        return (centered * centered).Sum(d, keepDim) / Math.Max(0, count - correction);
    }
    /// <summary>Standard deviation over every element (torch.std): the square root of Var.</summary>
    public Tensor Std(double correction = 1) => Var(correction).Sqrt();
    /// <summary>Standard deviation over one dim.</summary>
    public Tensor Std(int dim, double correction = 1, bool keepDim = false) => Var(dim, correction, keepDim).Sqrt();
    /// <summary>Standard deviation over several dims.</summary>
    public Tensor Std(int[] dims, double correction = 1, bool keepDim = false) => Var(dims, correction, keepDim).Sqrt();
#pragma warning restore RS0026

    /// <summary>Index of the largest element of the flattened tensor (torch.argmax without dim): 0-d Int64, the first of ties.</summary>
    public Tensor ArgMax() => Reshape(-1).ArgMax(0);
    /// <summary>Index of the smallest element of the flattened tensor: 0-d Int64, the first of ties.</summary>
    public Tensor ArgMin() => Reshape(-1).ArgMin(0);

    /// <summary>Largest element (0-d).</summary>
    public Tensor Max() => ExtremeFn.Apply(this, AllDims(), false, ReduceOp.Max, whole: true);
    /// <summary>Largest values over several dims (PyTorch's amax); ties share the gradient.</summary>
    public Tensor Max(int[] dims, bool keepDim = false) => ExtremeFn.Apply(this, Dims("Max", dims), keepDim, ReduceOp.Max);
    /// <summary>Largest values over one dim and their indices (first occurrence).</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false) => ArgExtremeFn.Apply(this, dim, keepDim, ReduceOp.ArgMax);
    /// <summary>Smallest element (0-d).</summary>
    public Tensor Min() => ExtremeFn.Apply(this, AllDims(), false, ReduceOp.Min, whole: true);
    /// <summary>Smallest values over several dims (PyTorch's amin).</summary>
    public Tensor Min(int[] dims, bool keepDim = false) => ExtremeFn.Apply(this, Dims("Min", dims), keepDim, ReduceOp.Min);
    /// <summary>Smallest values over one dim and their indices.</summary>
    public (Tensor Values, Tensor Indices) Min(int dim, bool keepDim = false) => ArgExtremeFn.Apply(this, dim, keepDim, ReduceOp.ArgMin);
    /// <summary>Indices of the largest values along dim.</summary>
    public Tensor ArgMax(int dim, bool keepDim = false) => Max(dim, keepDim).Indices;
    /// <summary>Indices of the smallest values along dim.</summary>
    public Tensor ArgMin(int dim, bool keepDim = false) => Min(dim, keepDim).Indices;

    int[] AllDims() => Enumerable.Range(0, Rank).ToArray();

    // An empty list of dims reduces over all of them, as PyTorch's sum, mean, amax and amin with dim=[] do.
    int[] Dims(string op, int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        if (dims.Length == 0) return AllDims();
        var d = dims.Select(x => Shapes.NormalizeDim(op, x, Rank)).ToArray();
        if (Rank == 0) return [];
        if (d.Distinct().Count() != d.Length) throw new ArgumentException($"{op}: dim {string.Join(",", dims)} lists a dimension twice", nameof(dims));
        Array.Sort(d);
        return d;
    }

    /// <summary>The shape after reducing dims with keepDim (reduced dims become 1).</summary>
    internal int[] KeptShape(int[] dims)
    {
        var s = Shape;
        foreach (var d in dims) s[d] = 1;
        return s;
    }

    internal int[] DroppedShape(int[] dims) => Raw.Shape.Where((_, i) => !dims.Contains(i)).ToArray();

    internal RawTensor ReduceRaw(ReduceOp op, int[] dims)
    {
        var r = Raw;
        if (Rank == 0) return r;
        if (dims.Length == Rank && op == ReduceOp.Sum) // one pass over everything
            return Backend.Reduce(op, r.Reshape([Numel]), 0).Reshape(KeptShape(dims));
        foreach (var d in dims) r = Backend.Reduce(op, r, d);
        return r;
    }
}

sealed class SumFn(int[] inShape, int[] keptShape) : Function
{
    public static Tensor Apply(Tensor x, int[] dims, bool keepDim)
    {
        if (x.DType is DType.Bool or DType.Int32) x = x.To(DType.Int64); // PyTorch: a Bool or integer tensor sums to Int64
        var raw = x.ReduceRaw(ReduceOp.Sum, dims);
        var kept = x.KeptShape(dims);
        if (!keepDim) raw = raw.Reshape(x.DroppedShape(dims));
        return Record(raw, () => new SumFn(x.Raw.Shape, kept), x);
    }
    protected internal override Tensor?[] Backward(Tensor g) => [g.Reshape(keptShape).Expand(inShape)];
}

sealed class ExtremeFn(int[] dims, ReduceOp op, bool whole) : Function
{
    public override string Name => whole ? (op == ReduceOp.Min ? "MinBackward" : "MaxBackward") : op == ReduceOp.Min ? "AminBackward" : "AmaxBackward";

    /// <summary>whole: Max() / Min() of every element, whose backward is PyTorch's evenly_distribute_backward (below).</summary>
    public static Tensor Apply(Tensor x, int[] dims, bool keepDim, ReduceOp op, bool whole = false)
    {
        CheckNonEmpty(op.ToString(), x, dims);
        var kept = x.ReduceRaw(op, dims);
        var raw = keepDim ? kept : kept.Reshape(x.DroppedShape(dims));
        return Record(raw, () => { var f = new ExtremeFn(dims, op, whole); f.Save(x.Detach(), new Tensor(kept)); return f; }, x);
    }

    internal static void CheckNonEmpty(string op, Tensor x, int[] dims)
    {
        foreach (var d in dims)
            if (x.Raw.Shape[d] == 0) throw new ArgumentException($"{op}: cannot reduce over dimension {d} of size 0 (shape {Shapes.Format(x.Raw.Shape)})");
        if (x.DType == DType.Bool) throw new ArgumentException($"{op}: Bool tensors are not supported");
    }

    // Ties share the gradient equally, as PyTorch's amax/amin do. A NaN result of Max() / Min() shares it among the NaN
    // elements (PyTorch's evenly_distribute_backward); amax/amin over dims give NaN there, as PyTorch's do.
    protected internal override Tensor?[] Backward(Tensor g)
    {
        Tensor x = Saved(0), y = Saved(1);
        bool nanResult = whole && x.DType.IsFloating() && double.IsNaN(y.Item<double>());
        var mask = (nanResult ? x.Ne(x) : x.Eq(y)).To(x.DType);
        var count = mask.Sum(dims, keepDim: true);
        return [g.Reshape(y.Raw.Shape) * mask / count];
    }
}

sealed class ArgExtremeFn(int[] inShape, int dim, ReduceOp op) : Function
{
    public override string Name => op == ReduceOp.ArgMin ? "MinBackward" : "MaxBackward";

    public static (Tensor, Tensor) Apply(Tensor x, int dim, bool keepDim, ReduceOp op)
    {
        string name = op == ReduceOp.ArgMax ? "Max" : "Min";
        int d = Shapes.NormalizeDim(name, dim, x.Rank);
        if (x.Rank == 0) return (Record(x.Raw, () => new ArgExtremeFn([], 0, op), x), Torch.Zeros([], DType.Int64, x.Device));
        ExtremeFn.CheckNonEmpty(name, x, [d]);
        var idx = x.Backend.Reduce(op, x.Raw, d);
        var vals = x.Backend.Gather(x.Raw, d, idx);
        var outShape = keepDim ? idx.Shape : x.DroppedShape([d]);
        var values = Record(vals.Reshape(outShape), () => { var f = new ArgExtremeFn(x.Raw.Shape, d, op); f.Save(new Tensor(idx)); return f; }, x);
        return (values, new Tensor(idx.Reshape(outShape)));
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        if (inShape.Length == 0) return [g];
        var idx = Saved(0);
        return [new Tensor(g.Backend.ScatterAdd(inShape, dim, idx.Raw, g.Reshape(idx.Raw.Shape).Raw))];
    }
}
