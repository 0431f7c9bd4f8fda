namespace MiniGrad.Nn.Data;

/// <summary>
/// A batch of variable-length sequences padded to the longest: <see cref="Data"/> is (T_max, N, *) or, batch first,
/// (N, T_max, *), and <see cref="Lengths"/> holds each sequence's own length, ready for <c>Lstm.Forward(x, lengths)</c>
/// and <c>CtcLoss</c>.
/// </summary>
public sealed record PaddedSequences(Tensor Data, int[] Lengths)
{
    /// <summary>The lengths as an Int64 tensor of shape (N), on the CPU (PyTorch's lengths tensor).</summary>
    public Tensor LengthsTensor => Torch.Tensor(Lengths.Select(l => (long)l).ToArray(), Lengths.Length);
}

/// <summary>
/// Collate functions for <see cref="DataLoader{T, TBatch}"/>: padding variable-length sequences into one tensor
/// (PyTorch's <c>pad_sequence</c>), keeping their lengths.
/// </summary>
public static class Collate
{
    /// <summary>
    /// Pads tensors of shape (T_i, *) (the trailing sizes, dtype and device the same for all) into (T_max, N, *), or
    /// (N, T_max, *) with <paramref name="batchFirst"/>, filling past each sequence's end with
    /// <paramref name="paddingValue"/>; a sequence may be empty (T_i = 0). The result is on the first sequence's device
    /// and does not require grad (a collate makes data, not graph).
    /// </summary>
    public static PaddedSequences PadSequences(IReadOnlyList<Tensor> sequences, bool batchFirst = false, double paddingValue = 0)
    {
        if (sequences is null) throw new ArgumentNullException(nameof(sequences), "PadSequences: sequences is null; expected a list of (T_i, *) tensors");
        if (sequences.Count == 0) throw new ArgumentException("PadSequences: sequences is empty; expected at least one (T_i, *) tensor", nameof(sequences));
        for (int i = 0; i < sequences.Count; i++)
            if (sequences[i] is null) throw new ArgumentException($"PadSequences: sequences[{i}] is null; expected a (T_i, *) tensor", nameof(sequences));
        var first = sequences[0];
        if (first.Rank == 0) throw new ArgumentException("PadSequences: sequences[0] is a scalar (shape []); expected a tensor of shape (T_i, *) with a time dimension first", nameof(sequences));
        int[] trailing = first.Shape[1..];
        for (int i = 1; i < sequences.Count; i++)
        {
            var s = sequences[i];
            if (s.Rank == 0 || !s.Shape.AsSpan(1).SequenceEqual(trailing))
                throw new ArgumentException($"PadSequences: sequences[{i}] has shape {Format(s.Shape)} but sequences[0] has {Format(first.Shape)}; expected every sequence to be (T_i, {string.Join(", ", trailing.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)))})", nameof(sequences));
            if (s.DType != first.DType)
                throw new ArgumentException($"PadSequences: sequences[{i}] has dtype {s.DType} but sequences[0] has {first.DType}; expected one dtype", nameof(sequences));
            if (s.Device != first.Device)
                throw new ArgumentException($"PadSequences: sequences[{i}] is on {s.Device} but sequences[0] is on {first.Device}; expected one device", nameof(sequences));
        }
        for (int i = 0; i < sequences.Count; i++)
            if (sequences[i].RequiresGrad)
                throw new ArgumentException($"PadSequences: sequences[{i}] requires grad, and this collate copies data outside the graph (its gradient would be lost); pad a batch of data, or pad differentiably (e.g. Torch.Cat with a Torch.Full block, then Torch.Stack)", nameof(sequences));
        if (!Tensor.ScalarFits(paddingValue, first.DType)) // the rule every op on an integer tensor keeps
            throw new ArgumentOutOfRangeException(nameof(paddingValue), paddingValue, $"PadSequences: paddingValue = {paddingValue} cannot be stored in {first.DType}; expected a whole number in its range");
        var lengths = sequences.Select(s => s.Size(0)).ToArray();
        int n = sequences.Count, tMax = lengths.Max();
        int row = 1;
        foreach (int d in trailing) row = checked(row * d);
        int[] shape = batchFirst ? [n, tMax, .. trailing] : [tMax, n, .. trailing];
        Array data = first.DType switch
        {
            DType.Float32 => Pad(sequences, lengths, row, tMax, batchFirst, (float)paddingValue),
            DType.Float64 => Pad(sequences, lengths, row, tMax, batchFirst, paddingValue),
            DType.Int32 => Pad(sequences, lengths, row, tMax, batchFirst, checked((int)paddingValue)),
            DType.Int64 => Pad(sequences, lengths, row, tMax, batchFirst, checked((long)paddingValue)),
            DType.Bool => Pad(sequences, lengths, row, tMax, batchFirst, paddingValue != 0),
            _ => throw new ArgumentException($"PadSequences: dtype {first.DType} is not supported", nameof(sequences)),
        };
        return new PaddedSequences(Torch.Tensor(data, shape, first.Device), lengths);
    }

