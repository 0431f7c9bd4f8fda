using System.Collections.Concurrent;
using System.Reflection;

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

/// <summary>Finds the backend of a device; backend assemblies are loaded by name on first use.</summary>
public static class BackendRegistry
{
    static readonly ConcurrentDictionary<Device, IBackend> Backends = new();
    static readonly List<IBackendProvider> Providers = new();
    static readonly string[] KnownAssemblies = ["MiniGrad.Backends.Cpu", "MiniGrad.Backends.Ilgpu"];
    static bool scanned;

    /// <summary>Adds a provider (backend assemblies call this; tests may too).</summary>
    public static void Register(IBackendProvider provider)
    {
        lock (Providers) if (!Providers.Any(p => p.GetType() == provider.GetType())) Providers.Add(provider);
    }

    /// <summary>The backend for a device, created once and cached.</summary>
    public static IBackend Get(Device device) => Backends.GetOrAdd(device, d =>
    {
        var p = ProviderFor(d.Type) ?? throw new ArgumentException(
            $"Device: no backend serves device type '{d.Type}' (known: {string.Join(", ", AllTypes())})", nameof(device));
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

    static IEnumerable<string> AllTypes() { Scan(); lock (Providers) return Providers.SelectMany(p => p.DeviceTypes).ToList(); }

    static IBackendProvider? ProviderFor(string type)
    {
        Scan();
        lock (Providers) return Providers.FirstOrDefault(p => p.DeviceTypes.Contains(type));
    }

    static void Scan()
    {
        lock (Providers)
        {
            if (scanned) return;
            scanned = true;
            foreach (var name in KnownAssemblies)
            {
                Assembly asm;
                try { asm = Assembly.Load(name); } catch (FileNotFoundException) { continue; }
                foreach (var t in asm.GetTypes())
                    if (typeof(IBackendProvider).IsAssignableFrom(t) && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) != null)
                        if (!Providers.Any(p => p.GetType() == t)) Providers.Add((IBackendProvider)Activator.CreateInstance(t)!);
            }
        }
    }
}
