namespace MiniGrad;

/// <summary>Elementwise one-input primitives.</summary>
public enum UnaryOp { Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, Sign, Square }

/// <summary>Elementwise two-input primitives with broadcasting. Comparisons return Bool.</summary>
public enum BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge }

/// <summary>Reductions over one axis. ArgMax/ArgMin return Int64 indices (first occurrence).</summary>
public enum ReduceOp { Sum, Max, Min, ArgMax, ArgMin }

/// <summary>
/// The backend contract: a small set of primitives over contiguous row-major buffers, plus the fused hot paths
/// (softmax family, CTC, the LSTM, GRU and RNN cells). Every backend implements all of it; inputs are validated by the layer above.
/// </summary>
public partial interface IBackend
{
    /// <summary>The device this backend serves.</summary>
    Device Device { get; }

    /// <summary>Copies a host array (float[], double[], int[], long[] or bool[]) into a new tensor.</summary>
    RawTensor FromArray(Array data, int[] shape);
    /// <summary>Copies a tensor back to a new host array of its dtype's CLR type.</summary>
    Array ToArray(RawTensor x);
    /// <summary>A tensor with every element equal to value.</summary>
    RawTensor Full(int[] shape, DType dtype, double value);
    /// <summary>Converts to another dtype (float to int truncates toward zero, like PyTorch).</summary>
    RawTensor Cast(RawTensor x, DType dtype);

    /// <summary>Runs count independent pieces of work (results must not depend on their order): on the CPU one per core, each
    /// piece's kernels then running on its core alone; devices that queue kernels in order run them one after another.</summary>
    void RunParts(int count, Action<int> part);

    /// <summary>Elementwise unary op.</summary>
    RawTensor Unary(UnaryOp op, RawTensor x);
    /// <summary>Elementwise binary op with NumPy broadcasting; both inputs have the same dtype.</summary>
    RawTensor Binary(BinaryOp op, RawTensor a, RawTensor b);
    /// <summary>cond ? a : b with broadcasting; cond is Bool, a and b share a dtype.</summary>
    RawTensor Where(RawTensor cond, RawTensor a, RawTensor b);
    /// <summary>Clamps into [min, max]; a NaN bound means no bound.</summary>
    RawTensor Clamp(RawTensor x, double min, double max);

    /// <summary>Reduces one axis (Sum, Max, Min, ArgMax, ArgMin); the axis is kept with size 1.</summary>
    RawTensor Reduce(ReduceOp op, RawTensor x, int dim);

    /// <summary>Batched matrix product op(a) @ op(b) over the last two dims; leading (batch) dims broadcast.</summary>
    RawTensor MatMul(RawTensor a, RawTensor b, bool transA, bool transB);

    /// <summary>Reorders dimensions (a contiguous copy).</summary>
    RawTensor Permute(RawTensor x, int[] perm);
    /// <summary>Broadcasts to a larger shape (a contiguous copy).</summary>
    RawTensor Expand(RawTensor x, int[] shape);
    /// <summary>Elements [start, start + length) along dim (a contiguous copy).</summary>
    RawTensor Narrow(RawTensor x, int dim, int start, int length);
    /// <summary>Concatenates along dim.</summary>
    RawTensor Cat(IReadOnlyList<RawTensor> xs, int dim);
    /// <summary>Picks slices along dim by an Int64/Int32 index vector.</summary>
    RawTensor IndexSelect(RawTensor x, int dim, RawTensor index);
    /// <summary>zeros(shape) then adds src's slices at index along dim (the backward of IndexSelect).</summary>
    RawTensor IndexAdd(int[] shape, int dim, RawTensor index, RawTensor src);
    /// <summary>out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (PyTorch's gather).</summary>
    RawTensor Gather(RawTensor x, int dim, RawTensor index);
    /// <summary>zeros(shape) then out[..index..] += src (PyTorch's scatter_add, the backward of Gather).</summary>
    RawTensor ScatterAdd(int[] shape, int dim, RawTensor index, RawTensor src);

    // Sliding windows along the last dim (im2col for Conv1d and the 1-D pools, and its adjoint col2im). Window t starts at
    // input position t * stride - padLeft and reads every dilation-th element; positions outside [0, L) are padding.
    /// <summary>x (N, C, L) to windows (N, C, kernel, lOut): out[n][c][k][t] = x[n][c][t * stride + k * dilation - padLeft], or padValue where that position is outside [0, L). Float32 and Float64.</summary>
    RawTensor Unfold1d(RawTensor x, int kernel, int stride, int dilation, int padLeft, int lOut, double padValue);
    /// <summary>The adjoint of Unfold1d: windows (N, C, kernel, lOut) summed back into (N, C, length) at the positions Unfold1d read them from (padding positions are dropped).</summary>
    RawTensor Fold1d(RawTensor cols, int length, int stride, int dilation, int padLeft);

    /// <summary>Fused, numerically stable softmax or log-softmax over dim.</summary>
    RawTensor Softmax(RawTensor x, int dim, bool log);
    /// <summary>Gradient of Softmax from its output y and the output gradient gy.</summary>
    RawTensor SoftmaxBackward(RawTensor y, RawTensor gy, int dim, bool log);

    /// <summary>CTC forward: per-sample negative log-likelihood of (T, N, C) log-probs, plus state for the backward.</summary>
    (RawTensor Nll, object Saved) CtcLoss(RawTensor logProbs, CtcTargets targets, int blank);
    /// <summary>CTC backward: the gradient with respect to logProbs given d(loss)/d(nll[n]) (PyTorch's formula).</summary>
    RawTensor CtcLossBackward(RawTensor logProbs, object saved, RawTensor gradNll, bool zeroInfinity);

