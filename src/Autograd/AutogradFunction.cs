namespace MiniGrad;

/// <summary>
/// Your own differentiable op, as PyTorch's torch.autograd.Function and TorchSharp's autograd functions: subclass it,
/// write Forward with ordinary tensor ops (it runs under no-grad, so nothing inside it is recorded) and Backward
/// returning one gradient per input, then call Apply. Apply records one node on the tape, named "{ClassName}Backward",
/// which Backward(), GradCheck, tensor hooks, anomaly mode and graph export treat like any built-in op.
/// </summary>
/// <remarks>
/// One instance can be applied any number of times: per-call state lives in the <see cref="AutogradContext"/>, and
/// fields of the subclass hold settings (a clip bound, say). Backward runs under no-grad too, so double backward
/// (a gradient of a gradient) through your op is not recorded.
/// </remarks>
/// <example><code>
/// sealed class MyExp : AutogradFunction
/// {
///     protected override Tensor Forward(AutogradContext ctx, params Tensor[] inputs)
///     {
///         var y = inputs[0].Exp();
///         ctx.SaveForBackward(y);
///         return y;
///     }
///     protected override Tensor?[] Backward(AutogradContext ctx, Tensor gradOutput) =>
///         [gradOutput * ctx.SavedTensors[0]];
/// }
/// var y = new MyExp().Apply(x);   // y.GradFn.Name == "MyExpBackward"
/// </code></example>
public abstract class AutogradFunction
{
    /// <summary>The node's name in grad_fn, graph exports and errors: the class name + "Backward", as in PyTorch.</summary>
    public virtual string Name => GetType().Name + "Backward";

    /// <summary>
    /// Computes the output from the inputs (exactly as Apply received them) with ordinary tensor ops, under no-grad.
    /// Save what Backward needs with ctx.SaveForBackward (tensors) or ctx.SaveData (anything else).
    /// </summary>
    protected abstract Tensor Forward(AutogradContext ctx, params Tensor[] inputs);

    /// <summary>
    /// Given d loss / d output, returns d loss / d input for each input, in order: the same shape, dtype and device as
    /// that input, or null where ctx.NeedsInputGrad is false (null also means "zero"). Runs under no-grad.
    /// </summary>
    protected abstract Tensor?[] Backward(AutogradContext ctx, Tensor gradOutput);

    /// <summary>
    /// Runs Forward and, when grad mode is on and some input requires grad, records one node on the tape whose
    /// backward calls Backward. A non-floating output, or one marked with ctx.MarkNonDifferentiable, is returned
    /// outside the graph.
    /// </summary>
    public Tensor Apply(params Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i] is null)
                throw new ArgumentNullException(nameof(inputs), $"{Name}: input {i} is null; Apply takes tensors only (pass settings to your subclass's constructor)");
        bool grad = Autograd.IsGradEnabled;
        var ctx = new AutogradContext(this, inputs.Select(t => grad && t.RequiresGrad).ToArray());
        Tensor output;
        using (Torch.NoGrad())
            output = Forward(ctx, inputs) ?? throw new InvalidOperationException($"{Name}: Forward returned null; expected the output tensor");
        ctx.EndForward(output);
        if (ctx.IsNonDifferentiable || !output.DType.IsFloating()) return output.Detach();
        // Record captures anomaly mode's stack trace from here, so the op's origin is the line that called Apply.
        return Function.Record(output.Raw, () => new CustomFn(this, ctx, inputs), inputs);
    }

    internal Tensor?[] InvokeBackward(AutogradContext ctx, Tensor gradOutput) => Backward(ctx, gradOutput);
}

/// <summary>
/// What one call of an <see cref="AutogradFunction"/> keeps between its Forward and its Backward (PyTorch's ctx):
/// the saved tensors and data, and which inputs need a gradient.
/// </summary>
public sealed class AutogradContext
{
    readonly AutogradFunction fn;
    readonly bool[] needsInputGrad;
    Tensor[] saved = [];
    Dictionary<string, object?>? data;
    Tensor? nonDifferentiable;
    bool inForward = true, released;

    internal AutogradContext(AutogradFunction fn, bool[] needsInputGrad)
    {
        this.fn = fn;
        this.needsInputGrad = needsInputGrad;
    }

    /// <summary>
    /// For each input, whether Backward must compute its gradient (it requires grad and grad mode was on), PyTorch's
    /// ctx.needs_input_grad. Skip the others: return null for them and save nothing that only they would use.
    /// </summary>
    public IReadOnlyList<bool> NeedsInputGrad => needsInputGrad;

    /// <summary>Keeps tensors for Backward (PyTorch's ctx.save_for_backward); call it in Forward. They are freed after Backward unless the graph is retained.</summary>
    public void SaveForBackward(params Tensor[] tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        CheckInForward(nameof(SaveForBackward));
        for (int i = 0; i < tensors.Length; i++)
            if (tensors[i] is null) throw new ArgumentNullException(nameof(tensors), $"{fn.Name}: SaveForBackward got null at position {i}; save tensors only");
        // Detached: a saved input must not keep its own graph alive, and Backward computes outside the graph anyway.
        // Owned by the context, not by a scope: they live until Backward is done with them (see Release).
        foreach (var t in saved) t.Dispose();
        saved = tensors.Select(t => new Tensor(t.Raw, scoped: false)).ToArray();
    }

