namespace MiniGrad.Nn.Audio;

/// <summary>
/// SpecAugment masking (Park et al. 2019) with torchaudio's semantics (<c>torchaudio.functional.mask_along_axis</c>
/// and <c>mask_along_axis_iid</c>): along the chosen axis the indices [v0, v0 + v) are set to a value, where
/// v = floor(u1 * maxV) and v0 = trunc(u2 * (size - u1 * maxV)) for u1, u2 uniform in [0, 1) from a
/// <see cref="Generator"/>, and maxV = maskParam when p = 1, else min(maskParam, floor(size * p)). So a mask is at most
/// maskParam - 1 wide (and at most floor(size * p) - 1 when p &lt; 1) and never leaves the axis when maskParam &lt;= size;
/// a maskParam (or floor(size * p)) below 1 masks nothing and draws no random numbers. Masks are drawn as torchaudio
/// draws them: first every width, then every start.
/// </summary>
/// <remarks>
/// The tensor forms take spectrograms shaped (..., freq, time) like torchaudio and return a new tensor (differentiable,
/// on the input's device and dtype). The span forms mask, in place, the time-major features that <see cref="LogMel"/>
/// computes: row-major (frames, numMels); they draw exactly what the tensor form draws for the (numMels, frames)
/// spectrogram.
/// </remarks>
public static class SpecAugment
{
    /// <summary>
    /// One mask shared by every spectrogram of the batch: the result of torchaudio's <c>mask_along_axis</c>.
    /// </summary>
    /// <param name="specgram">Spectrograms (..., freq, time), at least 2-D.</param>
    /// <param name="maskParam">Widths are drawn from [0, maskParam); non-negative.</param>
    /// <param name="maskValue">The value written into the mask.</param>
    /// <param name="axis">Rank - 2 (frequency) or Rank - 1 (time); negative values count from the end.</param>
    /// <param name="p">At most this proportion of the axis is masked, in [0, 1].</param>
    /// <param name="generator">Source of the random numbers (default: <see cref="Torch.DefaultGenerator"/>).</param>
    public static Tensor MaskAlongAxis(Tensor specgram, int maskParam, double maskValue, int axis, double p = 1.0, Generator? generator = null) =>
        Mask(specgram, maskParam, maskValue, axis, p, generator, iid: false, "MaskAlongAxis");

    /// <summary>
    /// An independent mask for every spectrogram, i.e. every index of the dimensions before (freq, time): the result
    /// of torchaudio's <c>mask_along_axis_iid</c>. Arguments as <see cref="MaskAlongAxis"/>; specgram must be at least 3-D.
    /// </summary>
    public static Tensor MaskAlongAxisIid(Tensor specgram, int maskParam, double maskValue, int axis, double p = 1.0, Generator? generator = null) =>
        Mask(specgram, maskParam, maskValue, axis, p, generator, iid: true, "MaskAlongAxisIid");

    /// <summary>
    /// Masks, in place, time-major features: row-major (frames, numMels), as <see cref="LogMel.Compute(ReadOnlySpan{float})"/>
    /// returns them. <paramref name="timeAxis"/> true masks whole frames (time masking), false whole bands
    /// (frequency masking). Same draws as <see cref="MaskAlongAxis"/> on the (numMels, frames) spectrogram.
    /// </summary>
    /// <returns>The masked range [Start, End) of frames or bands (clipped to the axis; empty when nothing was masked).</returns>
    public static (int Start, int End) MaskInPlace(Span<float> features, int numMels, bool timeAxis, int maskParam, float maskValue = 0, double p = 1.0, Generator? generator = null)
    {
        if (numMels < 1) throw new ArgumentOutOfRangeException(nameof(numMels), numMels, "SpecAugment: numMels must be positive");
        if (features.Length % numMels != 0)
            throw new ArgumentException($"SpecAugment: features has {features.Length} values, which is not a whole number of frames of numMels = {numMels}", nameof(features));
        CheckParams("SpecAugment", maskParam, p);
        int frames = features.Length / numMels, size = timeAxis ? frames : numMels;
        var masks = Draw(1, maskParam, p, size, generator ?? Torch.DefaultGenerator);
        if (masks.Length == 0) return (0, 0);
        var (start, end) = masks[0];
        for (int t = 0; t < frames; t++)
        {
            var row = features.Slice(t * numMels, numMels);
            if (!timeAxis) row[start..end].Fill(maskValue);
            else if (t >= start && t < end) row.Fill(maskValue);
        }
        return (start, end);
    }

