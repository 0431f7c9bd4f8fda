namespace MiniGrad;

// Elementwise ops: arithmetic with NumPy broadcasting (the backward sums the gradient back to each input's shape)
// and the unary math functions. Each Function's backward sits right under its forward.
public partial class Tensor
{
    /// <summary>a + b with broadcasting.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => AddFn.Apply(a, b);
    /// <summary>a - b with broadcasting.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => SubFn.Apply(a, b);
    /// <summary>a * b with broadcasting.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => MulFn.Apply(a, b);
    /// <summary>a / b with broadcasting (floating point only).</summary>
    public static Tensor operator /(Tensor a, Tensor b) => DivFn.Apply(a, b);
    /// <summary>-a.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>a + s.</summary>
    public static Tensor operator +(Tensor a, double s) => a + a.ScalarLike(s, "Add");
    /// <summary>s + a.</summary>
    public static Tensor operator +(double s, Tensor a) => a.ScalarLike(s, "Add") + a;
    /// <summary>a - s.</summary>
    public static Tensor operator -(Tensor a, double s) => a - a.ScalarLike(s, "Sub");
    /// <summary>s - a.</summary>
    public static Tensor operator -(double s, Tensor a) => a.ScalarLike(s, "Sub") - a;
    /// <summary>a * s.</summary>
    public static Tensor operator *(Tensor a, double s) => a * a.ScalarLike(s, "Mul");
    /// <summary>s * a.</summary>
    public static Tensor operator *(double s, Tensor a) => a.ScalarLike(s, "Mul") * a;
    /// <summary>a / s.</summary>
    public static Tensor operator /(Tensor a, double s) => a / a.ScalarLike(s, "Div");
    /// <summary>s / a.</summary>
    public static Tensor operator /(double s, Tensor a) => a.ScalarLike(s, "Div") / a;

    /// <summary>this + other.</summary>
    public Tensor Add(Tensor other) => this + other;
    /// <summary>this - other.</summary>
    public Tensor Sub(Tensor other) => this - other;
    /// <summary>this * other.</summary>
    public Tensor Mul(Tensor other) => this * other;
    /// <summary>this / other.</summary>
    public Tensor Div(Tensor other) => this / other;

    /// <summary>
    /// A 0-d tensor of this tensor's dtype and device holding s (how Python numbers mix with tensors). An integer or Bool
    /// tensor takes only a whole scalar (0 or 1 for Bool): PyTorch would promote the result to float, and MiniGrad does not
    /// promote dtypes, so a fraction would otherwise be cut off without a word (Int64 x * 1.5 giving x).
    /// </summary>
    internal Tensor ScalarLike(double s, string op)
    {
        CheckScalarFits(op, "scalar", s, DType);
        return new(Backend.Full([], DType, s));
    }

    /// <summary>Whether value is exactly representable in dtype: any value for floating point, a whole number in range for integers, 0 or 1 for Bool.</summary>
    internal static bool ScalarFits(double value, DType dtype) =>
        dtype.IsFloating() || value == Math.Floor(value) && (dtype == DType.Bool ? value is 0 or 1 : Torch.HoldsWholePart(dtype, value));

    /// <summary>Throws unless value is exactly representable in dtype: any value for floating point, a whole number in range for integers, 0 or 1 for Bool.</summary>
    internal static void CheckScalarFits(string op, string arg, double value, DType dtype)
    {
        if (!ScalarFits(value, dtype))
        {
            string range = dtype switch { DType.Int32 => $"{int.MinValue}..{int.MaxValue}", DType.Bool => "0..1", _ => $"{long.MinValue}..{long.MaxValue}" };
            throw new ArgumentException($"{op}: {arg} = {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} does not fit this {dtype} tensor (expected a whole number in {range}; MiniGrad does not promote dtypes, so convert the tensor first, e.g. To(DType.Float32))", arg);
        }
    }

