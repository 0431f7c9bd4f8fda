namespace MiniGrad.Nn.Audio;

/// <summary>
/// Band-limited resampling by windowed-sinc interpolation (a Kaiser-windowed sinc, beta 8, 16 zero crossings on each
/// side at the lower of the two rates, cutoff at 94% of the lower Nyquist frequency): each output sample is the
/// filtered input at its exact rational position. Downsampling therefore low-passes first (no aliasing), and
/// upsampling interpolates without images. For rational ratios with few phases the kernel is tabulated once per call.
/// </summary>
public static class Resampler
{
    const int ZeroCrossings = 16;
    const double Rolloff = 0.94, KaiserBeta = 8.0;
    const int MaxReach = 1 << 24; // filter half-width in input samples: downsampling by up to 2^20

    /// <summary>
    /// Resamples x from <paramref name="fromRate"/> to <paramref name="toRate"/> Hz; the result has ceil(n * to / from)
    /// samples. Every size is computed in 64 bits; a result longer than an array can hold (<see cref="Array.MaxLength"/>)
    /// is an ArgumentException before anything is allocated.
    /// </summary>
    public static float[] Resample(ReadOnlySpan<float> x, int fromRate, int toRate)
    {
        if (fromRate <= 0) throw new ArgumentOutOfRangeException(nameof(fromRate), fromRate, "Resample: fromRate must be positive");
        if (toRate <= 0) throw new ArgumentOutOfRangeException(nameof(toRate), toRate, "Resample: toRate must be positive");
        if (fromRate == toRate) return x.ToArray();
        long g = Gcd(fromRate, toRate);
        long up = toRate / g, down = fromRate / g; // output i sits at input position i * down / up
        long outLong = ((long)x.Length * up + down - 1) / down; // at most 2^31 * 2^31: no overflow in 64 bits
        if (outLong > Array.MaxLength)
            throw new ArgumentException($"Resample: {x.Length} samples at {fromRate} Hz become {outLong} samples at {toRate} Hz, more than an array holds ({Array.MaxLength})", nameof(x));
        int outLen = (int)outLong;
        double fc = 0.5 * Math.Min(1.0, (double)toRate / fromRate) * Rolloff; // cycles per input sample
        double halfWidth = ZeroCrossings / (2 * 0.5 * Math.Min(1.0, (double)toRate / fromRate)); // input samples each side
        if (halfWidth > MaxReach)
            throw new ArgumentException($"Resample: {fromRate} Hz -> {toRate} Hz needs a filter reaching {halfWidth:F0} input samples each side; expected at most {MaxReach} (a rate ratio of at most {MaxReach / ZeroCrossings})", nameof(toRate));
        int taps = 2 * (int)Math.Ceiling(halfWidth) + 1, reach = taps / 2;
        double i0Beta = BesselI0(KaiserBeta);

        double Kernel(double d) // d: distance in input samples
        {
            if (Math.Abs(d) >= halfWidth) return 0;
            double r = d / halfWidth, w = BesselI0(KaiserBeta * Math.Sqrt(1 - r * r)) / i0Beta;
            double a = 2 * Math.PI * fc * d;
            return 2 * fc * (Math.Abs(a) < 1e-12 ? 1 : Math.Sin(a) / a) * w;
        }

        // One row of taps per phase (fractional offset (i * down mod up) / up), when that table is small.
        float[]? table = up * taps <= 1 << 22 ? new float[(int)(up * taps)] : null;
        if (table is not null)
            for (int p = 0; p < up; p++)
            {
                double frac = (double)p / up;
                for (int j = 0; j < taps; j++) table[p * taps + j] = (float)Kernel(j - reach - frac);
            }

        var y = new float[outLen];
        for (int i = 0; i < outLen; i++)
        {
            long num = (long)i * down;
            int center = (int)(num / up), phase = (int)(num % up);
            double frac = (double)phase / up, acc = 0;
            int lo = center - reach;
            if (table is not null && lo >= 0 && lo <= x.Length - taps)
            {
                // Inside the signal (nearly every sample): the same sum in the same order, without the edge and table tests.
                ReadOnlySpan<float> xs = x.Slice(lo, taps), ts = table.AsSpan(phase * taps, taps);
                for (int j = 0; j < xs.Length; j++) acc += xs[j] * (double)ts[j];
                y[i] = (float)acc;
                continue;
            }
            for (int j = 0; j < taps; j++)
            {
                long k = (long)lo + j;
                if ((ulong)k >= (ulong)x.Length) continue;
                acc += x[(int)k] * (table is not null ? table[phase * taps + j] : Kernel(k - center - frac));
            }
            y[i] = (float)acc;
        }
        return y;
    }

    static long Gcd(long a, long b) { while (b != 0) (a, b) = (b, a % b); return a; }

    // Modified Bessel function of the first kind, order 0 (power series; converges fast for the small arguments here).
    static double BesselI0(double x)
    {
        double sum = 1, term = 1, q = x * x / 4;
        for (int k = 1; k < 50; k++)
        {
            term *= q / ((double)k * k);
            sum += term;
            if (term < sum * 1e-17) break;
        }
        return sum;
    }
}
