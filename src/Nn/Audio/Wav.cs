using System.Buffers.Binary;
using System.Text;

namespace MiniGrad.Nn.Audio;

/// <summary>Thrown for a WAV file that cannot be read (see <see cref="Wav.Read"/>); the message names the file and what was wrong.</summary>
public sealed class WavFormatException(string path, string problem) : InvalidOperationException($"WAV file '{path}': {problem}")
{
    /// <summary>The file that failed.</summary>
    public string Path { get; } = path;
    /// <summary>What was wrong, without the file name.</summary>
    public string Problem { get; } = problem;
}

/// <summary>
/// Reads RIFF/WAVE files with integer PCM samples of 8, 16, 24 or 32 bits, IEEE float samples of 32 or 64 bits, or
/// 8-bit G.711 A-law or mu-law (telephone recordings), plain or WAVE_FORMAT_EXTENSIBLE with such a sub-format: what
/// recorders, sound editors, torchaudio.save, soundfile and scipy.io.wavfile write. Writes 16-bit PCM.
/// </summary>
public static class Wav
{
    /// <summary>The lowest sample rate a file may declare (1 kHz): below it no speech band survives, and a forged
    /// rate of a few Hz would make resampling to 16 kHz allocate thousands of samples per stored one.</summary>
    public const int MinSampleRate = 1000;

    /// <summary>The highest sample rate a file may declare (384 kHz, the highest rate common audio hardware records).</summary>
    public const int MaxSampleRate = 384000;

