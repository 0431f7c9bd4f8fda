namespace MiniGrad.Tests.Foundation;

// Results never depend on thread count, scheduling or memory placement: the same inputs give bit-identical outputs.
// Each check recomputes from a fresh copy of the input (a new array, so a different address and alignment) while
// other threads keep the pool busy, and compares the bits.
public class DeterminismTests
{
    static Tensor Copy(Tensor t) => t.DType == DType.Float32
        ? Torch.Tensor(t.ToArray<float>(), t.Shape)
        : Torch.Tensor(t.ToArray<double>(), t.Shape);

    static void BitIdentical(Tensor input, Func<Tensor, Tensor> f)
    {
        var first = f(input);
        var padding = new List<byte[]>();
        for (int run = 0; run < 3; run++)
        {
            padding.Add(new byte[8 * run + 4]); // shifts where the next arrays land
            Tensor again;
            using (var busy = new CancellationTokenSource())
            {
                var noise = Task.Run(() => { while (!busy.IsCancellationRequested) Thread.SpinWait(100); });
                again = f(Copy(input));
                busy.Cancel();
                noise.Wait();
            }
            if (first.DType == DType.Float32)
                Assert.Equal(first.ToArray<float>().Select(BitConverter.SingleToInt32Bits), again.ToArray<float>().Select(BitConverter.SingleToInt32Bits));
            else
                Assert.Equal(first.ToArray<double>().Select(BitConverter.DoubleToInt64Bits), again.ToArray<double>().Select(BitConverter.DoubleToInt64Bits));
        }
        GC.KeepAlive(padding);
    }

    [Fact]
    public void LayerNormGradientsDoNotDependOnTheCoreCount()
    {
        // The weight and bias gradients are column sums over row slabs that the cores share; 100 columns leave a scalar
        // tail at every width. Run with all cores and inside one of two parts (half the cores each), compare the bits.
        var b = Device.Cpu.Backend;
        RawTensor R(int seed, params int[] shape) => Torch.Randn(shape, generator: new Generator(seed)).Raw;
        var (x, dy, w, bias) = (R(4, 2000, 100), R(5, 2000, 100), R(6, 100), R(7, 100));
        float[][] Run()
        {
            var (y, mean, rstd) = b.LayerNorm(x, 100, w, bias, 1e-5);
            var (dx, dw, db) = b.LayerNormBackward(dy, x, mean, rstd, w, 100, affineGrads: true);
            return [.. new[] { y, dx, dw!, db! }.Select(t => ((float[])b.ToArray(t)))];
        }
        SameBitsOnAllCoresAndOnHalf(Run);
    }