    /// <summary>Elementwise power with a tensor exponent.</summary>
    public Tensor Pow(Tensor exponent) => PowFn.Apply(this, exponent);
    /// <summary>Elementwise power with a scalar exponent.</summary>
    public Tensor Pow(double exponent) => PowScalarFn.Apply(this, exponent);
    /// <summary>-x.</summary>
    public Tensor Neg() => UnaryFn.Apply(this, UnaryOp.Neg);
    /// <summary>e^x.</summary>
    public Tensor Exp() => UnaryFn.Apply(this, UnaryOp.Exp);
    /// <summary>Natural logarithm.</summary>
    public Tensor Log() => UnaryFn.Apply(this, UnaryOp.Log);
    /// <summary>Square root.</summary>
    public Tensor Sqrt() => UnaryFn.Apply(this, UnaryOp.Sqrt);
    /// <summary>|x| (gradient 0 at 0, as in PyTorch).</summary>
    public Tensor Abs() => UnaryFn.Apply(this, UnaryOp.Abs);
    /// <summary>Hyperbolic tangent.</summary>
    public Tensor Tanh() => UnaryFn.Apply(this, UnaryOp.Tanh);
    /// <summary>Logistic sigmoid.</summary>
    public Tensor Sigmoid() => UnaryFn.Apply(this, UnaryOp.Sigmoid);
    /// <summary>max(x, 0).</summary>
    public Tensor Relu() => UnaryFn.Apply(this, UnaryOp.Relu);
    /// <summary>-1, 0 or 1 by sign (not differentiable: zero gradient).</summary>
    public Tensor Sign() => UnaryFn.Apply(this, UnaryOp.Sign);

    /// <summary>value where mask (Bool) is true, this tensor's element elsewhere (torch.masked_fill), the two broadcast
    /// together as PyTorch's out-of-place masked_fill does; the gradient passes where mask is false.</summary>
    public Tensor MaskedFill(Tensor mask, double value)
    {
        ArgumentNullException.ThrowIfNull(mask);
        if (mask.DType != DType.Bool) throw new ArgumentException($"MaskedFill: mask has dtype {mask.DType}; expected Bool (e.g. lengths.Lt(t) or x.Eq(0))", nameof(mask));
        Shapes.Broadcast("MaskedFill", Raw.Shape, mask.Raw.Shape);
        return Torch.Where(mask, ScalarLike(value, "MaskedFill"), this);
    }

    /// <summary>Clamps into [min, max]; either bound may be null. The gradient passes where min &lt;= x &lt;= max.</summary>
    public Tensor Clamp(double? min = null, double? max = null) => ClampFn.Apply(this, min, max);

    /// <summary>Elementwise comparisons; results are Bool tensors outside the graph.</summary>
    public Tensor Eq(Tensor other) => Compare(BinaryOp.Eq, other);
    /// <summary>this != other.</summary>
    public Tensor Ne(Tensor other) => Compare(BinaryOp.Ne, other);
    /// <summary>this &lt; other.</summary>
    public Tensor Lt(Tensor other) => Compare(BinaryOp.Lt, other);
    /// <summary>this &lt;= other.</summary>
    public Tensor Le(Tensor other) => Compare(BinaryOp.Le, other);
    /// <summary>this &gt; other.</summary>
    public Tensor Gt(Tensor other) => Compare(BinaryOp.Gt, other);
    /// <summary>this &gt;= other.</summary>
    public Tensor Ge(Tensor other) => Compare(BinaryOp.Ge, other);
    /// <summary>this == s.</summary>
    public Tensor Eq(double s) => Eq(ScalarLike(s, "Eq"));
    /// <summary>this != s.</summary>
    public Tensor Ne(double s) => Ne(ScalarLike(s, "Ne"));
    /// <summary>this &lt; s.</summary>
    public Tensor Lt(double s) => Lt(ScalarLike(s, "Lt"));
    /// <summary>this &gt; s.</summary>
    public Tensor Gt(double s) => Gt(ScalarLike(s, "Gt"));
    /// <summary>this &lt;= s.</summary>
    public Tensor Le(double s) => Le(ScalarLike(s, "Le"));
    /// <summary>this &gt;= s.</summary>
    public Tensor Ge(double s) => Ge(ScalarLike(s, "Ge"));

