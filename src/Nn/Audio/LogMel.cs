using MathNet.Numerics;
using MathNet.Numerics.IntegralTransforms;

namespace MiniGrad.Nn.Audio;

/// <summary>
/// Log-mel filterbank features, the classic ASR front end: frames of <see cref="WindowLength"/> samples every
/// <see cref="HopLength"/> samples (25 ms and 10 ms at 16 kHz), DC removal and pre-emphasis, a Hann window, the power
/// spectrum by a real FFT (MathNet.Numerics), <see cref="NumMels"/> triangular filters on the HTK mel scale
/// (mel = 2595 log10(1 + f / 700), triangles built in the mel domain as in HTK/Kaldi), the log with a floor, and
/// (by default) per-utterance mean/variance normalization of each band. <see cref="TopDb"/> (off by default) raises
/// whatever lies more than that many decibels below the utterance's loudest band to that level, as torchaudio's
/// AmplitudeToDB(top_db).
/// </summary>
/// <remarks>
/// The filterbank is precomputed as one contiguous run of FFT bins per band, and the per-frame work uses scratch
/// buffers allocated once per call, so a long utterance costs no allocation per frame. Instances are immutable and
/// safe to share between threads.
/// </remarks>
public sealed class LogMel
{
    readonly int[] bandStart;      // first FFT bin of each band
    readonly float[][] bandWeights; // the band's triangle over its bins
    readonly float[] window;
    readonly float[] cos, sin;     // twiddles exp(-2 pi i k / FftSize) for the real-FFT split, k < FftSize / 2
    readonly double fMinHz, fMaxHz; // the filterbank's range

    /// <summary>Builds the window, the twiddles and the filterbank; throws ArgumentException for settings that leave a band without FFT bins.</summary>
    /// <param name="sampleRate">Samples per second of the input waves.</param>
    /// <param name="numMels">Number of mel bands.</param>
    /// <param name="windowMs">Frame length in milliseconds.</param>
    /// <param name="hopMs">Frame shift in milliseconds.</param>
    /// <param name="fMin">Lower edge of the first band in Hz.</param>
    /// <param name="fMax">Upper edge of the last band in Hz (default: the Nyquist frequency).</param>
    /// <param name="preEmphasis">x[n] - a x[n-1] within each frame (0 turns it off); lifts the weak high formants.</param>
    /// <param name="logFloor">Band energies below this are clamped before the log, so silence gives a finite value.</param>
    /// <param name="normalize">Subtract each band's mean and divide by its standard deviation over the utterance.</param>
    public LogMel(int sampleRate = 16000, int numMels = 40, double windowMs = 25, double hopMs = 10, double fMin = 20, double? fMax = null,
        double preEmphasis = 0.97, double logFloor = 1e-10, bool normalize = true)
    {
        if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "LogMel: sampleRate must be positive");
        if (numMels <= 0) throw new ArgumentOutOfRangeException(nameof(numMels), numMels, "LogMel: numMels must be positive");
        if (!(windowMs > 0)) throw new ArgumentOutOfRangeException(nameof(windowMs), windowMs, "LogMel: windowMs must be positive");
        if (!(hopMs > 0)) throw new ArgumentOutOfRangeException(nameof(hopMs), hopMs, "LogMel: hopMs must be positive");
        if (!(preEmphasis >= 0 && preEmphasis < 1)) throw new ArgumentOutOfRangeException(nameof(preEmphasis), preEmphasis, "LogMel: preEmphasis must be in [0, 1)");
        if (!(logFloor > 0)) throw new ArgumentOutOfRangeException(nameof(logFloor), logFloor, "LogMel: logFloor must be positive");
        double hi = fMax ?? sampleRate / 2.0;
        if (!(fMin >= 0 && fMin < hi && hi <= sampleRate / 2.0))
            throw new ArgumentOutOfRangeException(nameof(fMin), $"LogMel: expected 0 <= fMin < fMax <= sampleRate / 2 = {sampleRate / 2.0}, but fMin = {fMin}, fMax = {hi}");

