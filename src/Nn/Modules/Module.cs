using System.Text;

namespace MiniGrad.Nn;

/// <summary>
/// Base of every layer (torch.nn.Module): registered parameters and children in order, PyTorch's dotted names,
/// train/eval mode, ZeroGrad, To(Device), and a printable summary. Subclasses register in their constructors.
/// </summary>
public abstract partial class Module
{
    readonly List<(string Name, Parameter? Value)> parameters = new();
    readonly List<(string Name, Module Value)> children = new();
    readonly List<(string Name, Tensor? Value)> buffers = new();

    /// <summary>True in training mode (the default); Dropout and LSTM dropout act only then.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>
    /// The shape of the last output (after any forward hook replaced it), recorded by Call or RunHooks for every module
    /// whose Forward goes through them, as all built-in ones do (shown by ToString()); null before the first Forward.
    /// </summary>
    public int[]? LastOutputShape { get; protected set; }

    /// <summary>Adds a parameter under name (null registers a missing optional one, like a disabled bias).</summary>
    protected Parameter? RegisterParameter(string name, Parameter? p)
    {
        CheckName(name);
        parameters.Add((name, p));
        return p;
    }

    /// <summary>
    /// Adds a buffer under name (PyTorch's register_buffer): state that is not trained but belongs to the module, such
    /// as BatchNorm1d's running statistics. Buffers move with To(device) and are saved and loaded by Checkpoint under
    /// their dotted names, next to the parameters (null registers a missing optional one). Update one in place with Copy_.
    /// </summary>
    protected Tensor? RegisterBuffer(string name, Tensor? buffer)
    {
        CheckName(name);
        if (buffer is { RequiresGrad: true }) throw new ArgumentException($"Module: buffer '{name}' requires grad; expected a tensor outside the graph (register trainable state with RegisterParameter)", nameof(buffer));
        buffer?.DetachFromScope(); // the module owns it: a module made inside a Torch.NewScope() keeps its buffers
        buffers.Add((name, buffer));
        return buffer;
    }

