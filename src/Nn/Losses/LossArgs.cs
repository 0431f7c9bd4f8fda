namespace MiniGrad.Nn;

/// <summary>
/// Argument checks shared by the losses, all made before any work (messages name the loss, the argument, the value and
/// what was expected), and the host-side preparation of class-index targets.
/// </summary>
static class LossArgs
{
    public static void Reduction(string op, Reduction reduction)
    {
        if (!Enum.IsDefined(reduction))
            throw new ArgumentOutOfRangeException(nameof(reduction), reduction, $"{op}: reduction = {(int)reduction} is not a Reduction; expected None, Mean or Sum");
    }

    public static void FloatingInput(string op, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.DType.IsFloating())
            throw new ArgumentException($"{op}: input must be Float32 or Float64, but dtype is {input.DType}; convert with To(DType.Float32)", nameof(input));
    }

    /// <summary>A tensor that must match the input's shape, dtype and device (targets of MSE and BCE, probability targets).</summary>
    public static void SameAsInput(string op, string arg, Tensor input, Tensor t, string what)
    {
        ArgumentNullException.ThrowIfNull(t, arg);
        if (!Shapes.Equal(t.Shape, input.Shape))
            throw new ArgumentException($"{op}: {arg} ({what}) has shape {Shapes.Format(t.Shape)}, but input has shape {Shapes.Format(input.Shape)}; expected the same shape", arg);
        Like(op, arg, input, t);
    }

    /// <summary>dtype and device must be the input's.</summary>
    public static void Like(string op, string arg, Tensor input, Tensor t)
    {
        if (t.DType != input.DType)
            throw new ArgumentException($"{op}: {arg} has dtype {t.DType}, but input is {input.DType}; expected the input's dtype (convert with To(DType.{input.DType}))", arg);
        if (t.Device != input.Device)
            throw new ArgumentException($"{op}: {arg} is on {t.Device}, but input is on {input.Device}; move it with To(device)", arg);
    }

    /// <summary>An optional tensor that must broadcast to the input's shape without growing it (BCE's weight and posWeight).</summary>
    public static void BroadcastsTo(string op, string arg, Tensor input, Tensor? t)
    {
        if (t is null) return;
        Like(op, arg, input, t);
        bool ok = t.Rank <= input.Rank;
        for (int i = 1; ok && i <= t.Rank; i++) ok = t.Shape[^i] == 1 || t.Shape[^i] == input.Shape[^i];
        if (!ok) throw new ArgumentException($"{op}: {arg} has shape {Shapes.Format(t.Shape)}, which does not broadcast to the input's shape {Shapes.Format(input.Shape)}", arg);
    }

    /// <summary>The class-weight vector: null, or 1-D with C entries of the input's dtype and device.</summary>
    public static void ClassWeight(string op, Tensor input, Tensor? weight, int classes)
    {
        if (weight is null) return;
        if (weight.Rank != 1 || weight.Size(0) != classes)
            throw new ArgumentException($"{op}: weight has shape {Shapes.Format(weight.Shape)}, but the input has C = {classes} classes; expected shape [{classes}]", nameof(weight));
        Like(op, "weight", input, weight);
    }

    public static void LabelSmoothing(string op, double labelSmoothing)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, $"{op}: labelSmoothing = {labelSmoothing} is outside [0, 1]; expected 0 <= labelSmoothing <= 1");
    }

    /// <summary>The input's class count, checking its rank: (C) unbatched, or (N, C, d1, ...) with classes on dim 1.</summary>
    public static int Classes(string op, Tensor input)
    {
        if (input.Rank == 0)
            throw new ArgumentException($"{op}: input is 0-d; expected (C), (N, C) or (N, C, d1, ...)", nameof(input));
        return input.Size(input.Rank == 1 ? 0 : 1);
    }

    /// <summary>
    /// Class-index targets read on the host and checked: the shape must be the input's without the class dim, every value
    /// in [0, C) or equal to ignoreIndex. Returns the gather index (the item shape with a 1 on dim 1; ignored items
    /// point at class 0), each item's weight negated (-weight[target], 0 if ignored), the not-ignored mask (Keep, Bool;
    /// the fused path does not use it), and the sum of the non-ignored items' weights (the mean's divisor).
    /// </summary>
    public static ClassTargets Indices(string op, Tensor input, Tensor target, Tensor? weight, long ignoreIndex)
    {
        int C = Classes(op, input);
        var want = input.Rank == 1 ? [] : input.Shape.Where((_, i) => i != 1).ToArray();
        if (!Shapes.Equal(target.Shape, want))
            throw new ArgumentException($"{op}: target (class indices) has shape {Shapes.Format(target.Shape)}, but input has shape {Shapes.Format(input.Shape)}; expected {Shapes.Format(want)}, the input's shape without the class dim", nameof(target));
        if (target.Device != input.Device)
            throw new ArgumentException($"{op}: target is on {target.Device}, but input is on {input.Device}; move it with To(device)", nameof(target));
        var t = target.ToArray<long>();
        var w = weight?.ToArray<double>();
        var index = new long[t.Length];
        var negW = new double[t.Length];
        var keep = new bool[t.Length];
        double total = 0;
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if (t[i] < 0 || t[i] >= C)
                throw new ArgumentOutOfRangeException(nameof(target), t[i],
                    $"{op}: target{At(want, i)} = {t[i]} is out of range: expected a class index in [0, C) = [0, {C}) or ignoreIndex = {ignoreIndex}");
            index[i] = t[i];
            double wi = w?[t[i]] ?? 1;
            negW[i] = -wi;
            total += wi;
            keep[i] = true;
        }
        // Batched views: (N, 1, d1, ...) lines up with the (N, C, d1, ...) input for gather and broadcasting.
        int[] gatherShape = input.Rank == 1 ? [1, 1] : [want[0], 1, .. want[1..]];
        var device = input.Device;
        Tensor Put(double[] v) => Torch.Tensor(v, gatherShape).To(input.DType).To(device);
        return new ClassTargets(Torch.Tensor(index, gatherShape).To(device), Put(negW), Torch.Tensor(keep, gatherShape).To(device), total, want);
    }

    /// <summary>"[i, j]" for flat index i of shape (or "" for a 0-d target).</summary>
    static string At(int[] shape, int flat)
    {
        if (shape.Length == 0) return "";
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--) { idx[d] = flat % shape[d]; flat /= shape[d]; }
        return "[" + string.Join(", ", idx) + "]";
    }

    /// <summary>Applies the reduction to per-item losses; mean divides by divisor, PyTorch's 0 / 0 = NaN (with a zero gradient) when it is 0.</summary>
    public static Tensor Reduce(Tensor perItem, Reduction reduction, double divisor) => reduction switch
    {
        Nn.Reduction.None => perItem,
        Nn.Reduction.Sum => perItem.Sum(),
        _ => divisor != 0 ? perItem.Sum() / divisor : perItem.Sum() * 0.0 + double.NaN,
    };
}

/// <summary>Prepared class-index targets (see <see cref="LossArgs.Indices"/>); tensors on the input's device.</summary>
sealed record ClassTargets(Tensor Index, Tensor NegWeight, Tensor Keep, double Total, int[] ItemShape)
{
    /// <summary>v where the item is not ignored, else 0: PyTorch leaves ignored items out (an ignored item's -inf or NaN
    /// times a weight of 0 would be NaN), and no gradient reaches them.</summary>
    public Tensor Kept(Tensor v) => Torch.Where(Keep, v, 0);
}
