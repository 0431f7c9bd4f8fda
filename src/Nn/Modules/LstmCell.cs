namespace MiniGrad.Nn;

/// <summary>
/// One LSTM step (torch.nn.LSTMCell): parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H) drawn
/// from U(-1/sqrt(H), 1/sqrt(H)), gate order (i, f, g, o). It runs as an LSTM layer of one time step, so it shares
/// the fused kernel and its backward.
/// </summary>
public sealed class LstmCell : RnnCellBase
{
    /// <summary>Creates the cell; the generator (default: Torch's) draws the initial weights.</summary>
    public LstmCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : base("LstmCell", CellKind.Lstm, inputSize, hiddenSize, bias, dtype, generator) { }

    /// <summary>One step from x (N, I) (or unbatched (I)) and state (h, c), each (N, H) (or (H)), zeros by default; returns (h', c').</summary>
    public (Tensor H, Tensor C) Forward(Tensor x, (Tensor H, Tensor C)? state = null)
    {
        var (h, c) = Step(x, state is { } s ? [s.H, s.C] : null, ["state.H", "state.C"]);
        return (h, c!);
    }
}
