namespace MiniGrad;

// Sliding windows along the last dim (im2col): the building block of Conv1d (windows times weights is one GEMM) and of
// the 1-D pools (a max or mean over each window). The backward is the adjoint, col2im, which sums each window element's
// gradient back onto the input position it was read from; padding positions get none.
sealed class Unfold1dFn(int length, int stride, int dilation, int padLeft) : Function
{
    public override string Name => "Im2ColBackward";

    /// <summary>x (N, C, L) to (N, C, kernel, lOut): window t, tap k holds x[..., t * stride + k * dilation - padLeft], or padValue outside [0, L).</summary>
    internal static Tensor Apply(Tensor x, int kernel, int stride, int dilation, int padLeft, int lOut, double padValue)
    {
        var raw = x.Backend.Unfold1d(x.Raw, kernel, stride, dilation, padLeft, lOut, padValue);
        return Record(raw, () => new Unfold1dFn(x.Raw.Shape[2], stride, dilation, padLeft), x);
    }

    protected internal override Tensor?[] Backward(Tensor g) => [new Tensor(g.Backend.Fold1d(g.Raw, length, stride, dilation, padLeft))];
}
