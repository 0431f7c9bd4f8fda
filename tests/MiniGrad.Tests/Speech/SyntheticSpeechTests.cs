using MiniGrad.Nn.Data;

namespace MiniGrad.Tests.Speech;

public class SyntheticSpeechTests
{
    [Fact]
    public void SameSeedAndIndexGiveTheSameUtterance()
    {
        var a = new SyntheticSpeech(7).Generate(3);
        var b = new SyntheticSpeech(7).Generate(3);
        Assert.Equal(a.Transcript, b.Transcript);
        Assert.Equal(a.Wave, b.Wave);
        Assert.Equal(a.Segments, b.Segments);
        // Parallel generation of a range gives exactly the utterances one by one.
        var range = new SyntheticSpeech(7).GenerateRange(2, 3);
        Assert.Equal(a.Wave, range[1].Wave);
        Assert.Equal(new SyntheticSpeech(7).Generate(4).Wave, range[2].Wave);
    }

    [Fact]
    public void DifferentSeedsAndIndicesDiffer()
    {
        var s1 = new SyntheticSpeech(1).GenerateRange(0, 20);
        var s2 = new SyntheticSpeech(2).GenerateRange(0, 20);
        Assert.True(s1.Zip(s2).Count(p => p.First.Transcript != p.Second.Transcript) >= 15);
        Assert.All(s1.Zip(s2), p => Assert.NotEqual(p.First.Wave, p.Second.Wave));
        Assert.Equal(20, s1.Select(u => u.Transcript + u.Wave.Length).Distinct().Count());
    }

    [Fact]
    public void TranscriptsAreThreeToEightDigitsWithRepeats()
    {
        var utts = new SyntheticSpeech(11).GenerateRange(0, 300);
        Assert.All(utts, u =>
        {
            Assert.InRange(u.Transcript.Length, 3, 8);
            Assert.All(u.Transcript, c => Assert.Contains(c, SyntheticSpeech.Symbols));
            Assert.Equal(16000, u.SampleRate);
            Assert.Equal(u.Transcript.Length, u.Segments.Length);
        });
        Assert.Equal(Enumerable.Range(3, 6), utts.Select(u => u.Transcript.Length).Distinct().Order());
        Assert.Equal(SyntheticSpeech.Symbols, string.Concat(utts.SelectMany(u => u.Transcript).Distinct().Order()));
        Assert.Contains(utts, u => u.Transcript.Zip(u.Transcript.Skip(1)).Any(p => p.First == p.Second));
    }

    [Fact]
    public void SettingsStayInTheirRanges()
    {
        var utts = new SyntheticSpeech(12).GenerateRange(0, 200);
        Assert.All(utts, u =>
        {
            Assert.InRange(u.MinPitchHz, 80, 250);
            Assert.InRange(u.MaxPitchHz, u.MinPitchHz, 250);
            Assert.InRange(u.SnrDb, 10, 30);
            Assert.InRange(u.FormantShift, 0.85, 1.15);
            Assert.All(u.Wave, v => Assert.InRange(v, -1f, 1f));
            int end = 0;
            foreach (var (start, length) in u.Segments)
            {
                Assert.True(start >= end && length > 0, $"{u.Transcript}: segment at {start} overlaps the previous one ending at {end}");
                end = start + length;
            }
            Assert.True(end < u.Wave.Length);
        });
        // The draws cover the ranges, not one corner of them.
        Assert.Contains(utts, u => u.MinPitchHz < 110);
        Assert.Contains(utts, u => u.MaxPitchHz > 220);
        Assert.Contains(utts, u => u.SnrDb < 13);
        Assert.Contains(utts, u => u.SnrDb > 27);
    }

