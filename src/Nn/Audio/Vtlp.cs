namespace MiniGrad.Nn.Audio;

/// <summary>
/// Vocal tract length perturbation (VTLP, Jaitly and Hinton 2013): each training utterance gets log-mel features
/// through a filterbank warped by a random factor alpha (<see cref="LogMel.WithWarp"/>), which stretches the spectrum's
/// frequency axis as a shorter (alpha above 1) or longer (below 1) vocal tract would, and so gives the recognizer
/// "new speakers" from few. Draws come from the given generator (default: <see cref="Torch.DefaultGenerator"/>), so a
/// seeded generator gives the same factors and features on every run.
/// </summary>
public static class Vtlp
{
    /// <summary>A warp factor drawn uniformly from [min, max] (the paper's range is 0.9 to 1.1).</summary>
    /// <param name="min">The smallest factor, at least <see cref="LogMel.MinWarpFactor"/>.</param>
    /// <param name="max">The largest factor, at most <see cref="LogMel.MaxWarpFactor"/>, and at least min.</param>
    /// <param name="generator">The source of randomness (default: Torch's).</param>
    public static double RandomFactor(double min = 0.9, double max = 1.1, Generator? generator = null)
    {
        if (!(min >= LogMel.MinWarpFactor && min <= LogMel.MaxWarpFactor))
            throw new ArgumentOutOfRangeException(nameof(min), min, $"Vtlp: min must be in [{LogMel.MinWarpFactor}, {LogMel.MaxWarpFactor}], but got {min}");
        if (!(max >= min && max <= LogMel.MaxWarpFactor))
            throw new ArgumentOutOfRangeException(nameof(max), max, $"Vtlp: max must be in [min = {min}, {LogMel.MaxWarpFactor}], but got {max}");
        return min + (max - min) * (generator ?? Torch.DefaultGenerator).NextDouble();
    }

    /// <summary>
    /// The features of a wave through <paramref name="features"/>' filterbank warped by a factor drawn uniformly from
    /// [min, max]; returns them, row-major (frames, NumMels), and the factor used.
    /// </summary>
    /// <param name="features">The front end to warp (its warp factor must be 1).</param>
    /// <param name="wave">The samples, at features.SampleRate.</param>
    /// <param name="min">The smallest factor.</param>
    /// <param name="max">The largest factor.</param>
    /// <param name="generator">The source of randomness (default: Torch's).</param>
    /// <param name="boundaryHz">The warp's boundary frequency (see <see cref="LogMel.WithWarp"/>).</param>
    public static (float[] Features, double Factor) Apply(LogMel features, ReadOnlySpan<float> wave, double min = 0.9, double max = 1.1,
        Generator? generator = null, double boundaryHz = LogMel.DefaultWarpBoundaryHz)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.WarpFactor != 1)
            throw new ArgumentException($"Vtlp: features is already warped (WarpFactor = {features.WarpFactor}); pass the unwarped front end", nameof(features));
        double alpha = RandomFactor(min, max, generator);
        return (features.WithWarp(alpha, boundaryHz).Compute(wave), alpha);
    }
}
