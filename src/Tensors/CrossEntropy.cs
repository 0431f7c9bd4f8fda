namespace MiniGrad;

public partial interface IBackend
{
    // Cross entropy over class indices, fused: the forward keeps only each row's log-sum-exp, and the backward writes the
    // gradient, softmax minus the one-hot target, in one pass (log_softmax, gather and their backwards would write and
    // read three (rows, C) buffers more).
    /// <summary>
    /// For each row i of x (rows, C): lse_i = log(sum_j exp(x_ij)) and loss_i = rowWeight_i (lse_i - x[i, target_i]); rows
    /// whose rowWeight is 0 (ignored targets) get loss 0. target: Int64 (rows), each in [0, C); rowWeight: x's dtype (rows).
    /// Returns loss and lse (rows each). Float32 and Float64.
    /// </summary>
    (RawTensor Loss, RawTensor Lse) CrossEntropy(RawTensor x, RawTensor target, RawTensor rowWeight);

    /// <summary>
    /// Its gradient for the output gradient g (rows): dx_ij = g_i rowWeight_i (exp(x_ij - lse_i) - [j == target_i]); rows
    /// whose rowWeight is 0 get 0.
    /// </summary>
    RawTensor CrossEntropyBackward(RawTensor x, RawTensor target, RawTensor rowWeight, RawTensor lse, RawTensor g);
}
