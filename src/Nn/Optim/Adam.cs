namespace MiniGrad.Nn;

/// <summary>
/// Adam (torch.optim.Adam) with PyTorch's exact update: g += wd*p (L2, not decoupled); m = lerp(m, g, 1 - beta1);
/// v = beta2*v + (1 - beta2)*g*g; p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
/// </summary>
public class Adam : Optimizer
{
    readonly bool decoupled;

    /// <summary>Creates the optimizer; throws ArgumentException naming the argument for invalid settings, as PyTorch does.</summary>
    public Adam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: false) { }

    /// <summary>For AdamW: the same moments with weight decay applied to the parameter instead of the gradient.</summary>
    private protected Adam(IEnumerable<Parameter> parameters, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled)
        : base(parameters, new Dictionary<string, double>
        {
            ["lr"] = lr, ["beta1"] = beta1, ["beta2"] = beta2, ["eps"] = eps, ["weight_decay"] = weightDecay,
        })
    {
        this.decoupled = decoupled;
    }

    /// <summary>Decay rate of the first moment.</summary>
    public double Beta1 => GetOption("beta1");
    /// <summary>Decay rate of the second moment.</summary>
    public double Beta2 => GetOption("beta2");
    /// <summary>Added to the denominator for numerical stability.</summary>
    public double Eps => GetOption("eps");
    /// <summary>Weight decay: an L2 term in the gradient for Adam, a decoupled shrink of the parameter for AdamW.</summary>
    public double WeightDecay => GetOption("weight_decay");

    /// <inheritdoc/>
    protected override void CheckOptions(IReadOnlyDictionary<string, double> o)
    {
        RequireNonNegative(Get(o, "lr"), "learning rate", "lr");
        RequireNonNegative(Get(o, "eps"), "epsilon value", "eps");
        double beta1 = Get(o, "beta1"), beta2 = Get(o, "beta2");
        if (!(beta1 >= 0 && beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta1), beta1, $"{Name}: Invalid beta parameter at index 0: {Format(beta1)} (expected 0 <= beta1 < 1)");
        if (!(beta2 >= 0 && beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta2), beta2, $"{Name}: Invalid beta parameter at index 1: {Format(beta2)} (expected 0 <= beta2 < 1)");
        RequireNonNegative(Get(o, "weight_decay"), "weight_decay value", "weightDecay");
    }

    /// <inheritdoc/>
    protected internal override IReadOnlyCollection<string> StateBufferNames(IReadOnlyDictionary<string, double> o) => ["exp_avg", "exp_avg_sq"];

    /// <inheritdoc/>
    protected override void Update(Parameter p, Tensor grad, ParameterState state)
    {
        double lr = Lr, beta1 = Beta1, beta2 = Beta2, eps = Eps, wd = WeightDecay;
        if (!state.Buffers.TryGetValue("exp_avg", out var m)) m = Torch.ZerosLike(p);
        if (!state.Buffers.TryGetValue("exp_avg_sq", out var v)) v = Torch.ZerosLike(p);
        long step = ++state.Step;

        if (wd != 0)
        {
            if (decoupled) p.Copy_(p * (1 - lr * wd));
            else grad = grad + p * wd;
        }
        // torch.lerp(m, g, w) switches formulas at w = 0.5 for accuracy; match it.
        double w = 1 - beta1;
        m = w < 0.5 ? m + (grad - m) * w : grad - (grad - m) * (1 - w);
        v = v * beta2 + grad * (1 - beta2) * grad; // PyTorch's addcmul order: g * g alone overflows float32 from |g| = 1.8e19
        state.Buffers["exp_avg"] = m;
        state.Buffers["exp_avg_sq"] = v;

        double biasCorrection1 = 1 - Math.Pow(beta1, step);
        double biasCorrection2 = 1 - Math.Pow(beta2, step);
        double stepSize = lr / biasCorrection1;
        var denom = v.Sqrt() / Math.Sqrt(biasCorrection2) + eps;
        p.Copy_(p - m / denom * stepSize);
    }
}

/// <summary>
/// AdamW (torch.optim.AdamW): Adam with decoupled weight decay, p *= 1 - lr*wd before the Adam update
/// (default weight decay 1e-2).
/// </summary>
public sealed class AdamW : Adam
{
    /// <summary>Creates the optimizer; throws ArgumentException naming the argument for invalid settings, as PyTorch does.</summary>
    public AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : base(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: true) { }
}
