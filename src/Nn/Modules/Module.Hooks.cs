namespace MiniGrad.Nn;

// Module hooks (PyTorch's register_forward_hook and register_full_backward_hook), so that a course can print or
// change what goes through a layer. Layers call RunHooks on their way out of Forward; with no hook registered it
// costs two null checks.
public abstract partial class Module
{
    List<Func<Module, Tensor, Tensor, Tensor?>>? forwardHooks;
    List<Func<Module, Tensor, Tensor?>>? backwardHooks;

    /// <summary>
    /// Calls hook(module, input, output) after every Forward of this module; a non-null return replaces the output.
    /// Dispose the handle (or call Remove) to unregister.
    /// </summary>
    public HookHandle RegisterForwardHook(Func<Module, Tensor, Tensor, Tensor?> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        var list = forwardHooks ??= new();
        list.Add(hook);
        return new HookHandle(() => list.Remove(hook));
    }

    /// <summary>Calls hook(module, input, output) after every Forward of this module (to print or record).</summary>
    public HookHandle RegisterForwardHook(Action<Module, Tensor, Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterForwardHook((m, i, o) => { hook(m, i, o); return null; });
    }

    /// <summary>
    /// Calls hook(module, gradOutput) during Backward() with the gradient with respect to this module's output
    /// (for outputs computed after registering); a non-null return replaces that gradient, so what flows into the
    /// module's ops and parameters changes. Dispose the handle (or call Remove) to unregister.
    /// </summary>
    public HookHandle RegisterFullBackwardHook(Func<Module, Tensor, Tensor?> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        var list = backwardHooks ??= new();
        list.Add(hook);
        return new HookHandle(() => list.Remove(hook));
    }

    /// <summary>Calls hook(module, gradOutput) during Backward() (to print or record the gradient at this module's output).</summary>
    public HookHandle RegisterFullBackwardHook(Action<Module, Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterFullBackwardHook((m, g) => { hook(m, g); return null; });
    }

    /// <summary>
    /// Layers end Forward with <c>return RunHooks(input, output);</c>: runs the forward hooks (which may replace
    /// the output) and, when backward hooks are registered and the output is in the graph, routes the output
    /// through an identity node whose backward calls them (as PyTorch's BackwardHookFunction does).
    /// </summary>
    protected Tensor RunHooks(Tensor input, Tensor output)
    {
        if (forwardHooks is null && backwardHooks is null) return output;
        if (forwardHooks is not null)
            foreach (var hook in forwardHooks.ToArray())
                output = hook(this, input, output) ?? output;
        if (backwardHooks is { Count: > 0 } && output.RequiresGrad && Autograd.IsGradEnabled)
            output = BackwardHookFn.Apply(output, this);
        return output;
    }

    /// <summary>Runs the backward hooks in order on the gradient at the output; each sees the previous replacement.</summary>
    internal Tensor RunBackwardHooks(Tensor grad)
    {
        if (backwardHooks is null) return grad;
        foreach (var hook in backwardHooks.ToArray())
        {
            if (hook(this, grad) is not { } r) continue;
            if (!Shapes.Equal(r.Shape, grad.Shape) || r.DType != grad.DType || r.Device != grad.Device)
                throw new InvalidOperationException(
                    $"Backward: a backward hook of {GetType().Name} returned a gradient of shape {Shapes.Format(r.Shape)}, {r.DType} on {r.Device}; expected shape {Shapes.Format(grad.Shape)}, {grad.DType} on {grad.Device} like the output gradient it was given");
            grad = r.Detach();
        }
        return grad;
    }
}

/// <summary>The identity, as a tape node whose backward runs a module's backward hooks on the output gradient.</summary>
internal sealed class BackwardHookFn(Module module) : Function
{
    public static Tensor Apply(Tensor output, Module module) => Record(output.Raw, () => new BackwardHookFn(module), output);

    protected internal override Tensor?[] Backward(Tensor g) => [module.RunBackwardHooks(g)];
}
