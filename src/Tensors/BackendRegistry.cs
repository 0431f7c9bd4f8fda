using System.Collections.Concurrent;

namespace MiniGrad;

/// <summary>Creates backends for devices. Upper layers ask here and never name a backend type.</summary>
public interface IBackendProvider
{
    /// <summary>Device types this provider serves, such as "cpu" or "cuda".</summary>
    IReadOnlyList<string> DeviceTypes { get; }
    /// <summary>Whether a device of this type is present on this machine.</summary>
    bool IsAvailable(string deviceType);
    /// <summary>Creates the backend for a device.</summary>
    IBackend Create(Device device);
}

/// <summary>
/// Finds the backend of a device among the registered providers. Backends register themselves explicitly (no
/// assembly scan, so trimming and NativeAOT keep them): the <c>MiniGrad</c> package registers the CPU backend and
/// <c>MiniGrad.Backends.Ilgpu</c> registers itself, both from a module initializer their build files add to the
/// application; without those packages call <c>MiniGrad.Backends.Cpu.CpuBackendProvider.Register()</c> or
/// <c>MiniGrad.Backends.Ilgpu.IlgpuBackendProvider.Register()</c> once at start-up.
/// </summary>
public static class BackendRegistry
{
    static readonly ConcurrentDictionary<Device, IBackend> Backends = new();
    static readonly List<IBackendProvider> Providers = new();

    /// <summary>Adds a provider; registering a second provider of the same type does nothing.</summary>
    public static void Register(IBackendProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        lock (Providers) if (!Providers.Any(p => p.GetType() == provider.GetType())) Providers.Add(provider);
    }

    /// <summary>The device types of the registered providers.</summary>
    public static IReadOnlyList<string> DeviceTypes
    {
        get { lock (Providers) return Providers.SelectMany(p => p.DeviceTypes).ToList(); }
    }

    /// <summary>The backend for a device, created once and cached.</summary>
    public static IBackend Get(Device device) => Backends.GetOrAdd(device, d =>
    {
        var p = ProviderFor(d.Type) ?? throw new ArgumentException(NoProvider(d.Type), nameof(device));
        if (!p.IsAvailable(d.Type)) throw new InvalidOperationException($"Device: '{d}' is not available on this machine");
        return p.Create(d);
    });

    /// <summary>The best device present: CUDA first, then OpenCL, then the CPU.</summary>
    public static Device Auto()
    {
        foreach (var t in new[] { "cuda", "opencl" })
            if (ProviderFor(t) is { } p && p.IsAvailable(t)) return new Device(t);
        return Device.Cpu;
    }

    static string NoProvider(string type)
    {
        var known = DeviceTypes;
        if (known.Count == 0)
            return $"Device: no backend serves device type '{type}': no backend is registered. Reference the MiniGrad package " +
                   "(it registers the CPU backend through a module initializer added to the application), or call " +
                   "MiniGrad.Backends.Cpu.CpuBackendProvider.Register() (and MiniGrad.Backends.Ilgpu.IlgpuBackendProvider.Register() " +
                   "for GPUs) once at start-up";
        string hint = type is "cuda" or "opencl" or "ilgpu-cpu"
            ? "; reference MiniGrad.Backends.Ilgpu (or call MiniGrad.Backends.Ilgpu.IlgpuBackendProvider.Register())"
            : "";
        return $"Device: no backend serves device type '{type}' (registered: {string.Join(", ", known)}){hint}";
    }

    static IBackendProvider? ProviderFor(string type)
    {
        lock (Providers) return Providers.FirstOrDefault(p => p.DeviceTypes.Contains(type));
    }
}
