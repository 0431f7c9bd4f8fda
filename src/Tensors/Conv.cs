namespace MiniGrad;

public partial interface IBackend
{
    // Conv1d fused: its windows (Unfold1d's), the GEMMs on them and the bias in one primitive, so that a backend can work one
    // batch item at a time while the item's windows are in cache, write every result in place, and never hold the windows of
    // the whole batch (the backward makes them again from x).
    /// <summary>Conv1d forward of x (N, C, L) with weight (O, C / groups, kernel) and bias (O, or null): y (N, O, lOut), y[n][o][t] = bias[o] + sum over the channels c of o's group and taps k of weight[o][c][k] * x[n][c][t * stride + k * dilation - padLeft] (zero outside [0, L)).</summary>
    RawTensor Conv1d(RawTensor x, RawTensor weight, RawTensor? bias, int stride, int dilation, int padLeft, int lOut, int groups);
    /// <summary>Conv1d backward from the output gradient gy (N, O, lOut): dx (N, C, length) when inputGrad, dweight (O, C / groups, kernel) when the forward's input x is given, dbias (O) when biasGrad; null for the others.</summary>
    (RawTensor? Dx, RawTensor? Dw, RawTensor? Db) Conv1dBackward(RawTensor gy, RawTensor? x, RawTensor weight, int length, int stride, int dilation, int padLeft, int groups, bool inputGrad, bool biasGrad);
}
