using MiniGrad.Backends.Cpu;

namespace MiniGrad;

/// <summary>Registers the backends the MiniGrad package brings (the CPU backend). Applications need not call it: the package's
/// build files compile a module initializer into them that does; call it where those files do not reach (not C#, or
/// <c>MiniGradRegisterBackends</c> set to false).</summary>
public static class DefaultBackends
{
    /// <summary>Registers the CPU backend (idempotent; no reflection, so trimming and NativeAOT keep it).</summary>
    public static void Register() => CpuBackendProvider.Register();
}
