namespace MiniGrad.Nn;

/// <summary>
/// One LSTM step (torch.nn.LSTMCell): parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H) drawn
/// from U(-1/sqrt(H), 1/sqrt(H)), gate order (i, f, g, o). It runs as an LSTM layer of one time step, so it shares
/// the fused kernel and its backward.
/// </summary>
public sealed class LstmCell : Module
{
    /// <summary>Creates the cell; the generator (default: Torch's) draws the initial weights.</summary>
    public LstmCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        Check.Positive("LstmCell", nameof(inputSize), inputSize);
        Check.Positive("LstmCell", nameof(hiddenSize), hiddenSize);
        Check.Floating("LstmCell", dtype);
        (InputSize, HiddenSize) = (inputSize, hiddenSize);
        double bound = 1 / Math.Sqrt(hiddenSize);
        WeightIh = RegisterParameter("weight_ih", Init.UniformParameter([4 * hiddenSize, inputSize], bound, dtype, generator))!;
        WeightHh = RegisterParameter("weight_hh", Init.UniformParameter([4 * hiddenSize, hiddenSize], bound, dtype, generator))!;
        BiasIh = RegisterParameter("bias_ih", bias ? Init.UniformParameter([4 * hiddenSize], bound, dtype, generator) : null);
        BiasHh = RegisterParameter("bias_hh", bias ? Init.UniformParameter([4 * hiddenSize], bound, dtype, generator) : null);
    }

    /// <summary>Features of the input.</summary>
    public int InputSize { get; }
    /// <summary>Features of the hidden state H.</summary>
    public int HiddenSize { get; }
    /// <summary>The (4H, I) input weights.</summary>
    public Parameter WeightIh { get; }
    /// <summary>The (4H, H) recurrent weights.</summary>
    public Parameter WeightHh { get; }
    /// <summary>The (4H) input bias, or null.</summary>
    public Parameter? BiasIh { get; }
    /// <summary>The (4H) recurrent bias, or null.</summary>
    public Parameter? BiasHh { get; }

    /// <summary>One step from x (N, I) (or unbatched (I)) and state (h, c), each (N, H) (or (H)), zeros by default; returns (h', c').</summary>
    public (Tensor H, Tensor C) Forward(Tensor x, (Tensor H, Tensor C)? state = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank is not (1 or 2) || x.Size(-1) != InputSize)
            throw new ArgumentException($"LstmCell: input has shape {Shapes.Format(x.Shape)}; expected (N, input_size) or (input_size) with input_size = {InputSize}", nameof(x));
        Functional.CheckLike("LstmCell", "input", x, WeightIh);
        bool unbatched = x.Rank == 1;
        var xb = unbatched ? x.Unsqueeze(0) : x;
        int n = xb.Size(0);
        if (n == 0) throw new ArgumentException($"LstmCell: input has shape {Shapes.Format(x.Shape)}; expected at least one sample", nameof(x));
        Tensor? h = null, c = null;
        if (state is { } s)
        {
            int[] want = unbatched ? [HiddenSize] : [n, HiddenSize];
            foreach (var (name, t) in new[] { ("state.H", s.H), ("state.C", s.C) })
            {
                if (t is null) throw new ArgumentNullException(name, $"LstmCell: {name} is null; pass both h and c, or no state");
                if (!Shapes.Equal(t.Shape, want))
                    throw new ArgumentException($"LstmCell: {name} has shape {Shapes.Format(t.Shape)}; expected {Shapes.Format(want)} (batch, hidden_size) to match the input", name);
                Functional.CheckLike("LstmCell", name, t, WeightIh);
            }
            (h, c) = unbatched ? (s.H.Unsqueeze(0), s.C.Unsqueeze(0)) : (s.H, s.C);
        }
        var (y, cNew) = LstmLayerFn.Apply(xb.Unsqueeze(0), [new(WeightIh, WeightHh, BiasIh, BiasHh)], h?.Unsqueeze(0), c?.Unsqueeze(0));
        var (hNew, cn) = (y.Reshape(n, HiddenSize), cNew.Reshape(n, HiddenSize));
        LastOutputShape = unbatched ? [HiddenSize] : [n, HiddenSize];
        return unbatched ? (RunHooks(x, hNew.Reshape(HiddenSize)), cn.Reshape(HiddenSize)) : (RunHooks(x, hNew), cn);
    }

    /// <inheritdoc/>
    protected override string Describe() => $"LstmCell({InputSize}, {HiddenSize}{(BiasIh is null ? ", bias=False" : "")})";
}
