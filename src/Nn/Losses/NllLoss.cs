namespace MiniGrad.Nn;

/// <summary>
/// Negative log-likelihood of class indices given log-probabilities (nn.NLLLoss): loss[i] = -weight[t_i] * input[i, t_i],
/// 0 where t_i == ignoreIndex. Mean divides by the sum of weight[t_i] over the non-ignored items (their count without weights).
/// </summary>
/// <param name="weight">Per-class weights (C), or null for 1.</param>
/// <param name="ignoreIndex">A target value that contributes nothing (and counts for nothing in the mean).</param>
/// <param name="reduction">None (per item), Mean (the default) or Sum.</param>
public sealed class NllLoss(Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean)
{
    /// <summary>The class weights, or null.</summary>
    public Tensor? Weight { get; } = CheckWeight(weight);
    /// <summary>The ignored target value.</summary>
    public long IgnoreIndex { get; } = ignoreIndex;
    /// <summary>The reduction.</summary>
    public Reduction Reduction { get; } = CheckReduction(reduction);

    /// <summary>The loss of log-probabilities (N, C), (N, C, d1, ...) or (C) and integer targets (N), (N, d1, ...) or ().</summary>
    public Tensor Forward(Tensor input, Tensor target) => Functional.NllLoss(input, target, Weight, IgnoreIndex, Reduction);

    internal static Tensor? CheckWeight(Tensor? weight, string op = "NllLoss")
    {
        if (weight is not null && (weight.Rank != 1 || !weight.DType.IsFloating()))
            throw new ArgumentException($"{op}: weight has shape {Shapes.Format(weight.Shape)} and dtype {weight.DType}; expected a 1-D floating point tensor of C class weights", nameof(weight));
        return weight;
    }

    static Reduction CheckReduction(Reduction reduction)
    {
        LossArgs.Reduction("NllLoss", reduction);
        return reduction;
    }
}

public static partial class Functional
{
    /// <summary>Negative log-likelihood loss (torch.nn.functional.nll_loss); every argument is checked before any work.</summary>
    public static Tensor NllLoss(Tensor input, Tensor target, Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        const string op = "NllLoss";
        LossArgs.FloatingInput(op, input);
        ArgumentNullException.ThrowIfNull(target);
        LossArgs.Reduction(op, reduction);
        if (target.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"{op}: target must hold class indices (Int64 or Int32), but dtype is {target.DType}", nameof(target));
        LossArgs.ClassWeight(op, input, weight, LossArgs.Classes(op, input));
        var ct = LossArgs.Indices(op, input, target, weight, ignoreIndex);
        var lp = input.Rank == 1 ? input.Unsqueeze(0) : input;
        var loss = ct.Kept(GatherFn.Apply(lp, 1, ct.Index) * ct.NegWeight).Reshape(ct.ItemShape);
        return LossArgs.Reduce(loss, reduction, ct.Total);
    }
}
