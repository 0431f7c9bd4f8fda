namespace MiniGrad.Nn;

/// <summary>
/// A multi-layer GRU with PyTorch's semantics (torch.nn.GRU): gate order (r, z, n) with
/// r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h; parameters named weight_ih_l{k}[_reverse] (3H, in),
/// weight_hh_l{k}[_reverse] (3H, H), bias_ih/bias_hh (3H), all drawn from U(-1/sqrt(H), 1/sqrt(H)), so PyTorch
/// checkpoints load by name. Each layer (both directions) is one fused tape node, the same as the LSTM's but for the cell.
/// </summary>
public sealed class Gru : HiddenStateRnn
{
    /// <summary>Creates the layers; the generator (default: Torch's) draws the initial weights and the dropout masks.</summary>
    public Gru(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0,
        bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
        : base("Gru", CellKind.Gru, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) { }
}
