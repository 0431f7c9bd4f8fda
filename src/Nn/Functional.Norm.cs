namespace MiniGrad.Nn;

// Normalization layers. LayerNorm is one fused backend kernel each way (LayerNormFn); BatchNorm is composed of reductions
// and broadcasting ops, so that autograd derives its backward (including the gradient through the batch statistics).
public static partial class Functional
{
    /// <summary>
    /// (x - mean) / sqrt(var + eps) * weight + bias over the last normalizedShape.Length dims (torch.nn.functional.layer_norm),
    /// with the biased variance; weight and bias (optional) have shape normalizedShape.
    /// </summary>
    public static Tensor LayerNorm(Tensor input, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        const string op = "LayerNorm";
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException($"{op}: normalizedShape = {Shapes.Format(normalizedShape)} is invalid; expected at least one dim, all positive", nameof(normalizedShape));
        int k = normalizedShape.Length;
        if (input.Rank < k || !input.Shape[^k..].SequenceEqual(normalizedShape))
            throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}; expected its last dims to be normalizedShape = {Shapes.Format(normalizedShape)}", nameof(input));
        if (!input.DType.IsFloating()) throw new ArgumentException($"{op}: input has dtype {input.DType}; expected Float32 or Float64", nameof(input));
        CheckEps(op, eps);
        foreach (var (name, p) in new[] { ("weight", weight), ("bias", bias) })
            if (p is not null)
            {
                if (!p.Shape.SequenceEqual(normalizedShape)) throw new ArgumentException($"{op}: {name} has shape {Shapes.Format(p.Shape)}; expected normalizedShape = {Shapes.Format(normalizedShape)}", name);
                CheckLike(op, nameof(input), input, p);
            }
        return LayerNormFn.Apply(input, normalizedShape, weight, bias, eps);
    }

    /// <summary>
    /// Batch normalization (torch.nn.functional.batch_norm) of input (N, C) or (N, C, L) per channel. When training (or without
    /// running statistics) it normalizes with the batch mean and biased variance, and updates runningMean and runningVar in
    /// place (when given) as (1 - momentum) * running + momentum * batch, with the unbiased variance; otherwise it normalizes
    /// with the running statistics. weight and bias (optional) have shape (C).
    /// </summary>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null, bool training = false, double momentum = 0.1, double eps = 1e-5)
    {
        const string op = "BatchNorm";
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is not (2 or 3)) throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}; expected 2 dims (N, C) or 3 dims (N, C, L)", nameof(input));
        if (!input.DType.IsFloating()) throw new ArgumentException($"{op}: input has dtype {input.DType}; expected Float32 or Float64", nameof(input));
        int c = input.Size(1);
        CheckEps(op, eps);
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentException($"{op}: momentum = {momentum} is invalid; expected a number in [0, 1]", nameof(momentum));
        if ((runningMean is null) != (runningVar is null))
            throw new ArgumentException($"{op}: runningMean is {(runningMean is null ? "null" : "given")} but runningVar is {(runningVar is null ? "null" : "given")}; expected both or neither", runningMean is null ? nameof(runningMean) : nameof(runningVar));
        foreach (var (name, p) in new[] { ("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias) })
            if (p is not null)
            {
                if (p.Rank != 1 || p.Size(0) != c) throw new ArgumentException($"{op}: {name} has shape {Shapes.Format(p.Shape)}, but input {Shapes.Format(input.Shape)} has {c} channels; expected [{c}]", name);
                CheckLike(op, nameof(input), input, p);
            }
        var dims = input.Rank == 2 ? new[] { 0 } : new[] { 0, 2 };
        int count = input.Size(0) * (input.Rank == 3 ? input.Size(2) : 1);
        bool useBatch = training || runningMean is null;
        if (useBatch && count <= 1)
            throw new ArgumentException($"{op}: expected more than 1 value per channel when training, but input has shape {Shapes.Format(input.Shape)}", nameof(input));
        int[] chan = input.Rank == 2 ? [c] : [c, 1];

        Tensor y;
        if (useBatch)
        {
            var mean = input.Mean(dims, keepDim: true);
            var xc = input - mean;
            var var = (xc * xc).Mean(dims, keepDim: true);
            y = xc * BatchRstd(var, eps);
            if (training && runningMean is not null)
                using (Torch.NoGrad())
                {
                    runningMean.Copy_(runningMean * (1 - momentum) + mean.Detach().Reshape(c) * momentum);
                    runningVar!.Copy_(runningVar * (1 - momentum) + var.Detach().Reshape(c) * (momentum * count / (count - 1)));
                }
        }
        else
            y = (input - runningMean!.Detach().Reshape(chan)) * Rstd(runningVar!.Detach().Reshape(chan), eps);
        if (weight is not null) y *= weight.Reshape(chan);
        if (bias is not null) y += bias.Reshape(chan);
        return y;
    }

    // 1 / sqrt(var + eps) on the small statistics tensor, so the big one sees one multiply instead of a divide.
    static Tensor Rstd(Tensor var, double eps) => 1.0 / (var + eps).Sqrt();

    // The batch's: with eps = 0 a constant channel (var 0) gets 0, as PyTorch's batch_norm, not inf (and NaN outputs). The
    // 0 comes through Where over a safe value, so no inf derivative meets the zero gradient of the branch not taken.
    static Tensor BatchRstd(Tensor var, double eps)
    {
        if (eps != 0) return Rstd(var, eps);
        var zero = var.Eq(0.0);
        return Torch.Where(zero, Torch.ZerosLike(var), Rstd(Torch.Where(zero, Torch.OnesLike(var), var), 0));
    }

    static void CheckEps(string op, double eps)
    {
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new ArgumentException($"{op}: eps = {eps} is invalid; expected a finite number >= 0", nameof(eps));
    }
}
