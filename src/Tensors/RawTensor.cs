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
}