    /// <summary>
    /// Reads a WAV file: the samples scaled as torchaudio.load scales them (integer PCM of b bits divided by
    /// 2^(b-1), unsigned 8-bit centred first, so [-1, 1); A-law and mu-law decoded to 16-bit values, divided by 2^15;
    /// float samples as stored), multi-channel files mixed down to mono by averaging the channels, and the file's sample
    /// rate. Throws <see cref="WavFormatException"/> for a bad header, an encoding other than those above (ADPCM, MP3
    /// in a WAV, ...), a sample rate outside <see cref="MinSampleRate"/>..<see cref="MaxSampleRate"/> Hz, or a float
    /// sample that is NaN, infinite or beyond float32's range.
    /// </summary>
    public static (float[] Samples, int SampleRate) Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException(Directory.Exists(path) ? $"WAV file '{path}' is a folder" : $"WAV file '{path}' does not exist", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Reads a WAV file as mono at <paramref name="targetRate"/> Hz, resampling with <see cref="Resampler"/> when the file's rate differs.</summary>
    public static float[] ReadMono(string path, int targetRate = 16000)
    {
        var (x, rate) = Read(path);
        return rate == targetRate ? x : Resampler.Resample(x, rate, targetRate);
    }

    /// <summary>Parses the bytes of a WAV file (path only names it in errors).</summary>
    public static (float[] Samples, int SampleRate) Parse(ReadOnlySpan<byte> bytes, string path = "<memory>")
    {
        if (bytes.Length < 12 || !Tag(bytes, 0, "RIFF") || !Tag(bytes, 8, "WAVE"))
            throw new WavFormatException(path, "bad header: not a RIFF/WAVE file (expected 'RIFF' at byte 0 and 'WAVE' at byte 8)");
        int channels = 0, rate = 0, bits = 0;
        bool haveFmt = false;
        int encoding = 0; // the format code: 1 integer PCM, 3 IEEE float, 6 A-law, 7 mu-law
        int pos = 12;
        while (pos + 8 <= bytes.Length)
        {
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(pos + 4)..]);
            int body = pos + 8;
            if (Tag(bytes, pos, "fmt "))
            {
                if (size < 16) throw new WavFormatException(path, $"bad header: the 'fmt ' chunk has {size} bytes, expected at least 16");
                if (body + 16 > bytes.Length) throw new WavFormatException(path, $"bad header: the file ends inside the 'fmt ' chunk ({bytes.Length} bytes in all)");
                int format = BinaryPrimitives.ReadUInt16LittleEndian(bytes[body..]);
                channels = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(body + 2)..]);
                rate = BinaryPrimitives.ReadInt32LittleEndian(bytes[(body + 4)..]);
                bits = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(body + 14)..]);
                if (format == 0xFFFE && size >= 40 && body + 26 <= bytes.Length)
                    format = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(body + 24)..]); // the sub-format GUID starts with the format code
                if (format is not (1 or 3 or 6 or 7))
                    throw new WavFormatException(path, $"unsupported encoding: format code {format}, expected 1 (integer PCM), 3 (IEEE float), 6 (A-law) or 7 (mu-law)");
                encoding = format;
                string? expected = format switch
                {
                    1 when bits is not (8 or 16 or 24 or 32) => "8, 16, 24 or 32 for integer PCM",
                    3 when bits is not (32 or 64) => "32 or 64 for IEEE float",
                    6 or 7 when bits != 8 => $"8 for {(format == 6 ? "A-law" : "mu-law")}",
                    _ => null,
                };
                if (expected is not null) throw new WavFormatException(path, $"unsupported sample size: {bits} bits, expected {expected}");
                if (channels < 1) throw new WavFormatException(path, "bad header: 0 channels");
                if (rate < MinSampleRate || rate > MaxSampleRate)
                    throw new WavFormatException(path, $"unsupported sample rate {(uint)rate} Hz (header byte 24), expected {MinSampleRate}..{MaxSampleRate} Hz");
                haveFmt = true;
            }
            else if (Tag(bytes, pos, "data"))
            {
                if (!haveFmt) throw new WavFormatException(path, "bad header: the 'data' chunk comes before a 'fmt ' chunk");
                // Writers that stream leave 0 or 0xFFFFFFFF here; trust the file length then, and for a truncated file.
                long avail = bytes.Length - body;
                long n = size == 0 || size > avail ? avail : size;
                int width = bits / 8;
                long frameBytes = (long)width * channels;
                int frames = (int)Math.Min(n / frameBytes, Array.MaxLength);
                var x = new float[frames];
                var data = bytes.Slice(body, (int)(frames * frameBytes));
                // Integer samples to [-1, 1): v / 2^(bits-1), G.711 as 16-bit values; the channels summed in double, then averaged.
                double scale = (encoding == 3 ? 1.0 : Math.ScaleB(1.0, encoding is 6 or 7 ? -15 : 1 - bits)) / channels;
                for (int f = 0; f < frames; f++)
                {
                    double acc = 0;
                    for (int c = 0; c < channels; c++)
                    {
                        var v = data.Slice((int)((f * (long)channels + c) * width), width);
                        double sample = (encoding, width) switch
                        {
                            (3, 4) => BinaryPrimitives.ReadSingleLittleEndian(v),
                            (3, _) => BinaryPrimitives.ReadDoubleLittleEndian(v),
                            (6, _) => ALaw(v[0]),
                            (7, _) => MuLaw(v[0]),
                            (_, 1) => v[0] - 128,                                            // 8-bit PCM is unsigned
                            (_, 2) => BinaryPrimitives.ReadInt16LittleEndian(v),
                            (_, 3) => (v[0] | v[1] << 8 | (sbyte)v[2] << 16),                   // sign from the top byte
                            _ => BinaryPrimitives.ReadInt32LittleEndian(v),
                        };
                        if (!(Math.Abs(sample) <= float.MaxValue)) // NaN, infinite, or a double no float32 holds
                            throw new WavFormatException(path, $"sample {f} of channel {c} (counting from 0) is {sample.ToString(System.Globalization.CultureInfo.InvariantCulture)}; expected finite float samples within float32's range");
                        acc += sample;
                    }
                    x[f] = (float)(acc * scale);
                }
                return (x, rate);
            }
            long next = (long)body + size + (size & 1); // chunks are padded to even sizes
            if (next > bytes.Length) break;
            pos = (int)next;
        }
        throw new WavFormatException(path, haveFmt ? "bad header: no 'data' chunk" : "bad header: no 'fmt ' chunk");
    }

    /// <summary>Writes mono samples (clipped to [-1, 1]; 1 itself becomes 32767/32768) as a 16-bit PCM WAV file.</summary>
    public static void Write(string path, ReadOnlySpan<float> samples, int sampleRate)
    {
        ArgumentNullException.ThrowIfNull(path);
        File.WriteAllBytes(path, Encode(samples, sampleRate));
    }

    /// <summary>The bytes of a mono 16-bit PCM WAV file holding the samples (clipped to [-1, 1]).</summary>
    public static byte[] Encode(ReadOnlySpan<float> samples, int sampleRate)
    {
        if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "Wav: sampleRate must be positive");
        int dataBytes = samples.Length * 2;
        var b = new byte[44 + dataBytes];
        Encoding.ASCII.GetBytes("RIFF").CopyTo(b, 0);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), 36 + dataBytes);
        Encoding.ASCII.GetBytes("WAVEfmt ").CopyTo(b, 8);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), 16);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(20), 1);          // PCM
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(22), 1);          // mono
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(24), sampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(28), sampleRate * 2);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(32), 2);          // block align
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(34), 16);         // bits
        Encoding.ASCII.GetBytes("data").CopyTo(b, 36);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(40), dataBytes);
        for (int i = 0; i < samples.Length; i++)
        {
            // The reader's inverse (x / 32768), so a round trip is exact to half a step; +1 clips to 32767.
            double v = Math.Round(Math.Clamp(samples[i], -1f, 1f) * 32768.0);
            BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(44 + 2 * i), (short)Math.Clamp(v, -32768, 32767));
        }
        return b;
    }

    // ITU-T G.711 decoding to 16-bit values: mu-law 0xFF and 0x7F are 0, 0x00 is -32124; A-law 0xD5 is 8, 0x2A is -32256.
    static int MuLaw(byte u)
    {
        u = (byte)~u;
        int magnitude = (((u & 0x0F) << 3) + 0x84 << ((u >> 4) & 7)) - 0x84;
        return (u & 0x80) != 0 ? -magnitude : magnitude;
    }

    static int ALaw(byte a)
    {
        a ^= 0x55;
        int exponent = (a >> 4) & 7, mantissa = a & 0x0F;
        int magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
        return (a & 0x80) != 0 ? magnitude : -magnitude;
    }

    static bool Tag(ReadOnlySpan<byte> b, int at, string tag) =>
        at + 4 <= b.Length && b[at] == tag[0] && b[at + 1] == tag[1] && b[at + 2] == tag[2] && b[at + 3] == tag[3];
}
