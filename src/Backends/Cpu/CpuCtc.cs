namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public (RawTensor Nll, object Saved) CtcLoss(RawTensor logProbs, CtcTargets t, int blank)
    {
        int T = logProbs.Shape[0], N = logProbs.Shape[1], Cls = logProbs.Shape[2];
        var nll = CpuTensor.Alloc([N], logProbs.DType);
        object saved = logProbs.DType == DType.Float32
            ? CtcKernel.Forward<float>(C(logProbs).Span<float>(), T, N, Cls, t.Labels, t.Offsets, t.TargetLengths, t.InputLengths, blank, nll.Span<float>())
            : CtcKernel.Forward<double>(C(logProbs).Span<double>(), T, N, Cls, t.Labels, t.Offsets, t.TargetLengths, t.InputLengths, blank, nll.Span<double>());
        return (nll, saved);
    }

    /// <inheritdoc/>
    public RawTensor CtcLossBackward(RawTensor logProbs, object saved, RawTensor gradNll, bool zeroInfinity)
    {
        var grad = CpuTensor.Alloc(logProbs.Shape, logProbs.DType);
        if (logProbs.DType == DType.Float32)
            CtcKernel.Backward(C(logProbs).Span<float>(), (CtcSaved<float>)saved, C(gradNll).Span<float>(), zeroInfinity, grad.Span<float>());
        else
            CtcKernel.Backward(C(logProbs).Span<double>(), (CtcSaved<double>)saved, C(gradNll).Span<double>(), zeroInfinity, grad.Span<double>());
        return grad;
    }
}
