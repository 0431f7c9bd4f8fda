namespace MiniGrad;

public partial interface IBackend
{
    // Cross entropy over class indices, fused: the forward keeps only each row's max and log-sum-exp, and the backward
    // writes the gradient, softmax minus the one-hot target, in one pass (log_softmax, gather and their backwards would
    // write and read three (rows, C) buffers more).
    /// <summary>
    /// For each row i of x (rows, C): m_i = max_j x_ij (0 where that is -inf), s_i = log(sum_j exp(x_ij - m_i)) and
    /// loss_i = rowWeight_i (s_i - (x[i, target_i] - m_i)), PyTorch's log_softmax order: m + s in one number would lose s
    /// where |m| dwarfs it (1e6 in float32). Rows whose rowWeight is 0 (ignored targets) get loss 0. target: Int64 (rows),
    /// each in [0, C); rowWeight: x's dtype (rows). Returns loss (rows) and stats (rows, 2) = [m_i, s_i]. Float32 and Float64.
    /// </summary>
    (RawTensor Loss, RawTensor Stats) CrossEntropy(RawTensor x, RawTensor target, RawTensor rowWeight);

    /// <summary>
    /// Its gradient for the output gradient g (rows): dx_ij = g_i rowWeight_i (exp((x_ij - m_i) - s_i) - [j == target_i])
    /// with the forward's stats; rows whose rowWeight is 0 get 0.
    /// </summary>
    RawTensor CrossEntropyBackward(RawTensor x, RawTensor target, RawTensor rowWeight, RawTensor stats, RawTensor g);
}
