namespace MiniGrad.Nn;

/// <summary>
/// A lookup table of num_embeddings vectors (torch.nn.Embedding), initialized from N(0, 1) as in PyTorch. With a
/// paddingIdx that row starts at zeros and gets no gradient (the padding of a batch of token sequences), as in PyTorch.
/// </summary>
public sealed class Embedding : Module, ITensorModule
{
    /// <summary>Creates the table; the generator (default: Torch's) draws the initial vectors. paddingIdx (negative counts
    /// from the end) marks the row that padding indices pick: zeros, never updated.</summary>
    public Embedding(int numEmbeddings, int embeddingDim, DType dtype = DType.Float32, Generator? generator = null, int? paddingIdx = null)
    {
        Check.Positive("Embedding", nameof(numEmbeddings), numEmbeddings);
        Check.Positive("Embedding", nameof(embeddingDim), embeddingDim);
        Check.Floating("Embedding", dtype);
        PaddingIdx = Functional.PaddingIndex("Embedding", paddingIdx, numEmbeddings);
        var table = Torch.Randn([numEmbeddings, embeddingDim], dtype, generator: generator);
        if (PaddingIdx is int pad) using (Torch.NoGrad()) table = Torch.Cat([table.Narrow(0, 0, pad), Torch.Zeros([1, embeddingDim], dtype), table.Narrow(0, pad + 1, numEmbeddings - pad - 1)]);
        Weight = RegisterParameter("weight", new Parameter(table))!;
    }

    /// <summary>A table over a copy of given vectors (FromPretrained).</summary>
    Embedding(Tensor table, bool freeze, int? paddingIdx)
    {
        PaddingIdx = Functional.PaddingIndex("Embedding.FromPretrained", paddingIdx, table.Size(0));
        Weight = RegisterParameter("weight", new Parameter(table.Detach().Clone()) { RequiresGrad = !freeze })!;
    }

    /// <summary>
    /// A table made from given vectors (torch.nn.Embedding.from_pretrained): a copy of embeddings (num_embeddings,
    /// embedding_dim), frozen (no gradient) unless <paramref name="freeze"/> is false; paddingIdx as in the constructor,
    /// without zeroing its row.
    /// </summary>
    public static Embedding FromPretrained(Tensor embeddings, bool freeze = true, int? paddingIdx = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.Rank != 2 || embeddings.Size(0) == 0 || embeddings.Size(1) == 0 || !embeddings.DType.IsFloating())
            throw new ArgumentException($"Embedding.FromPretrained: embeddings is a {embeddings.DType} tensor of shape {Shapes.Format(embeddings.Shape)}; expected a non-empty 2-D floating tensor (num_embeddings, embedding_dim)", nameof(embeddings));
        return new Embedding(embeddings, freeze, paddingIdx);
    }

    /// <summary>The (num_embeddings, embedding_dim) table.</summary>
    public Parameter Weight { get; }

    /// <summary>The padding row (non-negative), or null.</summary>
    public int? PaddingIdx { get; }

    /// <summary>Looks up integer indices of any shape; the result has shape indices.Shape + [embedding_dim].</summary>
    public Tensor Forward(Tensor indices) => Call(indices, indices => Functional.Embedding(indices, Weight, PaddingIdx));

    /// <inheritdoc/>
    protected override string Describe() => $"Embedding({Weight.Size(0)}, {Weight.Size(1)}{(PaddingIdx is int p ? $", padding_idx={p}" : "")})";
}
