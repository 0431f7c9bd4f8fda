namespace MiniGrad.Nn;

/// <summary>
/// What <see cref="Lstm"/>, <see cref="Gru"/> and <see cref="Rnn"/> share (torch.nn.RNNBase): the constructor's
/// arguments, parameters named weight_ih_l{k}[_reverse] (G·H, in), weight_hh_l{k}[_reverse] (G·H, H), bias_ih/bias_hh
/// (G·H) with G gate blocks of H rows, all drawn from U(-1/sqrt(H), 1/sqrt(H)) so PyTorch checkpoints load by name, the
/// input forms (padded, unbatched, with lengths, packed) and the stacking of layers. Each layer (both directions) is one
/// fused tape node; the modules differ only in their cell.
/// </summary>
public abstract class RnnBase : Module, ITensorModule
{
    readonly RecurrentLayerFn.Weights[] cells;
    readonly Generator? generator;
    readonly CellKind kind;
    private protected readonly string name;

    private protected RnnBase(string name, CellKind kind, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst, double dropout,
        bool bidirectional, DType dtype, Generator? generator)
    {
        Check.Positive(name, nameof(inputSize), inputSize);
        Check.Positive(name, nameof(hiddenSize), hiddenSize);
        Check.Positive(name, nameof(numLayers), numLayers);
        Check.Probability(name, nameof(dropout), dropout);
        Check.Floating(name, dtype);
        (this.name, this.kind, this.generator) = (name, kind, generator);
        (InputSize, HiddenSize, NumLayers, Bias, BatchFirst, Dropout, Bidirectional) = (inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional);
        int dirs = Directions, h = hiddenSize, gh = kind.Gates * hiddenSize;
        double bound = 1 / Math.Sqrt(h);
        cells = new RecurrentLayerFn.Weights[numLayers * dirs];
        for (int l = 0; l < numLayers; l++)
            for (int d = 0; d < dirs; d++)
            {
                string sfx = $"_l{l}{(d == 1 ? "_reverse" : "")}";
                Parameter? P(string name, int[] shape, bool on = true) =>
                    RegisterParameter(name + sfx, on ? Init.UniformParameter(shape, bound, dtype, generator) : null);
                cells[l * dirs + d] = new(P("weight_ih", [gh, l == 0 ? inputSize : h * dirs])!, P("weight_hh", [gh, h])!,
                    P("bias_ih", [gh], bias), P("bias_hh", [gh], bias));
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

    /// <summary>The state tensors as messages and ParamName call them: (argument, how the message names it) for h0, then c0.</summary>
    private protected abstract (string Arg, string Label)[] StateNames { get; }

    /// <summary>
    /// The layers over a padded input (T, N, I), (N, T, I) with batch_first, or unbatched (T, I), with each sequence's length
    /// when given (a batch only), from state (h0 [, c0], each (num_layers * D, N, H) or unbatched (num_layers * D, H); null:
    /// zeros). Returns the output shaped like the input (D * H features) and h_n [, c_n] shaped like the state.
    /// </summary>
    private protected (Tensor Output, Tensor H, Tensor? C) ForwardPadded(Tensor input, int[]? lengths, Tensor?[]? state)
    {
        var (output, (h, c)) = Call(input, input => PaddedBody(input, lengths, state));
        return (output, h, c);
    }

    (Tensor Output, (Tensor H, Tensor? C) State) PaddedBody(Tensor input, int[]? lengths, Tensor?[]? state)
    {
        var (x, unbatched) = Prepare(input);
        if (lengths is not null)
        {
            if (unbatched)
                throw new ArgumentException($"{name}: lengths given for an unbatched input of shape {Shapes.Format(input.Shape)}; expected a 3-D batch {(BatchFirst ? "(N, T, input_size)" : "(T, N, input_size)")}", nameof(lengths));
            PackedSequence.CheckLengths(name, lengths, x.Size(1), x.Size(0));
        }
        var (output, hN, cN) = Run(x, lengths, state, unbatched);
        output = unbatched ? output.Squeeze(1) : BatchFirst ? output.Transpose(0, 1) : output;
        return unbatched ? (output, (hN.Squeeze(1), cN?.Squeeze(1))) : (output, (hN, cN));
    }

    /// <summary>The layers over a <see cref="PackedSequence"/>: the output packed the same way, h_n [, c_n] in the original batch order.</summary>
    private protected (PackedSequence Output, Tensor H, Tensor? C) ForwardPacked(PackedSequence input, Tensor?[]? state)
    {
        ArgumentNullException.ThrowIfNull(input);
        PackedSequence? packed = null;
        // The hooks see the packed data; a pre-hook may replace the input's data, a forward hook the output's.
        var (data, (h, c)) = Call(input.Data, data =>
        {
            var (output, hN, cN) = PackedBody(data == input.Data ? input : new PackedSequence(data, [.. input.BatchSizes], input.Sorted, input.EnforcedSorted), state);
            packed = output;
            return (output.Data, (hN, cN));
        });
        return (data == packed!.Data ? packed : new PackedSequence(data, [.. packed.BatchSizes], packed.Sorted, packed.EnforcedSorted), h, c);
    }

    (PackedSequence Output, Tensor H, Tensor? C) PackedBody(PackedSequence input, Tensor?[]? state)
    {
        var (padded, _) = input.Pad(false, 0, null);
        if (padded.Rank != 3 || padded.Size(-1) != InputSize)
            throw new ArgumentException($"{name}: the packed input's data has shape {Shapes.Format(input.Data.Shape)}; expected (frames, input_size = {InputSize})", nameof(input));
        Functional.CheckLike(name, nameof(input), padded, cells[0].Wih);
        int[] lengths = input.Lengths;
        var (output, hN, cN) = Run(padded, lengths, state, false);
        return (PackedSequence.Pack(name, output, lengths, batchFirst: false, enforceSorted: input.EnforcedSorted), hN, cN);
    }

    /// <summary>The input checked and made time-major (T, N, I), and whether it was unbatched.</summary>
    (Tensor X, bool Unbatched) Prepare(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"{name}: input has shape {Shapes.Format(input.Shape)}; expected 3-D {(BatchFirst ? "(N, T, input_size)" : "(T, N, input_size)")} or 2-D unbatched (T, input_size)", nameof(input));
        if (input.Size(-1) != InputSize)
            throw new ArgumentException($"{name}: input has shape {Shapes.Format(input.Shape)}; expected the last dimension to be input_size = {InputSize}", nameof(input));
        Functional.CheckLike(name, nameof(input), input, cells[0].Wih);
        bool unbatched = input.Rank == 2;
        var x = unbatched ? input.Unsqueeze(1) : BatchFirst ? input.Transpose(0, 1) : input;
        if (x.Size(0) == 0) // as PyTorch; an empty batch (N = 0) runs, to empty outputs
            throw new ArgumentException($"{name}: input has shape {Shapes.Format(input.Shape)}; expected at least one time step", nameof(input));
        return (x, unbatched);
    }

    /// <summary>
    /// The layers over time-major x (T, N, I), with each sequence's length (or all T). With lengths the batch runs
    /// sorted by length, longest first (what the fused layer needs to shrink the batch as sequences end), with the
    /// input's padding zeroed; the results come back in batch order.
    /// </summary>
    (Tensor Output, Tensor H, Tensor? C) Run(Tensor x, int[]? lengths, Tensor?[]? state, bool unbatched)
    {
        int T = x.Size(0), N = x.Size(1), dirs = Directions;
        Tensor? h0 = null, c0 = null;
        if (state is not null)
            (h0, c0) = (CheckState(0, state[0], unbatched, N), kind.HasCellState ? CheckState(1, state[1], unbatched, N) : null);
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
            (x, var c) = RecurrentLayerFn.Apply(kind, x, cells[(l * dirs)..(l * dirs + dirs)], h0?.Narrow(0, l * dirs, dirs), c0?.Narrow(0, l * dirs, dirs), lengths);
            // h_n is each direction's last step: the sequence's last frame going forward, t = 0 going backward.
            for (int d = 0; d < dirs; d++)
                hn.Add((d == 0 && last is not null ? x.Reshape(T * N, -1).IndexSelect(0, last) : x.Select(0, d == 1 ? 0 : T - 1)).Narrow(1, d * HiddenSize, HiddenSize));
            if (c is not null) cn.Add(c);
            if (l < NumLayers - 1 && Dropout > 0 && Training) x = x.Dropout(Dropout, true, generator);
        }
        Tensor hN = Torch.Stack(hn.ToArray());
        Tensor? cN = cn.Count == 0 ? null : cn.Count == 1 ? cn[0] : Torch.Cat(cn.ToArray());
        return unsort is null ? (x, hN, cN) : (x.IndexSelect(1, unsort), hN.IndexSelect(1, unsort), cN?.IndexSelect(1, unsort));
    }

