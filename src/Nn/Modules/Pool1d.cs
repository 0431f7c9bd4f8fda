namespace MiniGrad.Nn;

/// <summary>Max over sliding windows of the last dim (torch.nn.MaxPool1d) of (N, C, L) or (C, L); the gradient goes to each window's first maximum.</summary>
public sealed class MaxPool1d : Module, ITensorModule
{
    /// <summary>Creates the layer; stride defaults to kernelSize, padding (at most kernelSize / 2) pads with -infinity.</summary>
    public MaxPool1d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        Conv1d.Positive("MaxPool1d", nameof(kernelSize), kernelSize);
        Conv1d.Positive("MaxPool1d", nameof(stride), stride ?? kernelSize);
        Conv1d.Positive("MaxPool1d", nameof(dilation), dilation);
        if (padding < 0 || padding > kernelSize / 2)
            throw new ArgumentException($"MaxPool1d: padding = {padding} is invalid for kernelSize = {kernelSize}; expected 0 <= padding <= kernelSize / 2 = {kernelSize / 2}", nameof(padding));
        KernelSize = kernelSize; Stride = stride ?? kernelSize; Padding = padding; Dilation = dilation; CeilMode = ceilMode;
    }

    /// <summary>Window length.</summary>
    public int KernelSize { get; }
    /// <summary>Step between windows.</summary>
    public int Stride { get; }
    /// <summary>-infinity padding on each side.</summary>
    public int Padding { get; }
    /// <summary>Spacing between window taps.</summary>
    public int Dilation { get; }
    /// <summary>Whether a last, partial window makes an output (ceil instead of floor).</summary>
    public bool CeilMode { get; }

    /// <summary>Pools the last dim.</summary>
    public Tensor Forward(Tensor x) => Call(x, x => Functional.MaxPool1d(x, KernelSize, Stride, Padding, Dilation, CeilMode));

    /// <inheritdoc/>
    protected override string Describe() => $"MaxPool1d(kernel_size={KernelSize}, stride={Stride}, padding={Padding}, dilation={Dilation}, ceil_mode={(CeilMode ? "True" : "False")})";
}

/// <summary>Mean over sliding windows of the last dim (torch.nn.AvgPool1d) of (N, C, L) or (C, L).</summary>
public sealed class AvgPool1d : Module, ITensorModule
{
    /// <summary>Creates the layer; stride defaults to kernelSize; padding (at most kernelSize / 2) adds zeros, counted in the mean when countIncludePad.</summary>
    public AvgPool1d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        Conv1d.Positive("AvgPool1d", nameof(kernelSize), kernelSize);
        Conv1d.Positive("AvgPool1d", nameof(stride), stride ?? kernelSize);
        if (padding < 0 || padding > kernelSize / 2)
            throw new ArgumentException($"AvgPool1d: padding = {padding} is invalid for kernelSize = {kernelSize}; expected 0 <= padding <= kernelSize / 2 = {kernelSize / 2}", nameof(padding));
        KernelSize = kernelSize; Stride = stride ?? kernelSize; Padding = padding; CeilMode = ceilMode; CountIncludePad = countIncludePad;
    }

    /// <summary>Window length.</summary>
    public int KernelSize { get; }
    /// <summary>Step between windows.</summary>
    public int Stride { get; }
    /// <summary>Zero padding on each side.</summary>
    public int Padding { get; }
    /// <summary>Whether a last, partial window makes an output (ceil instead of floor).</summary>
    public bool CeilMode { get; }
    /// <summary>Whether padding zeros count in the mean's divisor.</summary>
    public bool CountIncludePad { get; }

    /// <summary>Pools the last dim.</summary>
    public Tensor Forward(Tensor x) => Call(x, x => Functional.AvgPool1d(x, KernelSize, Stride, Padding, CeilMode, CountIncludePad));

    /// <inheritdoc/>
    protected override string Describe() => $"AvgPool1d(kernel_size=({KernelSize},), stride=({Stride},), padding=({Padding},))";
}
