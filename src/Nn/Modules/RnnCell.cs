namespace MiniGrad.Nn;

/// <summary>
/// One Elman RNN step (torch.nn.RNNCell): h' = act(W_ih x + b_ih + W_hh h + b_hh) with act tanh or relu, parameters
/// weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H) drawn from U(-1/sqrt(H), 1/sqrt(H)). It runs as an RNN layer
/// of one time step, so it shares the fused kernel and its backward.
/// </summary>
public sealed class RnnCell : RnnCellBase
{
    /// <summary>Creates the cell (arguments in torch.nn.RNNCell's order); the generator (default: Torch's) draws the initial weights.</summary>
    public RnnCell(int inputSize, int hiddenSize, bool bias = true, Nonlinearity nonlinearity = Nonlinearity.Tanh, DType dtype = DType.Float32, Generator? generator = null)
        : base("RnnCell", Rnn.Kind(nonlinearity), inputSize, hiddenSize, bias, dtype, generator) => Nonlinearity = nonlinearity;

    /// <summary>tanh or relu.</summary>
    public Nonlinearity Nonlinearity { get; }

    private protected override string ExtraDescription => Nonlinearity == Nonlinearity.Relu ? ", nonlinearity='relu'" : "";

    /// <summary>One step from x (N, I) (or unbatched (I)) and h (N, H) (or (H)), zeros by default; returns h'.</summary>
    public Tensor Forward(Tensor x, Tensor? h = null) => Step(x, h is null ? null : [h], ["h"]).H;
}
