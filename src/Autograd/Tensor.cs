namespace MiniGrad;

/// <summary>
/// A differentiable n-dimensional array: raw data on a device, plus the autograd state (RequiresGrad, Grad and
/// the Function that produced it). Ops are in Ops/*.cs as partial members of this class.
/// </summary>
public partial class Tensor : IDisposable
{
    bool requiresGrad;
    RawTensor? raw;

    /// <summary>Wraps raw (one more owner of its storage); the tensor belongs to the innermost open scope on this thread, if any.</summary>
    internal Tensor(RawTensor raw, bool requiresGrad = false, bool scoped = true)
    {
        raw.Retain();
        this.raw = raw;
        if (requiresGrad) RequiresGrad = true;
        if (scoped) TensorScope.Current?.Add(this);
    }

    /// <summary>
    /// Wraps the data of another tensor (shares storage) as a new leaf; subclasses such as Parameter use it. Such a
    /// tensor belongs to no scope: a module made inside one keeps its parameters.
    /// </summary>
    protected Tensor(Tensor data, bool requiresGrad) : this(data.Raw, requiresGrad, scoped: false) { }

    internal RawTensor Raw => raw ?? throw new ObjectDisposedException(nameof(Tensor),
        "this tensor was disposed (by Dispose() or by the Torch.NewScope() it was created in); keep a tensor past its scope with MoveToOuterScope() or DetachFromScope()");

    /// <summary>Points this tensor at other storage (the old one loses an owner): in-place updates are made this way.</summary>
    internal void ReplaceRaw(RawTensor value)
    {
        value.Retain();
        var old = Raw;
        raw = value;
        old.Release();
    }

    /// <summary>The scope that disposes this tensor when it ends (null: none).</summary>
    internal TensorScope? Scope;

    /// <summary>True once Dispose() ran (itself or through its scope): the data is gone and using the tensor throws.</summary>
    public bool IsDisposed => raw is null;

