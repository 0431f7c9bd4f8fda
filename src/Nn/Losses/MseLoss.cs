namespace MiniGrad.Nn;

/// <summary>Mean squared error (nn.MSELoss): (input - target)^2 per element, then the reduction (Mean over every element).</summary>
/// <param name="reduction">None, Mean (the default) or Sum.</param>
public sealed class MseLoss(Reduction reduction = Reduction.Mean)
{
    /// <summary>The reduction.</summary>
    public Reduction Reduction { get; } = Check(reduction);

    /// <summary>The loss of an input and a target of the same shape.</summary>
    public Tensor Forward(Tensor input, Tensor target) => Functional.MseLoss(input, target, Reduction);

    static Reduction Check(Reduction reduction)
    {
        LossArgs.Reduction("MseLoss", reduction);
        return reduction;
    }
}

public static partial class Functional
{
    /// <summary>
    /// Mean squared error (torch.nn.functional.mse_loss). Input and target must have the same shape (PyTorch broadcasts
    /// with a warning, as a likely bug; here it is an error), dtype and device; the target may require grad too.
    /// </summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        const string op = "MseLoss";
        LossArgs.FloatingInput(op, input);
        LossArgs.SameAsInput(op, nameof(target), input, target, "values");
        LossArgs.Reduction(op, reduction);
        var loss = UnaryFn.Apply(input - target, UnaryOp.Square);
        return LossArgs.Reduce(loss, reduction, loss.Numel);
    }
}
