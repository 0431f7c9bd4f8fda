using MiniGrad;
using MiniGrad.Nn.Audio;

namespace SpeechCtc;

/// <summary>
/// What makes the recognizer hear voices and recordings it was not trained on. Each training utterance is kept as
/// several log-mel views, one per speed factor (SpeedPerturbation: tempo, pitch and formants move together, as from a
/// different speaker). Each view, independently with probability one half each, gets 0..PadSeconds of digital silence
/// before and after (drawn apart), and white noise at an SNR drawn from NoiseSnr's range: recordings start and end
/// with silence or a noise floor the synthetic voices never have, and per-utterance normalization carries them into
/// every frame (benchmarks/speech-voices/README.md). With Vtlp = w above 0, each view's filterbank is also warped by
/// its own random factor in [1 - w, 1 + w] (vocal tract length perturbation: formants move without the tempo). Every
/// epoch then gives each utterance one of its views (<see cref="ChooseViews"/>), and every training step masks Masks
/// random bands of up to FreqMask mel channels and Masks random spans of up to TimeMask frames (SpecAugment) before
/// stacking (<see cref="Apply"/>). Validation and test see the plain features.
/// </summary>
sealed record Augmentation(double[] Speeds, double PadSeconds, (double Lo, double Hi)? NoiseSnr, int TimeMask, int FreqMask, int Masks, double Vtlp = 0)
{
    /// <summary>The options' augmentation, or null when it is off.</summary>
    public static Augmentation? From(Options o) => o.AugmentOn
        ? new Augmentation(o.Speeds, o.PadSilence, o.NoiseSnr, o.TimeMask, o.FreqMask, o.Masks, o.Vtlp)
        : null;

    /// <summary>The log-mel views of one 16 kHz wave, (frames, mels) each; seed (the utterance's index) makes the
    /// padding, the noise and the warp reproducible.</summary>
    public (float[] Mel, int Frames)[] Views(float[] wave, long seed)
    {
        var views = new (float[], int)[Speeds.Length];
        for (int k = 0; k < Speeds.Length; k++)
        {
            var w = Speeds[k] == 1 ? (float[])wave.Clone() : SpeedPerturbation.Speed(wave, Speeds[k]);
            var g = new Generator(seed * 1_000_003 + k + 99);
            if (PadSeconds > 0 && g.NextDouble() < 0.5)
            {
                double most = PadSeconds * Corpus.Features.SampleRate;
                int before = (int)(g.NextDouble() * most), after = (int)(g.NextDouble() * most);
                var padded = new float[before + w.Length + after];
                w.CopyTo(padded, before);
                w = padded;
            }
            if (NoiseSnr is { } snr && g.NextDouble() < 0.5)
                AdditiveNoise.AddWhite(w, snr.Lo + (snr.Hi - snr.Lo) * g.NextDouble(), g);
            var features = Corpus.Features;
            if (Vtlp > 0)
                features = features.WithWarp(MiniGrad.Nn.Audio.Vtlp.RandomFactor(1 - Vtlp, 1 + Vtlp, new Generator(seed * 7919 + k + 1_000_003)));
            var mel = features.Compute(w);
            views[k] = (mel, mel.Length / Corpus.Features.NumMels);
        }
        return views;
    }

    /// <summary>An epoch's training examples: each with one of its views, drawn from the generator, and Frames that
    /// view's length in model steps, so that the epoch's batches are bucketed by what the model will see (a batch is
    /// as long as its longest utterance, and the views differ in length by their speed and padding).</summary>
    public static Example[] ChooseViews(Example[] train, int stack, Generator g) =>
        train.Select(e => e.Views is null ? e : PickView(e, (int)g.NextBelow((ulong)e.Views.Length), stack)).ToArray();

    static Example PickView(Example e, int view, int stack) =>
        e with { View = view, Frames = FrameStacking.StackedFrames(e.Views![view].Frames, stack) };

    /// <summary>One training step's version of an example: its epoch's view (<see cref="ChooseViews"/>), masked, stacked.</summary>
    public Example Apply(Example e, int stack, Generator g)
    {
        if (e.Views is null) return e;
        var mel = (float[])e.Views[e.View ?? throw new InvalidOperationException("Augmentation.Apply: the example has no view chosen; call ChooseViews for the epoch first")].Mel.Clone();
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
