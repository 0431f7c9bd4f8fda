using MiniGrad.Backends.Ilgpu;

namespace MiniGrad.Tests.Ilgpu;

/// <summary>ILGPU tests share one accelerator per device: they run one class at a time.</summary>
[CollectionDefinition("Ilgpu", DisableParallelization = true)]
public sealed class IlgpuCollection;

internal static class IG
{
    /// <summary>ILGPU's CPU accelerator: the same kernels as on a GPU, present on every machine.</summary>
    public static readonly Device Dev = Device.Parse("ilgpu-cpu");

    public static IlgpuBackend Backend => (IlgpuBackend)Dev.Backend;

    public static void Close(double[] expected, double[] actual, double tol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {expected.Length} values expected, got {actual.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e)) { Assert.True(double.IsNaN(a), $"{what}[{i}]: expected NaN, got {a}"); continue; }
            if (double.IsInfinity(e)) { Assert.True(e == a, $"{what}[{i}]: expected {e}, got {a}"); continue; }
            Assert.True(Math.Abs(e - a) <= tol * Math.Max(1, Math.Abs(e)), $"{what}[{i}]: cpu {e:R}, ilgpu {a:R} (tol {tol})");
        }
    }
}