        SampleRate = sampleRate;
        NumMels = numMels;
        WindowLength = (int)Math.Round(sampleRate * windowMs / 1000);
        HopLength = (int)Math.Round(sampleRate * hopMs / 1000);
        if (WindowLength < 2 || HopLength < 1)
            throw new ArgumentOutOfRangeException(nameof(windowMs), $"LogMel: the window ({WindowLength} samples) and hop ({HopLength} samples) are too short at {sampleRate} Hz");
        FftSize = Math.Max(4, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)WindowLength));
        PreEmphasis = (float)preEmphasis;
        LogFloor = logFloor;
        Normalize = normalize;

        // Symmetric Hann window (zero at both ends), as numpy.hanning and Kaldi's "hanning".
        window = new float[WindowLength];
        for (int i = 0; i < WindowLength; i++) window[i] = (float)(0.5 - 0.5 * Math.Cos(2 * Math.PI * i / (WindowLength - 1)));

        int half = FftSize / 2;
        cos = new float[half];
        sin = new float[half];
        for (int k = 0; k < half; k++) { cos[k] = (float)Math.Cos(2 * Math.PI * k / FftSize); sin[k] = (float)-Math.Sin(2 * Math.PI * k / FftSize); }

        fMinHz = fMin;
        fMaxHz = hi;
        (bandStart, bandWeights, CenterFrequencies) = Filterbank(1, DefaultWarpBoundaryHz);
    }

    // The same front end with the filterbank warped by a VTLP factor (see WithWarp); window and twiddles are shared.
    LogMel(LogMel source, double warpFactor, double warpBoundaryHz)
    {
        SampleRate = source.SampleRate;
        NumMels = source.NumMels;
        WindowLength = source.WindowLength;
        HopLength = source.HopLength;
        FftSize = source.FftSize;
        PreEmphasis = source.PreEmphasis;
        LogFloor = source.LogFloor;
        Normalize = source.Normalize;
        TopDb = source.TopDb;
        window = source.window;
        cos = source.cos;
        sin = source.sin;
        fMinHz = source.fMinHz;
        fMaxHz = source.fMaxHz;
        WarpFactor = warpFactor;
        WarpBoundaryHz = warpBoundaryHz;
        (bandStart, bandWeights, CenterFrequencies) = Filterbank(warpFactor, warpBoundaryHz);
    }

    /// <summary>The boundary frequency of the VTLP warp by default: 4,800 Hz, as in Jaitly and Hinton (2013).</summary>
    public const double DefaultWarpBoundaryHz = 4800;
    /// <summary>The smallest VTLP warp factor accepted.</summary>
    public const double MinWarpFactor = 0.5;
    /// <summary>The largest VTLP warp factor accepted.</summary>
    public const double MaxWarpFactor = 2.0;

    /// <summary>
    /// The same front end (every setting kept) with its filterbank warped for vocal tract length perturbation (VTLP,
    /// Jaitly and Hinton 2013): each band weighs FFT bin k by its triangle at <see cref="WarpFrequency"/>(f_k), so the
    /// features are those of the spectrum with its frequency axis stretched by <paramref name="warpFactor"/> (a sound
    /// at f Hz shows in the band of warpFactor x f Hz, up to the boundary), as from a speaker with a shorter
    /// (factor above 1) or longer (below 1) vocal tract; duration is unchanged. Factors of 0.9 to 1.1 are the usual
    /// training range; a factor of 1 gives exactly the features of this instance.
    /// </summary>
    /// <param name="warpFactor">The stretch alpha in [<see cref="MinWarpFactor"/>, <see cref="MaxWarpFactor"/>].</param>
    /// <param name="boundaryHz">Frequencies up to boundaryHz x min(alpha, 1) / alpha scale by alpha; above, a second line maps the
    /// Nyquist frequency onto itself (0 &lt; boundaryHz &lt; SampleRate / 2).</param>
    public LogMel WithWarp(double warpFactor, double boundaryHz = DefaultWarpBoundaryHz)
    {
        CheckWarp(warpFactor, boundaryHz, SampleRate);
        return new LogMel(this, warpFactor, boundaryHz);
    }

    /// <summary>
    /// The VTLP frequency warp of Jaitly and Hinton (2013): f -> alpha f for f up to boundaryHz x min(alpha, 1) / alpha,
    /// then the straight line from there to (sampleRate / 2, sampleRate / 2), so the warp is continuous, increasing,
    /// and keeps 0 and the Nyquist frequency in place. Frequencies beyond the Nyquist frequency follow the second line.
    /// </summary>
    /// <param name="hz">The frequency to warp, at least 0.</param>
    /// <param name="warpFactor">alpha, in [<see cref="MinWarpFactor"/>, <see cref="MaxWarpFactor"/>].</param>
    /// <param name="sampleRate">Samples per second (the Nyquist frequency is half of it).</param>
    /// <param name="boundaryHz">Where the linear part ends for alpha &lt;= 1 (0 &lt; boundaryHz &lt; sampleRate / 2).</param>
    public static double WarpFrequency(double hz, double warpFactor, int sampleRate, double boundaryHz = DefaultWarpBoundaryHz)
    {
        CheckWarp(warpFactor, boundaryHz, sampleRate);
        if (!(hz >= 0)) throw new ArgumentOutOfRangeException(nameof(hz), hz, $"LogMel: hz must be a frequency >= 0, but got {hz}");
        return Warp(hz, warpFactor, sampleRate / 2.0, boundaryHz);
    }

    static double Warp(double hz, double alpha, double nyquist, double boundaryHz)
    {
        double knee = boundaryHz * Math.Min(alpha, 1);   // where the knee lands
        double edge = knee / alpha;                     // the knee's source frequency
        return hz <= edge ? alpha * hz : nyquist - (nyquist - knee) / (nyquist - edge) * (nyquist - hz);
    }

    static void CheckWarp(double warpFactor, double boundaryHz, int sampleRate)
    {
        if (!(warpFactor >= MinWarpFactor && warpFactor <= MaxWarpFactor))
            throw new ArgumentOutOfRangeException(nameof(warpFactor), warpFactor, $"LogMel: warpFactor must be in [{MinWarpFactor}, {MaxWarpFactor}], but got {warpFactor}");
        if (sampleRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, $"LogMel: sampleRate must be positive, but got {sampleRate}");
        if (!(boundaryHz > 0 && boundaryHz < sampleRate / 2.0))
            throw new ArgumentOutOfRangeException(nameof(boundaryHz), boundaryHz, $"LogMel: boundaryHz must be in (0, sampleRate / 2 = {sampleRate / 2.0}), but got {boundaryHz}");
        // Above the knee the slope (nyquist - knee) / (nyquist - knee / alpha) is then positive: knee / alpha <= boundary < nyquist.
    }

    /// <summary>The VTLP factor of the filterbank (1: unwarped; see <see cref="WithWarp"/>).</summary>
    public double WarpFactor { get; } = 1;
    /// <summary>The VTLP boundary frequency of the filterbank in Hz (see <see cref="WithWarp"/>).</summary>
    public double WarpBoundaryHz { get; } = DefaultWarpBoundaryHz;

    // The triangular filters, each as its first FFT bin and weights over a run of bins; the triangle of band b is
    // evaluated at the warped frequency of each bin (no warp for alpha = 1).
    (int[] Start, float[][] Weights, double[] Centers) Filterbank(double alpha, double boundaryHz)
    {
        int numMels = NumMels, sampleRate = SampleRate, half = FftSize / 2;
        double nyquist = sampleRate / 2.0;
        // Band edges equally spaced in mel; each triangle rises from edge b to b+1 and falls to b+2 (weights in mel).
        double melLo = HzToMel(fMinHz), melHi = HzToMel(fMaxHz), step = (melHi - melLo) / (numMels + 1);
        var bandStart = new int[numMels];
        var bandWeights = new float[numMels][];
        var centers = new double[numMels];
        for (int b = 0; b < numMels; b++)
        {
            double left = melLo + b * step, center = left + step, right = center + step;
            centers[b] = MelToHz(center);
            int first = -1;
            var w = new List<float>();
            for (int k = 0; k <= half; k++)
            {
                double hz = (double)k * sampleRate / FftSize;
                double mel = HzToMel(alpha == 1 ? hz : Warp(hz, alpha, nyquist, boundaryHz));
                double v = mel <= left || mel >= right ? 0 : mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center);
                if (v > 0) { if (first < 0) first = k; w.Add((float)v); }
                else if (first >= 0) break;
            }
            if (first < 0)
                throw new ArgumentException($"LogMel: mel band {b} ({MelToHz(left):F1}-{MelToHz(right):F1} Hz) contains no FFT bin{(alpha == 1 ? "" : $" at warp factor {alpha}")} (bin spacing {(double)sampleRate / FftSize:F2} Hz); use fewer bands or a wider frequency range", nameof(numMels));
            bandStart[b] = first;
            bandWeights[b] = w.ToArray();
        }
        return (bandStart, bandWeights, centers);
    }

    /// <summary>Expected input sample rate in Hz.</summary>
    public int SampleRate { get; }
    /// <summary>Number of mel bands (features per frame).</summary>
    public int NumMels { get; }
    /// <summary>Samples per frame (400 for 25 ms at 16 kHz).</summary>
    public int WindowLength { get; }
    /// <summary>Samples between frame starts (160 for 10 ms at 16 kHz).</summary>
    public int HopLength { get; }
    /// <summary>FFT length: the window zero-padded to a power of two (512 at 16 kHz).</summary>
    public int FftSize { get; }
    /// <summary>The pre-emphasis coefficient.</summary>
    public float PreEmphasis { get; }
    /// <summary>The floor applied to band energies before the log.</summary>
    public double LogFloor { get; }
    /// <summary>Whether each band is normalized to mean 0 and standard deviation 1 over the utterance.</summary>
    public bool Normalize { get; }

    /// <summary>
    /// When set, the log band energies of an utterance are kept within this many decibels of its largest one: each
    /// value below max - TopDb ln(10) / 10 is raised to it, before normalization (torchaudio's AmplitudeToDB top_db,
    /// 80 there). Silence then looks the same whether a recording holds digital zeros (the log floor), dither or
    /// faint noise, so the normalization's mean and spread do not depend on it. Null (the default) leaves only the
    /// log floor. Positive and finite; kept by <see cref="WithWarp"/>.
    /// </summary>
    public double? TopDb
    {
        get;
        init => field = value is null or (> 0 and < double.PositiveInfinity) ? value
            : throw new ArgumentOutOfRangeException(nameof(TopDb), value, $"LogMel: TopDb must be positive and finite (decibels) or null, but got {value}");
    }
    /// <summary>The center frequency of each band in Hz (ascending).</summary>
    public IReadOnlyList<double> CenterFrequencies { get; }

    /// <summary>HTK mel scale: 2595 log10(1 + hz / 700).</summary>
    public static double HzToMel(double hz) => 2595 * Math.Log10(1 + hz / 700);
    /// <summary>Inverse of <see cref="HzToMel"/>.</summary>
    public static double MelToHz(double mel) => 700 * (Math.Pow(10, mel / 2595) - 1);

    /// <summary>
    /// Number of frames for a wave of numSamples: 1 + (numSamples - WindowLength) / HopLength (only whole frames);
    /// a non-empty wave shorter than one window gives one zero-padded frame, an empty one none.
    /// </summary>
    public int NumFrames(int numSamples) =>
        numSamples < 0 ? throw new ArgumentOutOfRangeException(nameof(numSamples), numSamples, "LogMel: numSamples must be non-negative")
        : numSamples == 0 ? 0 : numSamples < WindowLength ? 1 : 1 + (numSamples - WindowLength) / HopLength;

    /// <summary>The features of a wave, row-major (frames, NumMels).</summary>
    public float[] Compute(ReadOnlySpan<float> wave)
    {
        var dst = new float[NumFrames(wave.Length) * NumMels];
        Compute(wave, dst);
        return dst;
    }

    /// <summary>The features of a wave as a Float32 tensor of shape (frames, NumMels).</summary>
    public Tensor ComputeTensor(ReadOnlySpan<float> wave) => Torch.Tensor(Compute(wave), NumFrames(wave.Length), NumMels);

    /// <summary>Writes the features, row-major (frames, NumMels), into dst, which must hold exactly NumFrames(wave.Length) * NumMels values.</summary>
    public void Compute(ReadOnlySpan<float> wave, Span<float> dst)
    {
        int frames = NumFrames(wave.Length), m = NumMels;
        if (dst.Length != frames * m)
            throw new ArgumentException($"LogMel: dst has {dst.Length} values, expected frames * numMels = {frames} * {m} = {frames * m}", nameof(dst));
        int n = FftSize, half = n / 2;
        var frame = new float[n];
        var z = new Complex32[half];
        var power = new float[half + 1];
        float floor = (float)LogFloor;
        for (int t = 0; t < frames; t++)
        {
            int start = t * HopLength, len = Math.Min(WindowLength, wave.Length - start);
            var src = wave.Slice(start, len);
            // DC removal, pre-emphasis (Kaldi's order: from the end, the first sample against itself), window, zero padding.
            float mean = 0;
            for (int i = 0; i < len; i++) mean += src[i];
            mean /= len;
            for (int i = 0; i < len; i++) frame[i] = src[i] - mean;
            for (int i = WindowLength - 1; i >= len; i--) frame[i] = 0;
            if (PreEmphasis != 0)
            {
                for (int i = WindowLength - 1; i > 0; i--) frame[i] -= PreEmphasis * frame[i - 1];
                frame[0] -= PreEmphasis * frame[0];
            }
            for (int i = 0; i < WindowLength; i++) frame[i] *= window[i];
            Array.Clear(frame, WindowLength, n - WindowLength);

            PowerSpectrum(frame, z, power);

            var row = dst.Slice(t * m, m);
            for (int b = 0; b < m; b++)
            {
                var w = bandWeights[b];
                int k0 = bandStart[b];
                float e = 0;
                for (int j = 0; j < w.Length; j++) e += w[j] * power[k0 + j];
                row[b] = MathF.Log(Math.Max(e, floor));
            }
        }
        if (TopDb is double topDb && frames > 0)
        {
            float max = float.NegativeInfinity;
            foreach (float v in dst) max = Math.Max(max, v);
            float lo = max - (float)(topDb * Math.Log(10) / 10);
            for (int i = 0; i < dst.Length; i++) dst[i] = Math.Max(dst[i], lo);
        }
        if (Normalize) NormalizeBands(dst, frames, m);
    }

    /// <summary>
    /// |X[k]|^2 for k = 0..n/2 of a real frame of length n, by one complex FFT of length n/2 over the even/odd samples
    /// packed as real/imaginary parts, then the split X[k] = E[k] + W^k O[k].
    /// </summary>
    internal void PowerSpectrum(float[] frame, Complex32[] z, float[] power)
    {
        int half = FftSize / 2;
        for (int k = 0; k < half; k++) z[k] = new Complex32(frame[2 * k], frame[2 * k + 1]);
        Fourier.Forward(z, FourierOptions.NoScaling);
        for (int k = 0; k <= half; k++)
        {
            var a = z[k == half ? 0 : k];
            var b = z[k == 0 ? 0 : half - k]; // Z[(n/2 - k) mod n/2]
            // E = (Z[k] + conj Z[n/2-k]) / 2, O = (Z[k] - conj Z[n/2-k]) / 2i.
            float er = 0.5f * (a.Real + b.Real), ei = 0.5f * (a.Imaginary - b.Imaginary);
            float or = 0.5f * (a.Imaginary + b.Imaginary), oi = -0.5f * (a.Real - b.Real);
            float c = k == half ? -1 : cos[k], s = k == half ? 0 : sin[k];
            float xr = er + c * or - s * oi, xi = ei + c * oi + s * or;
            power[k] = xr * xr + xi * xi;
        }
    }

    // Per band over frames: (x - mean) / std, with the std floored so that a constant band maps to 0.
    static void NormalizeBands(Span<float> x, int frames, int m)
    {
        if (frames == 0) return;
        for (int b = 0; b < m; b++)
        {
            double sum = 0, sq = 0;
            for (int t = 0; t < frames; t++) sum += x[t * m + b];
            double mean = sum / frames;
            for (int t = 0; t < frames; t++) { double d = x[t * m + b] - mean; sq += d * d; }
            float inv = (float)(1 / Math.Max(Math.Sqrt(sq / frames), 1e-5));
            for (int t = 0; t < frames; t++) x[t * m + b] = (float)((x[t * m + b] - mean) * inv);
        }
    }
}
