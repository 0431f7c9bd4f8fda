using System.Globalization;

namespace MiniGrad.Nn;

/// <summary>
/// Saves and loads a module's parameters, and optionally an optimizer's state, as one safetensors file.
/// </summary>
/// <remarks>
/// <para>Layout: each parameter and buffer under its dotted name (Module.NamedParameters and NamedBuffers, PyTorch's
/// state_dict keys, e.g. <c>bn.running_mean</c>); optimizer
/// buffers under <c>optimizer.state.&lt;parameter name&gt;.&lt;buffer&gt;</c> (e.g. <c>optimizer.state.fc.weight.exp_avg</c>);
/// metadata <c>format = pt</c>, <c>optimizer.type</c>, each option as <c>optimizer.&lt;name&gt;</c> (round-trip invariant
/// numbers, booleans as 0/1), <c>optimizer.initial_lr</c> when a scheduler set it, and
/// <c>optimizer.state.&lt;parameter name&gt;.step</c>. A file saved from PyTorch with
/// <c>safetensors.torch.save_file(model.state_dict(), path)</c> loads into the matching module.</para>
/// <para>Errors: Save throws ArgumentException for arguments it cannot store (reserved names, an optimizer over
/// parameters outside the module) and lets I/O errors through, leaving the target untouched. Load throws
/// <see cref="CheckpointException"/> for every failure (I/O errors wrapped) and changes nothing unless the whole
/// file validates against the module and optimizer.</para>
/// </remarks>
public static class Checkpoint
{
    /// <summary>Names and metadata keys starting with this belong to the optimizer.</summary>
    public const string OptimizerPrefix = "optimizer.";
    const string StatePrefix = "optimizer.state.";
    const string TypeKey = "optimizer.type";
    const string InitialLrKey = "optimizer.initial_lr";

    /// <summary>Writes the module's parameters (and the optimizer's options and state) to path, atomically.</summary>
    /// <param name="module">The module whose NamedParameters and NamedBuffers are saved.</param>
    /// <param name="path">The target file; replaced only once the new file is complete and flushed. The new file is
    /// written as ".NAME.GUID.tmp" beside it; leftovers of that pattern from an earlier save that was killed are
    /// removed first (so two processes must not save the same target at once).</param>
    /// <param name="optimizer">An optimizer over parameters of this module, whose state is saved too.</param>
    /// <param name="metadata">Extra string metadata (e.g. the epoch); keys must not start with "optimizer.".</param>
    public static void Save(Module module, string path, Optimizer? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var named = module.NamedParameters(true, removeDuplicate: false).ToList();
        var state = StateOf(module);
        foreach (var (name, _) in state)
            if (IsReserved(name))
                throw new ArgumentException($"Checkpoint.Save: parameter '{name}' uses a reserved name (names starting with '{OptimizerPrefix}' or equal to '{SafeTensors.MetadataKey}' are reserved)", nameof(module));

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in state) tensors[name] = p;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
        if (metadata is not null)
            foreach (var (k, v) in metadata)
            {
                if (k is null || v is null) throw new ArgumentException("Checkpoint.Save: metadata keys and values must not be null", nameof(metadata));
                if (k.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                    throw new ArgumentException($"Checkpoint.Save: metadata key '{k}' starts with the reserved prefix '{OptimizerPrefix}'", nameof(metadata));
                meta[k] = v;
            }

        if (optimizer is not null)
        {
            var nameOf = NamesOf(named);
            meta[TypeKey] = optimizer.Name;
            foreach (var (k, v) in optimizer.Options) meta[OptimizerPrefix + k] = Optimizer.Format(v);
            if (optimizer.InitialLr is { } initialLr) meta[InitialLrKey] = Optimizer.Format(initialLr);
            for (int i = 0; i < optimizer.Parameters.Count; i++)
            {
                var p = optimizer.Parameters[i];
                if (!nameOf.TryGetValue(p, out var name))
                    throw new ArgumentException($"Checkpoint.Save: optimizer parameter {i} (shape {Shapes.Format(p.Shape)}) is not a parameter of the module, so its state cannot be named", nameof(optimizer));
                if (optimizer.State(p) is not { } s) continue;
                meta[$"{StatePrefix}{name}.step"] = s.Step.ToString(CultureInfo.InvariantCulture);
                foreach (var (b, t) in s.Buffers)
                {
                    if (b.Length == 0 || b.Contains('.') || b == "step")
                        throw new ArgumentException($"Checkpoint.Save: optimizer state name '{b}' cannot be stored (it must be non-empty, without '.', and not 'step')", nameof(optimizer));
                    tensors[$"{StatePrefix}{name}.{b}"] = t;
                }
            }
        }
        SafeTensors.Write(path, tensors, meta);
    }

