namespace MiniGrad.Nn;

/// <summary>
/// One GRU step (torch.nn.GRUCell): parameters weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H) drawn from
/// U(-1/sqrt(H), 1/sqrt(H)), gate order (r, z, n). It runs as a GRU layer of one time step, so it shares the fused kernel
/// and its backward.
/// </summary>
public sealed class GruCell : RnnCellBase
{
    /// <summary>Creates the cell; the generator (default: Torch's) draws the initial weights.</summary>
    public GruCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : base("GruCell", CellKind.Gru, inputSize, hiddenSize, bias, dtype, generator) { }

    /// <summary>One step from x (N, I) (or unbatched (I)) and h (N, H) (or (H)), zeros by default; returns h'.</summary>
    public Tensor Forward(Tensor x, Tensor? h = null) => Step(x, h is null ? null : [h], ["h"]).H;
}
