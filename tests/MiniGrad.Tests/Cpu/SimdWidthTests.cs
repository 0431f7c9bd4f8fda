using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MiniGrad.Tests.Cpu;

/// <summary>
/// Which SIMD widths the JIT accelerates in this process, written to the test output (the legs of .ci/run show it), and
/// checked against <c>MINIGRAD_EXPECT_VECTOR_BITS</c> when that is set: the widest accelerated width (512, 256 or 128),
/// or 0 for none. .ci/run sets it for the legs that restrict the instruction sets (DOTNET_EnableAVX512F=0 and so on)
/// and for the emulated linux-arm64 leg, so each leg proves it ran at the width it names.
/// </summary>
public class SimdWidthTests(ITestOutputHelper output)
{
    [Fact]
    public void ReportsTheAcceleratedVectorWidths()
    {
        int widest = Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;
        var line = $"SIMD: {RuntimeInformation.ProcessArchitecture}, Vector128 {Accel(Vector128.IsHardwareAccelerated)}, " +
            $"Vector256 {Accel(Vector256.IsHardwareAccelerated)}, Vector512 {Accel(Vector512.IsHardwareAccelerated)}, " +
            $"Vector<T> {Vector<byte>.Count * 8} bits; " +
            $"Avx512F {Avx512F.IsSupported}, Avx2 {Avx2.IsSupported}, Fma {Fma.IsSupported}, AdvSimd {AdvSimd.IsSupported}";
        output.WriteLine(line);
        Console.WriteLine(line);
        Assert.Equal(widest, MiniGrad.Backends.Cpu.Simd.NativeBits); // the library picks that width for its kernels
        if (Environment.GetEnvironmentVariable("MINIGRAD_EXPECT_VECTOR_BITS") is { Length: > 0 } expected)
            Assert.Equal(int.Parse(expected), widest);
    }

    static string Accel(bool accelerated) => accelerated ? "accelerated" : "not accelerated";
}
