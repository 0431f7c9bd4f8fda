namespace MiniGrad.Nn.Audio;

/// <summary>
/// Frame stacking with subsampling ("low frame rate" features): every <c>factor</c> consecutive frames become one
/// frame of factor times the features, so a recurrent model runs factor times fewer steps over the same context.
/// </summary>
public static class FrameStacking
{
    /// <summary>Number of stacked frames for <paramref name="frames"/> input frames: ceil(frames / factor).</summary>
    public static int StackedFrames(int frames, int factor)
    {
        if (factor < 1) throw new ArgumentOutOfRangeException(nameof(factor), factor, "FrameStacking: factor must be at least 1");
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        return (frames + factor - 1) / factor;
    }

    /// <summary>
    /// Stacks row-major (frames, dim) features into (ceil(frames / factor), dim * factor): output frame t is input
    /// frames t*factor .. t*factor + factor - 1 side by side; past the end the last input frame is repeated.
    /// </summary>
    public static float[] Stack(ReadOnlySpan<float> features, int dim, int factor)
    {
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "FrameStacking: dim must be at least 1");
        if (features.Length % dim != 0)
            throw new ArgumentException($"FrameStacking: {features.Length} values do not form whole frames of {dim}", nameof(features));
        int frames = features.Length / dim, outFrames = StackedFrames(frames, factor);
        var dst = new float[outFrames * dim * factor];
        for (int t = 0; t < outFrames; t++)
            for (int k = 0; k < factor; k++)
            {
                int src = Math.Min(t * factor + k, frames - 1);
                features.Slice(src * dim, dim).CopyTo(dst.AsSpan((t * factor + k) * dim, dim));
            }
        return dst;
    }
}
