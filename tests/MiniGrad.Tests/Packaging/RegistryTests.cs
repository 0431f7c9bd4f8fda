namespace MiniGrad.Tests.Packaging;

/// <summary>Backends are registered explicitly (module initializers the packages' build files add), never found by reflection.</summary>
public class RegistryTests
{
    [Fact]
    public void ThePackagesBuildFilesRegisteredBothBackends()
    {
        // This assembly names no provider before these asserts: the module initializers did it at start-up.
        var types = BackendRegistry.DeviceTypes;
        Assert.Contains("cpu", types);
        Assert.Contains("ilgpu-cpu", types);
        Assert.Contains("cuda", types);
    }

    [Fact]
    public void RegisteringTwiceKeepsOneProvider()
    {
        int before = BackendRegistry.DeviceTypes.Count;
        DefaultBackends.Register();
        Backends.Cpu.CpuBackendProvider.Register();
        Backends.Ilgpu.IlgpuBackendProvider.Register();
        Assert.Equal(before, BackendRegistry.DeviceTypes.Count);
    }

    [Fact]
    public void AnUnknownDeviceTypeNamesTheRegisteredOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => BackendRegistry.Get(new Device("tpu")));
        Assert.Contains("no backend serves device type 'tpu'", e.Message);
        Assert.Contains("registered: cpu", e.Message);
    }
}
