namespace MiniGrad.Nn;

/// <summary>
/// A multi-layer LSTM with PyTorch's semantics (torch.nn.LSTM): gate order (i, f, g, o), parameters named
/// weight_ih_l{k}[_reverse] (4H, in), weight_hh_l{k}[_reverse] (4H, H), bias_ih/bias_hh (4H), all drawn from
/// U(-1/sqrt(H), 1/sqrt(H)), so PyTorch checkpoints load by name. Each layer (both directions) is one fused tape node.
/// </summary>
public sealed class Lstm : Module, ITensorModule
{
    readonly LstmLayerFn.Weights[] cells;
    readonly Generator? generator;

    /// <summary>Creates the layers; the generator (default: Torch's) draws the initial weights and the dropout masks.</summary>
    public Lstm(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0,
        bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
    {
        Check.Positive("Lstm", nameof(inputSize), inputSize);
        Check.Positive("Lstm", nameof(hiddenSize), hiddenSize);
        Check.Positive("Lstm", nameof(numLayers), numLayers);
        Check.Probability("Lstm", nameof(dropout), dropout);
        Check.Floating("Lstm", dtype);
        (InputSize, HiddenSize, NumLayers, Bias, BatchFirst, Dropout, Bidirectional) = (inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional);
        this.generator = generator;
        int dirs = Directions, h = hiddenSize;
        double bound = 1 / Math.Sqrt(h);
        cells = new LstmLayerFn.Weights[numLayers * dirs];
        for (int l = 0; l < numLayers; l++)
            for (int d = 0; d < dirs; d++)
            {
                string sfx = $"_l{l}{(d == 1 ? "_reverse" : "")}";
                Parameter? P(string name, int[] shape, bool on = true) =>
                    RegisterParameter(name + sfx, on ? Init.UniformParameter(shape, bound, dtype, generator) : null);
                cells[l * dirs + d] = new(P("weight_ih", [4 * h, l == 0 ? inputSize : h * dirs])!, P("weight_hh", [4 * h, h])!,
                    P("bias_ih", [4 * h], bias), P("bias_hh", [4 * h], bias));
            }
    }

    /// <summary>Features per input step.</summary>
    public int InputSize { get; }
    /// <summary>Features of the hidden state H.</summary>
    public int HiddenSize { get; }
    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }
    /// <summary>Whether the layers have biases.</summary>
    public bool Bias { get; }
    /// <summary>Input and output are (N, T, features) instead of (T, N, features).</summary>
    public bool BatchFirst { get; }
    /// <summary>Dropout probability on the outputs of every layer but the last, in training mode.</summary>
    public double Dropout { get; }
    /// <summary>Whether each layer also runs backward in time (D = 2 directions).</summary>
    public bool Bidirectional { get; }
    int Directions => Bidirectional ? 2 : 1;

    /// <summary>
    /// Runs the layers over input (T, N, I), (N, T, I) with batch_first, or unbatched (T, I). state = (h0, c0), each
    /// (num_layers * D, N, H) ((num_layers * D, H) unbatched), defaults to zeros. Returns the last layer's output
    /// (T, N, D * H) (batch-first or unbatched like the input) and (h_n, c_n) shaped like the state.
    /// </summary>
    public (Tensor Output, (Tensor H, Tensor C) State) Forward(Tensor input, (Tensor H, Tensor C)? state = null)
    {
        var (x, unbatched) = Prepare(input);
        var (output, hN, cN) = Run(x, null, state, unbatched);
        output = unbatched ? output.Squeeze(1) : BatchFirst ? output.Transpose(0, 1) : output;
        return Finish(input, output, hN, cN, unbatched);
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
        var (x, unbatched) = Prepare(input);
        if (unbatched)
            throw new ArgumentException($"Lstm: lengths given for an unbatched input of shape {Shapes.Format(input.Shape)}; expected a 3-D batch {(BatchFirst ? "(N, T, input_size)" : "(T, N, input_size)")}", nameof(lengths));
        PackedSequence.CheckLengths("Lstm", lengths, x.Size(1), x.Size(0));
        var (output, hN, cN) = Run(x, lengths, state, false);
        return Finish(input, BatchFirst ? output.Transpose(0, 1) : output, hN, cN, false);
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
        ArgumentNullException.ThrowIfNull(input);
        var (padded, _) = input.Pad(false, 0, null);
        if (padded.Rank != 3 || padded.Size(-1) != InputSize)
            throw new ArgumentException($"Lstm: the packed input's data has shape {Shapes.Format(input.Data.Shape)}; expected (frames, input_size = {InputSize})", nameof(input));
        Functional.CheckLike("Lstm", nameof(input), padded, cells[0].Wih);
        int[] lengths = input.Lengths;
        var (output, hN, cN) = Run(padded, lengths, state, false);
        var packed = PackedSequence.Pack("Lstm", output, lengths, batchFirst: false, enforceSorted: false);
        var (data, (h, c)) = Finish(input.Data, packed.Data, hN, cN, false); // a forward hook may replace the data
        return (data == packed.Data ? packed : new PackedSequence(data, [.. packed.BatchSizes], packed.Sorted), (h, c));
    }