    static TE[] Pad<TE>(IReadOnlyList<Tensor> sequences, int[] lengths, int row, int tMax, bool batchFirst, TE paddingValue)
    {
        int n = sequences.Count;
        var result = new TE[checked((long)n * tMax * row)];
        if (!EqualityComparer<TE>.Default.Equals(paddingValue, default!)) Array.Fill(result, paddingValue);
        for (int b = 0; b < n; b++)
        {
            if (lengths[b] == 0) continue;
            var src = sequences[b].ToArray<TE>();
            Place(src, result, b, n, lengths[b], tMax, row, batchFirst);
        }
        return result;
    }

    /// <summary>Copies one sequence's rows (T_i rows of <paramref name="row"/> elements) to batch slot b of the padded buffer.</summary>
    static void Place<TE>(ReadOnlySpan<TE> src, TE[] dst, int b, int n, int length, int tMax, int row, bool batchFirst)
    {
        if (batchFirst) src[..(length * row)].CopyTo(dst.AsSpan(b * tMax * row, length * row));
        else
            for (int t = 0; t < length; t++) src.Slice(t * row, row).CopyTo(dst.AsSpan((t * n + b) * row, row));
    }

    /// <summary>
    /// Pads row-major float sequences, each <c>T_i x featureSize</c> values (frames of features, say), into a float32
    /// tensor (T_max, N, featureSize), or (N, T_max, featureSize) with <paramref name="batchFirst"/>, filled with
    /// <paramref name="paddingValue"/> past each end; on <paramref name="device"/> (default CPU). The same as
    /// <see cref="PadSequences(IReadOnlyList{Tensor}, bool, double)"/> without making a tensor per sequence.
    /// </summary>
    public static PaddedSequences PadSequences(IReadOnlyList<float[]> sequences, int featureSize, bool batchFirst = false, float paddingValue = 0, Device? device = null)
    {
        if (sequences is null) throw new ArgumentNullException(nameof(sequences), "PadSequences: sequences is null; expected a list of row-major (T_i, featureSize) float arrays");
        if (featureSize <= 0) throw new ArgumentOutOfRangeException(nameof(featureSize), featureSize, $"PadSequences: featureSize = {featureSize} is invalid; expected a positive number of features per frame");
        if (sequences.Count == 0) throw new ArgumentException("PadSequences: sequences is empty; expected at least one (T_i, featureSize) array", nameof(sequences));
        var lengths = new int[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            if (sequences[i] is null) throw new ArgumentException($"PadSequences: sequences[{i}] is null; expected a (T_i, {featureSize}) float array", nameof(sequences));
            if (sequences[i].Length % featureSize != 0)
                throw new ArgumentException($"PadSequences: sequences[{i}] has {sequences[i].Length} values, not a multiple of featureSize = {featureSize}; expected T_i x {featureSize} values (whole frames)", nameof(sequences));
            lengths[i] = sequences[i].Length / featureSize;
        }
        int n = sequences.Count, tMax = lengths.Max();
        var result = new float[checked((long)n * tMax * featureSize)];
        if (paddingValue != 0 || float.IsNaN(paddingValue)) Array.Fill(result, paddingValue);
        for (int b = 0; b < n; b++) Place<float>(sequences[b], result, b, n, lengths[b], tMax, featureSize, batchFirst);
        int[] shape = batchFirst ? [n, tMax, featureSize] : [tMax, n, featureSize];
        return new PaddedSequences(Torch.Tensor(result, shape, device ?? Device.Cpu), lengths);
    }

    /// <summary>
    /// Pads label sequences (CTC targets, token ids) into an Int64 tensor (N, S) with S the longest length (at least 1,
    /// so that a batch of empty targets still has a column), filled with <paramref name="paddingValue"/>; the lengths
    /// are the targetLengths of <c>CtcLoss</c>.
    /// </summary>
    public static PaddedSequences PadLabels(IReadOnlyList<int[]> labels, long paddingValue = 0)
    {
        if (labels is null) throw new ArgumentNullException(nameof(labels), "PadLabels: labels is null; expected a list of label arrays");
        if (labels.Count == 0) throw new ArgumentException("PadLabels: labels is empty; expected at least one label array", nameof(labels));
        for (int i = 0; i < labels.Count; i++)
            if (labels[i] is null) throw new ArgumentException($"PadLabels: labels[{i}] is null; expected an array of labels (empty for none)", nameof(labels));
        int n = labels.Count, s = Math.Max(1, labels.Max(l => l.Length));
        var y = new long[n * s];
        if (paddingValue != 0) Array.Fill(y, paddingValue);
        for (int b = 0; b < n; b++)
            for (int k = 0; k < labels[b].Length; k++) y[b * s + k] = labels[b][k];
        return new PaddedSequences(Torch.Tensor(y, n, s), labels.Select(l => l.Length).ToArray());
    }

    static string Format(int[] shape) => "[" + string.Join(",", shape) + "]";
}
