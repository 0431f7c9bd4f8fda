namespace MiniGrad.Nn;

/// <summary>
/// A multi-layer GRU with PyTorch's semantics (torch.nn.GRU): gate order (r, z, n) with
/// r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h; parameters named weight_ih_l{k}[_reverse] (3H, in),
/// weight_hh_l{k}[_reverse] (3H, H), bias_ih/bias_hh (3H), all drawn from U(-1/sqrt(H), 1/sqrt(H)), so PyTorch
/// checkpoints load by name. Each layer (both directions) is one fused tape node, the same as the LSTM's but for the cell.
/// </summary>
public sealed class Gru : RnnBase
{
    /// <summary>Creates the layers; the generator (default: Torch's) draws the initial weights and the dropout masks.</summary>
    public Gru(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0,
        bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
        : base("Gru", CellKind.Gru, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) { }

    private protected override (string Arg, string Label)[] StateNames => [("h0", "h0")];

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

    /// <summary>
    /// Runs the layers over a padded batch of sequences of different lengths (one per sequence, 1..T, in any order), as
    /// PyTorch's pad_packed_sequence(gru(pack_padded_sequence(input, lengths, batch_first, enforce_sorted=False)),
    /// total_length=T): each sequence runs over its own frames only (the reverse direction starts at its last frame),
    /// output rows past each length are zero, h_n is each sequence's state after its last frame, and no gradient reaches
    /// the padding.
    /// </summary>
    public (Tensor Output, Tensor H) Forward(Tensor input, int[] lengths, Tensor? h0 = null)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        var (y, h, _) = ForwardPadded(input, lengths, h0 is null ? null : [h0]);
        return (y, h);
    }

    /// <summary>Forward with the lengths as a 1-D Int64 or Int32 tensor on any device; h0 is not optional here, so that
    /// Forward(input, h0) never reads a state as lengths.</summary>
    public (Tensor Output, Tensor H) Forward(Tensor input, Tensor lengths, Tensor? h0) =>
        Forward(input, PackedSequence.ToLengths("Gru", lengths), h0);

    /// <summary>Runs the layers over a <see cref="PackedSequence"/> (torch.nn.GRU on a PackedSequence): the output packed the
    /// same way (its Data (sum of lengths, D * H)) and h_n in the original batch order.</summary>
    public (PackedSequence Output, Tensor H) Forward(PackedSequence input, Tensor? h0 = null)
    {
        var (y, h, _) = ForwardPacked(input, h0 is null ? null : [h0]);
        return (y, h);
    }
}
