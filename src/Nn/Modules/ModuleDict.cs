using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace MiniGrad.Nn;

/// <summary>
/// Modules held by name (torch.nn.ModuleDict): each registered as a child under its key, in insertion order, so their
/// parameters ("key.weight"), Train/Eval, To and checkpoints reach them, but with no Forward of its own: the owning module
/// picks the one it needs (a head per task, an encoder per input kind). Keys follow the registration rules: not empty,
/// no '.', each once.
/// </summary>
public sealed class ModuleDict : Module, IReadOnlyDictionary<string, Module>
{
    readonly Dictionary<string, Module> items = new();
    readonly List<string> order = new();

    /// <summary>An empty dictionary; fill it with <see cref="Add"/>.</summary>
    public ModuleDict() { }

    /// <summary>The modules under their keys, in the order given.</summary>
    public ModuleDict(IEnumerable<KeyValuePair<string, Module>> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var (key, module) in modules) Add(key, module);
    }

    /// <summary>Adds a module under a key (after the ones before it); returns this. A key already present, empty or with
    /// a '.' is an ArgumentException (the dictionary is left as it was).</summary>
    public ModuleDict Add(string key, Module module)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (module is null) throw new ArgumentNullException(nameof(module), $"ModuleDict: the module for '{key}' is null; expected a Module");
        if (items.ContainsKey(key)) throw new ArgumentException($"ModuleDict: key '{key}' is already present; expected a new key", nameof(key));
        RegisterModule(key, module);
        items.Add(key, module);
        order.Add(key);
        return this;
    }

    /// <summary>Number of modules.</summary>
    public int Count => order.Count;

    /// <summary>The module under a key; a missing key is a KeyNotFoundException naming it and the keys there are.</summary>
    public Module this[string key] => items.TryGetValue(key ?? throw new ArgumentNullException(nameof(key)), out var m) ? m
        : throw new KeyNotFoundException($"ModuleDict: no module under '{key}'; the keys are [{string.Join(", ", order)}]");

    /// <summary>The keys in insertion order.</summary>
    public IEnumerable<string> Keys => order;

    /// <summary>The modules in insertion order.</summary>
    public IEnumerable<Module> Values => order.Select(k => items[k]);

    /// <summary>Whether a module is stored under the key.</summary>
    public bool ContainsKey(string key) => items.ContainsKey(key);

    /// <summary>The module under a key, if any.</summary>
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out Module value) => items.TryGetValue(key, out value);

    /// <summary>The (key, module) pairs in insertion order.</summary>
    public IEnumerator<KeyValuePair<string, Module>> GetEnumerator() => order.Select(k => new KeyValuePair<string, Module>(k, items[k])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    protected override string Describe() => $"ModuleDict({order.Count})";
}
