namespace MiniGrad;

// Matrix products. One Function covers op(a) @ op(b) with optional transposes, so the backward can reuse the
// same GEMM with flipped flags instead of copying transposed operands.
public partial class Tensor
{
    /// <summary>
    /// Matrix product with PyTorch's rules: 1-D x 1-D is a dot product, 1-D operands are promoted by a size-1 dim
    /// that is removed afterwards, and leading (batch) dims broadcast.
    /// </summary>
    public Tensor MatMul(Tensor other)
    {
        ArgumentNullException.ThrowIfNull(other);
        SameDevice("MatMul", this, other);
        string shapes = $"shapes {Shapes.Format(Raw.Shape)} and {Shapes.Format(other.Raw.Shape)}";
        if (Rank == 0 || other.Rank == 0)
            throw new ArgumentException($"MatMul: both arguments need at least 1 dimension, but got {shapes}");
        // Checked on the shapes as given, so that 1-D operands are not reported in their promoted form.
        MatMulFn.CheckDTypes(this, other);
        int ka = Raw.Shape[^1], kb = other.Rank == 1 ? other.Raw.Shape[0] : other.Raw.Shape[^2];
        if (ka != kb) throw new ArgumentException($"MatMul: {shapes} cannot be multiplied: inner sizes {ka} and {kb} differ");
        int ra = Math.Max(Rank - 2, 0), rb = Math.Max(other.Rank - 2, 0);
        for (int i = 1; i <= Math.Min(ra, rb); i++)
        {
            int da = Raw.Shape[ra - i], db = other.Raw.Shape[rb - i];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"MatMul: {shapes} cannot be multiplied: batch dimensions {Shapes.Format(Raw.Shape.AsSpan(0, ra))} and {Shapes.Format(other.Raw.Shape.AsSpan(0, rb))} cannot be broadcast ({da} vs {db})");
        }
        var a = Rank == 1 ? Unsqueeze(0) : this;
        var b = other.Rank == 1 ? other.Unsqueeze(1) : other;
        var r = MatMulFn.Apply(a, b, false, false);
        if (Rank == 1) r = r.Squeeze(-2);
        if (other.Rank == 1) r = r.Squeeze(-1);
        return r;
    }
}

sealed class MatMulFn(bool transA, bool transB) : Function
{
    public override string Name => "MmBackward";

    /// <summary>GEMMs launched on this thread, forward and backward (tests count them to prove backward skips unneeded ones).</summary>
    [ThreadStatic] internal static long Gemms;

    /// <summary>op(a) @ op(b) for operands of rank >= 2; op transposes the last two dims when its flag is set.</summary>
    internal static Tensor Apply(Tensor a, Tensor b, bool transA, bool transB)
    {
        CheckDTypes(a, b);
        int ka = transA ? a.Raw.Shape[^2] : a.Raw.Shape[^1], kb = transB ? b.Raw.Shape[^1] : b.Raw.Shape[^2];
        if (ka != kb)
            throw new ArgumentException($"MatMul: shapes {Shapes.Format(a.Raw.Shape)} and {Shapes.Format(b.Raw.Shape)} cannot be multiplied: inner sizes {ka} and {kb} differ");
        Shapes.Broadcast("MatMul", a.Raw.Shape.AsSpan(0, a.Rank - 2), b.Raw.Shape.AsSpan(0, b.Rank - 2));
        var raw = a.Backend.MatMul(a.Raw, b.Raw, transA, transB);
        Gemms++;
        return Record(raw, () => { var f = new MatMulFn(transA, transB); f.Save(a.Detach(), b.Detach()); return f; }, a, b);
    }

    internal static void CheckDTypes(Tensor a, Tensor b)
    {
        if (a.DType != b.DType) throw new ArgumentException($"MatMul: dtypes {a.DType} and {b.DType} do not match; convert one with To(DType)");
        if (!a.DType.IsFloating()) throw new ArgumentException($"MatMul: expected floating point tensors, but dtype is {a.DType}; convert with To(DType.Float32)");
    }

    // With C = op(A) op(B): dop(A) = G op(B)^T and dop(B) = op(A)^T G; each is written as one GEMM on the stored
    // operands, then summed over any batch dims that were broadcast. An operand that needs no gradient (the data
    // in x @ W^T) costs no GEMM at all.
    protected internal override Tensor?[] Backward(Tensor g)
    {
        Tensor a = Saved(0), b = Saved(1);
        Tensor? ga = null, gb = null;
        if (NeedsInputGrad(0)) ga = (transA ? Apply(b, g, transB, true) : Apply(g, b, false, !transB)).SumTo(a.Raw.Shape);
        if (NeedsInputGrad(1)) gb = (transB ? Apply(g, a, true, transA) : Apply(a, g, !transA, false)).SumTo(b.Raw.Shape);
        return [ga, gb];
    }
}
