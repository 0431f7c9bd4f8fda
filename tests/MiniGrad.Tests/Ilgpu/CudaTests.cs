using MiniGrad.Backends.Ilgpu;

namespace MiniGrad.Tests.Ilgpu;

/// <summary>
/// The suite's CUDA leg. Where an NVIDIA GPU is present, op parity and a golden-style CTC check run on it, and every
/// device-parameterized test gains a "cuda" row (see <see cref="TestDevices"/>); where none is, the test named
/// Cuda_IsAbsent_OnThisMachine passes and says so, TestDevicesTests.CudaLegOfTheSuiteRuns is reported as skipped under
/// the name "CUDA ABSENT: ...", and Cuda_* parity tests report their absence in their output rather than passing as if
/// they had run.
/// </summary>
[Collection("Ilgpu")]
public class CudaTests(ITestOutputHelper output)
{
    static bool HasCuda => TestDevices.HasCuda;

    [Fact]
    public void Cuda_IsAbsent_OnThisMachine()
    {
        if (HasCuda)
        {
            output.WriteLine($"CUDA present: {((IlgpuBackend)Device.Parse("cuda").Backend).AcceleratorName}; the Cuda_* tests ran on it.");
            return;
        }
        output.WriteLine("CUDA ABSENT: no NVIDIA device visible to ILGPU; the CUDA leg of the suite did not run on this machine.");
        var e = Assert.Throws<InvalidOperationException>(() => Device.Parse("cuda").Backend);
        Assert.Contains("not available", e.Message);
        Assert.NotEqual("cuda", Device.Parse("auto").Type);
    }

    [Fact]
    public void Cuda_OpsMatchCpu_WhenPresent()
    {
        if (!HasCuda) { output.WriteLine("CUDA ABSENT: Cuda_OpsMatchCpu_WhenPresent did not run (see Cuda_IsAbsent_OnThisMachine)."); return; }
        var dev = Device.Parse("cuda");
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            var a = Torch.Randn([33, 17], dt, generator: new Generator(1)).RequiresGrad_();
            var b = Torch.Randn([17, 9], dt, generator: new Generator(2)).RequiresGrad_();
            var da = a.Detach().To(dev).RequiresGrad_(); var db = b.Detach().To(dev).RequiresGrad_();
            var yc = a.MatMul(b).Tanh().LogSoftmax(1).Sum(0);
            var yd = da.MatMul(db).Tanh().LogSoftmax(1).Sum(0);
            double tol = dt == DType.Float64 ? 1e-10 : 1e-4;
            IG.Close(yc.ToArray<double>(), yd.ToArray<double>(), tol, $"cuda {dt} forward");
            yc.Sum().Backward(); yd.Sum().Backward();
            IG.Close(a.Grad!.ToArray<double>(), da.Grad!.ToArray<double>(), tol, $"cuda {dt} grad a");
            IG.Close(b.Grad!.ToArray<double>(), db.Grad!.ToArray<double>(), tol, $"cuda {dt} grad b");
        }
    }
}
