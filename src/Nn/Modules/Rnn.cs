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
public sealed class Rnn : RnnBase
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

    private protected override (string Arg, string Label)[] StateNames => [("h0", "h0")];

    private protected override string ExtraDescription => Nonlinearity == Nonlinearity.Relu ? ", nonlinearity='relu'" : "";

    /// <summary>
    /// Runs the layers over input (T, N, I), (N, T, I) with batch_first, or unbatched (T, I), from h0 (num_layers * D, N, H)
    /// ((num_layers * D, H) unbatched; null: zeros). Returns the last layer's output (T, N, D * H) (batch-first or
    /// unbatched like the input) and h_n shaped like h0.
    /// </summary>
    public (Tensor Output, Tensor H) Forward(Tensor input, Tensor? h0 = null)
    {
        var (y, h, _) = ForwardPadded(input, null, h0 is null ? null : [h0]);
        return (y, h);
    }

    /// <summary>Runs the layers over a padded batch of sequences of different lengths (one per sequence, 1..T, in any order)
    /// with PyTorch's packed semantics, as <see cref="Gru.Forward(Tensor, int[], Tensor?)"/>.</summary>
    public (Tensor Output, Tensor H) Forward(Tensor input, int[] lengths, Tensor? h0 = null)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        var (y, h, _) = ForwardPadded(input, lengths, h0 is null ? null : [h0]);
        return (y, h);
    }

    /// <summary>Forward with the lengths as a 1-D Int64 or Int32 tensor on any device; h0 is not optional here, so that
    /// Forward(input, h0) never reads a state as lengths.</summary>
    public (Tensor Output, Tensor H) Forward(Tensor input, Tensor lengths, Tensor? h0) =>
        Forward(input, PackedSequence.ToLengths("Rnn", lengths), h0);

    /// <summary>Runs the layers over a <see cref="PackedSequence"/> (torch.nn.RNN on a PackedSequence): the output packed the
    /// same way and h_n in the original batch order.</summary>
    public (PackedSequence Output, Tensor H) Forward(PackedSequence input, Tensor? h0 = null)
    {
        var (y, h, _) = ForwardPacked(input, h0 is null ? null : [h0]);
        return (y, h);
    }
}