    /// <summary>The tensors given to SaveForBackward, in order (PyTorch's ctx.saved_tensors).</summary>
    public IReadOnlyList<Tensor> SavedTensors
    {
        get
        {
            if (released)
                throw new InvalidOperationException($"{fn.Name}: the saved tensors were freed after the first Backward(); pass retainGraph: true to it to backward through the graph again");
            return saved;
        }
    }

    /// <summary>Keeps a non-tensor value (a shape, a flag, a scalar) for Backward under a key; call it in Forward.</summary>
    public void SaveData(string key, object? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        CheckInForward(nameof(SaveData));
        (data ??= new())[key] = value;
    }

    /// <summary>A value kept by SaveData.</summary>
    public T GetData<T>(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (data is null || !data.TryGetValue(key, out var v))
            throw new KeyNotFoundException($"{fn.Name}: no data was saved under '{key}' (saved: {(data is null ? "none" : string.Join(", ", data.Keys))}); call ctx.SaveData(\"{key}\", value) in Forward");
        if (v is T t) return t;
        if (v is null && default(T) is null) return default!;
        throw new InvalidCastException($"{fn.Name}: data '{key}' is a {v?.GetType().Name ?? "null"}, not a {typeof(T).Name}");
    }

    /// <summary>
    /// Marks Forward's output as not differentiable (PyTorch's ctx.mark_non_differentiable): Apply returns it outside
    /// the graph, as for an index or a mask. Call it in Forward with the tensor Forward returns.
    /// </summary>
    public void MarkNonDifferentiable(Tensor output)
    {
        ArgumentNullException.ThrowIfNull(output);
        CheckInForward(nameof(MarkNonDifferentiable));
        nonDifferentiable = output;
    }

    internal bool IsNonDifferentiable => nonDifferentiable is not null;

    internal void EndForward(Tensor output)
    {
        inForward = false;
        if (nonDifferentiable is not null && !ReferenceEquals(nonDifferentiable, output))
            throw new InvalidOperationException($"{fn.Name}: MarkNonDifferentiable was given a tensor that Forward did not return; pass it the output tensor itself");
    }

    internal bool IsSaved(Tensor t) => saved.Any(s => ReferenceEquals(s, t));

    internal void Release()
    {
        foreach (var t in saved) t.Dispose();
        saved = [];
        data = null;
        released = true;
    }

    void CheckInForward(string what)
    {
        if (!inForward)
            throw new InvalidOperationException($"{fn.Name}: {what} can only be called in Forward; Backward sees what Forward saved");
    }
}

/// <summary>The tape node of one Apply: calls the user's Backward and checks what it returns before it flows on.</summary>
sealed class CustomFn : Function
{
    readonly AutogradFunction def;
    readonly AutogradContext ctx;
    readonly (int[] Shape, DType DType, Device Device)[] inputs;

    internal CustomFn(AutogradFunction def, AutogradContext ctx, Tensor[] inputs)
    {
        this.def = def;
        this.ctx = ctx;
        this.inputs = inputs.Select(t => (t.Shape, t.DType, t.Device)).ToArray();
    }

    public override string Name => def.Name;

    protected internal override Tensor?[] Backward(Tensor g)
    {
        var grads = def.InvokeBackward(ctx, g)
            ?? throw new InvalidOperationException($"{Name}: Backward returned null; expected an array with one gradient (or null) per input, {inputs.Length} in all");
        if (grads.Length != inputs.Length)
            throw new InvalidOperationException(
                $"{Name}: Backward returned {grads.Length} gradient{(grads.Length == 1 ? "" : "s")}, but Forward took {inputs.Length} input{(inputs.Length == 1 ? "" : "s")}; return one per input, null where none is needed");
        var result = new Tensor?[grads.Length];
        for (int k = 0; k < grads.Length; k++)
        {
            if (grads[k] is not { } gk) continue;
            var (shape, dtype, device) = inputs[k];
            if (!dtype.IsFloating())
                throw new InvalidOperationException($"{Name}: Backward returned a gradient for input {k}, which is {dtype} and cannot have one; return null there");
            if (!NeedsInputGrad(k)) continue; // PyTorch drops gradients nobody asked for
            if (!Shapes.Equal(gk.Raw.Shape, shape) || gk.DType != dtype || gk.Device != device)
                throw new InvalidOperationException(
                    $"{Name}: Backward returned an invalid gradient for input {k}: got shape {Shapes.Format(gk.Raw.Shape)}, {gk.DType} on {gk.Device}; " +
                    $"expected shape {Shapes.Format(shape)}, {dtype} on {device}, like the input{Hint(gk, shape, dtype, device)}");
            // A handle of its own on the gradient's storage: Backward may return one of its saved tensors, which Release
            // disposes right after this node, while the gradient still waits for the nodes below.
            result[k] = ctx.IsSaved(gk) ? new Tensor(gk.Raw) : gk;
        }
        return result;
    }

    static string Hint(Tensor g, int[] shape, DType dtype, Device device) =>
        !Shapes.Equal(g.Raw.Shape, shape) ? " (sum a broadcast gradient back down to the input's shape)"
        : g.DType != dtype ? $" (convert it with To(DType.{dtype}))"
        : $" (move it with To(device))";

    internal override void Release()
    {
        base.Release();
        ctx.Release();
    }
}