    /// <summary>Adds a child module under name.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name);
        // A module inside itself would make every walk over the tree endless.
        if (module.NamedModules().Any(m => ReferenceEquals(m.Module, this)))
            throw new ArgumentException($"Module: '{name}' ({module.GetType().Name}) is or contains this {GetType().Name}; a module cannot be its own descendant", nameof(module));
        children.Add((name, module));
        return module;
    }

    void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains('.')) throw new ArgumentException($"Module: name '{name}' must not contain '.'", nameof(name));
        if (parameters.Any(p => p.Name == name) || children.Any(c => c.Name == name) || buffers.Any(b => b.Name == name))
            throw new ArgumentException($"Module: '{name}' is already registered in {GetType().Name}", nameof(name));
    }

    /// <summary>Parameters with dotted names in registration order, children after own parameters (e.g. "0.weight"); a
    /// parameter shared by several modules (tied weights) comes once, under its first name, as in PyTorch, unless
    /// <paramref name="removeDuplicate"/> is false: then under every name it has (what a checkpoint stores, as
    /// PyTorch's state_dict).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters(bool recurse = true, bool removeDuplicate = true) =>
        Members(recurse, removeDuplicate, m => m.parameters.Where(p => p.Value is not null).Select(p => (p.Name, p.Value!)));

    /// <summary>Buffers with dotted names (own first, then children's, as NamedParameters), e.g. "1.running_mean"; a
    /// shared buffer comes once unless <paramref name="removeDuplicate"/> is false.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(bool recurse = true, bool removeDuplicate = true) =>
        Members(recurse, removeDuplicate, m => m.buffers.Where(b => b.Value is not null).Select(b => (b.Name, b.Value!)));

    /// <summary>The members of this module (and, with recurse, of every descendant, in NamedModules' order) with dotted names.</summary>
    IEnumerable<(string Name, T Member)> Members<T>(bool recurse, bool removeDuplicate, Func<Module, IEnumerable<(string Name, T Member)>> own) where T : class
    {
        var seen = removeDuplicate ? new HashSet<T>(ReferenceEqualityComparer.Instance) : null;
        foreach (var (prefix, m) in recurse ? Walk("", removeDuplicate ? new HashSet<Module>(ReferenceEqualityComparer.Instance) : null) : [("", this)])
            foreach (var (n, member) in own(m))
                if (seen?.Add(member) ?? true) yield return (prefix.Length == 0 ? n : $"{prefix}.{n}", member);
    }

    /// <summary>All buffers.</summary>
    public IEnumerable<Tensor> Buffers(bool recurse = true) => NamedBuffers(recurse).Select(x => x.Buffer);

    /// <summary>All parameters, each once (a shared one too).</summary>
    public IEnumerable<Parameter> Parameters(bool recurse = true) => NamedParameters(recurse).Select(x => x.Parameter);

    /// <summary>A container's entry at index, a negative index counting from the end (PyTorch's seq[-1]).</summary>
    private protected static T At<T>(List<T> items, int index, string owner) =>
        index >= -items.Count && index < items.Count ? items[index < 0 ? index + items.Count : index]
        : throw new ArgumentOutOfRangeException(nameof(index), index, $"{owner}: index {index} is out of range for {items.Count} modules (expected {-items.Count} <= index < {items.Count})");

    /// <summary>Direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => children;

    /// <summary>This module and every descendant, with dotted names ("" for this one); a module that appears more than
    /// once (shared) comes once, under its first name, as in PyTorch.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules() => Walk("", new HashSet<Module>(ReferenceEqualityComparer.Instance));

    IEnumerable<(string Name, Module Module)> Walk(string prefix, HashSet<Module>? memo)
    {
        if (memo is not null && !memo.Add(this)) yield break;
        yield return (prefix, this);
        foreach (var (cn, c) in children)
            foreach (var x in c.Walk(prefix.Length == 0 ? cn : $"{prefix}.{cn}", memo)) yield return x;
    }

    /// <summary>Clears every parameter's gradient (set to null and disposed, see Tensor.ZeroGrad).</summary>
    public void ZeroGrad() { foreach (var p in Parameters()) p.ZeroGrad(); }

    /// <summary>Sets training mode here and in every descendant.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = mode;
        return this;
    }

    /// <summary>Sets evaluation mode (Train(false)).</summary>
    public Module Eval() => Train(false);

    /// <summary>Moves every parameter's data (and gradient) and every buffer to a device, in place.</summary>
    public Module To(Device device)
    {
        using (Torch.NoGrad())
        {
            foreach (var p in Parameters()) p.MoveTo(device);
            foreach (var b in Buffers()) b.MoveTo(device);
        }
        return this;
    }

    /// <summary>
    /// Casts every floating-point parameter and buffer, and their gradients, to <paramref name="dtype"/> in place
    /// (PyTorch's module.to(dtype), double() and float()); integer buffers (BatchNorm1d's num_batches_tracked) keep
    /// theirs. Make the optimizer afterwards: its state was made for the old values. Returns this module.
    /// </summary>
    public Module To(DType dtype)
    {
        if (!dtype.IsFloating())
            throw new ArgumentException($"Module.To: dtype {dtype} is not a floating type; expected Float32 or Float64 (parameters are floating point)", nameof(dtype));
        using (Torch.NoGrad())
        {
            foreach (var p in Parameters()) p.CastTo(dtype);
            foreach (var b in Buffers()) if (b.DType.IsFloating()) b.CastTo(dtype);
        }
        return this;
    }

    /// <summary>To(DType.Float64), PyTorch's module.double().</summary>
    public Module Double() => To(DType.Float64);

    /// <summary>To(DType.Float32), PyTorch's module.float().</summary>
    public Module Float() => To(DType.Float32);

    /// <summary>A table of layers (dotted name, type, last output shape where known, parameter count) and the total.</summary>
    public override string ToString()
    {
        var rows = NamedModules().Select(x => (
            Name: x.Name.Length == 0 ? "(root)" : x.Name,
            Type: x.Module.Describe(),
            Output: x.Module.LastOutputShape is { } s ? Shapes.Format(s) : "-",
            Params: x.Module.NamedParameters(recurse: false).Sum(p => (long)p.Parameter.Numel))).ToList();
        int w0 = Math.Max(5, rows.Max(r => r.Name.Length)), w1 = Math.Max(4, rows.Max(r => r.Type.Length)), w2 = Math.Max(6, rows.Max(r => r.Output.Length));
        var sb = new StringBuilder();
        sb.AppendLine($"{"layer".PadRight(w0)}  {"type".PadRight(w1)}  {"output".PadRight(w2)}  {"params",10}");
        foreach (var r in rows) sb.AppendLine($"{r.Name.PadRight(w0)}  {r.Type.PadRight(w1)}  {r.Output.PadRight(w2)}  {r.Params,10:N0}");
        long total = Parameters().Sum(p => (long)p.Numel), trainable = Parameters().Where(p => p.RequiresGrad).Sum(p => (long)p.Numel);
        sb.Append($"total parameters: {total:N0} (trainable {trainable:N0})");
        return sb.ToString();
    }

    /// <summary>One-line description of this layer for the summary, e.g. "Linear(40, 29, bias=True)".</summary>
    protected virtual string Describe() => GetType().Name;
}
