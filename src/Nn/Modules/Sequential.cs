namespace MiniGrad.Nn;

/// <summary>Modules applied one after another (torch.nn.Sequential); children are named "0", "1", ...</summary>
public sealed class Sequential : Module, ITensorModule
{
    readonly List<ITensorModule> layers = new();

    /// <summary>Chains the modules in order; each must be a Module that implements ITensorModule.</summary>
    public Sequential(params ITensorModule[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends a module under the next index; returns this.</summary>
    public Sequential Add(ITensorModule module)
    {
        if (module is not Module m)
            throw new ArgumentException($"Sequential: entry {layers.Count} is {(module is null ? "null" : module.GetType().Name)}; expected a Module that implements ITensorModule", nameof(module));
        RegisterModule(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m);
        layers.Add(module);
        return this;
    }

    /// <summary>Number of modules.</summary>
    public int Count => layers.Count;

    /// <summary>The module at an index; a negative index counts from the end (seq[-1] is the last), as in PyTorch.</summary>
    public ITensorModule this[int index] => At(layers, index, "Sequential");

    /// <summary>Feeds x through every module in order.</summary>
    public Tensor Forward(Tensor x) => Call(x, x =>
    {
        foreach (var m in layers) x = m.Forward(x);
        return x;
    });

    /// <inheritdoc/>
    protected override string Describe() => $"Sequential({layers.Count})";
}
