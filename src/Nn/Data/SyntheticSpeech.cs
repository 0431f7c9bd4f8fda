namespace MiniGrad.Nn.Data;

/// <summary>One synthetic utterance: the 16 kHz wave, its transcript, and the random settings it was drawn with.</summary>
/// <param name="Wave">Samples in [-1, 1] at <paramref name="SampleRate"/>.</param>
/// <param name="Transcript">The spoken digits, e.g. "3017".</param>
/// <param name="SampleRate">Samples per second (16000).</param>
/// <param name="MinPitchHz">Lowest fundamental frequency reached anywhere in the utterance.</param>
/// <param name="MaxPitchHz">Highest fundamental frequency reached anywhere in the utterance.</param>
/// <param name="FormantShift">The speaker's vocal-tract factor: every formant is multiplied by it.</param>
/// <param name="Rate">Speaking rate: durations are divided by it.</param>
/// <param name="SnrDb">Speech power (over the spoken segments) over background-noise power, in dB.</param>
/// <param name="Segments">Start and length in samples of each spoken symbol, in transcript order.</param>
public sealed record SyntheticUtterance(float[] Wave, string Transcript, int SampleRate, double MinPitchHz, double MaxPitchHz,
    double FormantShift, double Rate, double SnrDb, (int Start, int Length)[] Segments);

/// <summary>
/// A deterministic synthetic speech corpus of spoken digit strings, for training a toy recognizer without downloads.
/// Each digit 0-9 is a short voiced sound made by source-filter synthesis: a glottal pulse train (Rosenberg pulses,
/// derivative taken as lip radiation) at a pitch between 80 and 250 Hz, with breath noise, through a cascade of
/// three formant resonators whose frequencies follow the digit's own trajectory (a steady vowel or a glide), some
/// digits with a noise onset (a fricative or burst) or coda. Each utterance has 3 to 8 digits (repeats allowed),
/// random durations, speaking rate, pitch contour, a per-speaker formant shift, loudness, gaps between digits and
/// background noise at 10-30 dB SNR. Utterance i of a seed is always the same, whatever order utterances are drawn in.
/// </summary>
public sealed class SyntheticSpeech
{
    /// <summary>The symbols this corpus speaks.</summary>
    public const string Symbols = "0123456789";

    /// <summary>Output sample rate in Hz.</summary>
    public const int SampleRate = 16000;

    // A digit: optional noise onset (center Hz, bandwidth Hz, ms, voiced), a formant trajectory of 2 or 3 points
    // (F1, F2, F3 in Hz, spread evenly over the vowel), the vowel's base duration, and an optional noise coda.
    sealed record Noise(double CenterHz, double BandwidthHz, double Ms, bool Voiced, double Level);
    sealed record Digit(Noise? Onset, double[][] Formants, double VowelMs, Noise? Coda);

    static readonly Digit[] Digits =
    [
        /* 0 zero  */ new(new(4500, 2000, 55, true, 0.35), [[350, 2100, 2700], [450, 1000, 2400]], 170, null),
        /* 1 one   */ new(null, [[320, 750, 2300], [620, 1250, 2500]], 170, null),
        /* 2 two   */ new(new(3500, 2500, 18, false, 0.6), [[330, 950, 2250], [330, 950, 2250]], 150, null),
        /* 3 three */ new(new(6500, 3000, 50, false, 0.25), [[300, 2400, 3000], [300, 2400, 3000]], 150, null),
        /* 4 four  */ new(new(7000, 3000, 55, false, 0.3), [[560, 900, 2500], [500, 1300, 1700]], 170, null),
        /* 5 five  */ new(new(7000, 3000, 55, false, 0.3), [[750, 1250, 2550], [380, 2150, 2800]], 180, null),
        /* 6 six   */ new(new(5000, 1800, 65, false, 0.45), [[420, 1950, 2600], [420, 1950, 2600]], 110, new(5000, 1800, 55, false, 0.45)),
        /* 7 seven */ new(new(5000, 1800, 60, false, 0.45), [[580, 1800, 2500], [480, 1500, 2400]], 170, null),
        /* 8 eight */ new(null, [[520, 1850, 2550], [330, 2300, 2950]], 160, new(3800, 2500, 18, false, 0.5)),
        /* 9 nine  */ new(null, [[300, 1400, 2600], [720, 1300, 2500], [380, 2100, 2700]], 190, null),
    ];

