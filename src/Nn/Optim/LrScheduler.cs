namespace MiniGrad.Nn;

/// <summary>
/// Base of learning-rate schedules (torch.optim.lr_scheduler.LRScheduler): each Step() advances the epoch and sets
/// the optimizer's Lr from the Lr it holds now, as PyTorch's get_lr() chains it (<see cref="Chained"/>), so that a rate
/// set by hand is carried on and two schedulers on one optimizer compose (two StepLr multiply their decays). Without
/// such changes the rates are the closed form's, computed from the optimizer's InitialLr (<see cref="ClosedForm"/>).
/// </summary>
/// <remarks>
/// As in PyTorch, constructing a scheduler performs the first step (epoch 0, which keeps the current Lr), and
/// lastEpoch = -1 records the optimizer's current Lr as InitialLr unless one is already set; resuming (lastEpoch &gt;= 0)
/// requires InitialLr, which checkpoints restore together with the Lr the chain continues from.
/// </remarks>
public abstract class LrScheduler
{
    /// <summary>Attaches to an optimizer; derived constructors call <see cref="Initialize"/> once their fields are set.</summary>
    protected LrScheduler(Optimizer optimizer, int lastEpoch)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (lastEpoch < -1)
            throw new ArgumentOutOfRangeException(nameof(lastEpoch), lastEpoch, $"{GetType().Name}: lastEpoch must be >= -1, but got {lastEpoch}");
        if (lastEpoch >= 0 && optimizer.InitialLr is null)
            throw new ArgumentException($"{GetType().Name}: optimizer has no InitialLr ('initial_lr' in PyTorch) when resuming with lastEpoch = {lastEpoch}; load it from a checkpoint or attach with lastEpoch = -1", nameof(lastEpoch));
        Optimizer = optimizer;
        LastEpoch = lastEpoch;
    }

    /// <summary>The optimizer whose Lr this schedule sets.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The learning rate the closed form starts from (the optimizer's InitialLr).</summary>
    public double BaseLr { get; private set; }

    /// <summary>The epoch of the last Step() (0 right after construction from lastEpoch = -1).</summary>
    public int LastEpoch { get; private set; }

    /// <summary>The learning rate set by the last Step() (PyTorch's get_last_lr()).</summary>
    public double LastLr { get; private set; }

    /// <summary>Records InitialLr and takes the first step, like PyTorch's _initial_step().</summary>
    protected void Initialize()
    {
        if (LastEpoch == -1) Optimizer.InitialLr ??= Optimizer.Lr;
        BaseLr = Optimizer.InitialLr!.Value;
        Step();
    }

    /// <summary>Advances one epoch and sets the optimizer's learning rate.</summary>
    public void Step()
    {
        if (LastEpoch == int.MaxValue) throw new InvalidOperationException($"{GetType().Name}: the epoch counter is at its maximum ({int.MaxValue})");
        // The schedules never go below zero but by rounding (PyTorch's chained cosine from a base rate of 0 reaches
        // -7e-18): that is 0, not a negative rate for the optimizer to refuse.
        double lr = Math.Max(0, Chained(LastEpoch + 1, Optimizer.Lr, resumed: !stepped && LastEpoch >= 0));
        Optimizer.Lr = lr;
        LastEpoch++;
        LastLr = lr;
        stepped = true;
    }

    bool stepped; // whether Step() ran on this scheduler: its first step after a resume is PyTorch's special case

    /// <summary>The learning rate at an epoch (&gt;= 0), from BaseLr.</summary>
    protected abstract double ClosedForm(int epoch);

    /// <summary>
    /// The learning rate at epoch from the optimizer's current one (PyTorch's get_lr()); resumed is true for the step a
    /// constructor with lastEpoch &gt;= 0 takes. The default is the closed form, which ignores the current rate.
    /// </summary>
    protected virtual double Chained(int epoch, double currentLr, bool resumed) => ClosedForm(epoch);
}

/// <summary>Decays the learning rate by gamma every stepSize epochs (torch StepLR); left alone, lr = base * gamma^(epoch / stepSize).</summary>
public sealed class StepLr : LrScheduler
{
    /// <summary>Creates the schedule and applies epoch 0; stepSize must be positive and gamma a number &gt;= 0.</summary>
    public StepLr(Optimizer optimizer, int stepSize, double gamma = 0.1, int lastEpoch = -1) : base(optimizer, lastEpoch)
    {
        if (stepSize <= 0) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, $"StepLr: stepSize must be a positive integer, but got {stepSize}");
        if (!(gamma >= 0) || double.IsInfinity(gamma))
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, $"StepLr: gamma must be a finite number >= 0, but got {Optimizer.Format(gamma)}");
        StepSize = stepSize;
        Gamma = gamma;
        Initialize();
    }

    /// <summary>Epochs between decays.</summary>
    public int StepSize { get; }
    /// <summary>Multiplicative decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override double ClosedForm(int epoch) => BaseLr * Math.Pow(Gamma, epoch / StepSize);

    /// <summary>The current rate, times gamma at every stepSize-th epoch (PyTorch's StepLR.get_lr).</summary>
    protected override double Chained(int epoch, double currentLr, bool resumed) =>
        epoch == 0 || epoch % StepSize != 0 ? currentLr : currentLr * Gamma;
}