    Tensor Compare(BinaryOp op, Tensor other)
    {
        CheckBinary(op.ToString(), this, other, floatOnly: false);
        return new Tensor(Backend.Binary(op, Raw, other.Raw));
    }

    /// <summary>Validates a binary op's operands before any work: device, dtype and broadcastability.</summary>
    internal static void CheckBinary(string op, Tensor a, Tensor b, bool floatOnly)
    {
        SameDevice(op, a, b);
        if (a.DType != b.DType)
            throw new ArgumentException($"{op}: dtypes {a.DType} and {b.DType} do not match; convert one with To(DType)");
        if (floatOnly && !a.DType.IsFloating())
            throw new ArgumentException($"{op}: expected floating point tensors, but dtype is {a.DType}; convert with To(DType.Float32)");
        if (a.DType == DType.Bool && op is not ("Eq" or "Ne"))
            throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType)");
        Shapes.Broadcast(op, a.Raw.Shape, b.Raw.Shape);
    }

    /// <summary>Sums a broadcast gradient back down to shape (the backward of broadcasting).</summary>
    internal Tensor SumTo(int[] shape)
    {
        if (Shapes.Equal(Raw.Shape, shape)) return this;
        int lead = Rank - shape.Length;
        var dims = new List<int>();
        for (int i = 0; i < Rank; i++)
            if (i < lead || (shape[i - lead] == 1 && Raw.Shape[i] != 1)) dims.Add(i);
        return Sum(dims.ToArray(), keepDim: true).Reshape(shape);
    }
}

sealed class AddFn(int[] aShape, int[] bShape) : Function
{
    public static Tensor Apply(Tensor a, Tensor b)
    {
        Tensor.CheckBinary("Add", a, b, floatOnly: false);
        return Record(a.Backend.Binary(BinaryOp.Add, a.Raw, b.Raw), () => new AddFn(a.Raw.Shape, b.Raw.Shape), a, b);
    }
    protected internal override Tensor?[] Backward(Tensor g) => [NeedsInputGrad(0) ? g.SumTo(aShape) : null, NeedsInputGrad(1) ? g.SumTo(bShape) : null];
}

sealed class SubFn(int[] aShape, int[] bShape) : Function
{
    public static Tensor Apply(Tensor a, Tensor b)
    {
        Tensor.CheckBinary("Sub", a, b, floatOnly: false);
        return Record(a.Backend.Binary(BinaryOp.Sub, a.Raw, b.Raw), () => new SubFn(a.Raw.Shape, b.Raw.Shape), a, b);
    }
    protected internal override Tensor?[] Backward(Tensor g) => [NeedsInputGrad(0) ? g.SumTo(aShape) : null, NeedsInputGrad(1) ? (-g).SumTo(bShape) : null];
}

sealed class MulFn : Function
{
    public static Tensor Apply(Tensor a, Tensor b)
    {
        Tensor.CheckBinary("Mul", a, b, floatOnly: false);
        return Record(a.Backend.Binary(BinaryOp.Mul, a.Raw, b.Raw), () => { var f = new MulFn(); f.Save(a.Detach(), b.Detach()); return f; }, a, b);
    }
    protected internal override Tensor?[] Backward(Tensor g)
    {
        Tensor a = Saved(0), b = Saved(1);
        return [NeedsInputGrad(0) ? (g * b).SumTo(a.Raw.Shape) : null, NeedsInputGrad(1) ? (g * a).SumTo(b.Raw.Shape) : null];
    }
}

