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
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"Lstm: input has shape {Shapes.Format(input.Shape)}; expected 3-D {(BatchFirst ? "(N, T, input_size)" : "(T, N, input_size)")} or 2-D unbatched (T, input_size)", nameof(input));
        if (input.Size(-1) != InputSize)
            throw new ArgumentException($"Lstm: input has shape {Shapes.Format(input.Shape)}; expected the last dimension to be input_size = {InputSize}", nameof(input));
        Functional.CheckLike("Lstm", nameof(input), input, cells[0].Wih);
        bool unbatched = input.Rank == 2;
        var x = unbatched ? input.Unsqueeze(1) : BatchFirst ? input.Transpose(0, 1) : input;
        int T = x.Size(0), N = x.Size(1), dirs = Directions;
        if (T == 0 || N == 0)
            throw new ArgumentException($"Lstm: input has shape {Shapes.Format(input.Shape)}; expected at least one time step and one sequence", nameof(input));
        var (h0, c0) = state is { } s ? (CheckState("H", s.H, unbatched, N), CheckState("C", s.C, unbatched, N)) : (null, null);

        var hn = new List<Tensor>();
        var cn = new List<Tensor>();
        for (int l = 0; l < NumLayers; l++)
        {
            (x, var c) = LstmLayerFn.Apply(x, cells[(l * dirs)..(l * dirs + dirs)], h0?.Narrow(0, l * dirs, dirs), c0?.Narrow(0, l * dirs, dirs));
            // h_n is each direction's last step: t = T-1 going forward, t = 0 going backward.
            for (int d = 0; d < dirs; d++) hn.Add(x.Select(0, d == 1 ? 0 : T - 1).Narrow(1, d * HiddenSize, HiddenSize));
            cn.Add(c);
            if (l < NumLayers - 1 && Dropout > 0 && Training) x = x.Dropout(Dropout, true, generator);
        }
        var output = unbatched ? x.Squeeze(1) : BatchFirst ? x.Transpose(0, 1) : x;
        output = RunHooks(input, output);
        Tensor hN = Torch.Stack(hn.ToArray()), cN = NumLayers == 1 ? cn[0] : Torch.Cat(cn.ToArray());
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