    // LSTM, one step t of a layer's time loop. gates (T, N, 4H, gate order i, f, g, o), dy, hs and cs (T, N, H) are
    // whole-sequence buffers read and written at row t, so the loop copies no slices and creates no tensors per step;
    // gates, hs, cs and the backward's dh and dc are the layer's private buffers, updated in place.
    // A step works on the batch rows [n0, n0 + count) only (the others are left as they are): a packed batch, sorted by
    // length, shrinks as its sequences end, and a reverse direction's rows start (prev < 0) at their own last frames.
    /// <summary>LSTM step over the batch rows [n0, n0 + count): adds h W_hh^T (whhT = W_hh^T, (H, 4H): the step's GEMM, accumulated onto the row) and bias (4H, or null) to row t of gates (the input projection), activates the row in place, and writes h' and c' into row t of hs and cs. The previous h and c are row prev of hs and cs or, on a first step (prev &lt; 0), h0 and c0 ((N, H), the same batch rows; null means zeros, and a null h0 means no GEMM).</summary>
    void LstmCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor cs, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count);
    /// <summary>Its backward from row t's activations: dh and dc ((N, H)) come in holding the gradients for step t's h' (without dy[t], added here) and c', and go out holding those for the previous step's h and c; dh is d(pre-activation) W_hh (the step's GEMM) when whh (W_hh, (4H, H)) is given, and left as it was without it. Row t of gates becomes d(pre-activation). c' is row t of cs; the previous c is row prev of cs, or c0 when prev &lt; 0 (null means zeros). Only the batch rows [n0, n0 + count) are read and written.</summary>
    void LstmCellBackward(RawTensor gates, int t, int prev, RawTensor cs, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor dc, RawTensor? whh, int n0, int count);

    // GRU and Elman RNN, one step t of the same time loop, with the same whole-sequence buffers, row t, prev and row range
    // [n0, n0 + count) as the LSTM's. The GRU's n gate needs W_hn h + b_hn apart from the input projection (r multiplies
    // it), so a GRU step keeps it in a second (T, N, H) buffer hn instead of adding it onto the gates.
    /// <summary>GRU step over the batch rows [n0, n0 + count): gates (T, N, 3H, gate order r, z, n) holds the input projection x W_ih^T at row t. The step's GEMM (whhT = W_hh^T, (H, 3H)) adds h W_hr^T and h W_hz^T onto the r and z blocks of row t and writes h W_hn^T into row t of hn (T, N, H); then r = sigmoid(. + b_r), z = sigmoid(. + b_z), hn += b_hn, n = tanh(x W_in^T + b_in + r hn); (r, z, n) replace row t of gates and h' = (1 - z) n + z h goes to row t of hs. bias is (4H: b_ir + b_hr, b_iz + b_hz, b_in, b_hn) or null. The previous h is row prev of hs or, on a first step (prev &lt; 0), h0 ((N, H); null means zeros and no GEMM).</summary>
    void GruCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor hn, RawTensor? h0, RawTensor whhT, RawTensor? bias, int n0, int count);
    /// <summary>Its backward from row t's activations and hn: dh ((N, H)) comes in holding the gradient for step t's h' (without dy[t], added here) and goes out holding the one for the previous h: dh' z, plus d(hidden pre-activations) W_hh (the step's GEMM) when whh (W_hh, (3H, H)) is given. Row t of gates becomes the gradient of the hidden side's pre-activations (dr, dz, dn r: what the GEMM, dW_hh and db_hh read) and row t of hn becomes dn, the input side's n block (its r and z blocks are the same as the hidden side's). The previous h is row prev of hs, or h0 when prev &lt; 0 (null means zeros). Only the batch rows [n0, n0 + count) are read and written.</summary>
    void GruCellBackward(RawTensor gates, int t, int prev, RawTensor hs, RawTensor hn, RawTensor? h0, RawTensor dy, RawTensor dh, RawTensor? whh, int n0, int count);
    /// <summary>Elman RNN step over the batch rows [n0, n0 + count): adds h W_hh^T (whhT = W_hh^T, (H, H), accumulated onto the row) and bias (H, or null) to row t of gates (T, N, H, the input projection), applies tanh (or relu) in place and copies the row into row t of hs. The previous h is row prev of hs or, on a first step (prev &lt; 0), h0 ((N, H); null means zeros and no GEMM).</summary>
    void RnnCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor? h0, RawTensor whhT, RawTensor? bias, bool relu, int n0, int count);
    /// <summary>Its backward from row t's activations: dh ((N, H)) comes in holding the gradient for step t's h' (without dy[t], added here); row t of gates becomes d(pre-activation) (tanh: 1 - h'^2; relu: 1 where h' &gt; 0, else 0, as PyTorch at 0), and dh goes out as d(pre-activation) W_hh (the step's GEMM) when whh (W_hh, (H, H)) is given, left as it was without it. Only the batch rows [n0, n0 + count) are read and written.</summary>
    void RnnCellBackward(RawTensor gates, int t, RawTensor dy, RawTensor dh, RawTensor? whh, bool relu, int n0, int count);
}

/// <summary>Validated CTC targets on the host: concatenated labels with per-sample offsets and lengths.</summary>
public sealed record CtcTargets(int[] Labels, int[] Offsets, int[] TargetLengths, int[] InputLengths);
