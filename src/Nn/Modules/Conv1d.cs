namespace MiniGrad.Nn;

/// <summary>
/// 1-D convolution (torch.nn.Conv1d) over input (N, C_in, L) or unbatched (C_in, L), with zero padding. weight is
/// (out, in / groups, kernel) and bias (out), both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
/// fan_in = in / groups * kernel, PyTorch's kaiming-uniform default, so weights load by name from a PyTorch state_dict.
/// </summary>
public sealed class Conv1d : Module, ITensorModule
{
    readonly int padLeft, padRight;

    /// <summary>Creates the layer; padding is a number of zeros per side, "same" or "valid"; the generator (default: Torch's) draws the initial weights.</summary>
    public Conv1d(int inChannels, int outChannels, int kernelSize, int stride = 1, Padding padding = default, int dilation = 1, int groups = 1,
        bool bias = true, string paddingMode = "zeros", DType dtype = DType.Float32, Generator? generator = null)
    {
        const string op = "Conv1d";
        Positive(op, nameof(inChannels), inChannels);
        Positive(op, nameof(outChannels), outChannels);
        Positive(op, nameof(kernelSize), kernelSize);
        Positive(op, nameof(stride), stride);
        Positive(op, nameof(dilation), dilation);
        Positive(op, nameof(groups), groups);
        if (inChannels % groups != 0) throw new ArgumentException($"{op}: inChannels = {inChannels} is not divisible by groups = {groups}; expected inChannels divisible by groups", nameof(inChannels));
        if (outChannels % groups != 0) throw new ArgumentException($"{op}: outChannels = {outChannels} is not divisible by groups = {groups}; expected outChannels divisible by groups", nameof(outChannels));
        if (paddingMode != "zeros") throw new ArgumentException($"{op}: paddingMode = '{paddingMode}' is not supported; expected 'zeros'", nameof(paddingMode));
        (padLeft, padRight) = padding.Resolve(op, kernelSize, stride, dilation);
        Check.Floating(op, dtype);
        InChannels = inChannels; OutChannels = outChannels; KernelSize = kernelSize; Stride = stride; Padding = padding; Dilation = dilation; Groups = groups;
        double bound = 1 / Math.Sqrt(inChannels / groups * kernelSize);
        Weight = RegisterParameter("weight", Init.UniformParameter([outChannels, inChannels / groups, kernelSize], bound, dtype, generator))!;
        Bias = RegisterParameter("bias", bias ? Init.UniformParameter([outChannels], bound, dtype, generator) : null);
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Kernel taps.</summary>
    public int KernelSize { get; }
    /// <summary>Step between windows.</summary>
    public int Stride { get; }
    /// <summary>Padding as given (a number, "same" or "valid").</summary>
    public Padding Padding { get; }
    /// <summary>Spacing between kernel taps.</summary>
    public int Dilation { get; }
    /// <summary>Channel groups (InChannels for depthwise).</summary>
    public int Groups { get; }
    /// <summary>The (out, in / groups, kernel) weight.</summary>
    public Parameter Weight { get; }
    /// <summary>The (out) bias, or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>Maps (N, C_in, L) to (N, C_out, L_out), or (C_in, L) to (C_out, L_out).</summary>
    public Tensor Forward(Tensor x) => Call(x, x => Functional.Conv1d(x, Weight, Bias, Stride, Padding, Dilation, Groups));

    /// <summary>The zeros added on the left and the right ("same" with an even span pads one more on the right).</summary>
    public (int Left, int Right) PaddingAmounts => (padLeft, padRight);

    /// <inheritdoc/>
    protected override string Describe() =>
        $"Conv1d({InChannels}, {OutChannels}, kernel_size=({KernelSize},), stride=({Stride},)"
        + (Padding.Mode is null && Padding.Amount == 0 ? "" : $", padding={(Padding.Mode is null ? $"({Padding.Amount},)" : Padding.ToString())}")
        + (Dilation != 1 ? $", dilation=({Dilation},)" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (Bias is null ? ", bias=False" : "") + ")";

    internal static void Positive(string op, string arg, int value)
    {
        if (value <= 0) throw new ArgumentException($"{op}: {arg} = {value} is invalid; expected a positive number", arg);
    }
}
