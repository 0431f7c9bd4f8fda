using System.Buffers.Binary;
using System.Text;
using MiniGrad.Nn.Audio;

namespace MiniGrad.Tests.Speech;

public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "minigrad-speech-" + Guid.NewGuid().ToString("N")));
    public string Path { get; }
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

public class WavTests
{
    static float[] Sine(double hz, int n, int rate, double amplitude = 0.5) =>
        Enumerable.Range(0, n).Select(i => (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / rate))).ToArray();

    static double Rms(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += (double)v * v;
        return Math.Sqrt(s / x.Length);
    }

    // A PCM header for any channel count and sample size, followed by raw little-endian data.
    static byte[] Header(int channels, int rate, int bits, int dataBytes, int format = 1)
    {
        var b = new byte[44];
        Encoding.ASCII.GetBytes("RIFF").CopyTo(b, 0);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), 36 + dataBytes);
        Encoding.ASCII.GetBytes("WAVEfmt ").CopyTo(b, 8);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), 16);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(20), (short)format);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(22), (short)channels);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(24), rate);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(28), rate * channels * bits / 8);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(32), (short)(channels * bits / 8));
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(34), (short)bits);
        Encoding.ASCII.GetBytes("data").CopyTo(b, 36);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(40), dataBytes);
        return b;
    }

    [Fact]
    public void RoundTripKeepsSamplesTo16Bits()
    {
        using var dir = new TempDir();
        var x = Sine(440, 1600, 16000, 0.9);
        Wav.Write(dir["a.wav"], x, 16000);
        var (y, rate) = Wav.Read(dir["a.wav"]);
        Assert.Equal(16000, rate);
        Assert.Equal(x.Length, y.Length);
        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - y[i]) <= 0.5 / 32768 + 1e-7, $"sample {i}: wrote {x[i]}, read {y[i]}");
        Assert.Equal(44 + 2 * x.Length, new FileInfo(dir["a.wav"]).Length);
    }

    [Fact]
    public void EightKiloHertzSineReadsBackAtSixteenKiloHertz()
    {
        using var dir = new TempDir();
        Wav.Write(dir["8k.wav"], Sine(1000, 4000, 8000), 8000); // 0.5 s of 1 kHz at amplitude 0.5
        var y = Wav.ReadMono(dir["8k.wav"], 16000);
        Assert.Equal(8000, y.Length);
        // Away from the edges the result is the same sine sampled at 16 kHz: frequency, phase and amplitude.
        double worst = 0;
        for (int i = 400; i < 7600; i++) worst = Math.Max(worst, Math.Abs(y[i] - 0.5 * Math.Sin(2 * Math.PI * 1000 * i / 16000)));
        Assert.True(worst < 0.005, $"largest deviation from the ideal 16 kHz sine: {worst}");
        Assert.Equal(0.5 / Math.Sqrt(2), Rms(y.AsSpan(400, 7200)), 3);
    }

    [Fact]
    public void DownsamplingRemovesWhatWouldAlias()
    {
        // 48 kHz -> 16 kHz: 3 kHz passes unchanged, 11 kHz (above the new 8 kHz Nyquist) must not fold down to 5 kHz.
        var pass = Resampler.Resample(Sine(3000, 48000, 48000), 48000, 16000);
        var stop = Resampler.Resample(Sine(11000, 48000, 48000), 48000, 16000);
        Assert.Equal(16000, pass.Length);
        Assert.Equal(0.5 / Math.Sqrt(2), Rms(pass.AsSpan(1000, 14000)), 3);
        Assert.True(Rms(stop.AsSpan(1000, 14000)) < 0.005, $"aliased energy rms {Rms(stop.AsSpan(1000, 14000))}");
        // 44.1 kHz, a ratio with 160 phases, also keeps a pass-band tone.
        var odd = Resampler.Resample(Sine(2000, 44100, 44100), 44100, 16000);
        Assert.Equal(16000, odd.Length);
        double worst = 0;
        for (int i = 1000; i < 15000; i++) worst = Math.Max(worst, Math.Abs(odd[i] - 0.5 * Math.Sin(2 * Math.PI * 2000 * i / 16000)));
        Assert.True(worst < 0.005, $"44.1 kHz -> 16 kHz deviation {worst}");
    }

    [Theory]
    [InlineData(48000, 16000)] // down 3, up 1
    [InlineData(14400, 16000)] // speed perturbation by 0.9: up 10, down 9
    [InlineData(17600, 16000)] // by 1.1: up 10, down 11
    public void SamplesNearTheEdgesEqualTheSameSamplesInsideAZeroPaddedSignal(int from, int to)
    {
        // Near the edges the filter reaches past the signal and takes zeros there; inside, the resampler sums whole rows of
        // its table. Padding the signal with zeros (a whole number of `down` input samples, so the phases stay) moves the
        // edge samples inside: both ways must give the same bits.
        int g = Gcd(from, to), up = to / g, down = from / g, blocks = 40 / down + 1;
        var x = Sine(1234, 2 * from / 10, from).Select((v, i) => v * (1 + 0.001f * (i % 7))).ToArray();
        var padded = new float[x.Length + 2 * blocks * down];
        x.CopyTo(padded, blocks * down);
        var y = Resampler.Resample(x, from, to);
        var yp = Resampler.Resample(padded, from, to);
        Assert.Equal(y, yp.AsSpan(blocks * up, y.Length).ToArray());

        static int Gcd(int a, int b) { while (b != 0) (a, b) = (b, a % b); return a; }
    }

    [Fact]
    public void StereoIsMixedDownToMono()
    {
        using var dir = new TempDir();
        int frames = 100;
        var bytes = Header(2, 16000, 16, frames * 4).ToList();
        for (int i = 0; i < frames; i++)
        {
            bytes.AddRange(BitConverter.GetBytes((short)16384));  // left 0.5
            bytes.AddRange(BitConverter.GetBytes((short)-8192));  // right -0.25
        }
        File.WriteAllBytes(dir["st.wav"], bytes.ToArray());
        var (y, rate) = Wav.Read(dir["st.wav"]);
        Assert.Equal(16000, rate);
        Assert.Equal(frames, y.Length);
        Assert.All(y, v => Assert.Equal(0.125f, v));
    }

    [Fact]
    public void ExtraChunksBeforeTheDataAreSkipped()
    {
        var pcm = new byte[8];
        BinaryPrimitives.WriteInt16LittleEndian(pcm.AsSpan(0), 32767 / 2);
        var h = Header(1, 22050, 16, pcm.Length);
        var list = Encoding.ASCII.GetBytes("LIST").Concat(BitConverter.GetBytes(3)).Concat(new byte[] { 1, 2, 3, 0 }); // odd size, padded
        var bytes = h[..36].Concat(list).Concat(h[36..]).Concat(pcm).ToArray();
        var (y, rate) = Wav.Parse(bytes);
        Assert.Equal(22050, rate);
        Assert.Equal(4, y.Length);
        Assert.Equal(0.5, y[0], 3);
    }

    [Fact]
    public void BadFilesNameTheFileAndTheProblem()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["text.wav"], "this is not a wave file at all");
        var e = Assert.Throws<WavFormatException>(() => Wav.Read(dir["text.wav"]));
        Assert.Contains(dir["text.wav"], e.Message);
        Assert.Contains("bad header", e.Message);

        File.WriteAllBytes(dir["12bit.wav"], Header(1, 16000, 12, 4).Concat(new byte[4]).ToArray());
        e = Assert.Throws<WavFormatException>(() => Wav.Read(dir["12bit.wav"]));
        Assert.Contains("12 bits, expected 8, 16, 24 or 32 for integer PCM", e.Message);

        File.WriteAllBytes(dir["half.wav"], Header(1, 16000, 16, 4, format: 3).Concat(new byte[4]).ToArray());
        Assert.Contains("16 bits, expected 32 or 64 for IEEE float", Assert.Throws<WavFormatException>(() => Wav.Read(dir["half.wav"])).Message);

        File.WriteAllBytes(dir["alaw16.wav"], Header(1, 8000, 16, 4, format: 6).Concat(new byte[4]).ToArray());
        Assert.Contains("16 bits, expected 8 for A-law", Assert.Throws<WavFormatException>(() => Wav.Read(dir["alaw16.wav"])).Message);

        File.WriteAllBytes(dir["adpcm.wav"], Header(1, 8000, 4, 4, format: 2).Concat(new byte[4]).ToArray());
        Assert.Contains("format code 2, expected 1 (integer PCM), 3 (IEEE float), 6 (A-law) or 7 (mu-law)", Assert.Throws<WavFormatException>(() => Wav.Read(dir["adpcm.wav"])).Message);

        File.WriteAllBytes(dir["nodata.wav"], Header(1, 16000, 16, 0)[..36]);
        Assert.Contains("no 'data' chunk", Assert.Throws<WavFormatException>(() => Wav.Read(dir["nodata.wav"])).Message);

        Assert.Throws<FileNotFoundException>(() => Wav.Read(dir["missing.wav"]));
        Directory.CreateDirectory(dir["folder.wav"]);
        Assert.Contains("is a folder", Assert.Throws<FileNotFoundException>(() => Wav.Read(dir["folder.wav"])).Message);
        // A header cut inside the 'fmt ' chunk: the file ends there (the chunk's own size is fine).
        File.WriteAllBytes(dir["cut.wav"], Header(1, 16000, 16, 4)[..30]);
        Assert.Contains("ends inside the 'fmt ' chunk", Assert.Throws<WavFormatException>(() => Wav.Read(dir["cut.wav"])).Message);
    }

    // Full scale, half, a quarter negative, the most negative value, zero and the largest value below +1, as each encoding
    // stores them (the bytes written out, little-endian), and what Read must return: torchaudio.load's scaling.
    public static TheoryData<string, int, int, byte[], float[]> Encodings() => new()
    {
        { "8-bit PCM (unsigned)", 1, 8, [0xC0, 0x60, 0x00, 0x80, 0xFF], [0.5f, -0.25f, -1f, 0f, 127f / 128] },
        { "16-bit PCM", 1, 16, [0x00, 0x40, 0x00, 0xE0, 0x00, 0x80, 0x00, 0x00, 0xFF, 0x7F], [0.5f, -0.25f, -1f, 0f, 32767f / 32768] },
        { "24-bit PCM", 1, 24, [0x00, 0x00, 0x40, 0x00, 0x00, 0xE0, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
            [0.5f, -0.25f, -1f, 0f, (float)(1.0 / 8388608)] },
        { "32-bit PCM", 1, 32, [0, 0, 0, 0x40, 0, 0, 0, 0xE0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
            [0.5f, -0.25f, -1f, 0f, (float)(-1.0 / 2147483648)] },
        { "32-bit float", 3, 32, [0, 0, 0, 0x3F, 0, 0, 0x80, 0xBE, 0, 0, 0x80, 0xBF, 0, 0, 0, 0, 0, 0, 0xC0, 0x3F],
            [0.5f, -0.25f, -1f, 0f, 1.5f] },
        // G.711, 8 bits: the 16-bit values CPython's audioop.alaw2lin / ulaw2lin give for these codes, over 2^15 (all 256
        // codes of both laws were checked against audioop once, session 26).
        { "A-law", 6, 8, [0xD5, 0x55, 0x2A, 0xAA, 0xC0, 0x17], [8 / 32768f, -8 / 32768f, -32256 / 32768f, 32256 / 32768f, 344 / 32768f, -2368 / 32768f] },
        { "mu-law", 7, 8, [0xFF, 0x7F, 0x00, 0x80, 0xF0, 0x70, 0x3C], [0f, 0f, -32124 / 32768f, 32124 / 32768f, 120 / 32768f, -120 / 32768f, -2364 / 32768f] },
        { "64-bit float", 3, 64, [0, 0, 0, 0, 0, 0, 0xE0, 0x3F, 0, 0, 0, 0, 0, 0, 0xD0, 0xBF, 0, 0, 0, 0, 0, 0, 0xF0, 0xBF,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F], [0.5f, -0.25f, -1f, 0f, 1.5f] },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EveryEncodingReadsAsTorchaudioScalesIt(string encoding, int format, int bits, byte[] data, float[] expected)
    {
        var (y, rate) = Wav.Parse(Header(1, 22050, bits, data.Length, format).Concat(data).ToArray(), encoding);
        Assert.Equal(22050, rate);
        Assert.Equal(expected, y);

        // The same samples in a WAVE_FORMAT_EXTENSIBLE header (what many writers use above 16 bits or 2 channels), and
        // as the left channel of a stereo file whose right channel is silent: mixed down to the average.
        Assert.Equal(expected, Wav.Parse(Extensible(1, 22050, bits, format, data), encoding).Samples);
        int w = bits / 8;
        var silent = format switch { 1 when bits == 8 => (byte)0x80, 6 => (byte)0xD5, 7 => (byte)0xFF, _ => (byte)0 };
        var stereo = Enumerable.Range(0, expected.Length).SelectMany(i => data.Skip(i * w).Take(w).Concat(Enumerable.Repeat(silent, w))).ToArray();
        float quiet = format == 6 ? 8 / 32768f : 0; // A-law has no zero: its quietest code is +-8
        Assert.Equal(expected.Select(v => (v + quiet) / 2).ToArray(), Wav.Parse(Header(2, 22050, bits, stereo.Length, format).Concat(stereo).ToArray(), encoding).Samples);
    }

    // WAVE_FORMAT_EXTENSIBLE: a 40-byte 'fmt ' chunk whose sub-format GUID starts with the format code.
    static byte[] Extensible(int channels, int rate, int bits, int format, byte[] data)
    {
        var plain = Header(channels, rate, bits, data.Length);
        var fmt = new byte[40];
        plain.AsSpan(20, 16).CopyTo(fmt);
        BinaryPrimitives.WriteInt16LittleEndian(fmt.AsSpan(0), unchecked((short)0xFFFE));
        BinaryPrimitives.WriteInt16LittleEndian(fmt.AsSpan(16), 22);                 // extension size
        BinaryPrimitives.WriteInt16LittleEndian(fmt.AsSpan(18), (short)bits);        // valid bits
        BinaryPrimitives.WriteInt16LittleEndian(fmt.AsSpan(24), (short)format);      // GUID's first two bytes
        new byte[] { 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 }.CopyTo(fmt, 26);
        var b = new List<byte>();
        b.AddRange(Encoding.ASCII.GetBytes("RIFF"));
        b.AddRange(BitConverter.GetBytes(4 + 8 + 40 + 8 + data.Length));
        b.AddRange(Encoding.ASCII.GetBytes("WAVEfmt "));
        b.AddRange(BitConverter.GetBytes(40));
        b.AddRange(fmt);
        b.AddRange(Encoding.ASCII.GetBytes("data"));
        b.AddRange(BitConverter.GetBytes(data.Length));
        b.AddRange(data);
        return b.ToArray();
    }

    [Theory]
    [InlineData(float.NaN, 32)]
    [InlineData(float.PositiveInfinity, 32)]
    [InlineData(double.NegativeInfinity, 64)]
    [InlineData(1e300, 64)] // finite, but no float32 holds it
    public void AFloatSampleThatIsNotAFiniteFloat32NamesItsPlace(double bad, int bits)
    {
        // Three stereo frames, the bad value in frame 2's right channel: a NaN would otherwise poison every feature.
        var values = new double[] { 0.1, 0.2, 0.3, 0.4, 0.5, bad };
        var data = values.SelectMany(v => bits == 32 ? BitConverter.GetBytes((float)v) : BitConverter.GetBytes(v)).ToArray();
        var e = Assert.Throws<WavFormatException>(() => Wav.Parse(Header(2, 16000, bits, data.Length, format: 3).Concat(data).ToArray(), "x.wav"));
        Assert.Contains("'x.wav'", e.Message);
        Assert.Contains($"sample 2 of channel 1 (counting from 0) is {bad.ToString(System.Globalization.CultureInfo.InvariantCulture)}", e.Message);
        Assert.Contains("expected finite float samples within float32's range", e.Message);
    }
}
