namespace MiniGrad.Nn;

/// <summary>
/// Layer normalization (torch.nn.LayerNorm) over the last dims, which must equal normalizedShape: each group is normalized
/// with its mean and biased variance, then scaled by weight (ones at first) and shifted by bias (zeros at first).
/// </summary>
public sealed class LayerNorm : Module, ITensorModule
{
    /// <summary>Normalizes over the last dim of size normalizedShape.</summary>
    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
        : this([normalizedShape], eps, elementwiseAffine, bias, dtype) { }

    /// <summary>Normalizes over the last normalizedShape.Length dims; without elementwiseAffine there is no weight or bias, and bias: false drops only the bias.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException($"LayerNorm: normalizedShape = {Shapes.Format(normalizedShape)} is invalid; expected at least one dim, all positive", nameof(normalizedShape));
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new ArgumentException($"LayerNorm: eps = {eps} is invalid; expected a finite number >= 0", nameof(eps));
        Check.Floating("LayerNorm", dtype);
        NormalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? new Parameter(Torch.Ones(NormalizedShape, dtype)) : null);
        Bias = RegisterParameter("bias", elementwiseAffine && bias ? new Parameter(Torch.Zeros(NormalizedShape, dtype)) : null);
    }

    /// <summary>The trailing dims normalized together.</summary>
    public int[] NormalizedShape { get; }
    /// <summary>Added to the variance.</summary>
    public double Eps { get; }
    /// <summary>The scale (shape NormalizedShape), or null.</summary>
    public Parameter? Weight { get; }
    /// <summary>The shift (shape NormalizedShape), or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>Normalizes x (..., *NormalizedShape).</summary>
    public Tensor Forward(Tensor x) => Call(x, x => Functional.LayerNorm(x, NormalizedShape, Weight, Bias, Eps));

    /// <inheritdoc/>
    protected override string Describe() => $"LayerNorm(({string.Join(", ", NormalizedShape)},), eps={Eps:R}, elementwise_affine={(Weight is null ? "False" : "True")})";
}

/// <summary>
/// Batch normalization (torch.nn.BatchNorm1d) of (N, C) or (N, C, L) per channel. In training mode it normalizes with the
/// batch mean and biased variance and updates the buffers running_mean and running_var (with the unbiased variance) by
/// momentum, or by the cumulative average when momentum is null, counting num_batches_tracked; in eval mode it normalizes
/// with the running statistics. The buffers move with To(device) and are saved in checkpoints.
/// </summary>
public sealed class BatchNorm1d : Module, ITensorModule
{
    /// <summary>Creates the layer for numFeatures channels; affine adds weight (ones) and bias (zeros); trackRunningStats adds the buffers.</summary>
    public BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32)
    {
        Conv1d.Positive("BatchNorm1d", nameof(numFeatures), numFeatures);
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new ArgumentException($"BatchNorm1d: eps = {eps} is invalid; expected a finite number >= 0", nameof(eps));
        if (momentum is { } m && !(m >= 0 && m <= 1)) throw new ArgumentException($"BatchNorm1d: momentum = {m} is invalid; expected a number in [0, 1] or null (cumulative average)", nameof(momentum));
        Check.Floating("BatchNorm1d", dtype);
        NumFeatures = numFeatures; Eps = eps; Momentum = momentum;
        Weight = RegisterParameter("weight", affine ? new Parameter(Torch.Ones([numFeatures], dtype)) : null);
        Bias = RegisterParameter("bias", affine ? new Parameter(Torch.Zeros([numFeatures], dtype)) : null);
        RunningMean = RegisterBuffer("running_mean", trackRunningStats ? Torch.Zeros([numFeatures], dtype) : null);
        RunningVar = RegisterBuffer("running_var", trackRunningStats ? Torch.Ones([numFeatures], dtype) : null);
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", trackRunningStats ? Torch.Zeros([], DType.Int64) : null);
    }

    /// <summary>Channels (C).</summary>
    public int NumFeatures { get; }
    /// <summary>Added to the variance.</summary>
    public double Eps { get; }
    /// <summary>The running statistics' update factor; null for the cumulative average.</summary>
    public double? Momentum { get; }
    /// <summary>The scale (C), or null.</summary>
    public Parameter? Weight { get; }
    /// <summary>The shift (C), or null.</summary>
    public Parameter? Bias { get; }
    /// <summary>The running mean buffer (C), or null without trackRunningStats.</summary>
    public Tensor? RunningMean { get; }
    /// <summary>The running (unbiased) variance buffer (C), or null without trackRunningStats.</summary>
    public Tensor? RunningVar { get; }
    /// <summary>The Int64 count of training batches seen (0-d), or null without trackRunningStats.</summary>
    public Tensor? NumBatchesTracked { get; }

    /// <summary>Normalizes x (N, C) or (N, C, L).</summary>
    public Tensor Forward(Tensor x) => Call(x, x =>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank is 2 or 3 && x.Size(1) != NumFeatures)
            throw new ArgumentException($"BatchNorm1d: input has shape {Shapes.Format(x.Shape)} with {x.Size(1)} channels; expected numFeatures = {NumFeatures} channels in dim 1", "input");
        bool update = Training && RunningMean is not null;
        double factor = Momentum ?? (update ? 1.0 / (NumBatchesTracked!.Item<long>() + 1) : 0);
        // Validation happens in Functional.BatchNorm before it touches the statistics; the count moves only after it succeeded.
        var y = Functional.BatchNorm(x, RunningMean, RunningVar, Weight, Bias, training: Training || RunningMean is null, momentum: factor, eps: Eps);
        if (update)
            using (Torch.NoGrad()) NumBatchesTracked!.Copy_(NumBatchesTracked + Torch.Ones([], DType.Int64, NumBatchesTracked.Device));
        return y;
    });

    /// <inheritdoc/>
    protected override string Describe() =>
        $"BatchNorm1d({NumFeatures}, eps={Eps:R}, momentum={(Momentum is { } m ? m.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "None")}, affine={(Weight is null ? "False" : "True")}, track_running_stats={(RunningMean is null ? "False" : "True")})";
}