    /// <summary>Runs a backend computation with all cores and inside each of two parts (half the cores each): the same bits.</summary>
    static void SameBitsOnAllCoresAndOnHalf(Func<float[][]> run)
    {
        var all = run();
        var half = new float[2][][];
        Device.Cpu.Backend.RunParts(2, i => half[i] = run());
        foreach (var h in half)
            for (int k = 0; k < all.Length; k++)
                Assert.Equal(all[k].Select(BitConverter.SingleToInt32Bits), h[k].Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData(16, 1, 2)]
    [InlineData(3, 2, 2)]
    [InlineData(1, 1, 2)]
    [InlineData(16, 1, 1)]
    [InlineData(3, 2, 1)]
    public void Conv1dDoesNotDependOnTheCoreCount(int batch, int groups, int stride)
    {
        // The items are split over the cores (or, fewer items than cores, each GEMM is), dW and db by rows; K = 40 * 7 = 280
        // taps is more than one GEMM k block. Stride 1 goes by Winograd's transforms (dW summed in slabs of the batch).
        // Run with all cores and inside one of two parts (half the cores each).
        var b = Device.Cpu.Backend;
        RawTensor R(int seed, params int[] shape) => Torch.Randn(shape, generator: new Generator(seed)).Raw;
        int lOut = stride == 1 ? 90 : 44; // padding 3 on the left, 3 or 2 on the right
        var (x, w, bias, dy) = (R(11, batch, 40, 90), R(12, 30, 40 / groups, 7), R(13, 30), R(14, batch, 30, lOut));
        float[][] Run()
        {
            var y = b.Conv1d(x, w, bias, stride, 1, 3, lOut, groups);
            var (dx, dw, db) = b.Conv1dBackward(dy, x, w, 90, stride, 1, 3, groups, inputGrad: true, biasGrad: true);
            return [.. new[] { y, dx!, dw!, db! }.Select(t => ((float[])b.ToArray(t)))];
        }
        SameBitsOnAllCoresAndOnHalf(Run);
    }

    [Fact]
    public void LargeSum()
    {
        var x = Torch.Randn([3_000_001], generator: new Generator(1));
        BitIdentical(x, t => t.Sum());
        BitIdentical(x, t => t.Mean());
        BitIdentical(x.To(DType.Float64), t => t.Sum());
    }

    [Fact]
    public void SumOverDims()
    {
        var x = Torch.Randn([300, 2000], generator: new Generator(2));
        BitIdentical(x, t => t.Sum(1));
        BitIdentical(x, t => t.Sum(0));
        BitIdentical(x, t => t.Max([0]));
    }

    [Fact]
    public void RowResultsDoNotDependOnHowRowsAreSplitAcrossThreads()
    {
        // The batched call splits rows over the cores; each row alone runs on one thread: same bits.
        var x = Torch.Randn([64, 20_000], generator: new Generator(3));
        var sums = x.Sum(1).ToArray<float>();
        var lsm = x.LogSoftmax(1);
        for (int i = 0; i < 64; i += 9)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(sums[i]), BitConverter.SingleToInt32Bits(x.Select(0, i).Sum().Item<float>()));
            Assert.Equal(lsm.Select(0, i).ToArray<float>(), x.Select(0, i).LogSoftmax(0).ToArray<float>());
        }
    }

    [Fact]
    public void MatMul()
    {
        var a = Torch.Randn([257, 513], generator: new Generator(4));
        var b = Torch.Randn([513, 129], generator: new Generator(5));
        BitIdentical(a, t => t.MatMul(b));
        BitIdentical(b, t => a.MatMul(t));
        var a64 = a.To(DType.Float64);
        BitIdentical(a64, t => t.MatMul(b.To(DType.Float64)));
        BitIdentical(Torch.Randn([8, 65, 33], generator: new Generator(6)), t => t.MatMul(t.Transpose(1, 2)));
    }

    [Fact]
    public void LogSoftmaxAndSoftmax()
    {
        var x = Torch.Randn([50, 16, 3001], generator: new Generator(7));
        BitIdentical(x, t => t.LogSoftmax(2));
        BitIdentical(x, t => t.LogSoftmax(1));
        BitIdentical(x, t => t.Softmax(-1));
    }

    [Fact]
    public void Elementwise()
    {
        var x = Torch.Randn([1_000_003], generator: new Generator(8));
        BitIdentical(x, t => t.Exp());
        BitIdentical(x, t => t.Tanh() * t + 1.0);
    }

    [Fact]
    public void Gradients()
    {
        var x = Torch.Randn([40, 300], generator: new Generator(9));
        var w = Torch.Randn([300, 50], generator: new Generator(10));
        BitIdentical(x, t =>
        {
            var leaf = w.Detach().RequiresGrad_();
            t.MatMul(leaf).Tanh().LogSoftmax(1).Sum().Backward();
            return leaf.Grad!;
        });
    }

    [Fact]
    public void SeededRunsRepeat()
    {
        Tensor Run()
        {
            Torch.ManualSeed(123);
            var x = Torch.Randn(100, 200);
            return x.Dropout(0.3).MatMul(Torch.Randn(200, 10)).LogSoftmax(1);
        }
        Assert.Equal(Run().ToArray<float>(), Run().ToArray<float>());
    }
}
