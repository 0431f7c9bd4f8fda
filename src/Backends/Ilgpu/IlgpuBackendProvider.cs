using ILGPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace MiniGrad.Backends.Ilgpu;

/// <summary>Serves "cuda", "opencl" and "ilgpu-cpu" (ILGPU's CPU accelerator, present everywhere). The package registers it from a
/// module initializer added to the application; otherwise call <see cref="Register"/> once at start-up.</summary>
public sealed class IlgpuBackendProvider : IBackendProvider
{
    /// <summary>Registers the ILGPU backend with <see cref="BackendRegistry"/> (idempotent, no reflection).</summary>
    public static void Register() => BackendRegistry.Register(new IlgpuBackendProvider());

#pragma warning disable CA2255 // a library's module initializer: registering is all it does, and it is idempotent
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void RegisterOnLoad() => Register();
#pragma warning restore CA2255

    // One probing context, only to list devices; each backend owns its own context and accelerator.
    static readonly Lazy<Context?> Probe = new(() =>
    {
        try { return Context.Create(b => b.Cuda().OpenCL()); }
        catch (Exception) { return null; }
    });

    /// <inheritdoc/>
    public IReadOnlyList<string> DeviceTypes => ["cuda", "opencl", "ilgpu-cpu"];

    /// <summary>Number of devices ILGPU sees of a type ("cuda", "opencl"; "ilgpu-cpu" is always 1).</summary>
    public static int DeviceCount(string deviceType)
    {
        if (deviceType == "ilgpu-cpu") return 1;
        var ctx = Probe.Value;
        if (ctx is null) return 0;
        try
        {
            return deviceType switch
            {
                "cuda" => ctx.GetCudaDevices().Count,
                "opencl" => ctx.GetCLDevices().Count,
                _ => 0,
            };
        }
        catch (Exception) { return 0; }
    }

    /// <inheritdoc/>
    public bool IsAvailable(string deviceType) => DeviceCount(deviceType) > 0;

    /// <inheritdoc/>
    public IBackend Create(Device device)
    {
        int count = DeviceCount(device.Type);
        if (device.Index >= count)
            throw new InvalidOperationException($"Device: '{device}' is not available on this machine ({count} {device.Type} device(s) found)");
        return new IlgpuBackend(device);
    }
}