    static Tensor Mask(Tensor specgram, int maskParam, double maskValue, int axis, double p, Generator? generator, bool iid, string op)
    {
        ArgumentNullException.ThrowIfNull(specgram);
        int rank = specgram.Rank, minRank = iid ? 3 : 2;
        if (rank < minRank)
            throw new ArgumentException($"{op}: specgram must have at least {minRank} dimensions (..., freq, time), but has shape {Shapes.Format(specgram.Shape)}", nameof(specgram));
        int ax = axis < 0 ? axis + rank : axis;
        if (ax != rank - 2 && ax != rank - 1)
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"{op}: axis must be {rank - 2} (frequency) or {rank - 1} (time) for a {rank}-D specgram");
        CheckParams(op, maskParam, p);
        var shape = specgram.Shape;
        int size = shape[ax], batch = 1;
        if (iid) for (int d = 0; d < rank - 2; d++) batch *= shape[d];
        var masks = Draw(batch, maskParam, p, size, generator ?? Torch.DefaultGenerator);
        if (masks.Length == 0) return specgram;

        // keep: true outside the mask, shaped (batch dims or 1s, size, 1) or (..., 1, size) to broadcast over the other axis.
        var keep = new bool[batch * size];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < size; i++) keep[b * size + i] = i < masks[b].Start || i >= masks[b].End;
        var keepShape = new int[rank];
        for (int d = 0; d < rank - 2; d++) keepShape[d] = iid ? shape[d] : 1;
        keepShape[rank - 2] = ax == rank - 2 ? size : 1;
        keepShape[rank - 1] = ax == rank - 1 ? size : 1;
        return Torch.Where(Torch.Tensor(keep, keepShape, specgram.Device), specgram, maskValue);
    }

    internal static void CheckParams(string op, int maskParam, double p, string paramName = "maskParam")
    {
        if (maskParam < 0) throw new ArgumentOutOfRangeException(paramName, maskParam, $"{op}: {paramName} must be non-negative, but got {maskParam}");
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, $"{op}: p must be a proportion in [0, 1], but got {p}");
    }

    // torchaudio's draws: every width, then every start; [start, end) clipped to [0, size). Empty when no mask applies.
    static (int Start, int End)[] Draw(int count, int maskParam, double p, int size, Generator g)
    {
        int maxV = p == 1.0 ? maskParam : Math.Min(maskParam, (int)(size * p));
        if (maxV < 1) return [];
        var value = new double[count];
        for (int i = 0; i < count; i++) value[i] = g.NextDouble() * maxV;
        var masks = new (int, int)[count];
        for (int i = 0; i < count; i++)
        {
            long start = (long)(g.NextDouble() * (size - value[i])), end = start + (long)value[i]; // truncation toward zero, as .long()
            masks[i] = ((int)Math.Clamp(start, 0, size), (int)Math.Clamp(end, 0, size));
        }
        return masks;
    }
}

/// <summary>
/// Time masking, as torchaudio.transforms.TimeMasking: masks up to timeMaskParam - 1 consecutive time steps (at most
/// a proportion <see cref="P"/> of them) with a value. See <see cref="SpecAugment"/> for the exact draws.
/// </summary>
public sealed class TimeMasking
{
    readonly Generator? generator;

