namespace MiniGrad.Nn;

/// <summary>
/// The recurrent layers whose state is h alone (<see cref="Gru"/>, <see cref="Rnn"/>; the <see cref="Lstm"/> carries c
/// as well): their four Forward forms, padded, with lengths (an array or a tensor) and packed, written once.
/// </summary>
public abstract class HiddenStateRnn : RnnBase
{
    private protected HiddenStateRnn(string name, CellKind kind, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst, double dropout,
        bool bidirectional, DType dtype, Generator? generator)
        : base(name, kind, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) { }

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
    /// PyTorch's pad_packed_sequence(module(pack_padded_sequence(input, lengths, batch_first, enforce_sorted=False)),
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
        Forward(input, PackedSequence.ToLengths(name, lengths), h0);

    /// <summary>Runs the layers over a <see cref="PackedSequence"/> (as PyTorch's modules on a PackedSequence): the output
    /// packed the same way (its Data (sum of lengths, D * H)) and h_n in the original batch order.</summary>
    public (PackedSequence Output, Tensor H) Forward(PackedSequence input, Tensor? h0 = null)
    {
        var (y, h, _) = ForwardPacked(input, h0 is null ? null : [h0]);
        return (y, h);
    }
}
