namespace MiniGrad.Nn;

// PyTorch's state_dict / load_state_dict and apply: a module's state by dotted name, in memory (Checkpoint writes the
// same names to a file), and a function run over every module (custom initialization).
public abstract partial class Module
{
    /// <summary>Parameters then buffers by dotted name, a shared one under each of its names: what StateDict, LoadStateDict
    /// and Checkpoint read and write.</summary>
    internal List<(string Name, Tensor Tensor)> StateEntries() =>
        NamedParameters(true, removeDuplicate: false).Select(p => (p.Name, (Tensor)p.Parameter)).Concat(NamedBuffers(true, removeDuplicate: false)).ToList();

    /// <summary>
    /// Every parameter and buffer by dotted name, parameters first, in registration order (PyTorch's state_dict): each
    /// value is detached, outside any scope, and holds the values of the moment (an optimizer step or Copy_ gives a
    /// parameter new storage, so later updates do not show in it, unlike PyTorch's aliasing state_dict: keeping the best
    /// model needs no deep copy). A parameter shared by several modules (tied weights) appears under each name.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var state = new OrderedDictionary<string, Tensor>();
        foreach (var (name, t) in StateEntries()) state.Add(name, t.Detach().DetachFromScope());
        return state;
    }

    /// <summary>
    /// Copies values by dotted name into the parameters and buffers (PyTorch's load_state_dict), converting dtype and
    /// device. With <paramref name="strict"/> every name of the module must be given and no other; without it the
    /// names present on both sides are copied. A value whose shape differs from its target is always an error. Checks
    /// everything before copying anything: after an exception the module is unchanged. Returns the module's names that
    /// were not given and the given names the module lacks.
    /// </summary>
    public (IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys) LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var targets = StateEntries();
        var own = targets.Select(t => t.Name).ToHashSet();
        var missing = targets.Where(t => !stateDict.ContainsKey(t.Name)).Select(t => t.Name).ToList();
        var unexpected = stateDict.Keys.Where(k => !own.Contains(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new ArgumentException($"LoadStateDict: {(missing.Count > 0 ? $"missing key(s) {string.Join(", ", missing.Select(k => $"'{k}'"))}" : "")}" +
                $"{(missing.Count > 0 && unexpected.Count > 0 ? "; " : "")}{(unexpected.Count > 0 ? $"unexpected key(s) {string.Join(", ", unexpected.Select(k => $"'{k}'"))}" : "")}" +
                " (pass strict: false to copy only the names both have)", nameof(stateDict));
        var copies = new List<(Tensor Target, Tensor Value)>();
        foreach (var (name, target) in targets)
        {
            if (!stateDict.TryGetValue(name, out var value)) continue;
            if (value is null) throw new ArgumentException($"LoadStateDict: the value for '{name}' is null; expected a tensor of shape {Shapes.Format(target.Shape)}", nameof(stateDict));
            if (!Shapes.Equal(value.Shape, target.Shape))
                throw new ArgumentException($"LoadStateDict: '{name}' has shape {Shapes.Format(value.Shape)} in the given state, but {Shapes.Format(target.Shape)} in the module", nameof(stateDict));
            if (target.DType.IsFloating() != value.DType.IsFloating())
                throw new ArgumentException($"LoadStateDict: '{name}' is {value.DType} in the given state but {target.DType} in the module; expected a {(target.DType.IsFloating() ? "floating" : "integer")} tensor", nameof(stateDict));
            copies.Add((target, value));
        }
        using (Torch.NoGrad())
            foreach (var (target, value) in copies) target.Copy_(value);
        return (missing, unexpected);
    }

    /// <summary>Runs fn on every descendant (children first, each child's subtree before the next) and then on this module,
    /// as PyTorch's apply: the usual way to initialize a model's layers by type. A child registered twice (shared) is
    /// visited once per parent, as PyTorch's children() yields it once. Returns this module.</summary>
    public Module Apply(Action<Module> fn)
    {
        ArgumentNullException.ThrowIfNull(fn);
        foreach (var child in children.Select(c => c.Value).Distinct(ReferenceEqualityComparer.Instance).Cast<Module>()) child.Apply(fn);
        fn(this);
        return this;
    }
}