    [Fact]
    public void VoicedSoundsHaveTheReportedPitch()
    {
        // Autocorrelation pitch in the middle of each digit, on clean (30 dB) speech.
        var utts = new SyntheticSpeech(13, minSnrDb: 30, maxSnrDb: 30).GenerateRange(0, 12);
        foreach (var u in utts)
            foreach (var (start, length) in u.Segments)
            {
                int mid = start + length / 2, w = 640;
                var x = u.Wave.AsSpan(mid - w / 2, w);
                var r = new double[222];
                for (int lag = 55; lag <= 221; lag++)
                {
                    double acc = 0, e0 = 0, e1 = 0;
                    for (int i = 0; i + lag < w; i++) { acc += x[i] * x[i + lag]; e0 += x[i] * x[i]; e1 += x[i + lag] * x[i + lag]; }
                    r[lag] = acc / (Math.Sqrt(e0 * e1) + 1e-20);
                }
                // The first peak close to the highest one: two periods correlate about as well as one (octave errors).
                double top = r[56..221].Max();
                int best = Enumerable.Range(56, 165).First(l => r[l] >= 0.9 * top && r[l] >= r[l - 1] && r[l] >= r[l + 1]);
                double f0 = 16000.0 / best;
                Assert.True(f0 >= u.MinPitchHz / 1.06 && f0 <= u.MaxPitchHz * 1.06,
                    $"{u.Transcript}: autocorrelation pitch {f0:F1} Hz outside the reported {u.MinPitchHz:F1}-{u.MaxPitchHz:F1} Hz");
            }
    }

    [Fact]
    public void BackgroundNoiseHasTheReportedSnr()
    {
        // The lead-in silence holds only noise; the segments hold speech plus noise.
        var errors = new List<double>();
        foreach (var u in new SyntheticSpeech(14).GenerateRange(0, 30))
        {
            int lead = u.Segments[0].Start;
            double noise = 0, seg = 0;
            long n = 0;
            for (int i = 0; i < lead; i++) noise += (double)u.Wave[i] * u.Wave[i];
            noise /= lead;
            foreach (var (s, l) in u.Segments) { for (int i = s; i < s + l; i++) seg += (double)u.Wave[i] * u.Wave[i]; n += l; }
            seg /= n;
            errors.Add(10 * Math.Log10((seg - noise) / noise) - u.SnrDb);
        }
        Assert.True(Math.Abs(errors.Average()) < 1.0, $"mean SNR error {errors.Average():F2} dB");
        Assert.All(errors, e => Assert.InRange(e, -4, 4));
    }

    [Fact]
    public void DigitsSoundDifferent()
    {
        // Average spectra (log-mel, unnormalized) of single digits from a clean corpus differ clearly between digits.
        var lm = new MiniGrad.Nn.Audio.LogMel(normalize: false);
        var sums = new double[10][];
        var counts = new int[10];
        for (int d = 0; d < 10; d++) sums[d] = new double[40];
        foreach (var u in new SyntheticSpeech(15, minSnrDb: 30, maxSnrDb: 30).GenerateRange(0, 60))
            for (int k = 0; k < u.Segments.Length; k++)
            {
                var (s, l) = u.Segments[k];
                var f = lm.Compute(u.Wave.AsSpan(s, l));
                int frames = f.Length / 40, d = u.Transcript[k] - '0';
                for (int t = 0; t < frames; t++) for (int b = 0; b < 40; b++) sums[d][b] += f[t * 40 + b] / frames;
                counts[d]++;
            }
        var mean = sums.Select((v, d) => v.Select(x => x / counts[d]).ToArray()).ToArray();
        // Remove each digit's overall level, then compare shapes.
        foreach (var m in mean) { double avg = m.Average(); for (int b = 0; b < 40; b++) m[b] -= avg; }
        for (int a = 0; a < 10; a++)
            for (int b = a + 1; b < 10; b++)
            {
                double dist = Math.Sqrt(mean[a].Zip(mean[b]).Sum(p => (p.First - p.Second) * (p.First - p.Second)) / 40);
                Assert.True(dist > 0.2, $"digits {a} and {b} have nearly the same average spectrum (rms difference {dist:F3})");
            }
    }

    [Fact]
    public void BadSettingsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticSpeech(1, minSymbols: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticSpeech(1, minSymbols: 5, maxSymbols: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticSpeech(1, minPitchHz: 300, maxPitchHz: 200));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticSpeech(1).Generate(-1));
    }
}
