using System.Runtime.CompilerServices;
using MiniGrad.Backends.Ilgpu;

namespace MiniGrad.Tests;

/// <summary>
/// The one list of devices the shared suite runs on: the CPU backend and ILGPU's CPU accelerator everywhere, and CUDA
/// wherever ILGPU sees an NVIDIA GPU. Device-parameterized tests take their device name first and draw it from here;
/// classes that use them are in the non-parallel <c>[Collection("Ilgpu")]</c>. Where CUDA is absent the suite says so:
/// <see cref="TestDevicesTests.CudaLegOfTheSuiteRuns"/> is reported as skipped with a "CUDA ABSENT" reason.
/// </summary>
public static class TestDevices
{
    /// <summary>Whether ILGPU sees a CUDA device, so that "cuda" rows join every device-parameterized test.</summary>
    public static bool HasCuda { get; } = IlgpuBackendProvider.DeviceCount("cuda") > 0;

    /// <summary>"cpu", "ilgpu-cpu", and "cuda" when present.</summary>
    public static IReadOnlyList<string> Available { get; } = HasCuda ? ["cpu", "ilgpu-cpu", "cuda"] : ["cpu", "ilgpu-cpu"];

    /// <summary>
    /// The comma-separated device names in <c>MINIGRAD_TEST_DEVICES</c>, when it is set, restrict the list (e.g. "cpu" for
    /// the emulated linux-arm64 leg of .ci/run, where ILGPU's CPU accelerator would be too slow).
    /// </summary>
    public static bool Restricted { get; } = Environment.GetEnvironmentVariable("MINIGRAD_TEST_DEVICES") is { Length: > 0 };

    /// <summary>The devices the suite runs on: <see cref="Available"/>, or those of them named in <c>MINIGRAD_TEST_DEVICES</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = Restricted ? Restrict(Environment.GetEnvironmentVariable("MINIGRAD_TEST_DEVICES")!) : Available;

    static string[] Restrict(string names)
    {
        var kept = Available.Intersect(names.Split(',', StringSplitOptions.TrimEntries)).ToArray();
        return kept.Length > 0 ? kept : throw new InvalidOperationException(
            $"MINIGRAD_TEST_DEVICES='{names}' names none of the available devices ({string.Join(", ", Available)})");
    }

    /// <summary>Every device name, one theory row each.</summary>
    public static TheoryData<string> All
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var d in Names) data.Add(d);
            return data;
        }
    }

    /// <summary>
    /// Each case once per device, the device name first. <paramref name="include"/>, when given, leaves out the
    /// (device, case) pairs for which it is false (big cases on the slow <c>ilgpu-cpu</c>, for instance).
    /// </summary>
    public static IEnumerable<object[]> Cross(IEnumerable<ITheoryDataRow> cases, Func<string, object[], bool>? include = null)
        => Cross(cases.Select(r => (object[])r.GetData()), include);

    /// <inheritdoc cref="Cross(IEnumerable{ITheoryDataRow}, Func{string, object[], bool}?)"/>
    public static IEnumerable<object[]> Cross(IEnumerable<object[]> cases, Func<string, object[], bool>? include = null)
    {
        var list = cases.ToList();
        foreach (var d in Names)
            foreach (var c in list)
                if (include is null || include(d, c)) yield return [d, .. c];
    }

    /// <summary>
    /// ILGPU's CPU accelerator runs every kernel group in lockstep on host threads: correct but slow, so big sizes
    /// shrink (or big cases are left out) there. On a GPU they run in full.
    /// </summary>
    public static bool IsSlow(string device) => device == "ilgpu-cpu";

    /// <summary>
    /// A <see cref="Cross"/> filter for cases whose first value is a shape: on a slow device, cases with more than
    /// <paramref name="maxNumel"/> elements are left out.
    /// </summary>
    public static Func<string, object[], bool> SmallOnSlow(int maxNumel) =>
        (device, c) => !IsSlow(device) || ((int[])c[0]).Aggregate(1L, (a, b) => a * b) <= maxNumel;

    /// <summary><paramref name="full"/>, or <paramref name="small"/> on a slow device.</summary>
    public static int Size(string device, int full, int small) => IsSlow(device) ? small : full;
}

/// <summary>A fact that runs only where CUDA is present, and is reported as skipped, saying so, where it is not.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (TestDevices.HasCuda) return;
        // The display name is what the console prints for a skipped test, so the absence reads plainly in every log.
        DisplayName = "CUDA ABSENT: the suite's cuda leg did not run (no NVIDIA device visible to ILGPU)";
        Skip = "CUDA ABSENT: no NVIDIA device visible to ILGPU; device-parameterized tests ran on cpu and ilgpu-cpu only";
    }
}

[Collection("Ilgpu")]
public class TestDevicesTests
{
    [Fact]
    public void ListsCpuAndIlgpuCpuAndCudaExactlyWhenPresent()
    {
        Assert.SkipWhen(TestDevices.Restricted, "MINIGRAD_TEST_DEVICES restricts the devices");
        Assert.Equal(["cpu", "ilgpu-cpu"], TestDevices.Names.Take(2));
        Assert.Equal(TestDevices.HasCuda, TestDevices.Names.Contains("cuda"));
        Assert.Equal(TestDevices.HasCuda ? 3 : 2, TestDevices.Names.Count);
        Assert.Equal(TestDevices.Names, TestDevices.All.Select(r => r.Data));
        // Each listed device is usable: a small op runs there and comes back right.
        foreach (var name in TestDevices.Names)
        {
            var d = Device.Parse(name);
            var y = Torch.Arange(4, DType.Float64).To(d) * 2.0 + 1.0;
            Assert.Equal(d, y.Device);
            Assert.Equal([1.0, 3, 5, 7], y.ToArray<double>());
        }
    }

    [Fact]
    public void CrossPutsTheDeviceFirstAndFilters()
    {
        Assert.SkipWhen(TestDevices.Restricted, "MINIGRAD_TEST_DEVICES restricts the devices");
        var cases = new TheoryData<int, string> { { 1, "a" }, { 2, "b" } };
        var all = TestDevices.Cross(cases).ToList();
        Assert.Equal(TestDevices.Names.Count * 2, all.Count);
        Assert.Equal(["cpu", 1, "a"], all[0]);
        Assert.Equal(["ilgpu-cpu", 2, "b"], all[3]);
        var some = TestDevices.Cross(cases, (d, c) => !TestDevices.IsSlow(d) || (int)c[0] == 1).ToList();
        Assert.Equal(TestDevices.Names.Count * 2 - 1, some.Count);
        Assert.DoesNotContain(some, r => (string)r[0] == "ilgpu-cpu" && (int)r[1] == 2);
        var shapes = new TheoryData<int[]> { new[] { 2, 3 }, new[] { 100, 100 } };
        var small = TestDevices.Cross(shapes, TestDevices.SmallOnSlow(6)).Select(r => ((string)r[0], ((int[])r[1])[0])).ToList();
        Assert.Contains(("ilgpu-cpu", 2), small);
        Assert.DoesNotContain(("ilgpu-cpu", 100), small);
        Assert.Contains(("cpu", 100), small);
    }

    [CudaFact]
    public void CudaLegOfTheSuiteRuns()
    {
        Assert.Contains("cuda", TestDevices.Names);
        var d = Device.Parse("cuda");
        var x = Torch.Tensor(new double[] { 1, 2, 3, 4 }, 2, 2).To(d);
        var y = x.MatMul(x).Sum(1);
        Assert.Equal(d, y.Device);
        Assert.Equal([7.0 + 10, 15.0 + 22], y.ToArray<double>());
    }
}