    /// <summary>Creates the transform; throws for a negative timeMaskParam or p outside [0, 1].</summary>
    /// <param name="timeMaskParam">Mask widths are drawn from [0, timeMaskParam).</param>
    /// <param name="iidMasks">Draw an independent mask for every spectrogram of a batch (input at least 3-D) instead of one shared mask.</param>
    /// <param name="p">Maximum proportion of time steps that can be masked, in [0, 1].</param>
    /// <param name="generator">Source of the random numbers (default: <see cref="Torch.DefaultGenerator"/> at each call).</param>
    public TimeMasking(int timeMaskParam, bool iidMasks = false, double p = 1.0, Generator? generator = null)
    {
        SpecAugment.CheckParams("TimeMasking", timeMaskParam, p, nameof(timeMaskParam));
        MaskParam = timeMaskParam;
        IidMasks = iidMasks;
        P = p;
        this.generator = generator;
    }

    /// <summary>Mask widths are drawn from [0, MaskParam).</summary>
    public int MaskParam { get; }
    /// <summary>Whether each spectrogram of a batch gets its own mask.</summary>
    public bool IidMasks { get; }
    /// <summary>Maximum proportion of time steps that can be masked.</summary>
    public double P { get; }

    /// <summary>Masks spectrograms (..., freq, time) along time; returns a new tensor.</summary>
    public Tensor Forward(Tensor specgram, double maskValue = 0)
    {
        ArgumentNullException.ThrowIfNull(specgram);
        return IidMasks
            ? SpecAugment.MaskAlongAxisIid(specgram, MaskParam, maskValue, specgram.Rank - 1, P, generator)
            : SpecAugment.MaskAlongAxis(specgram, MaskParam, maskValue, specgram.Rank - 1, P, generator);
    }

    /// <summary>Masks whole frames, in place, of row-major (frames, numMels) features; returns the masked frames [Start, End).</summary>
    public (int Start, int End) Apply(Span<float> features, int numMels, float maskValue = 0) =>
        SpecAugment.MaskInPlace(features, numMels, timeAxis: true, MaskParam, maskValue, P, generator);
}

/// <summary>
/// Frequency masking, as torchaudio.transforms.FrequencyMasking: masks up to freqMaskParam - 1 consecutive frequency
/// bands with a value. See <see cref="SpecAugment"/> for the exact draws.
/// </summary>
public sealed class FrequencyMasking
{
    readonly Generator? generator;

    /// <summary>Creates the transform; throws for a negative freqMaskParam.</summary>
    /// <param name="freqMaskParam">Mask widths are drawn from [0, freqMaskParam).</param>
    /// <param name="iidMasks">Draw an independent mask for every spectrogram of a batch (input at least 3-D) instead of one shared mask.</param>
    /// <param name="generator">Source of the random numbers (default: <see cref="Torch.DefaultGenerator"/> at each call).</param>
    public FrequencyMasking(int freqMaskParam, bool iidMasks = false, Generator? generator = null)
    {
        SpecAugment.CheckParams("FrequencyMasking", freqMaskParam, 1.0, nameof(freqMaskParam));
        MaskParam = freqMaskParam;
        IidMasks = iidMasks;
        this.generator = generator;
    }

    /// <summary>Mask widths are drawn from [0, MaskParam).</summary>
    public int MaskParam { get; }
    /// <summary>Whether each spectrogram of a batch gets its own mask.</summary>
    public bool IidMasks { get; }

    /// <summary>Masks spectrograms (..., freq, time) along frequency; returns a new tensor.</summary>
    public Tensor Forward(Tensor specgram, double maskValue = 0)
    {
        ArgumentNullException.ThrowIfNull(specgram);
        return IidMasks
            ? SpecAugment.MaskAlongAxisIid(specgram, MaskParam, maskValue, specgram.Rank - 2, 1.0, generator)
            : SpecAugment.MaskAlongAxis(specgram, MaskParam, maskValue, specgram.Rank - 2, 1.0, generator);
    }

    /// <summary>Masks whole bands, in place, of row-major (frames, numMels) features; returns the masked bands [Start, End).</summary>
    public (int Start, int End) Apply(Span<float> features, int numMels, float maskValue = 0) =>
        SpecAugment.MaskInPlace(features, numMels, timeAxis: false, MaskParam, maskValue, 1.0, generator);
}