    static readonly double[] Bandwidths = [80, 110, 160];

    /// <summary>A corpus; <paramref name="seed"/> picks it (train, validation and test sets use different seeds).</summary>
    public SyntheticSpeech(long seed, int minSymbols = 3, int maxSymbols = 8, double minPitchHz = 80, double maxPitchHz = 250,
        double minSnrDb = 10, double maxSnrDb = 30)
    {
        if (minSymbols < 1 || maxSymbols < minSymbols)
            throw new ArgumentOutOfRangeException(nameof(minSymbols), $"SyntheticSpeech: expected 1 <= minSymbols <= maxSymbols, but got {minSymbols} and {maxSymbols}");
        if (!(minPitchHz > 0 && maxPitchHz >= minPitchHz && maxPitchHz < SampleRate / 4))
            throw new ArgumentOutOfRangeException(nameof(minPitchHz), $"SyntheticSpeech: expected 0 < minPitchHz <= maxPitchHz < {SampleRate / 4}, but got {minPitchHz} and {maxPitchHz}");
        if (!(maxSnrDb >= minSnrDb))
            throw new ArgumentOutOfRangeException(nameof(minSnrDb), $"SyntheticSpeech: expected minSnrDb <= maxSnrDb, but got {minSnrDb} and {maxSnrDb}");
        (Seed, MinSymbols, MaxSymbols, MinPitchHz, MaxPitchHz, MinSnrDb, MaxSnrDb) = (seed, minSymbols, maxSymbols, minPitchHz, maxPitchHz, minSnrDb, maxSnrDb);
    }

    /// <summary>The corpus seed.</summary>
    public long Seed { get; }
    /// <summary>Fewest symbols per utterance.</summary>
    public int MinSymbols { get; }
    /// <summary>Most symbols per utterance.</summary>
    public int MaxSymbols { get; }
    /// <summary>Lowest pitch in Hz.</summary>
    public double MinPitchHz { get; }
    /// <summary>Highest pitch in Hz.</summary>
    public double MaxPitchHz { get; }
    /// <summary>Lowest signal-to-noise ratio in dB.</summary>
    public double MinSnrDb { get; }
    /// <summary>Highest signal-to-noise ratio in dB.</summary>
    public double MaxSnrDb { get; }

