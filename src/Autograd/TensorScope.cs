namespace MiniGrad;

/// <summary>
/// Disposes the tensors created inside it, on this thread, when it ends (TorchSharp's DisposeScope), so that their
/// storage goes back to the pool for the next step instead of waiting for the garbage collector:
/// <code>
/// for (int step = 0; step &lt; steps; step++)
/// {
///     using var scope = Torch.NewScope();
///     var loss = model.Forward(x).Loss(y);
///     optimizer.ZeroGrad(); loss.Backward(); optimizer.Step();
///     total += loss.Item&lt;double&gt;();
/// }
/// </code>
/// Scopes nest; a tensor that must outlive one leaves it with <see cref="Tensor.MoveToOuterScope"/> or
/// <see cref="Tensor.DetachFromScope"/> (or <see cref="Keep"/>). Parameters, gradients, optimizer state and module
/// buffers never belong to a scope. An op recorded inside keeps what its backward needs, so a loss may still go
/// backward after its scope ended.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] static TensorScope? current;
    readonly List<Tensor> owned = [];
    bool ended;

    internal TensorScope()
    {
        Outer = current;
        current = this;
    }

    /// <summary>The innermost open scope on this thread (null: none).</summary>
    internal static TensorScope? Current => current;

    /// <summary>The scope this one is nested in (null: none).</summary>
    internal TensorScope? Outer { get; }

    /// <summary>How many tensors this scope will dispose when it ends.</summary>
    public int Count => owned.Count(t => t.Scope == this);

    internal void Add(Tensor t)
    {
        owned.Add(t);
        t.Scope = this;
    }

    /// <summary>Takes t out of this scope into the one around it (or none) and returns it (same as t.MoveToOuterScope()).</summary>
    public T Keep<T>(T t) where T : Tensor
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Scope != this)
            throw new ArgumentException("Keep: the tensor does not belong to this scope (it was created outside it, or already moved out)", nameof(t));
        t.MoveToOuterScope();
        return t;
    }

    /// <summary>Disposes every tensor still owned by this scope and makes the scope around it current again.</summary>
    public void Dispose()
    {
        if (ended) return;
        if (current != this)
            throw new InvalidOperationException("TensorScope.Dispose: a scope opened inside this one is still open; end scopes in the reverse order of Torch.NewScope() (a using statement does)");
        ended = true;
        current = Outer;
        foreach (var t in owned)
            if (t.Scope == this) t.Dispose();
        owned.Clear();
    }
}
