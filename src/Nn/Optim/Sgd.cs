namespace MiniGrad.Nn;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, weight decay and Nesterov momentum, with
/// torch.optim.SGD's exact update: d = g + wd*p; b = d (first step) or momentum*b + (1 - dampening)*d;
/// d = nesterov ? d + momentum*b : b; p = p - lr*d.
/// </summary>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates the optimizer; throws ArgumentException naming the argument for invalid settings, as PyTorch does.</summary>
    public Sgd(IEnumerable<Parameter> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, new Dictionary<string, double>
        {
            ["lr"] = lr, ["momentum"] = momentum, ["dampening"] = dampening, ["weight_decay"] = weightDecay, ["nesterov"] = nesterov ? 1 : 0,
        })
    { }

    /// <summary>Momentum factor (0 disables momentum).</summary>
    public double Momentum => GetOption("momentum");
    /// <summary>Dampening for momentum.</summary>
    public double Dampening => GetOption("dampening");
    /// <summary>L2 penalty added to the gradient.</summary>
    public double WeightDecay => GetOption("weight_decay");
    /// <summary>Whether Nesterov momentum is used.</summary>
    public bool Nesterov => GetOption("nesterov") != 0;

    /// <inheritdoc/>
    protected override void CheckOptions(IReadOnlyDictionary<string, double> o)
    {
        RequireNonNegative(Get(o, "lr"), "learning rate", "lr");
        double momentum = Get(o, "momentum"), dampening = Get(o, "dampening");
        RequireNonNegative(momentum, "momentum value", "momentum");
        if (!double.IsFinite(momentum)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, $"{Name}: Invalid momentum value: {Format(momentum)} (expected a finite number)");
        if (!double.IsFinite(dampening)) throw new ArgumentOutOfRangeException(nameof(dampening), dampening, $"{Name}: Invalid dampening value: {Format(dampening)} (expected a finite number)");
        RequireNonNegative(Get(o, "weight_decay"), "weight_decay value", "weightDecay");
        double nesterov = Get(o, "nesterov");
        RequireFlag(nesterov, "nesterov");
        if (nesterov == 1 && (momentum <= 0 || dampening != 0))
            throw new ArgumentException(
                $"{Name}: Nesterov momentum requires a momentum and zero dampening (got momentum = {Format(momentum)}, dampening = {Format(dampening)})", "nesterov");
    }

    /// <inheritdoc/>
    protected internal override IReadOnlyCollection<string> StateBufferNames(IReadOnlyDictionary<string, double> o) =>
        Get(o, "momentum") != 0 ? ["momentum_buffer"] : [];

    /// <inheritdoc/>
    protected override void Update(Parameter p, Tensor grad, ParameterState state)
    {
        double lr = Lr, momentum = Momentum, dampening = Dampening, wd = WeightDecay;
        var d = grad;
        if (wd != 0) d = d + p * wd;
        if (momentum != 0)
        {
            var buf = state.Buffers.TryGetValue("momentum_buffer", out var b) ? b * momentum + d * (1 - dampening) : d.Detach();
            state.Buffers["momentum_buffer"] = buf;
            d = Nesterov ? d + buf * momentum : buf;
        }
        state.Step++;
        p.Copy_(p - d * lr);
    }
}
