using MiniGrad.Backends.Cpu;
using MiniGrad.Nn;

namespace MiniGrad.Tests.Cpu;

/// <summary>The thread count is process-wide, so these tests run alone (after the parallel ones).</summary>
[CollectionDefinition("NumThreads", DisableParallelization = true)]
public class NumThreadsCollection;

/// <summary>Torch.SetNumThreads / GetNumThreads (torch.set_num_threads): every CPU kernel obeys it, with the same bits at any count.</summary>
[Collection("NumThreads")]
public class NumThreadsTests
{
    static T WithThreads<T>(int n, Func<T> f)
    {
        Torch.SetNumThreads(n);
        try { return f(); }
        finally { CpuThreads.Reset(); }
    }

    [Fact]
    public void DefaultsToEveryCoreAndReadsBackWhatWasSet()
    {
        Assert.Equal(Environment.ProcessorCount, Torch.GetNumThreads());
        Assert.Equal(3, WithThreads(3, Torch.GetNumThreads));
        Assert.Equal(1, WithThreads(1, () => Par.Cores));
        Assert.Equal(Environment.ProcessorCount, Torch.GetNumThreads());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    [InlineData(int.MinValue)]
    public void ABadCountIsOutOfRangeAndNamesTheValue(int n)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Torch.SetNumThreads(n));
        Assert.Equal("n", e.ParamName);
        Assert.Equal(n, e.ActualValue);
        Assert.Contains($"got {n}", e.Message);
        Assert.Equal(Environment.ProcessorCount, Torch.GetNumThreads()); // unchanged
    }

    [Fact]
    public void OneThreadRunsEveryKernelOnTheCallingThread()
    {
        // Work that Par.For, the GEMM and the CTC kernel all split over the cores at the default count.
        var threads = new HashSet<int>();
        WithThreads(1, () =>
        {
            Par.For(1 << 12, 1 << 10, (a, b) => { lock (threads) threads.Add(Environment.CurrentManagedThreadId); });
            Device.Cpu.Backend.RunParts(2, _ => { lock (threads) threads.Add(Environment.CurrentManagedThreadId); });
            return 0;
        });
        Assert.Equal([Environment.CurrentManagedThreadId], threads);
    }

    static int[] Bits(Tensor t) => t.ToArray<float>().Select(BitConverter.SingleToInt32Bits).ToArray();

    // GEMM, LSTM (forward and backward, two bidirectional layers, a packed batch) and CTC (forward and backward): large
    // enough that each kernel splits its work at 2 and 3 threads.
    static List<int[]> Run()
    {
        var results = new List<int[]>();
        var a = Torch.Randn([300, 200], generator: new Generator(1));
        var b = Torch.Randn([200, 500], generator: new Generator(2));
        results.Add(Bits(a.MatMul(b)));
        results.Add(Bits(a.Transpose(0, 1).MatMul(a)));

        var lstm = new Lstm(24, 48, numLayers: 2, bidirectional: true, generator: new Generator(3));
        var x = Torch.Randn([30, 16, 24], generator: new Generator(4)).RequiresGrad_();
        int[] lengths = [.. Enumerable.Range(0, 16).Select(i => 30 - i)];
        var (y, _) = lstm.Forward(x, lengths);
        (y * y).Sum().Backward();
        results.Add(Bits(y));
        results.Add(Bits(x.Grad!));
        results.AddRange(lstm.Parameters().Select(p => Bits(p.Grad!)));

        int T = 150, N = 32, C = 29, S = 40;
        var logits = Torch.Randn([T, N, C], generator: new Generator(5)).RequiresGrad_();
        var targets = Torch.Randint(1, C, [N, S], DType.Int64, generator: new Generator(6));
        var inputLengths = Torch.Full([N], T, DType.Int64);
        var targetLengths = Torch.Randint(10, S, [N], DType.Int64, generator: new Generator(7));
        var loss = new CtcLoss(reduction: Reduction.None).Forward(logits.LogSoftmax(2), targets, inputLengths, targetLengths);
        loss.Sum().Backward();
        results.Add(Bits(loss));
        results.Add(Bits(logits.Grad!));
        return results;
    }

    [Fact]
    public void GemmLstmAndCtcGiveTheSameBitsWithOneTwoAndThreeThreads()
    {
        var one = WithThreads(1, Run);
        var two = WithThreads(2, Run);
        var three = WithThreads(3, Run);
        Assert.Equal(one.Count, two.Count);
        for (int i = 0; i < one.Count; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(one[i], three[i]);
        }
    }

    // A whole sum, or a sum over the leading dim, of one slab is shared over the cores (the blocks of the pairwise tree, or
    // the columns): it must give the bits of the same sum within a batch of two slabs, which one core does alone, at any
    // thread count. The lengths give whole and partial runs of blocks at every width; 300 columns, a partial last group.
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void LongSumsSharedOverTheCoresGiveTheBitsOfOneCore(DType dtype)
    {
        static long[] Bits(Tensor t) => t.To(DType.Float64).ToArray<double>().Select(BitConverter.DoubleToInt64Bits).ToArray();
        foreach (int n in new[] { 1 << 18, (1 << 18) + 1, 1_000_003, (1 << 20) + 4097 })
        {
            var x = (Torch.Randn([n], generator: new Generator(n)) + 0.5).To(dtype);
            var alone = Bits(Torch.Stack([x, x]).Sum(1))[0];
            foreach (int threads in new[] { 1, 2, 3 })
                Assert.True(alone == WithThreads(threads, () => Bits(x.Sum())[0]), $"Sum() of {n} values with {threads} threads");
        }
        var m = (Torch.Randn([5000, 300], generator: new Generator(9)) + 0.5).To(dtype);
        var columns = Bits(Torch.Stack([m, m]).Sum(1))[..300];
        foreach (int threads in new[] { 1, 2, 3 })
            Assert.Equal(columns, WithThreads(threads, () => Bits(m.Sum(0))));
    }
}
