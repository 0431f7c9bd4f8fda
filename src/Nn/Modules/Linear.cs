namespace MiniGrad.Nn;

/// <summary>y = x W^T + b over the last dim (torch.nn.Linear); W is (out, in), both drawn from U(-1/sqrt(in), 1/sqrt(in)) as in PyTorch.</summary>
public sealed class Linear : Module, ITensorModule
{
    /// <summary>Creates the layer; the generator (default: Torch's) draws the initial weights.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        Check.Positive("Linear", nameof(inFeatures), inFeatures);
        Check.Positive("Linear", nameof(outFeatures), outFeatures);
        Check.Floating("Linear", dtype);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        double bound = 1 / Math.Sqrt(inFeatures);
        Weight = RegisterParameter("weight", Init.UniformParameter([outFeatures, inFeatures], bound, dtype, generator))!;
        Bias = RegisterParameter("bias", bias ? Init.UniformParameter([outFeatures], bound, dtype, generator) : null);
    }

    /// <summary>Size of each input's last dim.</summary>
    public int InFeatures { get; }
    /// <summary>Size of each output's last dim.</summary>
    public int OutFeatures { get; }
    /// <summary>The (out, in) weight.</summary>
    public Parameter Weight { get; }
    /// <summary>The (out) bias, or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>Maps (..., in) to (..., out).</summary>
    public Tensor Forward(Tensor x) => Call(x, x => Functional.Linear(x, Weight, Bias));

    /// <inheritdoc/>
    protected override string Describe() => $"Linear({InFeatures}, {OutFeatures}, bias={(Bias is null ? "False" : "True")})";
}
