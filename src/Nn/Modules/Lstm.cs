namespace MiniGrad.Nn;

/// <summary>
/// A multi-layer LSTM with PyTorch's semantics (torch.nn.LSTM): gate order (i, f, g, o), parameters named
/// weight_ih_l{k}[_reverse] (4H, in), weight_hh_l{k}[_reverse] (4H, H), bias_ih/bias_hh (4H), all drawn from
/// U(-1/sqrt(H), 1/sqrt(H)), so PyTorch checkpoints load by name. Each layer (both directions) is one fused tape node.
/// </summary>
public sealed class Lstm : RnnBase
{
    /// <summary>Creates the layers; the generator (default: Torch's) draws the initial weights and the dropout masks.</summary>
    public Lstm(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0,
        bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
        : base("Lstm", CellKind.Lstm, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) { }

    private protected override (string Arg, string Label)[] StateNames => [("state.H", "state.H (h0)"), ("state.C", "state.C (c0)")];

    /// <summary>
    /// Runs the layers over input (T, N, I), (N, T, I) with batch_first, or unbatched (T, I). state = (h0, c0), each
    /// (num_layers * D, N, H) ((num_layers * D, H) unbatched), defaults to zeros. Returns the last layer's output
    /// (T, N, D * H) (batch-first or unbatched like the input) and (h_n, c_n) shaped like the state.
    /// </summary>
    public (Tensor Output, (Tensor H, Tensor C) State) Forward(Tensor input, (Tensor H, Tensor C)? state = null)
    {
        var (y, h, c) = ForwardPadded(input, null, State(state));
        return (y, (h, c!));
    }

    /// <summary>
    /// Runs the layers over a padded batch of sequences of different lengths (one per sequence, 1..T, in any order),
    /// as PyTorch's pad_packed_sequence(lstm(pack_padded_sequence(input, lengths, batch_first, enforce_sorted=False)),
    /// total_length=T): each sequence runs over its own frames only (the reverse direction starts at its last frame),
    /// output rows past each length are zero, h_n and c_n are each sequence's state after its last frame, and no
    /// gradient reaches the padding. So a sequence's results do not depend on its batchmates.
    /// </summary>
    public (Tensor Output, (Tensor H, Tensor C) State) Forward(Tensor input, int[] lengths, (Tensor H, Tensor C)? state = null)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        var (y, h, c) = ForwardPadded(input, lengths, State(state));
        return (y, (h, c!));
    }

    /// <summary>Forward with the lengths as a 1-D Int64 or Int32 tensor on any device.</summary>
    public (Tensor Output, (Tensor H, Tensor C) State) Forward(Tensor input, Tensor lengths, (Tensor H, Tensor C)? state = null) =>
        Forward(input, PackedSequence.ToLengths("Lstm", lengths), state);

    /// <summary>
    /// Runs the layers over a <see cref="PackedSequence"/> (torch.nn.LSTM on a PackedSequence): returns the output
    /// packed the same way (its Data (sum of lengths, D * H)) and (h_n, c_n) in the original batch order.
    /// </summary>
    public (PackedSequence Output, (Tensor H, Tensor C) State) Forward(PackedSequence input, (Tensor H, Tensor C)? state = null)
    {
        var (y, h, c) = ForwardPacked(input, State(state));
        return (y, (h, c!));
    }

    static Tensor?[]? State((Tensor H, Tensor C)? state) => state is { } s ? [s.H, s.C] : null;
}
