using MiniGrad.Backends.Cpu;

namespace MiniGrad.Tests.Cpu;

/// <summary>RunParts on the CPU: every part runs once, with its share of the cores for the kernels inside it.</summary>
public class ParTests
{
    [Fact]
    public void RunPartsRunsEachPartOnceWithItsShareOfTheCores()
    {
        const int parts = 2;
        var runs = new int[parts];
        var cores = new int[parts];
        var chunks = new List<(int, int)>[parts];
        int share = Math.Max(1, Environment.ProcessorCount / parts);
        Device.Cpu.Backend.RunParts(parts, i =>
        {
            Interlocked.Increment(ref runs[i]);
            cores[i] = Par.Cores;
            var seen = chunks[i] = [];
            // Work big enough to be split when called from outside a part (see the next test).
            Par.For(1 << 12, 1 << 10, (a, b) => { lock (seen) seen.Add((a, b)); });
        });
        Assert.All(runs, r => Assert.Equal(1, r));
        Assert.All(cores, c => Assert.Equal(Environment.ProcessorCount >= 2 ? share : Environment.ProcessorCount, c));
        if (share == 1) Assert.All(chunks, c => Assert.Equal([(0, 1 << 12)], c)); // one core each: the loop ran inline
        Assert.Equal(Environment.ProcessorCount, Par.Cores); // restored outside
    }

    [Fact]
    public void APartsExceptionComesOutAsItself()
    {
        var e = Assert.Throws<ArgumentException>(() => Device.Cpu.Backend.RunParts(2, i => { if (i == 1) throw new ArgumentException("part 1 failed"); }));
        Assert.Equal("part 1 failed", e.Message);
        Assert.Equal(Environment.ProcessorCount, Par.Cores);
    }

    [Fact]
    public void ParForOutsideAPartUsesTheCores()
    {
        if (Environment.ProcessorCount < 2) return; // nothing to split over
        int calls = 0;
        Par.For(1 << 12, 1 << 10, (a, b) => Interlocked.Increment(ref calls));
        Assert.True(calls > 1, $"Par.For ran {calls} chunk(s); expected the work split into several");
    }

    [Fact]
    public void GemmInsideAPartGivesTheSameBitsAsOutside()
    {
        var a = Torch.Randn([300, 200], generator: new Generator(1));
        var b = Torch.Randn([200, 500], generator: new Generator(2));
        var outside = a.MatMul(b).ToArray<float>();
        var inside = new float[2][];
        Device.Cpu.Backend.RunParts(2, i => inside[i] = new Tensor(Device.Cpu.Backend.MatMul(a.Raw, b.Raw, false, false)).ToArray<float>());
        Assert.Equal(outside, inside[0]);
        Assert.Equal(outside, inside[1]);
    }
}
