namespace MiniGrad.Nn;

/// <summary>
/// Connectionist Temporal Classification loss with PyTorch's semantics (nn.CTCLoss). See DESIGN.md for the
/// normative recursion, gradient, reductions and errors.
/// </summary>
/// <param name="blank">Index of the blank class.</param>
/// <param name="reduction">None, Mean (default: mean over the batch of loss / target length) or Sum.</param>
/// <param name="zeroInfinity">Replace infinite losses (and their NaN gradients) with zero.</param>
public sealed class CtcLoss(int blank = 0, Reduction reduction = Reduction.Mean, bool zeroInfinity = false)
{
    /// <summary>The blank class index.</summary>
    public int Blank { get; } = blank;
    /// <summary>The reduction.</summary>
    public Reduction Reduction { get; } = reduction;
    /// <summary>Whether infinite losses become zero.</summary>
    public bool ZeroInfinity { get; } = zeroInfinity;

    /// <summary>The loss for log-probs (T, N, C) or (T, C), padded (N, S) or concatenated targets, and lengths.</summary>
    public Tensor Forward(Tensor logProbs, Tensor targets, Tensor inputLengths, Tensor targetLengths) =>
        Functional.CtcLoss(logProbs, targets, inputLengths, targetLengths, Blank, Reduction, ZeroInfinity);

    /// <summary>The loss with lengths given as arrays.</summary>
    public Tensor Forward(Tensor logProbs, Tensor targets, int[] inputLengths, int[] targetLengths) =>
        Functional.CtcLoss(logProbs, targets, inputLengths, targetLengths, Blank, Reduction, ZeroInfinity);
}

/// <summary>Stateless versions of the losses and layers (torch.nn.functional).</summary>
public static partial class Functional
{
    /// <summary>CTC loss with lengths given as arrays.</summary>
    public static Tensor CtcLoss(Tensor logProbs, Tensor targets, int[] inputLengths, int[] targetLengths,
        int blank = 0, Reduction reduction = Reduction.Mean, bool zeroInfinity = false)
    {
        ArgumentNullException.ThrowIfNull(inputLengths);
        ArgumentNullException.ThrowIfNull(targetLengths);
        return CtcLoss(logProbs, targets, Torch.Tensor(inputLengths), Torch.Tensor(targetLengths), blank, reduction, zeroInfinity);
    }

    /// <summary>CTC loss (torch.nn.functional.ctc_loss); every argument is validated before any work.</summary>
    public static Tensor CtcLoss(Tensor logProbs, Tensor targets, Tensor inputLengths, Tensor targetLengths,
        int blank = 0, Reduction reduction = Reduction.Mean, bool zeroInfinity = false)
    {
        var (lp, t, unbatched) = CtcArgs.Validate(logProbs, targets, inputLengths, targetLengths, blank);
        var losses = CtcFn.Apply(lp, t, blank, zeroInfinity);
        if (unbatched) losses = losses.Reshape();
        return reduction switch
        {
            Reduction.None => losses,
            Reduction.Sum => losses.Sum(),
            _ => (losses / Torch.Tensor(t.TargetLengths.Select(l => (double)Math.Max(l, 1)).ToArray(), unbatched ? [] : [t.TargetLengths.Length])
                    .To(lp.DType).To(lp.Device)).Mean(),
        };
    }
}

/// <summary>The CTC node: per-sample losses from (T, N, C) log-probs; the backend's fused kernel does both passes.</summary>
sealed class CtcFn(CtcTargets targets, int blank, bool zeroInfinity) : Function
{
    object? saved;

    public override string Name => "CtcLossBackward";

    public static Tensor Apply(Tensor lp, CtcTargets t, int blank, bool zeroInfinity)
    {
        var (nll, saved) = lp.Raw.Backend.CtcLoss(lp.Raw, t, blank);
        var losses = new Tensor(nll);
        if (zeroInfinity) losses = Torch.Where(losses.Eq(double.PositiveInfinity), Torch.ZerosLike(losses), losses);
        var result = Record(losses.Raw, () => { var f = new CtcFn(t, blank, zeroInfinity) { saved = saved }; f.Save(lp.Detach()); return f; }, lp);
        // No node (no grad wanted): the kernel's state goes back now, not to the GC (the CPU's is pooled, and large).
        if (result.GradFn is null) (saved as IDisposable)?.Dispose();
        return result;
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        var lp = Saved(0);
        // The kernel's state is consumed by its backward; a retained graph's second pass recomputes it.
        var state = saved ?? lp.Raw.Backend.CtcLoss(lp.Raw, targets, blank).Saved;
        saved = null;
        return [new Tensor(lp.Raw.Backend.CtcLossBackward(lp.Raw, state, g.Raw, zeroInfinity))];
    }
}