    /// <summary>
    /// Loads parameters (and optimizer options and state) saved by <see cref="Save"/> or by PyTorch's safetensors,
    /// after validating the whole file: names must match the module's parameters and buffers exactly and shapes must agree.
    /// Returns the file's metadata.
    /// </summary>
    /// <exception cref="CheckpointException">Any failure; the module and optimizer are then unchanged.</exception>
    public static IReadOnlyDictionary<string, string> Load(Module module, string path, Optimizer? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var named = module.NamedParameters(true, removeDuplicate: false).ToList();
        var targets = StateOf(module);
        foreach (var (name, _) in targets)
            if (IsReserved(name))
                throw new CheckpointException($"Checkpoint.Load: parameter '{name}' of the module uses a reserved name (starting with '{OptimizerPrefix}' or equal to '{SafeTensors.MetadataKey}')");

        using var stream = SafeTensors.Open(path);
        var header = SafeTensors.ReadHeader(stream, path);

        CheckModule(module, targets, header, path);
        var plan = optimizer is null ? null : PlanOptimizer(named, optimizer, header, path);

        // Everything is validated; now read the data (bounded by the real file) and convert it to each target.
        var values = new List<(Tensor Target, Tensor Value)>(targets.Count);
        foreach (var (name, p) in targets)
            values.Add((p, Convert(SafeTensors.ReadTensor(stream, header, header.Find(name)!, path), p)));
        Dictionary<Parameter, ParameterState>? state = null;
        if (plan is not null)
        {
            state = new Dictionary<Parameter, ParameterState>(ReferenceEqualityComparer.Instance);
            foreach (var (p, step, buffers) in plan.States)
            {
                var s = new ParameterState { Step = step };
                foreach (var (b, e) in buffers) s.Buffers[b] = Convert(SafeTensors.ReadTensor(stream, header, e, path), p).DetachFromScope(); // the state owns it
                state[p] = s;
            }
        }

        using (Torch.NoGrad())
            foreach (var (p, v) in values) p.Copy_(v);
        if (plan is not null) optimizer!.Restore(plan.Options, plan.InitialLr, state!);
        return header.Metadata;
    }

    static bool IsReserved(string name) => name.StartsWith(OptimizerPrefix, StringComparison.Ordinal) || name == SafeTensors.MetadataKey;

    static Tensor Convert(Tensor t, Tensor like) => t.To(like.DType).To(like.Device);

    /// <summary>What a checkpoint holds of a module: its parameters, then its buffers (PyTorch's state_dict).</summary>
    static List<(string Name, Tensor Tensor)> StateOf(Module module) => module.StateEntries();

