namespace MiniGrad.Nn;

/// <summary>The nonlinearity of an Elman <see cref="Rnn"/> or <see cref="RnnCell"/> (PyTorch's nonlinearity='tanh' or 'relu').</summary>
public enum Nonlinearity
{
    /// <summary>h' = tanh(W_ih x + b_ih + W_hh h + b_hh).</summary>
    Tanh,
    /// <summary>h' = relu(W_ih x + b_ih + W_hh h + b_hh), with derivative 0 at 0 as PyTorch's.</summary>
    Relu,
}

/// <summary>
/// A multi-layer Elman RNN with PyTorch's semantics (torch.nn.RNN): h' = act(W_ih x + b_ih + W_hh h + b_hh) with act tanh
/// or relu; parameters named weight_ih_l{k}[_reverse] (H, in), weight_hh_l{k}[_reverse] (H, H), bias_ih/bias_hh (H), all
/// drawn from U(-1/sqrt(H), 1/sqrt(H)), so PyTorch checkpoints load by name. Each layer (both directions) is one fused
/// tape node, the same as the LSTM's but for the cell.
/// </summary>
public sealed class Rnn : HiddenStateRnn
{
    /// <summary>Creates the layers (arguments in torch.nn.RNN's order); the generator (default: Torch's) draws the initial
    /// weights and the dropout masks.</summary>
    public Rnn(int inputSize, int hiddenSize, int numLayers = 1, Nonlinearity nonlinearity = Nonlinearity.Tanh, bool bias = true, bool batchFirst = false,
        double dropout = 0, bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
        : base("Rnn", Kind(nonlinearity), inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) =>
        Nonlinearity = nonlinearity;

    /// <summary>tanh or relu.</summary>
    public Nonlinearity Nonlinearity { get; }

    internal static CellKind Kind(Nonlinearity nonlinearity) => nonlinearity switch
    {
        Nonlinearity.Tanh => CellKind.RnnTanh,
        Nonlinearity.Relu => CellKind.RnnRelu,
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity), nonlinearity, "Rnn: expected Nonlinearity.Tanh or Nonlinearity.Relu"),
    };

    private protected override string ExtraDescription => Nonlinearity == Nonlinearity.Relu ? ", nonlinearity='relu'" : "";
}
