namespace MiniGrad.Nn;

/// <summary>
/// A batch of sequences of different lengths packed time step by time step (torch.nn.utils.rnn.PackedSequence): Data
/// holds, for t = 0, 1, ..., the frames t of the sequences still running at t, longest sequences first, so its rows
/// number the sum of the lengths. BatchSizes[t] is how many sequences run at step t. SortedIndices[k] is the batch
/// index of the k-th longest sequence (ties keep batch order) and UnsortedIndices its inverse; both are null when the
/// batch was packed with enforceSorted: true (as in PyTorch; with false they are there even for a batch already sorted). Made by <see cref="Functional.PackPaddedSequence(Tensor, int[], bool, bool)"/>,
/// read back by <see cref="Functional.PadPackedSequence"/>, and run by <see cref="Lstm.Forward(PackedSequence, ValueTuple{Tensor, Tensor}?)"/>.
/// </summary>
public sealed class PackedSequence
{
    internal PackedSequence(Tensor data, int[] batchSizes, int[] sortedIndices, bool enforcedSorted)
    {
        Data = data;
        batch = batchSizes;
        Sorted = sortedIndices;
        EnforcedSorted = enforcedSorted;
    }

    /// <summary>(sum of lengths, features...): the frames, time step by time step.</summary>
    public Tensor Data { get; }
    /// <summary>Sequences still running at each step (non-increasing; as many as the longest sequence's frames).</summary>
    public IReadOnlyList<int> BatchSizes => batch;
    internal int[] Sorted { get; } // the identity when the batch came sorted
    internal bool EnforcedSorted { get; } // packed with enforceSorted: true (no index tensors)
    readonly int[] batch;

    /// <summary>The batch index of each sequence in length order (Int64 on the CPU), or null when packed with enforceSorted.</summary>
    public Tensor? SortedIndices => EnforcedSorted ? null : Torch.Tensor(Sorted.Select(i => (long)i).ToArray(), Sorted.Length);
    /// <summary>The inverse of SortedIndices: where each batch index sits in length order, or null when packed with enforceSorted.</summary>
    public Tensor? UnsortedIndices => EnforcedSorted ? null : Torch.Tensor(Inverse(Sorted).Select(i => (long)i).ToArray(), Sorted.Length);

    /// <summary>The length of each sequence, in batch order.</summary>
    public int[] Lengths
    {
        get
        {
            var len = new int[Sorted.Length];
            for (int k = 0; k < Sorted.Length; k++) len[Sorted[k]] = batch.Count(b => b > k);
            return len;
        }
    }

    internal static PackedSequence Pack(string op, Tensor input, int[] lengths, bool batchFirst, bool enforceSorted)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(lengths);
        if (input.Rank < 2)
            throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}; expected at least 2-D {(batchFirst ? "(N, T, *)" : "(T, N, *)")}", nameof(input));
        var x = batchFirst ? input.Transpose(0, 1) : input;
        int T = x.Size(0), N = x.Size(1);
        if (N == 0) throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}, a batch of no sequences; expected at least one (PyTorch: cannot pack empty tensors)", nameof(input));
        CheckLengths(op, lengths, N, T);
        if (enforceSorted)
            for (int n = 1; n < N; n++)
                if (lengths[n] > lengths[n - 1])
                    throw new ArgumentException($"{op}: lengths[{n}] = {lengths[n]} is longer than lengths[{n - 1}] = {lengths[n - 1]}; expected lengths sorted in decreasing order when enforceSorted is true (pass enforceSorted: false for any order)", nameof(lengths));
        var sorted = SortByLength(lengths);
        var batch = Enumerable.Range(0, lengths.Max()).Select(t => lengths.Count(l => l > t)).ToArray();
        // Row t * N + n of the time-major batch for each packed frame.
        var rows = new List<long>();
        for (int t = 0; t < batch.Length; t++)
            for (int k = 0; k < batch[t]; k++) rows.Add((long)t * N + sorted[k]);
        var data = x.Reshape([T * N, .. x.Shape[2..]]).IndexSelect(0, Torch.Tensor(rows.ToArray(), rows.Count).To(x.Device));
        return new PackedSequence(data, batch, sorted, enforceSorted);
    }

    internal (Tensor Padded, int[] Lengths) Pad(bool batchFirst, double paddingValue, int? totalLength)
    {
        int T = batch.Length, N = Sorted.Length;
        int total = totalLength ?? T;
        if (total < T)
            throw new ArgumentOutOfRangeException(nameof(totalLength), totalLength, $"PadPackedSequence: totalLength = {totalLength} is shorter than the longest sequence ({T} steps); expected at least {T}");
        // For each (t, n) of the padded batch its row of Data, or the padding row appended after the data.
        int frames = Data.Size(0);
        var rows = new long[total * N];
        Array.Fill(rows, frames);
        var rank = Inverse(Sorted);
        for (int t = 0, at = 0; t < T; at += batch[t], t++)
            for (int n = 0; n < N; n++)
                if (rank[n] < batch[t]) rows[t * N + n] = at + rank[n];
        var feature = Data.Shape[1..];
        var pad = Torch.Full([1, .. feature], paddingValue, Data.DType, Data.Device);
        var padded = Torch.Cat([Data, pad]).IndexSelect(0, Torch.Tensor(rows, rows.Length).To(Data.Device)).Reshape([total, N, .. feature]);
        return (batchFirst ? padded.Transpose(0, 1) : padded, Lengths);
    }

    /// <summary>Throws unless there is one length per sequence, each in 1..T (naming the index and value).</summary>
    internal static void CheckLengths(string op, int[] lengths, int n, int T)
    {
        if (lengths.Length != n)
            throw new ArgumentException($"{op}: lengths has {lengths.Length} entries; expected one per sequence (N = {n})", nameof(lengths));
        for (int i = 0; i < n; i++)
            if (lengths[i] < 1 || lengths[i] > T)
                throw new ArgumentException($"{op}: lengths[{i}] = {lengths[i]}; expected 1 <= length <= T = {T} (the input's time steps)", nameof(lengths));
    }

    /// <summary>Lengths from a 1-D Int32/Int64 tensor on any device.</summary>
    internal static int[] ToLengths(string op, Tensor lengths)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (lengths.Rank != 1 || lengths.DType is not (DType.Int32 or DType.Int64))
            throw new ArgumentException($"{op}: lengths is a {lengths.DType} tensor of shape {Shapes.Format(lengths.Shape)}; expected a 1-D Int64 or Int32 tensor", nameof(lengths));
        return lengths.ToArray<long>().Select(v => v is < int.MinValue or > int.MaxValue ? int.MaxValue : (int)v).ToArray();
    }

    /// <summary>Batch indices by length, longest first; ties keep batch order.</summary>
    internal static int[] SortByLength(int[] lengths) => [.. Enumerable.Range(0, lengths.Length).OrderByDescending(n => lengths[n])];

    internal static int[] Inverse(int[] perm)
    {
        var inv = new int[perm.Length];
        for (int k = 0; k < perm.Length; k++) inv[perm[k]] = k;
        return inv;
    }

    internal static bool IsIdentity(int[] perm) => perm.Select((p, k) => p == k).All(x => x);
}

