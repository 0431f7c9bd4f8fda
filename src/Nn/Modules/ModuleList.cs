using System.Collections;

namespace MiniGrad.Nn;

/// <summary>
/// Modules held in a list (torch.nn.ModuleList): registered as children "0", "1", ..., so their parameters, Train/Eval,
/// To and checkpoints reach them, but with no Forward of its own: the owning module calls them as it needs (a stack of
/// layers with something between them, say).
/// </summary>
public sealed class ModuleList : Module, IReadOnlyList<Module>
{
    readonly List<Module> items = new();

    /// <summary>A list of the modules, in order.</summary>
    public ModuleList(params Module[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends a module under the next index; returns this.</summary>
    public ModuleList Add(Module module)
    {
        if (module is null) throw new ArgumentNullException(nameof(module), $"ModuleList: entry {items.Count} is null; expected a Module");
        RegisterModule(items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        items.Add(module);
        return this;
    }

    /// <summary>Number of modules.</summary>
    public int Count => items.Count;

    /// <summary>The module at an index; a negative index counts from the end (list[-1] is the last), as in PyTorch.</summary>
    public Module this[int index] => At(items, index, "ModuleList");

    /// <summary>The modules in order.</summary>
    public IEnumerator<Module> GetEnumerator() => items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    protected override string Describe() => $"ModuleList({items.Count})";
}
