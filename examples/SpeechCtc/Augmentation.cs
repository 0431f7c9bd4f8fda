using MiniGrad;
using MiniGrad.Nn.Audio;

namespace SpeechCtc;

/// <summary>
/// What makes the recognizer hear voices it was not trained on: each training utterance is kept as several log-mel
/// views, one per speed factor (SpeedPerturbation: tempo, pitch and formants move together, as from a different
/// speaker), optionally with white noise at a random SNR from NoiseSnr to NoiseSnr + 20 dB; every training step then
/// takes a random view and masks Masks random bands of up to FreqMask mel channels and Masks random spans of up to
/// TimeMask frames (SpecAugment), before stacking. With Vtlp = w above 0, each view's filterbank is also warped by
/// its own random factor in [1 - w, 1 + w] (vocal tract length perturbation: formants move without the tempo).
/// Validation and test see the plain features.
/// </summary>
sealed record Augmentation(double[] Speeds, double? NoiseSnr, int TimeMask, int FreqMask, int Masks, double Vtlp = 0)
{
    /// <summary>The options' augmentation, or null when it is off.</summary>
    public static Augmentation? From(Options o) => o.AugmentOn
        ? new Augmentation(o.Speeds, o.NoiseSnr, o.TimeMask, o.FreqMask, o.Masks, o.Vtlp)
        : null;

    /// <summary>The log-mel views of one 16 kHz wave, (frames, mels) each; seed makes the noise reproducible.</summary>
    public (float[] Mel, int Frames)[] Views(float[] wave, long seed)
    {
        var views = new (float[], int)[Speeds.Length];
        for (int k = 0; k < Speeds.Length; k++)
        {
            var w = Speeds[k] == 1 ? (float[])wave.Clone() : SpeedPerturbation.Speed(wave, Speeds[k]);
            if (NoiseSnr is { } snr)
            {
                var g = new Generator(seed * 31 + k);
                AdditiveNoise.AddWhite(w, snr + 20 * g.NextDouble(), g);
            }
            var features = Corpus.Features;
            if (Vtlp > 0)
                features = features.WithWarp(MiniGrad.Nn.Audio.Vtlp.RandomFactor(1 - Vtlp, 1 + Vtlp, new Generator(seed * 7919 + k + 1_000_003)));
            var mel = features.Compute(w);
            views[k] = (mel, mel.Length / Corpus.Features.NumMels);
        }
        return views;
    }

    /// <summary>One training step's version of an example: a random view, masked, stacked.</summary>
    public Example Apply(Example e, int stack, Generator g)
    {
        if (e.Views is null) return e;
        var (mel, _) = e.Views[(int)g.NextBelow((ulong)e.Views.Length)];
        mel = (float[])mel.Clone();
        int mels = Corpus.Features.NumMels;
        for (int m = 0; m < Masks; m++)
        {
            if (FreqMask > 0) SpecAugment.MaskInPlace(mel, mels, timeAxis: false, FreqMask, generator: g);
            if (TimeMask > 0) SpecAugment.MaskInPlace(mel, mels, timeAxis: true, TimeMask, generator: g);
        }
        var f = FrameStacking.Stack(mel, mels, stack);
        return e with { Features = f, Frames = f.Length / Corpus.FeatureDim(stack) };
    }
}
