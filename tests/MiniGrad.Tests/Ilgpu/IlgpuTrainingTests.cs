using MiniGrad.Backends.Ilgpu;
using MiniGrad.Nn;

namespace MiniGrad.Tests.Ilgpu;

/// <summary>Training on ILGPU: parity with the CPU backend over 20 Adam steps, no device-memory growth over 1,000 steps, disposal.</summary>
[Collection("Ilgpu")]
public class IlgpuTrainingTests
{
    sealed class TinyModel
    {
        public readonly Lstm Lstm;
        public readonly Linear Out;
        public TinyModel(int features, int hidden, int classes)
        {
            Lstm = new Lstm(features, hidden, generator: new Generator(21));
            Out = new Linear(hidden, classes, generator: new Generator(22));
        }
        public IEnumerable<Parameter> Parameters() => Lstm.Parameters().Concat(Out.Parameters());
        public void To(Device d) { Lstm.To(d); Out.To(d); }
        public Tensor LogProbs(Tensor x) => Out.Forward(Lstm.Forward(x).Output).LogSoftmax(2);
    }

    const int T = 8, N = 2, F = 3, Hd = 5, C = 4;

    static double[] Train(Device device, int steps, Func<Tensor, Tensor> loss)
    {
        var m = new TinyModel(F, Hd, C);
        m.To(device);
        var opt = new Adam(m.Parameters(), lr: 0.01);
        var x = Torch.Randn([T, N, F], DType.Float32, generator: new Generator(23)).To(device);
        var losses = new double[steps];
        for (int s = 0; s < steps; s++)
        {
            opt.ZeroGrad();
            var l = loss(m.LogProbs(x));
            l.Backward();
            opt.Step();
            losses[s] = l.Item<double>();
        }
        return losses;
    }

    static Tensor Ctc(Tensor lp) => Functional.CtcLoss(lp, Torch.Tensor(new long[] { 1, 2, 3, 3, 1, 0 }, N, 3), [T, T - 2], [3, 2]);

    // Frame-wise negative log-likelihood through Gather: the same model without the CTC primitive.
    static Tensor FrameNll(Tensor lp)
    {
        var labels = Torch.Tensor(Enumerable.Range(0, T * N).Select(i => (long)(i * 7 % C)).ToArray(), T, N, 1).To(lp.Device);
        return -lp.Gather(2, labels).Mean();
    }

    static void AssertParity(double[] cpu, double[] dev, string what)
    {
        for (int i = 0; i < cpu.Length; i++)
            Assert.True(Math.Abs(cpu[i] - dev[i]) <= 1e-4 * Math.Abs(cpu[i]), $"{what} step {i}: cpu {cpu[i]:R}, ilgpu {dev[i]:R}");
        Assert.True(cpu[^1] < cpu[0], $"{what}: the loss should fall over training ({cpu[0]} -> {cpu[^1]})");
    }

    [Fact]
    public void LstmCtcAdam_20Steps_SameLossesOnCpuAndIlgpu()
    {
        var cpu = Train(Device.Cpu, 20, Ctc);
        var dev = Train(IG.Dev, 20, Ctc);
        AssertParity(cpu, dev, "LSTM + Linear + LogSoftmax + CTC");
    }

    [Fact]
    public void LstmFrameNllAdam_20Steps_SameLossesOnCpuAndIlgpu()
    {
        var cpu = Train(Device.Cpu, 20, FrameNll);
        var dev = Train(IG.Dev, 20, FrameNll);
        AssertParity(cpu, dev, "LSTM + Linear + LogSoftmax + frame NLL");
    }

    [Fact]
    public void ThousandSteps_NoGrowthInDeviceBuffers()
    {
        var b = IG.Backend;
        var w = Torch.Randn([4, 3], DType.Float32, IG.Dev, generator: new Generator(31)).RequiresGrad_();
        var x = Torch.Randn([6, 4], DType.Float32, IG.Dev, generator: new Generator(32));
        var target = Torch.Tensor(new long[] { 0, 1, 2, 0, 1, 2 }, 6, 1).To(IG.Dev);
        void Step()
        {
            var loss = -x.MatMul(w).Tanh().LogSoftmax(1).Gather(1, target).Mean();
            loss.Backward();
            using (Torch.NoGrad()) w.Copy_(w - w.Grad! * 0.1);
            w.ZeroGrad();
            _ = loss.Item<float>();
        }
        static void Collect() { GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); }
        long threshold = b.CollectThresholdBytes;
        b.CollectThresholdBytes = 256 << 10; // small tensors: let the pool's GC policy act within the test
        try
        {
            for (int i = 0; i < 50; i++) Step();
            Collect();
            int live0 = b.LiveBuffers;
            long bytes0 = b.AllocatedBytes;
            for (int i = 0; i < 1000; i++) Step();
            Collect();
            Assert.True(b.LiveBuffers <= live0, $"live device buffers grew from {live0} to {b.LiveBuffers} over 1,000 steps");
            Assert.True(b.AllocatedBytes <= bytes0 + 2 * b.CollectThresholdBytes,
                $"device memory grew from {bytes0} to {b.AllocatedBytes} bytes over 1,000 steps");
        }
        finally { b.CollectThresholdBytes = threshold; }
    }

    [Fact]
    public void Dispose_FreesAllDeviceMemory()
    {
        var b = new IlgpuBackend(IG.Dev);
        var x = b.FromArray(new float[] { 1, 2, 3, 4 }, [2, 2]);
        var y = b.MatMul(x, x, false, true);
        Assert.Equal(new float[] { 5, 11, 11, 25 }, (float[])b.ToArray(y));
        Assert.True(b.AllocatedBuffers >= 2 && b.AllocatedBytes > 0);
        b.Dispose();
        Assert.Equal(0, b.AllocatedBuffers);
        Assert.Equal(0, b.AllocatedBytes);
        Assert.Equal(0, b.LiveBuffers);
        Assert.Throws<ObjectDisposedException>(() => b.Full([2], DType.Float32, 1));
    }
}
