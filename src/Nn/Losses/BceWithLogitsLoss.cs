namespace MiniGrad.Nn;

/// <summary>
/// Binary cross entropy of logits (nn.BCEWithLogitsLoss), numerically stable for any logit:
/// loss = weight * ((1 - t) x - (1 + (posWeight - 1) t) logsigmoid(x)), then the reduction (Mean over every element).
/// </summary>
/// <param name="weight">Rescales each element's loss; broadcast to the input's shape; null for 1.</param>
/// <param name="reduction">None, Mean (the default) or Sum.</param>
/// <param name="posWeight">Weight of the positive term per class (the last dim), broadcast to the input's shape; null for 1.</param>
public sealed class BceWithLogitsLoss(Tensor? weight = null, Reduction reduction = Reduction.Mean, Tensor? posWeight = null)
{
    /// <summary>The element weights, or null.</summary>
    public Tensor? Weight { get; } = weight;
    /// <summary>The reduction.</summary>
    public Reduction Reduction { get; } = Check(reduction);
    /// <summary>The positive-class weights, or null.</summary>
    public Tensor? PosWeight { get; } = posWeight;

    /// <summary>The loss of logits and targets in [0, 1] of the same shape.</summary>
    public Tensor Forward(Tensor input, Tensor target) => Functional.BinaryCrossEntropyWithLogits(input, target, Weight, Reduction, PosWeight);

    static Reduction Check(Reduction reduction)
    {
        LossArgs.Reduction("BceWithLogitsLoss", reduction);
        return reduction;
    }
}

public static partial class Functional
{
    /// <summary>
    /// Binary cross entropy with logits (torch.nn.functional.binary_cross_entropy_with_logits), PyTorch's formula:
    /// (1 - t) x - (1 + (posWeight - 1) t) logsigmoid(x), times weight. Every argument is checked before any work.
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor input, Tensor target, Tensor? weight = null,
        Reduction reduction = Reduction.Mean, Tensor? posWeight = null)
    {
        const string op = "BinaryCrossEntropyWithLogits";
        LossArgs.FloatingInput(op, input);
        LossArgs.SameAsInput(op, nameof(target), input, target, "probabilities");
        LossArgs.BroadcastsTo(op, nameof(weight), input, weight);
        LossArgs.BroadcastsTo(op, nameof(posWeight), input, posWeight);
        LossArgs.Reduction(op, reduction);
        var logSig = input.LogSigmoid();
        if (posWeight is not null) logSig = logSig * ((posWeight - 1.0) * target + 1.0);
        var loss = (1.0 - target) * input - logSig;
        if (weight is not null) loss = loss * weight;
        return LossArgs.Reduce(loss, reduction, loss.Numel);
    }
}
