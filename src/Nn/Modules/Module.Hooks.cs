namespace MiniGrad.Nn;

// Module hooks (PyTorch's register_forward_pre_hook, register_forward_hook and register_full_backward_hook), so that
// a course can print or change what goes through a layer. Every module's Forward, built-in or user-written, runs its
// body through Call (PyTorch's __call__): pre-hooks, the body, the output shape recorded, forward hooks, backward-hook
// routing. With no hook registered that costs a few null checks.
public abstract partial class Module
{
    List<Func<Module, Tensor, Tensor?>>? forwardPreHooks;
    List<Func<Module, Tensor, Tensor, Tensor?>>? forwardHooks;
    List<Func<Module, Tensor, Tensor?>>? backwardHooks;

    /// <summary>
    /// Calls hook(module, input) before every Forward of this module (PyTorch's register_forward_pre_hook); a non-null
    /// return replaces the input that the Forward body and the forward hooks see. Dispose the handle (or call Remove) to unregister.
    /// </summary>
    public HookHandle RegisterForwardPreHook(Func<Module, Tensor, Tensor?> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        var list = forwardPreHooks ??= new();
        list.Add(hook);
        return new HookHandle(() => list.Remove(hook));
    }

    /// <summary>Calls hook(module, input) before every Forward of this module (to print or record).</summary>
    public HookHandle RegisterForwardPreHook(Action<Module, Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterForwardPreHook((m, i) => { hook(m, i); return null; });
    }

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
    /// Runs a Forward body with the hooks around it, as PyTorch's <c>Module.__call__</c> does: the forward pre-hooks
    /// (which may replace the input), <paramref name="forward"/> on that input, then <see cref="RunHooks"/> (forward
    /// hooks, LastOutputShape, backward-hook routing). Any module, built-in or your own, with any Forward signature,
    /// fires its hooks by writing its Forward as one line, the other arguments captured by the lambda:
    /// <code>public Tensor Forward(Tensor x, int[] lengths) => Call(x, x => fc.Forward(lstm.Forward(x, lengths).Output));</code>
    /// The hooks see the main input tensor and the returned tensor.
    /// </summary>
    protected Tensor Call(Tensor input, Func<Tensor, Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        input = RunPreHooks(input);
        return RunHooks(input, forward(input));
    }

    /// <summary>
    /// <see cref="Call(Tensor, Func{Tensor, Tensor})"/> for a Forward that returns more than one thing (a recurrent
    /// layer's output and its final state): the hooks see and may replace Output; Others (the state) passes through untouched.
    /// </summary>
    protected (Tensor Output, TOthers Others) Call<TOthers>(Tensor input, Func<Tensor, (Tensor Output, TOthers Others)> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        input = RunPreHooks(input);
        var (output, rest) = forward(input);
        return (RunHooks(input, output), rest);
    }

    /// <summary>Runs the forward pre-hooks in order on the input; each sees the previous replacement.</summary>
    Tensor RunPreHooks(Tensor input)
    {
        if (forwardPreHooks is null || input is null) return input!; // a null input is the Forward body's to reject
        foreach (var hook in forwardPreHooks.ToArray())
            input = hook(this, input) ?? input;
        return input;
    }

    /// <summary>
    /// The second half of <see cref="Call(Tensor, Func{Tensor, Tensor})"/>, for a Forward that cannot be written as a
    /// lambda: runs the forward hooks (which may replace the output), records the output's shape as LastOutputShape
    /// and, when backward hooks are registered and the output is in the graph, routes the output through an identity
    /// node whose backward calls them (as PyTorch's BackwardHookFunction does). It does not run the pre-hooks.
    /// </summary>
    protected Tensor RunHooks(Tensor input, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (forwardHooks is not null)
            foreach (var hook in forwardHooks.ToArray())
                output = hook(this, input, output) ?? output;
        if (backwardHooks is { Count: > 0 } && output.RequiresGrad && Autograd.IsGradEnabled)
            output = BackwardHookFn.Apply(output, this);
        LastOutputShape = output.Shape;
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
