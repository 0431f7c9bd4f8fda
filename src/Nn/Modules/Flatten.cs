namespace MiniGrad.Nn;

/// <summary>
/// Flattens dims startDim..endDim into one (torch.nn.Flatten; defaults: every dim but the batch's), so that a
/// <see cref="Sequential"/> can go from a (N, C, L) feature map to a <see cref="Linear"/>. Negative dims count from the end.
/// </summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module, ITensorModule
{
    /// <summary>The first dim flattened.</summary>
    public int StartDim { get; } = startDim;
    /// <summary>The last dim flattened.</summary>
    public int EndDim { get; } = endDim;

    /// <summary>The input with dims StartDim..EndDim as one (a 0-d input becomes 1-d, as in PyTorch).</summary>
    public Tensor Forward(Tensor x) => Call(x, x =>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank == 0) return x.Reshape(1);
        int s = Shapes.NormalizeDim("Flatten", StartDim, x.Rank, "startDim"), e = Shapes.NormalizeDim("Flatten", EndDim, x.Rank, "endDim");
        if (s > e) throw new ArgumentException($"Flatten: startDim ({StartDim}) comes after endDim ({EndDim}) for a tensor of rank {x.Rank}", "startDim");
        var shape = x.Shape;
        long merged = 1;
        for (int i = s; i <= e; i++) merged *= shape[i];
        return x.Reshape([.. shape[..s], (int)merged, .. shape[(e + 1)..]]);
    });

    /// <inheritdoc/>
    protected override string Describe() => $"Flatten(start_dim={StartDim}, end_dim={EndDim})";
}

/// <summary>Returns its input (torch.nn.Identity): a placeholder in a <see cref="Sequential"/> or a switchable layer.</summary>
public sealed class Identity : Module, ITensorModule
{
    /// <summary>The input itself.</summary>
    public Tensor Forward(Tensor x) => Call(x, x => x ?? throw new ArgumentNullException(nameof(x)));

    /// <inheritdoc/>
    protected override string Describe() => "Identity()";
}