    static Tensor Index(int[] values, Device device) => Torch.Tensor(values.Select(v => (long)v).ToArray(), values.Length).To(device);

    /// <summary>The output sequence for zero initial state (so that the module can sit in a Sequential).</summary>
    Tensor ITensorModule.Forward(Tensor x) => ForwardPadded(x, null, null).Output;

    // A state tensor (h0, or the LSTM's c0) as (num_layers * D, N, H), batched like the input.
    Tensor CheckState(int which, Tensor? t, bool unbatched, int n)
    {
        int[] want = unbatched ? [NumLayers * Directions, HiddenSize] : [NumLayers * Directions, n, HiddenSize];
        var (arg, label) = StateNames[which];
        if (t is null) throw new ArgumentNullException(arg, $"{name}: {arg} is null; pass both h0 and c0, or no state");
        if (!Shapes.Equal(t.Shape, want))
        {
            string hint = t.Rank == 1 && !t.DType.IsFloating() ? "; to pass lengths as a tensor, call Forward(input, lengths, h0) with all three arguments" : "";
            throw new ArgumentException($"{name}: {label} has shape {Shapes.Format(t.Shape)}; expected {Shapes.Format(want)} (num_layers * num_directions{(unbatched ? "" : ", batch")}, hidden_size){hint}", arg);
        }
        Functional.CheckLike(name, arg, t, cells[0].Wih);
        return unbatched ? t.Unsqueeze(1) : t;
    }

    /// <summary>Arguments past the common ones for the description (the RNN's nonlinearity).</summary>
    private protected virtual string ExtraDescription => "";

    /// <inheritdoc/>
    protected override string Describe() => $"{name}({InputSize}, {HiddenSize}"
        + (NumLayers != 1 ? $", num_layers={NumLayers}" : "") + ExtraDescription + (Bias ? "" : ", bias=False") + (BatchFirst ? ", batch_first=True" : "")
        + (Dropout != 0 ? $", dropout={Dropout:R}" : "") + (Bidirectional ? ", bidirectional=True" : "") + ")";
}