    /// <summary>
    /// Lets go of this tensor's data now (TorchSharp's Dispose): when no other tensor and no recorded op shares the
    /// storage it is reused for the next tensor of that size instead of waiting for the garbage collector. Using the
    /// tensor afterwards throws ObjectDisposedException. Its Grad is a tensor of its own and is not disposed.
    /// </summary>
    public void Dispose()
    {
        var r = raw;
        if (r is null) return;
        raw = null;
        Scope = null;
        r.Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Takes this tensor out of its scope into the scope around it (or none), so that it outlives the inner one; returns it.</summary>
    public Tensor MoveToOuterScope()
    {
        var s = Scope;
        Scope = null;
        s?.Outer?.Add(this);
        return this;
    }

    /// <summary>Takes this tensor out of every scope: it lives until you Dispose() it or the GC collects it; returns it.</summary>
    public Tensor DetachFromScope()
    {
        Scope = null;
        return this;
    }

    /// <summary>A detached tensor over the same data that no scope owns: what an op keeps for its backward.</summary>
    internal Tensor Shadow() => new(Raw, scoped: false);
    internal IBackend Backend => Raw.Backend;

    /// <summary>The dimensions (a copy).</summary>
    public int[] Shape => (int[])Raw.Shape.Clone();
    /// <summary>Size of one dimension (negative counts from the end).</summary>
    public int Size(int dim) => Rank > 0 ? Raw.Shape[Shapes.NormalizeDim("Size", dim, Rank)]
        // NormalizeDim lets 0 and -1 through at rank 0 (reductions accept them), but a 0-d tensor has no size to give.
        : throw new ArgumentOutOfRangeException(nameof(dim), dim, $"Size: dim = {dim} is out of range for a 0-d tensor, which has no dimensions");
    /// <summary>Number of dimensions.</summary>
    public int Rank => Raw.Rank;
    /// <summary>Number of elements.</summary>
    public int Numel => Raw.Numel;
    /// <summary>Element type.</summary>
    public DType DType => Raw.DType;
    /// <summary>The device holding the data.</summary>
    public Device Device => Raw.Backend.Device;

    /// <summary>The function that produced this tensor (null for leaves), PyTorch's grad_fn.</summary>
    public Function? GradFn { get; private set; }
    /// <summary>True for tensors created by the user rather than by a recorded op.</summary>
    public bool IsLeaf => GradFn is null;
    /// <summary>The accumulated gradient of a leaf after Backward(). One assigned must be like the tensor (shape, dtype,
    /// device), as PyTorch checks: a mismatch would fail later, in another op, or silently broadcast.</summary>
    public Tensor? Grad
    {
        get => grad;
        set
        {
            if (value is not null && (!Shapes.Equal(value.Raw.Shape, Raw.Shape) || value.DType != DType || value.Device != Device))
                throw new ArgumentException($"Grad: the assigned gradient has shape {Shapes.Format(value.Raw.Shape)}, {value.DType} on {value.Device}; " +
                    $"expected shape {Shapes.Format(Raw.Shape)}, {DType} on {Device}, like the tensor", nameof(value));
            grad = value;
        }
    }
    Tensor? grad;

    /// <summary>Whether ops on this tensor are recorded for Backward().</summary>
    public bool RequiresGrad
    {
        get => requiresGrad;
        set
        {
            if (!value && GradFn is not null)
                throw new InvalidOperationException("RequiresGrad: you can only change the flag of leaf tensors; use Detach() to get a tensor outside the graph");
            if (value && !DType.IsFloating())
                throw new InvalidOperationException($"RequiresGrad: only floating point tensors can require gradients, but dtype is {DType}");
            requiresGrad = value;
        }
    }

    internal void SetGradFn(Function fn) { GradFn = fn; requiresGrad = true; }

    /// <summary>Sets RequiresGrad in place and returns this tensor (PyTorch's requires_grad_()).</summary>
    public Tensor RequiresGrad_(bool requiresGrad = true) { RequiresGrad = requiresGrad; return this; }

    /// <summary>The same data outside the graph (shares storage; no grad).</summary>
    public Tensor Detach() => new(Raw);

    /// <summary>Computes gradients of this tensor with respect to every leaf that requires grad.</summary>
    /// <param name="gradient">d(something)/d(this); omitted for a scalar, where it is 1.</param>
    /// <param name="retainGraph">Keep saved tensors so that Backward can run through the graph again.</param>
    public void Backward(Tensor? gradient = null, bool retainGraph = false) => Autograd.Backward(this, gradient, retainGraph);

    // The gradient belongs to the leaf, not to a scope: it must outlive the backward's temporaries and the user's step.
    // Into the existing gradient tensor, as PyTorch's AccumulateGrad adds in place: a reference to x.Grad taken before
    // a second backward sees the sum (the temporary sum is left to the backward's scope).
    internal void AccumulateGrad(Tensor g)
    {
        if (Grad is null) Grad = g.Detach().DetachFromScope();
        else Grad.ReplaceRaw((Grad + g).Raw);
    }

    /// <summary>
    /// Replaces this tensor's values with src's (PyTorch's copy_), broadcasting and converting as needed. Used by
    /// optimizers and checkpoint loading inside Torch.NoGrad(); tensors saved by earlier ops keep the old values.
    /// </summary>
    public Tensor Copy_(Tensor src)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (IsLeaf && RequiresGrad && Autograd.IsGradEnabled)
            throw new InvalidOperationException("Copy_: a leaf tensor that requires grad is being used in an in-place operation; wrap the update in Torch.NoGrad()");
        if (GradFn is not null)
            throw new InvalidOperationException($"Copy_: in-place updates of tensors produced by ops ({GradFn.Name}) are not supported; use the op's result instead");
        if (src.RequiresGrad && Autograd.IsGradEnabled) // PyTorch records CopyBackwards; here the gradient would be lost without a word
            throw new InvalidOperationException("Copy_: the source requires grad, and Copy_ records no graph, so no gradient would reach it; use the source itself in the computation, or copy src.Detach() (or copy inside Torch.NoGrad())");
        var shape = Shapes.Broadcast("Copy_", Raw.Shape, src.Raw.Shape);
        if (!Shapes.Equal(shape, Raw.Shape))
            throw new ArgumentException($"Copy_: source shape {Shapes.Format(src.Raw.Shape)} cannot be broadcast to this tensor's shape {Shapes.Format(Raw.Shape)}", nameof(src));
        var v = src.To(Device).To(DType);
        ReplaceRaw(Shapes.Equal(v.Raw.Shape, Raw.Shape) ? Backend.Cast(v.Raw, DType) : Backend.Expand(v.Raw, Raw.Shape));
        return this;
    }