    /// <summary>Utterances startIndex .. startIndex + count - 1, synthesized in parallel (each depends only on its index).</summary>
    public SyntheticUtterance[] GenerateRange(int startIndex, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(startIndex);
        var result = new SyntheticUtterance[count];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Torch.GetNumThreads() }, i => result[i] = Generate(startIndex + i));
        return result;
    }

    /// <summary>Utterance number <paramref name="index"/> of this corpus (the same on every call, run and machine).</summary>
    public SyntheticUtterance Generate(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ulong mix = (ulong)Seed * 0x9E3779B97F4A7C15UL ^ ((ulong)index + 0x632BE59BD9B4E019UL) * 0xD1B54A32D192ED03UL;
        var rng = new Generator((long)mix);
        double U(double lo, double hi) => lo + (hi - lo) * rng.NextDouble();

        // The utterance: its symbols and the speaker.
        int count = MinSymbols + (int)rng.NextBelow((ulong)(MaxSymbols - MinSymbols + 1));
        var digits = new int[count];
        for (int i = 0; i < count; i++) digits[i] = (int)rng.NextBelow(10);
        string transcript = string.Concat(digits.Select(d => Symbols[d]));
        double basePitch = U(MinPitchHz, MaxPitchHz);
        double shift = U(0.88, 1.12), rate = U(0.8, 1.25), snrDb = U(MinSnrDb, MaxSnrDb);
        double declination = U(0, 0.15), vibratoHz = U(3, 6), vibratoDepth = U(0, 0.02);

        // Lay out the timeline: lead silence, tokens with gaps, tail silence (all in samples).
        const double ms = SampleRate / 1000.0;
        var plan = new (int Digit, int Onset, int Vowel, int Coda, double Jitter)[count];
        var segments = new (int Start, int Length)[count];
        int pos = (int)(U(60, 250) * ms);
        for (int i = 0; i < count; i++)
        {
            var d = Digits[digits[i]];
            double stretch = U(0.85, 1.15) / rate;
            int onset = d.Onset is null ? 0 : (int)(d.Onset.Ms * U(0.85, 1.15) / rate * ms);
            int vowel = (int)(d.VowelMs * stretch * ms);
            int coda = d.Coda is null ? 0 : (int)(d.Coda.Ms * U(0.85, 1.15) / rate * ms);
            plan[i] = (digits[i], onset, vowel, coda, U(0.96, 1.04));
            segments[i] = (pos, onset + vowel + coda);
            pos += onset + vowel + coda;
            if (i < count - 1) pos += (int)((rng.NextDouble() < 0.6 ? U(15, 40) : U(40, 200)) * ms);
        }
        int total = pos + (int)(U(60, 250) * ms);

        // Pitch contour over the whole utterance: declination, slow vibrato, kept inside the pitch range.
        var f0 = new double[total];
        for (int n = 0; n < total; n++)
        {
            double x = (double)n / total, v = basePitch * (1 + declination * (0.5 - x)) * (1 + vibratoDepth * Math.Sin(2 * Math.PI * vibratoHz * n / SampleRate));
            f0[n] = Math.Clamp(v, MinPitchHz, MaxPitchHz);
        }

        double minF0 = double.MaxValue, maxF0 = 0;
        var wave = new float[total];
        var scratch = new double[total];
        double phase = 0;
        for (int i = 0; i < count; i++)
        {
            var (di, onset, vowel, coda, jitter) = plan[i];
            var d = Digits[di];
            int start = segments[i].Start, vStart = start + onset;
            double level = Math.Pow(10, U(-3, 3) / 20); // per-token loudness variation, +-3 dB

            // Vowel: glottal source through the formant cascade along the digit's trajectory.
            var src = scratch.AsSpan(0, vowel);
            phase = Glottal(src, f0.AsSpan(vStart, vowel), phase, rng);
            for (int n = vStart; n < vStart + vowel; n++) { minF0 = Math.Min(minF0, f0[n]); maxF0 = Math.Max(maxF0, f0[n]); }
            FormantCascade(src, d.Formants, shift * jitter);
            Envelope(src, (int)(12 * ms), (int)(25 * ms));
            Normalize(src, level);
            for (int n = 0; n < vowel; n++) wave[vStart + n] += (float)src[n];

            if (d.Onset is { } on && onset > 0) AddNoise(wave, start, onset, on, shift, level, f0, ref phase, rng, fadeOut: false);
            if (d.Coda is { } co && coda > 0) AddNoise(wave, vStart + vowel, coda, co, shift, level, f0, ref phase, rng, fadeOut: true);
        }
        if (count > 0 && minF0 == double.MaxValue) minF0 = maxF0 = basePitch;

        // Loudness: active-speech RMS between -32 and -16 dBFS; then background noise at the drawn SNR.
        double speechPower = 0;
        long active = 0;
        foreach (var (s, l) in segments) { for (int n = s; n < s + l; n++) speechPower += (double)wave[n] * wave[n]; active += l; }
        speechPower /= Math.Max(active, 1);
        double gain = Math.Pow(10, U(-32, -16) / 20) / Math.Sqrt(Math.Max(speechPower, 1e-20));
        double noisePower = speechPower * gain * gain / Math.Pow(10, snrDb / 10);
        BackgroundNoise(scratch.AsSpan(0, total), U(0, 0.9), rng);
        double noiseScale = Math.Sqrt(noisePower / MeanSquare(scratch.AsSpan(0, total)));
        for (int n = 0; n < total; n++) wave[n] = (float)Math.Clamp(wave[n] * gain + scratch[n] * noiseScale, -1, 1);

        return new SyntheticUtterance(wave, transcript, SampleRate, minF0, maxF0, shift, rate, snrDb, segments);
    }

    // Rosenberg glottal flow pulses at the instantaneous pitch, differentiated (lip radiation), plus breath noise.
    static double Glottal(Span<double> dst, ReadOnlySpan<double> f0, double phase, Generator rng)
    {
        const double open = 0.4, close = 0.16;
        double prev = Flow(phase), periodJitter = 1;
        for (int n = 0; n < dst.Length; n++)
        {
            phase += f0[n] * periodJitter / SampleRate;
            if (phase >= 1) { phase -= 1; periodJitter = 1 + 0.01 * (rng.NextDouble() - 0.5); }
            double g = Flow(phase);
            dst[n] = (g - prev) * 8 + 0.015 * (rng.NextDouble() - 0.5) * (g + 0.2);
            prev = g;
        }
        return phase;

        static double Flow(double p) => p < open ? 0.5 * (1 - Math.Cos(Math.PI * p / open))
            : p < open + close ? Math.Cos(Math.PI * (p - open) / (2 * close)) : 0;
    }

    // Three cascaded two-pole resonators (Klatt's, unit gain at DC); formants move linearly between the trajectory's points.
    static void FormantCascade(Span<double> x, double[][] points, double shift)
    {
        int len = x.Length, segs = points.Length - 1;
        for (int f = 0; f < 3; f++)
        {
            double y1 = 0, y2 = 0, a = 0, b = 0, c = 0;
            for (int n = 0; n < len; n++)
            {
                if ((n & 15) == 0) // coefficients every millisecond
                {
                    double pos = len <= 1 ? 0 : (double)n / (len - 1) * segs;
                    int k = Math.Min((int)pos, segs - 1);
                    double t = pos - k, hz = (points[k][f] * (1 - t) + points[k + 1][f] * t) * shift;
                    (a, b, c) = Resonator(hz, Bandwidths[f]);
                }
                double y = a * x[n] + b * y1 + c * y2;
                y2 = y1; y1 = y; x[n] = y;
            }
        }
    }

    static (double A, double B, double C) Resonator(double hz, double bw)
    {
        double r = Math.Exp(-Math.PI * bw / SampleRate);
        double c = -r * r, b = 2 * r * Math.Cos(2 * Math.PI * hz / SampleRate);
        return (1 - b - c, b, c);
    }

    // A fricative or burst: white noise through a wide resonator; voiced ones carry weak low voicing too.
    static void AddNoise(float[] wave, int start, int len, Noise nz, double shift, double level, double[] f0, ref double phase, Generator rng, bool fadeOut)
    {
        var buf = new double[len];
        rng.FillNormal(buf);
        var (a, b, c) = Resonator(Math.Min(nz.CenterHz * shift, SampleRate * 0.45), nz.BandwidthHz);
        double y1 = 0, y2 = 0;
        for (int n = 0; n < len; n++) { double y = a * buf[n] + b * y1 + c * y2; y2 = y1; y1 = y; buf[n] = y; }
        Normalize(buf, nz.Level * level);
        if (nz.Voiced)
        {
            var v = new double[len];
            phase = Glottal(v, f0.AsSpan(start, len), phase, rng);
            FormantCascade(v, [[250, 1500, 2500], [250, 1500, 2500]], shift);
            Normalize(v, 0.3 * level);
            for (int n = 0; n < len; n++) buf[n] += v[n];
        }
        int edge = Math.Min(len / 3, 80);
        Envelope(buf, fadeOut ? 8 : edge, fadeOut ? edge : 8);
        for (int n = 0; n < len; n++) wave[start + n] += (float)buf[n];
    }

    // Background noise: white noise through a one-pole low-pass (colour from white at 0 towards brown near 1).
    static void BackgroundNoise(Span<double> dst, double colour, Generator rng)
    {
        rng.FillNormal(dst);
        double y = 0;
        for (int n = 0; n < dst.Length; n++) { y = colour * y + (1 - colour) * dst[n]; dst[n] = y; }
    }

    // Raised-cosine fade in and out.
    static void Envelope(Span<double> x, int attack, int release)
    {
        attack = Math.Min(attack, x.Length / 2);
        release = Math.Min(release, x.Length / 2);
        for (int n = 0; n < attack; n++) x[n] *= 0.5 - 0.5 * Math.Cos(Math.PI * n / attack);
        for (int n = 0; n < release; n++) x[x.Length - 1 - n] *= 0.5 - 0.5 * Math.Cos(Math.PI * n / release);
    }

    static void Normalize(Span<double> x, double rms)
    {
        double ms = MeanSquare(x);
        if (ms <= 0) return;
        double s = rms / Math.Sqrt(ms);
        for (int n = 0; n < x.Length; n++) x[n] *= s;
    }

    static double MeanSquare(ReadOnlySpan<double> x)
    {
        double s = 0;
        foreach (var v in x) s += v * v;
        return x.Length == 0 ? 0 : s / x.Length;
    }
}