sealed class DivFn : Function
{
    public static Tensor Apply(Tensor a, Tensor b)
    {
        Tensor.CheckBinary("Div", a, b, floatOnly: true);
        return Record(a.Backend.Binary(BinaryOp.Div, a.Raw, b.Raw), () => { var f = new DivFn(); f.Save(a.Detach(), b.Detach()); return f; }, a, b);
    }
    protected internal override Tensor?[] Backward(Tensor g)
    {
        Tensor a = Saved(0), b = Saved(1);
        var ga = g / b;
        return [NeedsInputGrad(0) ? ga.SumTo(a.Raw.Shape) : null, NeedsInputGrad(1) ? (-ga * a / b).SumTo(b.Raw.Shape) : null];
    }
}

sealed class PowFn : Function
{
    public static Tensor Apply(Tensor a, Tensor b)
    {
        Tensor.CheckBinary("Pow", a, b, floatOnly: true);
        var raw = a.Backend.Binary(BinaryOp.Pow, a.Raw, b.Raw);
        return Record(raw, () => { var f = new PowFn(); f.Save(a.Detach(), b.Detach(), new Tensor(raw)); return f; }, a, b);
    }
    // d(a^b)/da = b * a^(b-1) (0 where b == 0, so 0^0 gives 0 and not 0 * inf); d(a^b)/db = a^b * log(a) (0 where
    // a == 0 and b >= 0; at a == 0 with b < 0 it is inf * -inf): both masked as PyTorch masks them.
    protected internal override Tensor?[] Backward(Tensor g)
    {
        Tensor a = Saved(0), b = Saved(1), y = Saved(2);
        Tensor? ga = null, gb = null;
        if (NeedsInputGrad(0)) ga = Torch.Where(b.Eq(0.0), Torch.ZerosLike(b), g * b * a.Pow(b - 1.0)).SumTo(a.Raw.Shape);
        if (NeedsInputGrad(1))
        {
            var t = y * a.Log();
            gb = (g * Torch.Where(a.Eq(0.0), Torch.Where(b.Ge(0.0), Torch.ZerosLike(t), t), t)).SumTo(b.Raw.Shape);
        }
        return [ga, gb];
    }
}

sealed class PowScalarFn(double e) : Function
{
    public static Tensor Apply(Tensor a, double e)
    {
        if (!a.DType.IsFloating()) throw new ArgumentException($"Pow: expected a floating point tensor, but dtype is {a.DType}; convert with To(DType.Float32)");
        // PyTorch computes x ** 0.5 as sqrt(x) and x ** -0.5 as 1 / sqrt(x): NaN at -inf (pow gives +inf and 0) and -0 and
        // -inf at -0; the backward's x ** -0.5 then gives NaN at -inf too, as PyTorch's.
        var raw = e == 0.5 ? a.Backend.Unary(UnaryOp.Sqrt, a.Raw)
            : e == -0.5 ? a.Backend.Binary(BinaryOp.Div, a.ScalarLike(1, "Pow").Raw, a.Backend.Unary(UnaryOp.Sqrt, a.Raw))
            : a.Backend.Binary(BinaryOp.Pow, a.Raw, a.ScalarLike(e, "Pow").Raw);
        return Record(raw, () => { var f = new PowScalarFn(e); f.Save(a.Detach()); return f; }, a);
    }
    protected internal override Tensor?[] Backward(Tensor g) => [e == 0 ? Torch.ZerosLike(g) : g * e * Saved(0).Pow(e - 1)];
}

sealed class UnaryFn(UnaryOp op) : Function
{
    public override string Name => op + "Backward";

    public static Tensor Apply(Tensor x, UnaryOp op)
    {
        if (x.DType == DType.Bool || (!x.DType.IsFloating() && op is not (UnaryOp.Neg or UnaryOp.Abs or UnaryOp.Relu or UnaryOp.Sign or UnaryOp.Square)))
            throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        var raw = x.Backend.Unary(op, x.Raw);
        return Record(raw, () => { var f = new UnaryFn(op); f.Save(x.Detach(), new Tensor(raw)); return f; }, x);
    }

