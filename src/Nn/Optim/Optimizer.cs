using System.Globalization;

namespace MiniGrad.Nn;

/// <summary>
/// What an optimizer keeps for one parameter between steps (PyTorch's <c>optimizer.state[p]</c>): the number of
/// updates it has received and named buffers such as "exp_avg" or "momentum_buffer" (same shape as the parameter).
/// </summary>
public sealed class ParameterState
{
    /// <summary>Updates applied to this parameter so far (Adam's bias corrections depend on it).</summary>
    public long Step { get; set; }

    /// <summary>The state tensors by name (e.g. Adam's "exp_avg"); Step updates them in place, as PyTorch does.</summary>
    public Dictionary<string, Tensor> Buffers { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Base of the optimizers (torch.optim.Optimizer) over a single parameter group: the parameters, the options
/// (PyTorch's names: "lr", "momentum", "weight_decay", ...), per-parameter state, Step() and ZeroGrad().
/// </summary>
/// <remarks>
/// Options are kept as doubles (booleans as 0 or 1) so that checkpoints can store and validate them uniformly;
/// every change goes through <see cref="CheckOptions"/> first, so an optimizer never holds an invalid setting.
/// </remarks>
public abstract class Optimizer
{
    readonly Parameter[] parameters;
    readonly Dictionary<Parameter, ParameterState> state = new(ReferenceEqualityComparer.Instance);
    Dictionary<string, double> options;

    /// <summary>Takes the parameters (at least one, no duplicates) and the initial options, validated by CheckOptions.</summary>
    protected Optimizer(IEnumerable<Parameter> parameters, IReadOnlyDictionary<string, double> options)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(options);
        var list = parameters.ToArray();
        if (list.Length == 0) throw new ArgumentException($"{Name}: optimizer got an empty parameter list", nameof(parameters));
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] is null) throw new ArgumentException($"{Name}: parameter {i} is null", nameof(parameters));
            if (!seen.Add(list[i]))
                throw new ArgumentException($"{Name}: parameter {i} (shape {Shapes.Format(list[i].Shape)}) appears more than once in the parameter list", nameof(parameters));
        }
        this.parameters = list;
        CheckOptions(options);
        this.options = new Dictionary<string, double>(options, StringComparer.Ordinal);
    }

    /// <summary>The optimizer's type name as stored in checkpoints ("Sgd", "Adam", "AdamW").</summary>
    public string Name => GetType().Name;

    /// <summary>The parameters this optimizer updates, in the order given.</summary>
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>The current options by PyTorch name (a copy); booleans are 0 or 1.</summary>
    public IReadOnlyDictionary<string, double> Options => new Dictionary<string, double>(options, StringComparer.Ordinal);

    /// <summary>The learning rate; schedulers change it between steps. Must be &gt;= 0.</summary>
    public double Lr
    {
        get => options["lr"];
        set => SetOption("lr", value);
    }

    /// <summary>
    /// The learning rate when the first scheduler was attached (PyTorch's param_group["initial_lr"]); schedulers
    /// compute their closed forms from it, and checkpoints keep it so a scheduler can resume.
    /// </summary>
    public double? InitialLr { get; internal set; }

    /// <summary>The value of one option (throws naming the known options when it does not exist).</summary>
    public double GetOption(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return options.TryGetValue(name, out var v) ? v
            : throw new ArgumentException($"{Name}: unknown option '{name}'; known options are {string.Join(", ", options.Keys)}", nameof(name));
    }

    /// <summary>Changes one option after validating the result (the optimizer is unchanged when it throws).</summary>
    public void SetOption(string name, double value)
    {
        GetOption(name);
        var next = new Dictionary<string, double>(options, StringComparer.Ordinal) { [name] = value };
        CheckOptions(next);
        options = next;
    }

    /// <summary>Throws an ArgumentException naming the argument and its value when an option is invalid.</summary>
    protected abstract void CheckOptions(IReadOnlyDictionary<string, double> options);

    /// <summary>The names of the buffers that a stepped parameter has under these options (checkpoints validate against them).</summary>
    protected internal abstract IReadOnlyCollection<string> StateBufferNames(IReadOnlyDictionary<string, double> options);

    /// <summary>Applies one update to p given its gradient and its state (called inside Torch.NoGrad()).</summary>
    protected abstract void Update(Parameter p, Tensor grad, ParameterState state);

    /// <summary>Updates every parameter that has a gradient (parameters without one are skipped, as in PyTorch).</summary>
    public void Step()
    {
        using (Torch.NoGrad())
        {
            foreach (var p in parameters)
            {
                if (p.Grad is not { } g) continue;
                if (!state.TryGetValue(p, out var s)) state[p] = s = new ParameterState();
                // The update's temporaries are disposed when it is done; the state keeps its buffers, updated in place as
                // PyTorch's optimizers do, so a buffer fetched earlier sees the new values and the old storage is reused.
                var before = new Dictionary<string, Tensor>(s.Buffers, StringComparer.Ordinal);
                using (Torch.NewScope())
                {
                    Update(p, g.Detach(), s);
                    foreach (var (name, value) in s.Buffers.ToArray())
                    {
                        if (before.TryGetValue(name, out var old) && !ReferenceEquals(old, value) && !old.IsDisposed)
                        {
                            old.ReplaceRaw(value.Raw);
                            s.Buffers[name] = old;
                        }
                        else value.DetachFromScope();
                    }
                }
            }
        }
    }

    /// <summary>
    /// Clears the gradient of every parameter (sets it to null, PyTorch's set_to_none=True default) and disposes it, so
    /// that the next backward reuses its storage; a gradient needed past ZeroGrad must be copied first (Clone()).
    /// </summary>
    public void ZeroGrad()
    {
        foreach (var p in parameters) p.ZeroGrad();
    }

    /// <summary>The state of a parameter, or null before its first update.</summary>
    public ParameterState? State(Parameter p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return state.TryGetValue(p, out var s) ? s : null;
    }

    /// <summary>Validates options without applying them (checkpoint loading checks a file's options this way).</summary>
    internal void ValidateOptions(IReadOnlyDictionary<string, double> candidate) => CheckOptions(candidate);

    /// <summary>Replaces options, initial lr and all state at once; the caller has validated everything.</summary>
    internal void Restore(IReadOnlyDictionary<string, double> newOptions, double? initialLr, IReadOnlyDictionary<Parameter, ParameterState> newState)
    {
        options = new Dictionary<string, double>(newOptions, StringComparer.Ordinal);
        InitialLr = initialLr;
        state.Clear();
        foreach (var (p, s) in newState) state[p] = s;
    }

    /// <summary>Formats a number the way error messages and checkpoints show it (invariant, round-trip).</summary>
    protected internal static string Format(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Throws unless value is a number &gt;= 0 (NaN is rejected too).</summary>
    protected void RequireNonNegative(double value, string what, string argument)
    {
        if (!(value >= 0))
            throw new ArgumentOutOfRangeException(argument, value, $"{Name}: Invalid {what}: {Format(value)} (expected {argument} >= 0)");
    }

    /// <summary>Throws unless a boolean option is stored as 0 or 1.</summary>
    protected void RequireFlag(double value, string argument)
    {
        if (value is not (0 or 1))
            throw new ArgumentOutOfRangeException(argument, value, $"{Name}: {argument} must be stored as 0 (false) or 1 (true), but is {Format(value)}");
    }

    /// <summary>Reads an option from a candidate set, throwing when it is missing.</summary>
    protected double Get(IReadOnlyDictionary<string, double> options, string name) =>
        options.TryGetValue(name, out var v) ? v : throw new ArgumentException($"{Name}: option '{name}' is missing", nameof(options));
}
