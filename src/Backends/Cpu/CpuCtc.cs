namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public (RawTensor Nll, object Saved) CtcLoss(RawTensor logProbs, CtcTargets t, int blank) => throw new NotSupportedException("CTC kernel pending");
    /// <inheritdoc/>
    public RawTensor CtcLossBackward(RawTensor logProbs, object saved, RawTensor gradNll, bool zeroInfinity) => throw new NotSupportedException("CTC kernel pending");
}