    // Each derivative uses the input x or the output y, whichever is cheaper.
    protected internal override Tensor?[] Backward(Tensor g)
    {
        Tensor x = Saved(0), y = Saved(1);
        return [op switch
        {
            UnaryOp.Neg => -g,
            UnaryOp.Exp => g * y,
            UnaryOp.Log => g / x,
            UnaryOp.Sqrt => g / (2.0 * y),
            UnaryOp.Abs => g * x.Sign(),
            UnaryOp.Tanh => new Tensor(g.Backend.UnaryBackward(op, y.Raw, g.Raw)),     // g (1 - y^2), one fused pass
            UnaryOp.Sigmoid => new Tensor(g.Backend.UnaryBackward(op, y.Raw, g.Raw)),  // (g y) (1 - y)
            UnaryOp.Relu => new Tensor(g.Backend.UnaryBackward(op, x.Raw, g.Raw)),     // 0 where x <= 0, else g (NaN included, as PyTorch)
            UnaryOp.Square => g * 2.0 * x,
            _ => Torch.ZerosLike(g),
        }];
    }
}

sealed class ClampFn(double? min, double? max) : Function
{
    public static Tensor Apply(Tensor x, double? min, double? max)
    {
        if (x.DType == DType.Bool) throw new ArgumentException("Clamp: Bool tensors are not supported");
        if (min is null && max is null) throw new ArgumentException("Clamp: at least one of min and max must be given");
        foreach (var (arg, v) in new[] { ("min", min), ("max", max) })
            if (v is { } b)
            {
                if (double.IsNaN(b)) throw new ArgumentException($"Clamp: {arg} is NaN; expected a number, or null for no bound", arg);
                Tensor.CheckScalarFits("Clamp", arg, b, x.DType);
            }
        var raw = x.Backend.Clamp(x.Raw, min ?? double.NaN, max ?? double.NaN);
        return Record(raw, () => { var f = new ClampFn(min, max); f.Save(x.Detach()); return f; }, x);
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        var x = Saved(0);
        var keep = Torch.OnesLike(x);
        if (min is { } lo) keep = keep * x.Ge(lo).To(x.DType);
        if (max is { } hi) keep = keep * x.Le(hi).To(x.DType);
        return [Torch.Where(keep.Gt(0.0), g, 0.0)];
    }
}

sealed class WhereFn(int[] aShape, int[] bShape) : Function
{
    public static Tensor Apply(Tensor cond, Tensor a, Tensor b)
    {
        if (cond.DType != DType.Bool) throw new ArgumentException($"Where: condition must be Bool, but dtype is {cond.DType}; compare with Gt/Lt/Eq to make one", nameof(cond));
        Tensor.SameDevice("Where", cond, a);
        Tensor.CheckBinary("Where", a, b, floatOnly: false);
        Shapes.Broadcast("Where", Shapes.Broadcast("Where", cond.Raw.Shape, a.Raw.Shape), b.Raw.Shape);
        return Record(a.Backend.Where(cond.Raw, a.Raw, b.Raw), () => { var f = new WhereFn(a.Raw.Shape, b.Raw.Shape); f.Save(cond); return f; }, a, b);
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        var c = Saved(0);
        var zero = Torch.ZerosLike(g);
        return [NeedsInputGrad(0) ? Torch.Where(c, g, zero).SumTo(aShape) : null, NeedsInputGrad(1) ? Torch.Where(c, zero, g).SumTo(bShape) : null];
    }
}

public static partial class Torch
{
    /// <summary>cond ? a : b elementwise with broadcasting (differentiable in a and b).</summary>
    public static Tensor Where(Tensor cond, Tensor a, Tensor b) => WhereFn.Apply(cond, a, b);
    /// <summary>cond ? a : s.</summary>
    public static Tensor Where(Tensor cond, Tensor a, double s) => WhereFn.Apply(cond, a, a.ScalarLike(s, "Where"));
}
