namespace MiniGrad;

/// <summary>
/// A contiguous, row-major, non-differentiable array owned by a backend. The autograd <c>Tensor</c> wraps one.
/// </summary>
public abstract class RawTensor
{
    /// <summary>Creates the header; the subclass owns the storage.</summary>
    protected RawTensor(int[] shape, DType dtype)
    {
        Shape = shape;
        DType = dtype;
        Numel = Shapes.Numel(shape);
    }

    /// <summary>Dimensions (do not mutate: headers may share it).</summary>
    public int[] Shape { get; }
    /// <summary>Element type.</summary>
    public DType DType { get; }
    /// <summary>Number of elements.</summary>
    public int Numel { get; }
    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Length;
    /// <summary>The backend that owns the storage.</summary>
    public abstract IBackend Backend { get; }
    /// <summary>A header with another shape of the same element count over the same storage (no copy).</summary>
    public abstract RawTensor Reshape(int[] shape);

    /// <summary>
    /// Counts one more owner of the storage (shared by every header over it). Owners are the autograd tensors that wrap
    /// a header and the ops that keep one for their backward; each releases once. A backend may reuse storage whose last
    /// owner released it; storage that never had an owner is left to the garbage collector. The default does nothing.
    /// </summary>
    public virtual void Retain() { }

    /// <summary>Lets go of one ownership taken by <see cref="Retain"/>; after the last one the backend may reuse the storage.</summary>
    public virtual void Release() { }

    /// <summary>Reuses the storage now if it has no owner (a temporary its creator is done with); otherwise does nothing.</summary>
    public virtual void Recycle() { }
}
