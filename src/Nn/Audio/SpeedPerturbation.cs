namespace MiniGrad.Nn.Audio;

/// <summary>
/// Speed perturbation (Ko et al. 2015, Kaldi's and sox's <c>speed</c>, torchaudio.functional.speed): the wave is
/// resampled with <see cref="Resampler"/> so that it plays <c>factor</c> times faster at the same sample rate, which
/// changes both its duration (by 1 / factor) and its pitch and formants (by factor). The usual factors are 0.9, 1.0
/// and 1.1, each giving the recognizer a slightly different "speaker". <see cref="Tempo"/> changes the duration only.
/// </summary>
public static class SpeedPerturbation
{
    /// <summary>The smallest factor accepted (4 times slower).</summary>
    public const double MinFactor = 0.25;
    /// <summary>The largest factor accepted (4 times faster).</summary>
    public const double MaxFactor = 4.0;

    /// <summary>
    /// The wave played <paramref name="factor"/> times faster: resampled from round(factor * sampleRate) Hz to
    /// sampleRate Hz (so the factor is used to the nearest 1 / sampleRate), which gives
    /// ceil(n * sampleRate / round(factor * sampleRate)) samples; a factor of 1 returns a copy.
    /// </summary>
    /// <param name="wave">The samples.</param>
    /// <param name="factor">Speed factor in [<see cref="MinFactor"/>, <see cref="MaxFactor"/>]; above 1 is faster and higher.</param>
    /// <param name="sampleRate">The wave's sample rate in Hz (also that of the result).</param>
    public static float[] Speed(ReadOnlySpan<float> wave, double factor, int sampleRate = 16000)
    {
        if (!(factor >= MinFactor && factor <= MaxFactor))
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"SpeedPerturbation: factor must be in [{MinFactor}, {MaxFactor}], but got {factor}");
        if (sampleRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, $"SpeedPerturbation: sampleRate must be positive, but got {sampleRate}");
        double from = Math.Round(factor * sampleRate);
        if (from < 1 || from > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, $"SpeedPerturbation: factor {factor} at sampleRate {sampleRate} gives a source rate of {from} Hz; expected 1 to {int.MaxValue}");
        return Resampler.Resample(wave, (int)from, sampleRate);
    }

    /// <summary>
    /// <see cref="Speed"/> with a factor picked uniformly from <paramref name="factors"/> by the generator (default:
    /// <see cref="Torch.DefaultGenerator"/>), e.g. [0.9, 1.0, 1.1]; returns the result and the factor used.
    /// </summary>
    public static (float[] Wave, double Factor) RandomSpeed(ReadOnlySpan<float> wave, ReadOnlySpan<double> factors, int sampleRate = 16000, Generator? generator = null)
    {
        if (factors.IsEmpty) throw new ArgumentException("SpeedPerturbation: factors is empty; expected at least one factor, e.g. [0.9, 1.0, 1.1]", nameof(factors));
        foreach (var f in factors)
            if (!(f >= MinFactor && f <= MaxFactor))
                throw new ArgumentOutOfRangeException(nameof(factors), f, $"SpeedPerturbation: every factor must be in [{MinFactor}, {MaxFactor}], but one is {f}");
        if (sampleRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, $"SpeedPerturbation: sampleRate must be positive, but got {sampleRate}");
        double factor = factors[(int)(generator ?? Torch.DefaultGenerator).NextBelow((ulong)factors.Length)];
        return (Speed(wave, factor, sampleRate), factor);
    }

    /// <summary>
    /// The wave played <paramref name="factor"/> times faster at the same pitch (sox's <c>tempo</c>), by WSOLA
    /// (waveform-similarity overlap-add, Verhelst and Roelands 1993): Hann-windowed frames of 20 ms are laid every
    /// 10 ms in the output, each read from the input near factor times its output position, shifted by up to
    /// +-5 ms to the offset whose samples best match (largest cross-correlation) the natural continuation of the frame
    /// before, so that periodic sounds join without phase jumps. The result has round(n / factor) samples; a factor of 1
    /// returns a copy.
    /// </summary>
    /// <param name="wave">The samples.</param>
    /// <param name="factor">Tempo factor in [<see cref="MinFactor"/>, <see cref="MaxFactor"/>]; above 1 is shorter.</param>
    /// <param name="sampleRate">The wave's sample rate in Hz (sets the 20 ms frame).</param>
    public static float[] Tempo(ReadOnlySpan<float> wave, double factor, int sampleRate = 16000)
    {
        if (!(factor >= MinFactor && factor <= MaxFactor))
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"SpeedPerturbation: factor must be in [{MinFactor}, {MaxFactor}], but got {factor}");
        if (sampleRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, $"SpeedPerturbation: sampleRate must be positive, but got {sampleRate}");
        if (factor == 1) return wave.ToArray();
        int n = wave.Length, outLen = (int)Math.Round(n / factor);
        int hop = Math.Max(2, (int)Math.Round(sampleRate * 0.01)), frame = 2 * hop, tol = hop / 2;
        var window = new double[frame]; // periodic Hann: copies every hop sum to 1
        for (int i = 0; i < frame; i++) window[i] = 0.5 - 0.5 * Math.Cos(2 * Math.PI * i / frame);
        var acc = new double[outLen + frame];
        var weight = new double[outLen + frame];
        float At(ReadOnlySpan<float> x, int i) => (uint)i < (uint)x.Length ? x[i] : 0;
        for (int k = 0, prev = 0; (long)k * hop < outLen; k++)
        {
            int nominal = (int)Math.Round(k * hop * factor), best = nominal;
            if (k > 0)
            {
                double bestScore = double.NegativeInfinity;
                for (int d = -tol; d <= tol; d++)
                {
                    int pos = nominal + d;
                    if (pos < 0) continue;
                    double score = 0;
                    for (int i = 0; i < frame; i++) score += At(wave, prev + hop + i) * At(wave, pos + i);
                    if (score > bestScore) (bestScore, best) = (score, pos);
                }
            }
            for (int i = 0; i < frame; i++)
            {
                acc[k * hop + i] += window[i] * At(wave, best + i);
                weight[k * hop + i] += window[i];
            }
            prev = best;
        }
        var y = new float[outLen];
        for (int i = 0; i < outLen; i++) y[i] = weight[i] > 1e-6 ? (float)(acc[i] / weight[i]) : 0;
        return y;
    }
}