    /// <summary>The input checked and made time-major (T, N, I), and whether it was unbatched.</summary>
    (Tensor X, bool Unbatched) Prepare(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"Lstm: input has shape {Shapes.Format(input.Shape)}; expected 3-D {(BatchFirst ? "(N, T, input_size)" : "(T, N, input_size)")} or 2-D unbatched (T, input_size)", nameof(input));
        if (input.Size(-1) != InputSize)
            throw new ArgumentException($"Lstm: input has shape {Shapes.Format(input.Shape)}; expected the last dimension to be input_size = {InputSize}", nameof(input));
        Functional.CheckLike("Lstm", nameof(input), input, cells[0].Wih);
        bool unbatched = input.Rank == 2;
        var x = unbatched ? input.Unsqueeze(1) : BatchFirst ? input.Transpose(0, 1) : input;
        if (x.Size(0) == 0 || x.Size(1) == 0)
            throw new ArgumentException($"Lstm: input has shape {Shapes.Format(input.Shape)}; expected at least one time step and one sequence", nameof(input));
        return (x, unbatched);
    }

    /// <summary>
    /// The layers over time-major x (T, N, I), with each sequence's length (or all T). With lengths the batch runs
    /// sorted by length, longest first (what the fused layer needs to shrink the batch as sequences end), with the
    /// input's padding zeroed; the results come back in batch order.
    /// </summary>
    (Tensor Output, Tensor H, Tensor C) Run(Tensor x, int[]? lengths, (Tensor H, Tensor C)? state, bool unbatched)
    {
        int T = x.Size(0), N = x.Size(1), dirs = Directions;
        var (h0, c0) = state is { } s ? (CheckState("H", s.H, unbatched, N), CheckState("C", s.C, unbatched, N)) : (null, null);
        if (lengths is not null && lengths.All(l => l == T)) lengths = null;
        int[]? order = lengths is null ? null : PackedSequence.SortByLength(lengths);
        Tensor? sort = null, unsort = null, last = null;
        if (order is not null)
        {
            if (!PackedSequence.IsIdentity(order))
            {
                (sort, unsort) = (Index(order, x.Device), Index(PackedSequence.Inverse(order), x.Device));
                (x, h0, c0) = (x.IndexSelect(1, sort), h0?.IndexSelect(1, sort), c0?.IndexSelect(1, sort));
            }
            lengths = [.. order.Select(n => lengths![n])];
            var valid = new bool[T * N];
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++) valid[t * N + n] = t < lengths[n];
            x = Torch.Where(Torch.Tensor(valid, T, N, 1).To(x.Device), x, 0);
            last = Index([.. Enumerable.Range(0, N).Select(n => (lengths[n] - 1) * N + n)], x.Device); // each sequence's last frame
        }

        var hn = new List<Tensor>();
        var cn = new List<Tensor>();
        for (int l = 0; l < NumLayers; l++)
        {
            (x, var c) = LstmLayerFn.Apply(x, cells[(l * dirs)..(l * dirs + dirs)], h0?.Narrow(0, l * dirs, dirs), c0?.Narrow(0, l * dirs, dirs), lengths);
            // h_n is each direction's last step: the sequence's last frame going forward, t = 0 going backward.
            for (int d = 0; d < dirs; d++)
                hn.Add((d == 0 && last is not null ? x.Reshape(T * N, -1).IndexSelect(0, last) : x.Select(0, d == 1 ? 0 : T - 1)).Narrow(1, d * HiddenSize, HiddenSize));
            cn.Add(c);
            if (l < NumLayers - 1 && Dropout > 0 && Training) x = x.Dropout(Dropout, true, generator);
        }
        Tensor hN = Torch.Stack(hn.ToArray()), cN = NumLayers == 1 ? cn[0] : Torch.Cat(cn.ToArray());
        return unsort is null ? (x, hN, cN) : (x.IndexSelect(1, unsort), hN.IndexSelect(1, unsort), cN.IndexSelect(1, unsort));
    }

    static Tensor Index(int[] values, Device device) => Torch.Tensor(values.Select(v => (long)v).ToArray(), values.Length).To(device);

    (Tensor Output, (Tensor H, Tensor C) State) Finish(Tensor input, Tensor output, Tensor hN, Tensor cN, bool unbatched)
    {
        output = RunHooks(input, output);
        LastOutputShape = output.Shape;
        return unbatched ? (output, (hN.Squeeze(1), cN.Squeeze(1))) : (output, (hN, cN));
    }

    /// <summary>The output sequence for zero initial state (so that an Lstm can sit in a Sequential).</summary>
    Tensor ITensorModule.Forward(Tensor x) => Forward(x).Output;

    // h0/c0 as (num_layers * D, N, H), batched like the input.
    Tensor CheckState(string which, Tensor? t, bool unbatched, int n)
    {
        int[] want = unbatched ? [NumLayers * Directions, HiddenSize] : [NumLayers * Directions, n, HiddenSize];
        string arg = $"state.{which}";
        if (t is null) throw new ArgumentNullException(arg, $"Lstm: {arg} is null; pass both h0 and c0, or no state");
        if (!Shapes.Equal(t.Shape, want))
            throw new ArgumentException($"Lstm: {arg} ({which.ToLowerInvariant()}0) has shape {Shapes.Format(t.Shape)}; expected {Shapes.Format(want)} (num_layers * num_directions{(unbatched ? "" : ", batch")}, hidden_size)", arg);
        Functional.CheckLike("Lstm", arg, t, cells[0].Wih);
        return unbatched ? t.Unsqueeze(1) : t;
    }

    /// <inheritdoc/>
    protected override string Describe() => $"Lstm({InputSize}, {HiddenSize}"
        + (NumLayers != 1 ? $", num_layers={NumLayers}" : "") + (Bias ? "" : ", bias=False") + (BatchFirst ? ", batch_first=True" : "")
        + (Dropout != 0 ? $", dropout={Dropout:R}" : "") + (Bidirectional ? ", bidirectional=True" : "") + ")";
}