    static Dictionary<Parameter, string> NamesOf(List<(string Name, Parameter Parameter)> named)
    {
        var nameOf = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in named) nameOf.TryAdd(p, name);
        return nameOf;
    }

    static CheckpointException Fail(string path, string what) => new($"Checkpoint.Load: '{path}': {what}");

    static string Shortened(IEnumerable<string> names)
    {
        var list = names.Select(n => $"'{SafeTensors.Short(n)}'").ToList();
        return list.Count <= 20 ? string.Join(", ", list) : string.Join(", ", list.Take(20)) + $", ... ({list.Count} in all)";
    }

    static void CheckModule(Module module, List<(string Name, Tensor Tensor)> named, SafeTensorsHeader header, string path)
    {
        var problems = new List<string>();
        var expected = new HashSet<string>(named.Select(n => n.Name), StringComparer.Ordinal);
        var missing = named.Where(n => header.Find(n.Name) is null).Select(n => n.Name).ToList();
        var unexpected = header.Entries.Select(e => e.Name).Where(n => !expected.Contains(n) && !n.StartsWith(OptimizerPrefix, StringComparison.Ordinal)).ToList();
        if (missing.Count > 0) problems.Add($"missing parameter(s) {Shortened(missing)}");
        if (unexpected.Count > 0) problems.Add($"unexpected entr{(unexpected.Count == 1 ? "y" : "ies")} {Shortened(unexpected)}");
        foreach (var (name, p) in named)
        {
            if (header.Find(name) is not { } e) continue;
            if (!Shapes.Equal(e.Shape, p.Shape))
                problems.Add($"size mismatch for '{name}': the checkpoint has shape {Shapes.Format(e.Shape)}, the module's parameter has shape {Shapes.Format(p.Shape)}");
            else if (p.DType.IsFloating() ? !e.DType.IsFloating() : e.DType != p.DType)
                problems.Add($"dtype mismatch for '{name}': the checkpoint has {SafeTensors.DTypeName(e.DType)}, the module's parameter is {p.DType}");
        }
        if (problems.Count > 0)
            throw Fail(path, $"does not match {module.GetType().Name}: {string.Join("; ", problems)}");
    }

    sealed record OptimizerPlan(Dictionary<string, double> Options, double? InitialLr, List<(Parameter P, long Step, Dictionary<string, SafeTensorsEntry> Buffers)> States);

    static OptimizerPlan PlanOptimizer(List<(string Name, Parameter Parameter)> named, Optimizer optimizer, SafeTensorsHeader header, string path)
    {
        var meta = header.Metadata;
        if (!meta.TryGetValue(TypeKey, out var type))
            throw Fail(path, $"holds no optimizer state (no '{TypeKey}' metadata), but an optimizer ({optimizer.Name}) was given");
        if (type != optimizer.Name)
            throw Fail(path, $"holds {SafeTensors.Short(type)} state, but the optimizer is {optimizer.Name}");

        var options = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var key in optimizer.Options.Keys)
        {
            if (!meta.TryGetValue(OptimizerPrefix + key, out var text))
                throw Fail(path, $"{optimizer.Name} option '{key}' is missing (metadata '{OptimizerPrefix}{key}')");
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                throw Fail(path, $"{optimizer.Name} option '{key}' = '{SafeTensors.Short(text)}' is not a number");
            options[key] = v;
        }
        try { optimizer.ValidateOptions(options); }
        catch (ArgumentException e) { throw new CheckpointException($"Checkpoint.Load: '{path}': invalid {optimizer.Name} options: {e.Message}", e); }

        double? initialLr = null;
        if (meta.TryGetValue(InitialLrKey, out var il))
        {
            if (!double.TryParse(il, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v >= 0) || double.IsInfinity(v))
                throw Fail(path, $"'{InitialLrKey}' = '{SafeTensors.Short(il)}' is not a finite number >= 0");
            initialLr = v;
        }

        var nameOf = NamesOf(named);
        var byName = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        for (int i = 0; i < optimizer.Parameters.Count; i++)
        {
            var p = optimizer.Parameters[i];
            if (!nameOf.TryGetValue(p, out var name))
                throw Fail(path, $"optimizer parameter {i} (shape {Shapes.Format(p.Shape)}) is not a parameter of the module, so its state cannot be found");
            byName[name] = p;
        }

        var bufferNames = new HashSet<string>(optimizer.StateBufferNames(options), StringComparer.Ordinal);
        var steps = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, value) in meta)
        {
            if (!key.StartsWith(OptimizerPrefix, StringComparison.Ordinal) || key is TypeKey or InitialLrKey) continue;
            if (options.ContainsKey(key[OptimizerPrefix.Length..])) continue;
            if (key.StartsWith(StatePrefix, StringComparison.Ordinal) && key.EndsWith(".step", StringComparison.Ordinal) && key.Length > StatePrefix.Length + 5)
            {
                var pname = key[StatePrefix.Length..^5];
                if (!byName.ContainsKey(pname)) throw Fail(path, $"step count '{SafeTensors.Short(key)}' belongs to no parameter of this optimizer");
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var step))
                    throw Fail(path, $"step count '{SafeTensors.Short(key)}' = '{SafeTensors.Short(value)}' is not an integer >= 0");
                steps[pname] = step;
                continue;
            }
            throw Fail(path, $"unknown optimizer metadata '{SafeTensors.Short(key)}'");
        }

        var buffers = new Dictionary<string, Dictionary<string, SafeTensorsEntry>>(StringComparer.Ordinal);
        foreach (var e in header.Entries)
        {
            if (!e.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) continue;
            string shortName = SafeTensors.Short(e.Name);
            int dot = e.Name.LastIndexOf('.');
            if (!e.Name.StartsWith(StatePrefix, StringComparison.Ordinal) || dot <= StatePrefix.Length)
                throw Fail(path, $"unexpected entry '{shortName}' (optimizer entries are named '{StatePrefix}<parameter>.<state>')");
            string pname = e.Name[StatePrefix.Length..dot], b = e.Name[(dot + 1)..];
            if (!byName.TryGetValue(pname, out var p))
                throw Fail(path, $"entry '{shortName}' holds state for '{SafeTensors.Short(pname)}', which is not a parameter of this optimizer");
            if (!bufferNames.Contains(b))
                throw Fail(path, $"entry '{shortName}': {optimizer.Name} keeps no state named '{SafeTensors.Short(b)}' (expected {(bufferNames.Count == 0 ? "none with these options" : string.Join(", ", bufferNames))})");
            if (!Shapes.Equal(e.Shape, p.Shape))
                throw Fail(path, $"size mismatch for '{shortName}': the checkpoint has shape {Shapes.Format(e.Shape)}, the parameter '{pname}' has shape {Shapes.Format(p.Shape)}");
            if (p.DType.IsFloating() ? !e.DType.IsFloating() : e.DType != p.DType)
                throw Fail(path, $"dtype mismatch for '{shortName}': the checkpoint has {SafeTensors.DTypeName(e.DType)}, the parameter '{pname}' is {p.DType}");
            if (!buffers.TryGetValue(pname, out var map)) buffers[pname] = map = new(StringComparer.Ordinal);
            map[b] = e;
        }

        var states = new List<(Parameter, long, Dictionary<string, SafeTensorsEntry>)>();
        foreach (var (pname, p) in byName)
        {
            bool hasStep = steps.TryGetValue(pname, out var step);
            var map = buffers.GetValueOrDefault(pname) ?? new(StringComparer.Ordinal);
            if (!hasStep && map.Count == 0) continue;
            if (!hasStep) throw Fail(path, $"optimizer state of '{pname}' has buffers but no step count ('{StatePrefix}{pname}.step')");
            var lacking = bufferNames.Where(b => !map.ContainsKey(b)).ToList();
            if (lacking.Count > 0) throw Fail(path, $"optimizer state of '{pname}' lacks {string.Join(", ", lacking.Select(b => $"'{StatePrefix}{pname}.{b}'"))}");
            states.Add((p, step, map));
        }
        return new OptimizerPlan(options, initialLr, states);
    }
}
