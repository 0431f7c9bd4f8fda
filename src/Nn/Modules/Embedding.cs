namespace MiniGrad.Nn;

/// <summary>A lookup table of num_embeddings vectors (torch.nn.Embedding), initialized from N(0, 1) as in PyTorch.</summary>
public sealed class Embedding : Module, ITensorModule
{
    /// <summary>Creates the table; the generator (default: Torch's) draws the initial vectors.</summary>
    public Embedding(int numEmbeddings, int embeddingDim, DType dtype = DType.Float32, Generator? generator = null)
    {
        Check.Positive("Embedding", nameof(numEmbeddings), numEmbeddings);
        Check.Positive("Embedding", nameof(embeddingDim), embeddingDim);
        Check.Floating("Embedding", dtype);
        Weight = RegisterParameter("weight", new Parameter(Torch.Randn([numEmbeddings, embeddingDim], dtype, generator: generator)))!;
    }

    /// <summary>The (num_embeddings, embedding_dim) table.</summary>
    public Parameter Weight { get; }

    /// <summary>Looks up integer indices of any shape; the result has shape indices.Shape + [embedding_dim].</summary>
    public Tensor Forward(Tensor indices) => Call(indices, indices => Functional.Embedding(indices, Weight));

    /// <inheritdoc/>
    protected override string Describe() => $"Embedding({Weight.Size(0)}, {Weight.Size(1)})";
}
