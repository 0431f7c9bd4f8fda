namespace MiniGrad;

// Tensor hooks (PyTorch's tensor.register_hook): a function called with the gradient with respect to a tensor
// while Backward() runs, which may print it or return a replacement. A non-leaf tensor's hooks live on the op
// that produced it (the gradient arriving there is the tensor's gradient); a leaf keeps its own, run once on the
// summed gradient just before it is accumulated into Grad.
public partial class Tensor
{
    /// <summary>Hooks of this leaf (non-leaf tensors keep theirs on GradFn); null when none.</summary>
    internal List<Func<Tensor, Tensor?>>? GradHooks;

    /// <summary>
    /// Calls hook with the gradient with respect to this tensor during every Backward() that reaches it; a
    /// non-null return replaces that gradient (what flows on, or what a leaf accumulates into Grad). Hooks run
    /// in registration order, inside no-grad mode. Dispose the handle (or call Remove) to unregister.
    /// </summary>
    public HookHandle RegisterHook(Func<Tensor, Tensor?> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        if (!RequiresGrad)
            throw new InvalidOperationException("RegisterHook: cannot register a hook on a tensor that does not require grad; call RequiresGrad_() on it (a leaf) or on a leaf that feeds it");
        List<Func<Tensor, Tensor?>> list = GradFn is { } fn ? fn.Hooks ??= new() : GradHooks ??= new();
        list.Add(hook);
        return new HookHandle(() => list.Remove(hook));
    }

    /// <summary>Calls hook with the gradient with respect to this tensor during Backward() (to print or record it; it cannot replace it).</summary>
    public HookHandle RegisterHook(Action<Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterHook(g => { hook(g); return null; });
    }

    /// <summary>
    /// Keeps this non-leaf tensor's gradient in <see cref="Grad"/> after Backward (PyTorch's retain_grad(): the
    /// gradient after the tensor's own hooks, summed over Backward calls as a leaf's is); a leaf keeps its own anyway.
    /// Returns this tensor.
    /// </summary>
    public Tensor RetainGrad()
    {
        if (!RequiresGrad)
            throw new InvalidOperationException("RetainGrad: the tensor does not require grad, so it has no gradient to keep; call RequiresGrad_() on a leaf that feeds it");
        if (GradFn is { } fn) fn.RetainedOutput = this;
        return this;
    }

    /// <summary>Whether Backward keeps this non-leaf tensor's gradient in Grad (RetainGrad was called; false for leaves, as PyTorch's retains_grad).</summary>
    public bool RetainsGrad => GradFn is { } fn && ReferenceEquals(fn.RetainedOutput, this);

    /// <summary>How this tensor is drawn as a leaf in graph exports: "input" here, "parameter" for Nn's Parameter.</summary>
    protected internal virtual string LeafKind => "input";
}

/// <summary>Unregisters a hook (PyTorch's RemovableHandle): call Remove() or Dispose(); doing it twice is harmless.</summary>
public sealed class HookHandle : IDisposable
{
    Action? remove;

    internal HookHandle(Action remove) => this.remove = remove;

    /// <summary>Unregisters the hook; later backward passes no longer call it.</summary>
    public void Remove()
    {
        remove?.Invoke();
        remove = null;
    }

    /// <summary>Same as Remove(), so that a hook can live for a using block.</summary>
    public void Dispose() => Remove();
}

static class Hook
{
    /// <summary>Runs hooks in order on g, each seeing the previous one's replacement; checks that replacements fit.</summary>
    internal static Tensor Run(List<Func<Tensor, Tensor?>>? hooks, Tensor g, string where)
    {
        if (hooks is null) return g;
        foreach (var hook in hooks.ToArray()) // a hook may remove itself
        {
            g.DetachFromScope(); // a hook may keep the gradient it was shown: the backward must not dispose it
            if (hook(g) is not { } r) continue;
            r.DetachFromScope();
            if (!Shapes.Equal(r.Raw.Shape, g.Raw.Shape) || r.DType != g.DType || r.Device != g.Device)
                throw new InvalidOperationException(
                    $"Backward: a hook on {where} returned a gradient of shape {Shapes.Format(r.Raw.Shape)}, {r.DType} on {r.Device}; expected shape {Shapes.Format(g.Raw.Shape)}, {g.DType} on {g.Device} like the gradient it was given");
            g = r.Detach();
        }
        return g;
    }
}