/// <summary>
/// Cosine annealing from the base learning rate to etaMin over tMax epochs (torch CosineAnnealingLR), chained as
/// PyTorch's is; left alone it follows the closed form lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2.
/// </summary>
public sealed class CosineAnnealingLr : LrScheduler
{
    /// <summary>Creates the schedule and applies epoch 0; tMax must be positive and etaMin a number &gt;= 0.</summary>
    public CosineAnnealingLr(Optimizer optimizer, int tMax, double etaMin = 0, int lastEpoch = -1) : base(optimizer, lastEpoch)
    {
        if (tMax <= 0) throw new ArgumentOutOfRangeException(nameof(tMax), tMax, $"CosineAnnealingLr: Expected positive integer tMax, but got {tMax}");
        if (!(etaMin >= 0) || double.IsInfinity(etaMin))
            throw new ArgumentOutOfRangeException(nameof(etaMin), etaMin, $"CosineAnnealingLr: etaMin must be a finite number >= 0, but got {Optimizer.Format(etaMin)}");
        TMax = tMax;
        EtaMin = etaMin;
        Initialize();
    }

    /// <summary>Epochs of one half cosine period.</summary>
    public int TMax { get; }
    /// <summary>The smallest learning rate.</summary>
    public double EtaMin { get; }

    /// <inheritdoc/>
    protected override double ClosedForm(int epoch) => EtaMin + (BaseLr - EtaMin) * (1 + Math.Cos(Math.PI * epoch / TMax)) / 2;

    /// <summary>
    /// PyTorch's CosineAnnealingLR.get_lr: the current rate moved along the cosine by the ratio of this epoch's term to
    /// the last one's; the step leaving each bottom (where that ratio would divide by 0) climbs by the first step's
    /// amount instead, and a resumed scheduler's first step takes the closed form.
    /// </summary>
    protected override double Chained(int epoch, double currentLr, bool resumed)
    {
        if (epoch == 0) return currentLr;
        if (resumed) return ClosedForm(epoch);
        if (((long)epoch - 1 - TMax) % (2L * TMax) == 0) return currentLr + (BaseLr - EtaMin) * (1 - Math.Cos(Math.PI / TMax)) / 2;
        return (1 + Math.Cos(Math.PI * epoch / TMax)) / (1 + Math.Cos(Math.PI * (epoch - 1) / TMax)) * (currentLr - EtaMin) + EtaMin;
    }
}

/// <summary>Multiplies the learning rate by gamma every epoch (torch ExponentialLR): lr = base * gamma^epoch when left alone.</summary>
public sealed class ExponentialLr : LrScheduler
{
    /// <summary>Creates the schedule and applies epoch 0; gamma must be a finite number &gt;= 0.</summary>
    public ExponentialLr(Optimizer optimizer, double gamma, int lastEpoch = -1) : base(optimizer, lastEpoch)
    {
        if (!(gamma >= 0) || double.IsInfinity(gamma))
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, $"ExponentialLr: gamma must be a finite number >= 0, but got {Optimizer.Format(gamma)}");
        Gamma = gamma;
        Initialize();
    }

    /// <summary>Multiplicative decay per epoch.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override double ClosedForm(int epoch) => BaseLr * Math.Pow(Gamma, epoch);

    /// <summary>The current rate times gamma (PyTorch's ExponentialLR.get_lr); a resumed scheduler's first step takes the closed form.</summary>
    protected override double Chained(int epoch, double currentLr, bool resumed) =>
        epoch == 0 ? currentLr : resumed ? ClosedForm(epoch) : currentLr * Gamma;
}

/// <summary>The learning rate set to base * lambda(epoch) (torch LambdaLR), e.g. a warm-up: epoch =&gt; Math.Min(1, (epoch + 1) / 5.0).</summary>
public sealed class LambdaLr : LrScheduler
{
    readonly Func<int, double> lambda;

    /// <summary>Creates the schedule and applies epoch 0 (base * lambda(0)); lambda must give finite factors &gt;= 0.</summary>
    public LambdaLr(Optimizer optimizer, Func<int, double> lrLambda, int lastEpoch = -1) : base(optimizer, lastEpoch)
    {
        lambda = lrLambda ?? throw new ArgumentNullException(nameof(lrLambda), "LambdaLr: lrLambda is null; expected a function of the epoch giving the factor");
        Initialize();
    }

    /// <inheritdoc/>
    protected override double ClosedForm(int epoch)
    {
        double f = lambda(epoch);
        if (!(f >= 0) || double.IsInfinity(f))
            throw new InvalidOperationException($"LambdaLr: lrLambda({epoch}) = {Optimizer.Format(f)}; expected a finite factor >= 0");
        return BaseLr * f;
    }
}