public static partial class Functional
{
    /// <summary>
    /// Packs a padded batch of sequences of different lengths (torch.nn.utils.rnn.pack_padded_sequence): input
    /// (T, N, *), or (N, T, *) with batchFirst; one length per sequence, each 1..T. With enforceSorted the lengths must
    /// be non-increasing; without it they come in any order and the batch is sorted inside.
    /// </summary>
    public static PackedSequence PackPaddedSequence(Tensor input, int[] lengths, bool batchFirst = false, bool enforceSorted = true) =>
        PackedSequence.Pack("PackPaddedSequence", input, lengths, batchFirst, enforceSorted);

    /// <summary>
    /// Packs a list of sequences (torch.nn.utils.rnn.pack_sequence): each (L_i, *) with the same trailing shape, dtype
    /// and device, L_i >= 1; with enforceSorted the lengths must be non-increasing. Differentiable in every sequence.
    /// </summary>
    public static PackedSequence PackSequence(Tensor[] sequences, bool enforceSorted = true)
    {
        const string op = "PackSequence";
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Length == 0) throw new ArgumentException($"{op}: sequences is empty; expected at least one sequence (L, *)", nameof(sequences));
        for (int i = 0; i < sequences.Length; i++)
        {
            var q = sequences[i] ?? throw new ArgumentNullException(nameof(sequences), $"{op}: sequences[{i}] is null; expected a tensor (L, *)");
            var first = sequences[0];
            if (q.Rank < 1 || q.Size(0) == 0)
                throw new ArgumentException($"{op}: sequences[{i}] has shape {Shapes.Format(q.Shape)}; expected (L, *) with L >= 1", nameof(sequences));
            if (!Shapes.Equal(q.Shape[1..], first.Shape[1..]) || q.DType != first.DType || q.Device != first.Device)
                throw new ArgumentException($"{op}: sequences[{i}] is {q.DType} {Shapes.Format(q.Shape)} on {q.Device}, but sequences[0] is {first.DType} {Shapes.Format(first.Shape)} on {first.Device}; expected the same trailing shape, dtype and device", nameof(sequences));
        }
        var lengths = sequences.Select(q => q.Size(0)).ToArray();
        int T = lengths.Max();
        var padded = sequences.Select(q => q.Size(0) == T ? q : Torch.Cat([q, Torch.Zeros([T - q.Size(0), .. q.Shape[1..]], q.DType, q.Device)])).ToArray();
        return PackedSequence.Pack(op, Torch.Stack(padded, 1), lengths, batchFirst: false, enforceSorted);
    }

    /// <summary>PackPaddedSequence with the lengths as a 1-D Int64 or Int32 tensor on any device.</summary>
    public static PackedSequence PackPaddedSequence(Tensor input, Tensor lengths, bool batchFirst = false, bool enforceSorted = true) =>
        PackedSequence.Pack("PackPaddedSequence", input, PackedSequence.ToLengths("PackPaddedSequence", lengths), batchFirst, enforceSorted);

    /// <summary>
    /// Unpacks (torch.nn.utils.rnn.pad_packed_sequence): the padded batch (T, N, *), or (N, T, *) with batchFirst, in
    /// the original batch order, paddingValue past each length, T = totalLength or the longest length; and the lengths
    /// (Int64, in batch order). Differentiable in the packed data.
    /// </summary>
    public static (Tensor Padded, Tensor Lengths) PadPackedSequence(PackedSequence sequence, bool batchFirst = false, double paddingValue = 0, int? totalLength = null)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        var (padded, lengths) = sequence.Pad(batchFirst, paddingValue, totalLength);
        return (padded, Torch.Tensor(lengths.Select(l => (long)l).ToArray(), lengths.Length));
    }
}
