namespace MiniGrad.Nn;

// The layers' stateless forms (torch.nn.functional); the modules hold parameters and call these.
public static partial class Functional
{
    /// <summary>input @ weight^T + bias over the last dim of input (torch.nn.functional.linear); weight is (out, in).</summary>
    public static Tensor Linear(Tensor input, Tensor weight, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 2) throw new ArgumentException($"Linear: weight must be 2-D (out_features, in_features), but has shape {Shapes.Format(weight.Shape)}", nameof(weight));
        int inF = weight.Size(1), outF = weight.Size(0);
        if (input.Rank == 0 || input.Size(-1) != inF)
            throw new ArgumentException($"Linear: input has shape {Shapes.Format(input.Shape)}, but in_features = {inF}: expected the last dimension to be {inF}", nameof(input));
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != outF))
            throw new ArgumentException($"Linear: bias has shape {Shapes.Format(bias.Shape)}, expected [{outF}]", nameof(bias));
        CheckLike("Linear", "input", input, weight);
        // Fold the leading dims into rows: one GEMM forward, and one GEMM per gradient in the backward.
        var y = MatMulFn.Apply(input.Reshape(Shapes.Numel(input.Shape[..^1]), inF), weight, false, true); // rows given, not -1: in_features may be 0
        if (bias is not null) y += bias;
        return y.Reshape([.. input.Shape[..^1], outF]);
    }

    /// <summary>Zeroes elements with probability p and scales the rest by 1/(1-p) when training (torch.nn.functional.dropout).</summary>
    public static Tensor Dropout(Tensor input, double p = 0.5, bool training = true, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Dropout(p, training, generator);
    }

    /// <summary>Rows of weight (num_embeddings, dim) picked by integer indices of any shape; the result has shape
    /// indices.Shape + [dim]. Where an index equals paddingIdx (negative counts from the end) its row is returned as it is
    /// but gets no gradient, as in PyTorch.</summary>
    public static Tensor Embedding(Tensor indices, Tensor weight, int? paddingIdx = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 2) throw new ArgumentException($"Embedding: weight must be 2-D (num_embeddings, embedding_dim), but has shape {Shapes.Format(weight.Shape)}", nameof(weight));
        if (indices.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"Embedding: indices must be Int64 or Int32, but dtype is {indices.DType}", nameof(indices));
        int n = weight.Size(0);
        foreach (var v in indices.ToArray<long>())
            if (v < 0 || v >= n) throw new ArgumentOutOfRangeException(nameof(indices), v, $"Embedding: index {v} is out of range: expected 0 <= index < num_embeddings = {n}");
        int? pad = PaddingIndex("Embedding", paddingIdx, n);
        var flat = indices.Reshape(-1);
        var rows = weight.IndexSelect(0, flat);
        if (pad is int p && weight.RequiresGrad && Autograd.IsGradEnabled) // the same values, without a path back from the padding rows
            rows = Torch.Where(flat.Eq(p).Reshape(-1, 1), rows.Detach(), rows);
        return rows.Reshape([.. indices.Shape, weight.Size(1)]);
    }

    /// <summary>paddingIdx checked against num_embeddings (-n &lt;= idx &lt; n) and made non-negative; null stays null.</summary>
    internal static int? PaddingIndex(string op, int? paddingIdx, int numEmbeddings) =>
        paddingIdx is not int p ? null
        : p >= -numEmbeddings && p < numEmbeddings ? (p < 0 ? p + numEmbeddings : p)
        : throw new ArgumentOutOfRangeException(nameof(paddingIdx), p, $"{op}: paddingIdx = {p} is out of range; expected -{numEmbeddings} <= paddingIdx < num_embeddings = {numEmbeddings}");

    /// <summary>Throws unless x has the parameter's dtype and device (naming the op and the argument).</summary>
    internal static void CheckLike(string op, string arg, Tensor x, Tensor parameter)
    {
        if (x.DType != parameter.DType)
            throw new ArgumentException($"{op}: {arg} has dtype {x.DType}, but the parameters are {parameter.DType}; convert with To(DType.{parameter.DType}) or build the module with dtype: DType.{x.DType}", arg);
        if (x.Device != parameter.Device)
            throw new ArgumentException($"{op}: {arg} is on {x.Device}, but the parameters are on {parameter.Device}; move it with To(device)", arg);
    }
}
