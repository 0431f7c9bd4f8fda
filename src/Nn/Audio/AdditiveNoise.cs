namespace MiniGrad.Nn.Audio;

/// <summary>
/// Additive noise at a chosen signal-to-noise ratio, as torchaudio.functional.add_noise: the noise n is scaled by
/// a = sqrt(E(x) / (E(n) * 10^(snr / 10))), with E the energy (sum of squares) over the signal's length, so that
/// 10 log10(E(x) / E(a n)) = snr dB, and a n is added to the signal x in place.
/// </summary>
/// <remarks>
/// A silent signal (energy 0) is left unchanged and the scale is 0: no finite amount of noise has the requested SNR
/// against silence, and torchaudio's formula gives the same (its scale is 10^(-inf) = 0). Arguments are checked before
/// anything is written, so a call that throws changes nothing.
/// </remarks>
public static class AdditiveNoise
{
    /// <summary>
    /// Adds <paramref name="noise"/>, looped (or cropped) to the wave's length from its first sample, scaled to
    /// <paramref name="snrDb"/> dB below the wave. Returns the scale applied to the noise (0 for a silent wave).
    /// </summary>
    /// <param name="wave">The signal, modified in place.</param>
    /// <param name="noise">The noise; non-empty, finite and not all zero.</param>
    /// <param name="snrDb">Wanted signal-to-noise ratio in dB; finite (may be negative: noise louder than signal).</param>
    public static double Add(Span<float> wave, ReadOnlySpan<float> noise, double snrDb)
    {
        if (!double.IsFinite(snrDb)) throw new ArgumentOutOfRangeException(nameof(snrDb), snrDb, $"AdditiveNoise: snrDb must be a finite number of dB, but got {snrDb}");
        if (noise.IsEmpty) throw new ArgumentException("AdditiveNoise: noise is empty; expected at least one sample", nameof(noise));
        if (wave.IsEmpty) return 0;
        double signalEnergy = Energy(wave), noiseEnergy = 0;
        for (int i = 0; i < wave.Length; i++) { double n = noise[i % noise.Length]; noiseEnergy += n * n; }
        if (!(noiseEnergy > 0 && double.IsFinite(noiseEnergy)))
            throw new ArgumentException($"AdditiveNoise: noise has energy {noiseEnergy} over the wave's {wave.Length} samples; expected finite samples, not all zero", nameof(noise));
        if (signalEnergy == 0) return 0;
        double scale = Math.Sqrt(signalEnergy / (noiseEnergy * Math.Pow(10, snrDb / 10)));
        for (int i = 0; i < wave.Length; i++) wave[i] += (float)(scale * noise[i % noise.Length]);
        return scale;
    }

    /// <summary>
    /// Adds Gaussian white noise drawn from the generator (default: <see cref="Torch.DefaultGenerator"/>) at
    /// <paramref name="snrDb"/> dB; draws wave.Length normals whatever the wave holds. Returns the noise's scale as
    /// <see cref="Add"/> does (0 for a silent wave, which is left unchanged).
    /// </summary>
    public static double AddWhite(Span<float> wave, double snrDb, Generator? generator = null)
    {
        if (!double.IsFinite(snrDb)) throw new ArgumentOutOfRangeException(nameof(snrDb), snrDb, $"AdditiveNoise: snrDb must be a finite number of dB, but got {snrDb}");
        if (wave.IsEmpty) return 0;
        Energy(wave); // a bad wave throws before the generator moves
        var normal = new double[wave.Length];
        (generator ?? Torch.DefaultGenerator).FillNormal(normal);
        var noise = new float[wave.Length];
        for (int i = 0; i < noise.Length; i++) noise[i] = (float)normal[i];
        return Add(wave, noise, snrDb);
    }

    // Sum of squares; throws for non-finite samples.
    static double Energy(ReadOnlySpan<float> wave)
    {
        double e = 0;
        foreach (var s in wave) e += (double)s * s;
        if (!double.IsFinite(e)) throw new ArgumentException($"AdditiveNoise: wave has energy {e}; expected finite samples", nameof(wave));
        return e;
    }
}
