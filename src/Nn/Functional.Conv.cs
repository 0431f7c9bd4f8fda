namespace MiniGrad.Nn;

// Conv1d and the 1-D pools, all over sliding windows (im2col): Conv1d is windows times weights, one GEMM per batch item
// fused with the windows and the bias in the backend (the backward: two GEMMs and col2im), the pools a max or mean over
// each window.
public static partial class Functional
{
    /// <summary>
    /// 1-D cross-correlation (torch.nn.functional.conv1d) of input (N, C_in, L) or unbatched (C_in, L) with weight
    /// (C_out, C_in / groups, kernel) plus bias (C_out); the output is (N, C_out, L_out) with
    /// L_out = (L + padLeft + padRight - dilation * (kernel - 1) - 1) / stride + 1. Output channel o sees the input channels of
    /// group o / (C_out / groups); groups = C_in is depthwise.
    /// </summary>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, Padding padding = default, int dilation = 1, int groups = 1)
    {
        const string op = "Conv1d";
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 3) throw new ArgumentException($"{op}: weight has shape {Shapes.Format(weight.Shape)}; expected 3 dims (out_channels, in_channels / groups, kernel_size)", nameof(weight));
        CheckStep(op, nameof(stride), stride);
        CheckStep(op, nameof(dilation), dilation);
        CheckStep(op, nameof(groups), groups);
        int outC = weight.Size(0), groupC = weight.Size(1), k = weight.Size(2);
        if (k == 0 || groupC == 0) throw new ArgumentException($"{op}: weight has shape {Shapes.Format(weight.Shape)}; expected a non-empty kernel and channel dim", nameof(weight));
        if (outC % groups != 0) throw new ArgumentException($"{op}: weight has {outC} output channels, which groups = {groups} does not divide; expected out_channels divisible by groups", nameof(groups));
        var (padLeft, padRight) = padding.Resolve(op, k, stride, dilation);
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}; expected 3 dims (N, C_in, L) or 2 dims (C_in, L) for unbatched input", nameof(input));
        if (input.Size(-2) != groupC * groups)
            throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)} with {input.Size(-2)} channels, but weight {Shapes.Format(weight.Shape)} with groups = {groups} expects {groupC * groups} input channels", nameof(input));
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != outC))
            throw new ArgumentException($"{op}: bias has shape {Shapes.Format(bias.Shape)}; expected [{outC}]", nameof(bias));
        CheckLike(op, nameof(input), input, weight);
        if (bias is not null) CheckLike(op, nameof(bias), bias, weight);
        int l = input.Size(-1), span = dilation * (k - 1) + 1;
        if (l + padLeft + padRight < span)
            throw new ArgumentException($"{op}: the padded input length {l + padLeft + padRight} (length {l}, padding {padLeft} + {padRight}) is shorter than the dilated kernel ({span}: kernel_size {k}, dilation {dilation}); expected at least {span}", nameof(input));
        int lOut = (l + padLeft + padRight - span) / stride + 1;

        var x = input.Rank == 2 ? input.Unsqueeze(0) : input;
        var y = Conv1dFn.Apply(x, weight, bias, stride, dilation, padLeft, lOut, groups);
        return input.Rank == 2 ? y.Squeeze(0) : y;
    }

    /// <summary>
    /// Max over sliding windows of the last dim (torch.nn.functional.max_pool1d) of input (N, C, L) or (C, L); stride defaults
    /// to kernelSize, padding (at most kernelSize / 2) pads with -infinity. The gradient goes to the first maximum of each window.
    /// </summary>
    public static Tensor MaxPool1d(Tensor input, int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        var (x, s, lOut) = PoolArgs("MaxPool1d", input, kernelSize, stride, padding, dilation, ceilMode);
        var y = Unfold1dFn.Apply(x, kernelSize, s, dilation, padding, lOut, double.NegativeInfinity).Max(2).Values;
        return input.Rank == 2 ? y.Squeeze(0) : y;
    }

    /// <summary>
    /// Mean over sliding windows of the last dim (torch.nn.functional.avg_pool1d) of input (N, C, L) or (C, L); stride defaults
    /// to kernelSize, padding (at most kernelSize / 2) adds zeros that count in the mean when countIncludePad is true, as in PyTorch.
    /// </summary>
    public static Tensor AvgPool1d(Tensor input, int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        var (x, s, lOut) = PoolArgs("AvgPool1d", input, kernelSize, stride, padding, 1, ceilMode);
        int l = x.Size(2);
        // PyTorch's divisor: the window clipped to the padded input, or (without the padding) to the input itself.
        var divisor = new double[lOut];
        for (int t = 0; t < lOut; t++)
        {
            int start = t * s - padding, end = Math.Min(start + kernelSize, l + padding);
            divisor[t] = countIncludePad ? end - start : Math.Min(end, l) - Math.Max(start, 0);
        }
        var d = Torch.Tensor(divisor, [lOut], x.Device).To(x.DType);
        var y = Unfold1dFn.Apply(x, kernelSize, s, 1, padding, lOut, 0).Sum(2) / d;
        return input.Rank == 2 ? y.Squeeze(0) : y;
    }

    static (Tensor X, int Stride, int LOut) PoolArgs(string op, Tensor input, int kernelSize, int? stride, int padding, int dilation, bool ceilMode)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckStep(op, nameof(kernelSize), kernelSize);
        int s = stride ?? kernelSize;
        CheckStep(op, nameof(stride), s);
        CheckStep(op, nameof(dilation), dilation);
        if (padding < 0 || padding > kernelSize / 2)
            throw new ArgumentException($"{op}: padding = {padding} is invalid for kernelSize = {kernelSize}; expected 0 <= padding <= kernelSize / 2 = {kernelSize / 2}", nameof(padding));
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}; expected 3 dims (N, C, L) or 2 dims (C, L) for unbatched input", nameof(input));
        if (!input.DType.IsFloating()) throw new ArgumentException($"{op}: input has dtype {input.DType}; expected Float32 or Float64", nameof(input));
        int l = input.Size(-1), span = dilation * (kernelSize - 1) + 1;
        // PyTorch's pooling_output_shape: with ceilMode a last, partial window counts if it starts inside the input or the left padding.
        int lOut = (int)Math.Floor((double)(l + 2 * padding - span + (ceilMode ? s - 1 : 0)) / s) + 1;
        if (ceilMode && (lOut - 1) * s >= l + padding) lOut--;
        if (lOut < 1)
            throw new ArgumentException($"{op}: input has shape {Shapes.Format(input.Shape)}, too short for kernelSize {kernelSize}, dilation {dilation}, padding {padding}: the output length would be {lOut}; expected at least 1", nameof(input));
        return (input.Rank == 2 ? input.Unsqueeze(0) : input, s, lOut);
    }

    static void CheckStep(string op, string arg, int value)
    {
        if (value <= 0) throw new ArgumentException($"{op}: {arg} = {value} is invalid; expected a positive number", arg);
    }
}
