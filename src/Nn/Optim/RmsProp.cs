namespace MiniGrad.Nn;

/// <summary>
/// RMSprop (torch.optim.RMSprop) with torch's exact update: g = grad + wd*p; v = alpha*v + (1 - alpha)*g*g; with centered,
/// m = lerp(m, g, 1 - alpha) and avg = sqrt(v - m*m) + eps, else avg = sqrt(v) + eps; with momentum, b = momentum*b +
/// g/avg and p = p - lr*b, else p = p - lr*g/avg.
/// </summary>
public sealed class RmsProp : Optimizer
{
    /// <summary>Creates the optimizer (PyTorch's defaults); throws ArgumentException naming the argument for invalid settings.</summary>
    public RmsProp(IEnumerable<Parameter> parameters, double lr = 0.01, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : base(parameters, new Dictionary<string, double>
        {
            ["lr"] = lr, ["alpha"] = alpha, ["eps"] = eps, ["weight_decay"] = weightDecay, ["momentum"] = momentum, ["centered"] = centered ? 1 : 0,
        })
    { }

    /// <summary>Smoothing constant of the squared-gradient average.</summary>
    public double Alpha => GetOption("alpha");
    /// <summary>Added to the denominator.</summary>
    public double Eps => GetOption("eps");
    /// <summary>L2 penalty added to the gradient.</summary>
    public double WeightDecay => GetOption("weight_decay");
    /// <summary>Momentum factor (0 disables it).</summary>
    public double Momentum => GetOption("momentum");
    /// <summary>Whether the variance estimate is centered (the squared mean gradient subtracted).</summary>
    public bool Centered => GetOption("centered") != 0;

    /// <inheritdoc/>
    protected override void CheckOptions(IReadOnlyDictionary<string, double> o)
    {
        RequireNonNegative(Get(o, "lr"), "learning rate", "lr");
        RequireNonNegative(Get(o, "alpha"), "alpha value", "alpha");
        RequireNonNegative(Get(o, "eps"), "epsilon value", "eps");
        RequireNonNegative(Get(o, "weight_decay"), "weight_decay value", "weightDecay");
        RequireNonNegative(Get(o, "momentum"), "momentum value", "momentum");
        RequireFlag(Get(o, "centered"), "centered");
    }

    /// <inheritdoc/>
    protected internal override IReadOnlyCollection<string> StateBufferNames(IReadOnlyDictionary<string, double> o)
    {
        var names = new List<string> { "square_avg" };
        if (Get(o, "momentum") > 0) names.Add("momentum_buffer");
        if (Get(o, "centered") != 0) names.Add("grad_avg");
        return names;
    }

    /// <inheritdoc/>
    protected override void Update(Parameter p, Tensor grad, ParameterState state)
    {
        double lr = Lr, alpha = Alpha, eps = Eps, wd = WeightDecay, momentum = Momentum;
        var g = wd != 0 ? grad + p * wd : grad;
        var v = state.Buffers.TryGetValue("square_avg", out var sq) ? sq : Torch.ZerosLike(p);
        v = v * alpha + g * (1 - alpha) * g; // PyTorch's addcmul order
        state.Buffers["square_avg"] = v;
        Tensor avg;
        if (Centered)
        {
            var m = state.Buffers.TryGetValue("grad_avg", out var ga) ? ga : Torch.ZerosLike(p);
            double w = 1 - alpha; // torch.lerp switches formulas at w = 0.5 for accuracy; match it
            m = w < 0.5 ? m + (g - m) * w : g - (g - m) * (1 - w);
            state.Buffers["grad_avg"] = m;
            avg = (v - m * m).Sqrt() + eps;
        }
        else avg = v.Sqrt() + eps;
        state.Step++;
        if (momentum > 0)
        {
            var b = state.Buffers.TryGetValue("momentum_buffer", out var mb) ? mb * momentum + g / avg : g / avg;
            state.Buffers["momentum_buffer"] = b;
            p.Copy_(p - b * lr);
        }
        else p.Copy_(p - g / avg * lr);
    }
}
