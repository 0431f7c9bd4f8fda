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

// Conv1d fused in the backend (windows, GEMMs and bias in one pass per batch item). Forward: y = W windows(x) + b. Backward:
// dx = col2im(W^T dy), dW = sum over the batch of dy windows(x)^T (x kept only when W needs a gradient), db = dy summed over
// batch and time. Counted in MatMulFn.Gemms as one GEMM forward and one per gradient of x or W.
sealed class Conv1dFn(int length, int stride, int dilation, int padLeft, int groups, bool hasBias) : Function
{
    public override string Name => "ConvolutionBackward";

    /// <summary>x (N, C, L), weight (O, C / groups, kernel), bias (O) or null: y (N, O, lOut).</summary>
    internal static Tensor Apply(Tensor x, Tensor weight, Tensor? bias, int stride, int dilation, int padLeft, int lOut, int groups)
    {
        var y = x.Backend.Conv1d(x.Raw, weight.Raw, bias?.Raw, stride, dilation, padLeft, lOut, groups);
        MatMulFn.Gemms++;
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Record(y, () =>
        {
            var f = new Conv1dFn(x.Raw.Shape[2], stride, dilation, padLeft, groups, bias is not null);
            f.Save(weight.Detach(), weight.RequiresGrad ? x.Detach() : weight.Detach()); // x only for dW
            return f;
        }, inputs);
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        bool dx = NeedsInputGrad(0), dw = NeedsInputGrad(1), db = hasBias && NeedsInputGrad(2);
        var r = g.Backend.Conv1dBackward(g.Raw, dw ? Saved(1).Raw : null, Saved(0).Raw, length, stride, dilation, padLeft, groups, dx, db);
        MatMulFn.Gemms += (dx ? 1 : 0) + (dw ? 1 : 0);
        Tensor? T(RawTensor? t) => t is null ? null : new Tensor(t);
        return hasBias ? [T(r.Dx), T(r.Dw), T(r.Db)] : [T(r.Dx), T(r.Dw)];
    }
}
