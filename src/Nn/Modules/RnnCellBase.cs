namespace MiniGrad.Nn;

/// <summary>
/// What <see cref="LstmCell"/>, <see cref="GruCell"/> and <see cref="RnnCell"/> share (torch.nn.RNNCellBase): parameters
/// weight_ih (G·H, I), weight_hh (G·H, H), bias_ih, bias_hh (G·H) drawn from U(-1/sqrt(H), 1/sqrt(H)), and one step run as
/// a recurrent layer of one time step, so a cell shares its module's fused kernel and backward.
/// </summary>
public abstract class RnnCellBase : Module
{
    readonly CellKind kind;
    readonly string name;

    private protected RnnCellBase(string name, CellKind kind, int inputSize, int hiddenSize, bool bias, DType dtype, Generator? generator)
    {
        Check.Positive(name, nameof(inputSize), inputSize);
        Check.Positive(name, nameof(hiddenSize), hiddenSize);
        Check.Floating(name, dtype);
        (this.name, this.kind, InputSize, HiddenSize) = (name, kind, inputSize, hiddenSize);
        double bound = 1 / Math.Sqrt(hiddenSize);
        int gh = kind.Gates * hiddenSize;
        WeightIh = RegisterParameter("weight_ih", Init.UniformParameter([gh, inputSize], bound, dtype, generator))!;
        WeightHh = RegisterParameter("weight_hh", Init.UniformParameter([gh, hiddenSize], bound, dtype, generator))!;
        BiasIh = RegisterParameter("bias_ih", bias ? Init.UniformParameter([gh], bound, dtype, generator) : null);
        BiasHh = RegisterParameter("bias_hh", bias ? Init.UniformParameter([gh], bound, dtype, generator) : null);
    }

    /// <summary>Features of the input.</summary>
    public int InputSize { get; }
    /// <summary>Features of the hidden state H.</summary>
    public int HiddenSize { get; }
    /// <summary>The (G·H, I) input weights (G = 4 for the LSTM, 3 for the GRU, 1 for the RNN).</summary>
    public Parameter WeightIh { get; }
    /// <summary>The (G·H, H) recurrent weights.</summary>
    public Parameter WeightHh { get; }
    /// <summary>The (G·H) input bias, or null.</summary>
    public Parameter? BiasIh { get; }
    /// <summary>The (G·H) recurrent bias, or null.</summary>
    public Parameter? BiasHh { get; }

    /// <summary>
    /// One step from x (N, I) (or unbatched (I)) and the state (h [, c], each (N, H) or (H); null: zeros), whose entries
    /// messages call names[i]; returns h' (through the forward hooks) [and c'].
    /// </summary>
    private protected (Tensor H, Tensor? C) Step(Tensor x, Tensor?[]? state, string[] names)
    {
        var (hNew, cNew) = Call(x, x => StepBody(x, state, names));
        return (hNew, cNew);
    }

    (Tensor H, Tensor? C) StepBody(Tensor x, Tensor?[]? state, string[] names)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank is not (1 or 2) || x.Size(-1) != InputSize)
            throw new ArgumentException($"{name}: input has shape {Shapes.Format(x.Shape)}; expected (N, input_size) or (input_size) with input_size = {InputSize}", nameof(x));
        Functional.CheckLike(name, "input", x, WeightIh);
        bool unbatched = x.Rank == 1;
        var xb = unbatched ? x.Unsqueeze(0) : x;
        int n = xb.Size(0);
        Tensor? h = null, c = null;
        if (state is not null)
        {
            int[] want = unbatched ? [HiddenSize] : [n, HiddenSize];
            for (int i = 0; i < state.Length; i++)
            {
                var t = state[i];
                if (t is null) throw new ArgumentNullException(names[i], $"{name}: {names[i]} is null; pass both h and c, or no state");
                if (!Shapes.Equal(t.Shape, want))
                    throw new ArgumentException($"{name}: {names[i]} has shape {Shapes.Format(t.Shape)}; expected {Shapes.Format(want)} (batch, hidden_size) to match the input", names[i]);
                Functional.CheckLike(name, names[i], t, WeightIh);
            }
            (h, c) = (Batched(state[0]!), state.Length > 1 ? Batched(state[1]!) : null);
        }
        Tensor Batched(Tensor t) => unbatched ? t.Unsqueeze(0) : t;
        var (y, cNew) = RecurrentLayerFn.Apply(kind, xb.Unsqueeze(0), [new(WeightIh, WeightHh, BiasIh, BiasHh)], h?.Unsqueeze(0), c?.Unsqueeze(0));
        int[] shape = unbatched ? [HiddenSize] : [n, HiddenSize];
        return (y.Reshape(shape), cNew?.Reshape(shape));
    }

    /// <summary>Arguments past the common ones for the description (the RNN cell's nonlinearity).</summary>
    private protected virtual string ExtraDescription => "";

    /// <inheritdoc/>
    protected override string Describe() => $"{name}({InputSize}, {HiddenSize}{(BiasIh is null ? ", bias=False" : "")}{ExtraDescription})";
}