    // In-place arithmetic (PyTorch's add_, mul_, zero_, ...), each a Copy_ of the result: the same rules (not on a leaf that
    // requires grad outside Torch.NoGrad(), not on an op's result, no source that requires grad), the same dtype and shape.
    /// <summary>this += other (broadcast to this tensor's shape), in place; returns this.</summary>
    public Tensor Add_(Tensor other) => Copy_(this + other);
    /// <summary>this += s, in place; returns this.</summary>
    public Tensor Add_(double s) => Copy_(this + s);
    /// <summary>this -= other, in place; returns this.</summary>
    public Tensor Sub_(Tensor other) => Copy_(this - other);
    /// <summary>this *= other, in place; returns this.</summary>
    public Tensor Mul_(Tensor other) => Copy_(this * other);
    /// <summary>this *= s, in place; returns this.</summary>
    public Tensor Mul_(double s) => Copy_(this * s);
    /// <summary>this /= s, in place; returns this.</summary>
    public Tensor Div_(double s) => Copy_(this / s);
    /// <summary>Every element set to value, in place (torch.fill_); returns this.</summary>
    public Tensor Fill_(double value) => Copy_(Torch.FullLike(this, value));
    /// <summary>Every element set to 0, in place (torch.zero_); returns this.</summary>
    public Tensor Zero_() => Fill_(0);
    /// <summary>Clamps into [min, max] in place (torch.clamp_); returns this.</summary>
    public Tensor Clamp_(double? min = null, double? max = null) => Copy_(Clamp(min, max));

    /// <summary>Casts this leaf's data and gradient to a floating dtype in place (Module.To(DType) uses it).</summary>
    internal void CastTo(DType dtype)
    {
        if (DType == dtype) return;
        ReplaceRaw(Backend.Cast(Raw, dtype));
        grad = grad?.To(dtype);
    }

    /// <summary>Moves this leaf's data and gradient to a device in place (Module.To uses it).</summary>
    internal void MoveTo(Device device)
    {
        if (Device == device) return;
        ReplaceRaw(device.Backend.FromArray(Backend.ToArray(Raw), Raw.Shape));
        Grad = Grad?.To(device);
    }

    /// <summary>
    /// Clears the gradient (sets Grad to null, like PyTorch's set_to_none) and disposes it, so that the next backward
    /// reuses its storage; copy a gradient you need past this first (Clone()).
    /// </summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>A copy of the elements as a flat array of T, converting the dtype when T differs.</summary>
    public T[] ToArray<T>()
    {
        var want = DTypes.Of<T>();
        var raw = want == DType ? Raw : Backend.Cast(Raw, want);
        return (T[])raw.Backend.ToArray(raw);
    }

    /// <summary>The single value of a one-element tensor (PyTorch's item()).</summary>
    public T Item<T>()
    {
        if (Numel != 1)
            throw new InvalidOperationException($"Item: a tensor with {Numel} elements (shape {Shapes.Format(Raw.Shape)}) cannot be converted to a scalar; expected exactly one element");
        return ToArray<T>()[0];
    }

    /// <summary>Converts to another dtype (differentiable between float types).</summary>
    public Tensor To(DType dtype) => dtype == DType ? this : CastFn.Apply(this, dtype);

    /// <summary>A copy of the data that gradients flow through (PyTorch's clone()).</summary>
    public Tensor Clone() => CloneFn.Apply(this);

    /// <summary>Moves to another device (differentiable).</summary>
    public Tensor To(Device device) => device == Device ? this : ToDeviceFn.Apply(this, device);

    /// <inheritdoc/>
    public override string ToString() => TensorFormat.Format(this);

    internal static void SameDevice(string op, Tensor a, Tensor b)
    {
        if (a.Device != b.Device)
            throw new ArgumentException($"{op}: expected all tensors on the same device, but found {a.Device} and {b.Device}; move one with To(device)");
    }
}

sealed class CastFn(DType from) : Function
{
    public static Tensor Apply(Tensor x, DType dtype)
    {
        var raw = x.Backend.Cast(x.Raw, dtype);
        return dtype.IsFloating() ? Record(raw, () => new CastFn(x.DType), x) : new Tensor(raw);
    }

    protected internal override Tensor?[] Backward(Tensor g) => [from.IsFloating() ? g.To(from) : null];
}

sealed class CloneFn : Function
{
    public static Tensor Apply(Tensor x) => Record(x.Backend.Cast(x.Raw, x.DType), () => new CloneFn(), x);

    protected internal override Tensor?[] Backward(Tensor g) => [g];
}

sealed class ToDeviceFn(Device from) : Function
{
    public static Tensor Apply(Tensor x, Device device)
    {
        var target = device.Backend;
        return Record(target.FromArray(x.Backend.ToArray(x.Raw), x.Raw.Shape), () => new ToDeviceFn(x.Device), x);
    }

    protected internal override Tensor?[] Backward(Tensor g) => [g.To(from)];
}
