namespace MiniGrad.Nn;

/// <summary>
/// Cross entropy of unnormalized logits (nn.CrossEntropyLoss): LogSoftmax over the class dim, then the negative
/// log-likelihood of class indices (integer targets) or of class probabilities (floating targets of the input's shape).
/// Inputs are (N, C), (N, C, d1, ...) or unbatched (C). See <see cref="Functional.CrossEntropy"/> for the reductions.
/// </summary>
/// <param name="weight">Per-class weights (C), or null for 1.</param>
/// <param name="ignoreIndex">A class-index target value that contributes nothing (and counts for nothing in the mean).</param>
/// <param name="reduction">None (per item), Mean (the default) or Sum.</param>
/// <param name="labelSmoothing">In [0, 1]: the target is mixed with the uniform distribution, (1 - e) target + e / C.</param>
public sealed class CrossEntropyLoss(Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0)
{
    /// <summary>The class weights, or null.</summary>
    public Tensor? Weight { get; } = NllLoss.CheckWeight(weight, "CrossEntropyLoss");
    /// <summary>The ignored target value (class-index targets only).</summary>
    public long IgnoreIndex { get; } = ignoreIndex;
    /// <summary>The reduction.</summary>
    public Reduction Reduction { get; } = Check(reduction, labelSmoothing);
    /// <summary>The label smoothing e.</summary>
    public double LabelSmoothing { get; } = labelSmoothing;

    /// <summary>The loss of logits and targets (class indices, or probabilities of the input's shape).</summary>
    public Tensor Forward(Tensor input, Tensor target) => Functional.CrossEntropy(input, target, Weight, IgnoreIndex, Reduction, LabelSmoothing);

    static Reduction Check(Reduction reduction, double labelSmoothing)
    {
        LossArgs.Reduction("CrossEntropyLoss", reduction);
        LossArgs.LabelSmoothing("CrossEntropyLoss", labelSmoothing);
        return reduction;
    }
}

public static partial class Functional
{
    /// <summary>
    /// Cross entropy (torch.nn.functional.cross_entropy). Class indices: loss = (1 - e) nll + e smooth, where
    /// nll = -weight[t] logp[t] and smooth = -sum_c weight[c] logp[c] / C, both 0 for an ignored item; Mean divides the
    /// sum by the sum of weight[t] over the non-ignored items (PyTorch's rule, for both parts). Class probabilities:
    /// loss = -sum_c weight[c] p'[c] logp[c] with p' = (1 - e) p + e / C; Mean divides by the number of items (N d1 ...),
    /// never by the weights. Every argument is checked before any work.
    /// </summary>
    public static Tensor CrossEntropy(Tensor input, Tensor target, Tensor? weight = null, long ignoreIndex = -100,
        Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0)
    {
        const string op = "CrossEntropy";
        LossArgs.FloatingInput(op, input);
        ArgumentNullException.ThrowIfNull(target);
        LossArgs.Reduction(op, reduction);
        LossArgs.LabelSmoothing(op, labelSmoothing);
        int C = LossArgs.Classes(op, input);
        LossArgs.ClassWeight(op, input, weight, C);
        bool unbatched = input.Rank == 1;
        // The class-weight vector shaped to broadcast along dim 1 of the batched input.
        var w = weight is null ? null : weight.Detach().Reshape([1, C, .. Enumerable.Repeat(1, Math.Max(input.Rank - 2, 0))]);
        double e = labelSmoothing;

        if (target.DType.IsFloating())
        {
            LossArgs.SameAsInput(op, nameof(target), input, target, "class probabilities");
            var x = unbatched ? input.Unsqueeze(0) : input;
            var p = unbatched ? target.Unsqueeze(0) : target;
            if (e > 0) p = p * (1 - e) + e / C;
            var prod = x.LogSoftmax(1) * p;
            if (w is not null) prod = prod * w;
            var loss = -prod.Sum(1);
            if (unbatched) loss = loss.Reshape();
            return LossArgs.Reduce(loss, reduction, loss.Numel);
        }
        if (target.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"{op}: target must hold class indices (Int64 or Int32) or class probabilities (the input's floating dtype), but dtype is {target.DType}", nameof(target));

        var ct = LossArgs.Indices(op, input, target, weight, ignoreIndex);
        if (e == 0 && input.Rank <= 2) // (N, C) or (C): the backend's fused kernel, which keeps no (N, C) buffer of its own
        {
            int n = ct.Index.Numel;
            var perRow = CrossEntropyFn.Apply(unbatched ? input.Unsqueeze(0) : input, ct.Index.Reshape(n), (-ct.NegWeight).Reshape(n));
            return LossArgs.Reduce(perRow.Reshape(ct.ItemShape), reduction, ct.Total);
        }
        var lp = (unbatched ? input.Unsqueeze(0) : input).LogSoftmax(1);
        var nll = GatherFn.Apply(lp, 1, ct.Index) * ct.NegWeight;
        if (e > 0)
        {
            var smooth = -(w is null ? lp : lp * w).Sum(1, keepDim: true);
            nll = nll * (1 - e) + smooth * (e / C);
        }
        return LossArgs.Reduce(ct.Kept(nll).Reshape(ct.ItemShape), reduction, ct.Total);
    }
}

/// <summary>
/// Cross entropy over class indices for (rows, C) input as one node: the backend's fused kernel (IBackend.CrossEntropy)
/// keeps each row's max and log-sum-exp, and the backward writes softmax minus the one-hot target, scaled by the row's weight and
/// output gradient, in one pass. rowWeight holds each row's class weight (0 for an ignored target).
/// </summary>
internal sealed class CrossEntropyFn(RawTensor target, RawTensor rowWeight, RawTensor stats) : Function
{
    public override string Name => "CrossEntropyLossBackward";

    public static Tensor Apply(Tensor x, Tensor target, Tensor rowWeight)
    {
        var (loss, stats) = x.Backend.CrossEntropy(x.Raw, target.Raw, rowWeight.Raw);
        return Record(loss, () =>
        {
            var f = new CrossEntropyFn(target.Raw, rowWeight.Raw, stats);
            f.Save(x);
            f.Keep(target.Raw);
            f.Keep(rowWeight.Raw);
            f.Keep(stats);
            return f;
        }, x);
    }

    protected internal override Tensor?[] Backward(Tensor g) =>
        [new Tensor(g.Backend.CrossEntropyBackward(Saved(0).Raw, target, rowWeight, stats, g.Raw))];
}
