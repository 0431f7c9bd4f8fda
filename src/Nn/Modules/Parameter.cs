namespace MiniGrad.Nn;

/// <summary>A tensor that a Module owns and an optimizer updates: a leaf that requires grad by default.</summary>
public sealed class Parameter : Tensor
{
    /// <summary>Wraps data (storage is shared, the graph is not) as a trainable leaf.</summary>
    public Parameter(Tensor data, bool requiresGrad = true) : base(data.Detach(), requiresGrad) { }

    /// <summary>Graph exports mark parameters apart from inputs.</summary>
    protected internal override string LeafKind => "parameter";
}
