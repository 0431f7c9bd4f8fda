using MiniGrad.Nn;
using MiniGrad.Tests.Foundation;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>Bad arguments fail before any work with a message naming the module, the argument, the value and what was expected.</summary>
public class ModuleErrorTests
{
    [Fact]
    public void NonPositiveSizes()
    {
        H.Throws<ArgumentOutOfRangeException>(() => new Linear(0, 3), "Linear:", "inFeatures", "positive", "0");
        H.Throws<ArgumentOutOfRangeException>(() => new Linear(3, -2), "Linear:", "outFeatures", "-2");
        H.Throws<ArgumentOutOfRangeException>(() => new Lstm(4, 0), "Lstm:", "hiddenSize", "0");
        H.Throws<ArgumentOutOfRangeException>(() => new Lstm(-1, 3), "Lstm:", "inputSize", "-1");
        H.Throws<ArgumentOutOfRangeException>(() => new Lstm(4, 3, numLayers: 0), "Lstm:", "numLayers", "0");
        H.Throws<ArgumentOutOfRangeException>(() => new LstmCell(4, 0), "LstmCell:", "hiddenSize");
        H.Throws<ArgumentOutOfRangeException>(() => new Embedding(0, 3), "Embedding:", "numEmbeddings");
    }

    [Fact]
    public void DropoutOutsideZeroOne()
    {
        H.Throws<ArgumentOutOfRangeException>(() => new Lstm(4, 3, 2, dropout: 1.5), "Lstm:", "dropout", "1.5", "[0, 1]");
        H.Throws<ArgumentOutOfRangeException>(() => new Dropout(-0.1), "Dropout:", "p", "-0.1", "[0, 1]");
        H.Throws<ArgumentOutOfRangeException>(() => new Dropout(double.NaN), "Dropout:", "NaN");
    }

    [Fact]
    public void IntegerParameterDType() =>
        H.Throws<ArgumentException>(() => new Lstm(4, 3, dtype: DType.Int64), "Lstm:", "Int64", "Float32 or Float64");

    [Fact]
    public void LstmInputRankAndSize()
    {
        var lstm = new Lstm(4, 3);
        H.Throws<ArgumentException>(() => lstm.Forward(Torch.Randn(5, 2, 3)), "Lstm:", "input", "[5,2,3]", "input_size = 4");
        H.Throws<ArgumentException>(() => lstm.Forward(Torch.Randn(2, 5, 2, 4)), "Lstm:", "[2,5,2,4]", "3-D", "2-D");
        H.Throws<ArgumentException>(() => lstm.Forward(Torch.Randn(4)), "Lstm:", "[4]");
        H.Throws<ArgumentException>(() => lstm.Forward(Torch.Zeros([0, 2, 4])), "Lstm:", "[0,2,4]", "at least one time step");
        H.Throws<ArgumentException>(() => lstm.Forward(Torch.Randn([5, 2, 4], DType.Float64)), "Lstm:", "input", "Float64", "Float32");
    }

    [Fact]
    public void LstmStateShapes()
    {
        var lstm = new Lstm(4, 3, 2, bidirectional: true);
        var x = Torch.Randn(5, 2, 4);
        H.Throws<ArgumentException>(() => lstm.Forward(x, (Torch.Zeros(2, 2, 3), Torch.Zeros(4, 2, 3))), "Lstm:", "state.H", "[2,2,3]", "expected [4,2,3]");
        H.Throws<ArgumentException>(() => lstm.Forward(x, (Torch.Zeros(4, 2, 3), Torch.Zeros(4, 1, 3))), "Lstm:", "state.C", "[4,1,3]", "expected [4,2,3]");
        H.Throws<ArgumentException>(() => lstm.Forward(x.Select(1, 0), (Torch.Zeros(4, 2, 3), Torch.Zeros(4, 2, 3))), "Lstm:", "state.H", "expected [4,3]");
        H.Throws<ArgumentNullException>(() => lstm.Forward(x, (Torch.Zeros(4, 2, 3), null!)), "Lstm:", "state.C", "null");
    }

    [Fact]
    public void LstmCellInputAndState()
    {
        var cell = new LstmCell(4, 3);
        H.Throws<ArgumentException>(() => cell.Forward(Torch.Randn(2, 5)), "LstmCell:", "input", "[2,5]", "input_size = 4");
        H.Throws<ArgumentException>(() => cell.Forward(Torch.Randn(2, 4), (Torch.Zeros(2, 3), Torch.Zeros(3, 3))), "LstmCell:", "state.C", "[3,3]", "[2,3]");
    }

    [Fact]
    public void LinearAndEmbeddingInputs()
    {
        H.Throws<ArgumentException>(() => new Linear(4, 2).Forward(Torch.Randn(3, 5)), "Linear:", "input", "[3,5]", "in_features = 4");
        H.Throws<ArgumentException>(() => Functional.Linear(Torch.Randn(3, 4), Torch.Randn(2, 4), Torch.Randn(3)), "Linear:", "bias", "[3]", "[2]");
        var emb = new Embedding(5, 2);
        H.Throws<ArgumentOutOfRangeException>(() => emb.Forward(Torch.Tensor(new long[] { 1, 7 })), "Embedding:", "index 7", "num_embeddings = 5");
        H.Throws<ArgumentException>(() => emb.Forward(Torch.Randn(3)), "Embedding:", "indices", "Float32", "Int64");
    }

    [Fact]
    public void SequentialNeedsModules() =>
        H.Throws<ArgumentException>(() => new Sequential(new Linear(2, 2), new NotAModule()), "Sequential:", "entry 1", "NotAModule", "Module");

    [Fact]
    public void SequentialIndicesCountFromTheEndWhenNegative()
    {
        // Indices as PyTorch's: negative ones count from the end; out of range names the index and the range.
        var seq = new Sequential(new Linear(2, 3), new Relu());
        Assert.IsType<Relu>(seq[-1]);
        Assert.IsType<Linear>(seq[-2]);
        Assert.Same(seq[0], seq[-2]);
        H.Throws<ArgumentOutOfRangeException>(() => _ = seq[2], "Sequential:", "index 2", "-2 <= index < 2");
        H.Throws<ArgumentOutOfRangeException>(() => _ = seq[-3], "index -3");
    }

    sealed class NotAModule : ITensorModule
    {
        public Tensor Forward(Tensor x) => x;
    }
}
