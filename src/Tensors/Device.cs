namespace MiniGrad;

/// <summary>Where a tensor lives: "cpu", or an ILGPU device ("cuda", "opencl", "ilgpu-cpu").</summary>
public sealed record Device(string Type, int Index = 0)
{
    /// <summary>The managed CPU backend, the default device.</summary>
    public static readonly Device Cpu = new("cpu");

    /// <summary>Parses "cpu", "cuda", "cuda:1", "opencl", "ilgpu-cpu" or "auto".</summary>
    public static Device Parse(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var parts = name.Trim().ToLowerInvariant().Split(':');
        int index = 0;
        if (parts.Length > 2 || (parts.Length == 2 && !int.TryParse(parts[1], out index)) || index < 0)
            throw new ArgumentException($"Device: name '{name}' is not of the form TYPE or TYPE:INDEX (for example 'cpu' or 'cuda:0')", nameof(name));
        return parts[0] == "auto" ? BackendRegistry.Auto() : new Device(parts[0], index);
    }

    /// <summary>The backend that runs this device's kernels.</summary>
    public IBackend Backend => BackendRegistry.Get(this);

    /// <inheritdoc/>
    public override string ToString() => Index == 0 && Type == "cpu" ? Type : $"{Type}:{Index}";
}
