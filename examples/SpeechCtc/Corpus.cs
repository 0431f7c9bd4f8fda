using MiniGrad;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;

namespace SpeechCtc;

/// <summary>One utterance ready for the model: stacked features (Frames, Dim) row-major, labels and transcript; for
/// training with augmentation also its log-mel views (see <see cref="Augmentation"/>).</summary>
sealed record Example(float[] Features, int Frames, int[] Labels, string Transcript)
{
    public (float[] Mel, int Frames)[]? Views { get; init; }

    /// <summary>The view this epoch trains on (<see cref="Augmentation.ChooseViews"/>).</summary>
    public int? View { get; init; }

    /// <summary>Whether CTC can align the transcript to the model steps at all: one step per label, and a blank between
    /// two equal neighbours (otherwise its loss is infinite, and zeroed in training).</summary>
    public bool Alignable => Frames >= Labels.Length + Labels.Zip(Labels.Skip(1)).Count(p => p.First == p.Second);
}

/// <summary>One padded batch: features (T, N, F), padded targets (N, S), and the lengths.</summary>
sealed record Batch(Tensor Features, Tensor Targets, int[] InputLengths, int[] TargetLengths, Example[] Items);

/// <summary>Builds the train/validation/test sets (built-in synthetic digits or a TSV folder) and batches them.</summary>
static class Corpus
{
    // The built-in corpus seeds: fixed, so that every run is scored on the same unseen test set.
    public const long TrainSeed = 101, ValidationSeed = 202, TestSeed = 303;

    // TopDb: recordings from different sources differ in their silence (digital zeros at the log floor, dither, faint
    // noise), which per-utterance normalization would otherwise carry into every frame's scale.
    public static readonly LogMel Features = new() { TopDb = 80 };

    public static int FeatureDim(int stack) => Features.NumMels * stack;

    /// <summary>Features of a 16 kHz wave, stacked.</summary>
    public static (float[] Data, int Frames) Featurize(float[] wave, int stack)
    {
        var f = FrameStacking.Stack(Features.Compute(wave), Features.NumMels, stack);
        return (f, f.Length / FeatureDim(stack));
    }

    /// <summary>Features of every utterance, with the augmentation's views when one is given (training data).</summary>
    public static Example[] Prepare(IReadOnlyList<(float[] Wave, string Transcript)> items, Alphabet alphabet, int stack, Augmentation? augmentation = null)
    {
        var result = new Example[items.Count];
        Parallel.For(0, items.Count, i =>
        {
            var (f, frames) = Featurize(items[i].Wave, stack);
            result[i] = new Example(f, frames, alphabet.Encode(items[i].Transcript), items[i].Transcript) { Views = augmentation?.Views(items[i].Wave, i) };
        });
        return result;
    }

    public static Example[] Synthetic(long seed, int count, Alphabet alphabet, int stack, Augmentation? augmentation = null) =>
        Prepare(new SyntheticSpeech(seed).GenerateRange(0, count).Select(u => (u.Wave, u.Transcript)).ToList(), alphabet, stack, augmentation);

    public static readonly Alphabet Digits = new(SyntheticSpeech.Symbols);

    /// <summary>
    /// Batches are padded to a multiple of this many model steps, so that their shapes repeat from step to step. Before
    /// session 25 MiniGrad's storage pool reused arrays of the same length only, and with T the longest utterance of each
    /// length bucket nearly every step missed it (600 steps of the many-engine corpus: 42.5 GB allocated, 3.5-4.0 s of GC
    /// pauses in 22 s; padded 11.8 GB, 0.5 s, 17 s). The pool's size classes now serve unpadded batches about as well
    /// (9.8 GB, 0.6 s, 19 s); the padding stays, as the recipe's figures were measured with it. It costs little: the LSTM
    /// runs each utterance over its own frames only, and CTC reads the lengths.
    /// </summary>
    public const int PadSteps = 8;

    /// <summary>Pads a list of examples into one batch: features (T, N, F) on the device, T a multiple of
    /// <see cref="PadSteps"/>, and targets (N, S) on the CPU.</summary>
    public static Batch MakeBatch(Example[] items, int dim, Device device)
    {
        var x = Collate.PadSequences(items.Select(e => e.Features).ToArray(), dim);
        var y = Collate.PadLabels(items.Select(e => e.Labels).ToArray());
        int t = x.Data.Shape[0], padded = (t + PadSteps - 1) / PadSteps * PadSteps;
        var features = padded == t ? x.Data : Torch.Cat([x.Data, Torch.Zeros([padded - t, items.Length, dim])], 0);
        return new Batch(features.To(device), y.Data, x.Lengths, y.Lengths, items);
    }

    /// <summary>
    /// One training epoch's batches: utterances of similar length batched together (buckets of 20 batches), the batch
    /// order shuffled, every draw from the generator (BucketBatchSampler), each batch collated by
    /// <paramref name="collate"/> (given the batch's index in the epoch) on a background thread,
    /// <paramref name="prefetch"/> batches ahead of the training step.
    /// </summary>
    public static DataLoader<Example, Batch> TrainLoader(Example[] data, int batchSize, Generator rng, Func<Example[], int, Batch> collate, int prefetch = 2) =>
        new(new ListDataset<Example>(data), new BucketBatchSampler(data.Select(e => e.Frames).ToArray(), batchSize, generator: rng, bucketBatches: 20), collate, prefetch);

    /// <summary>Fixed batches sorted by length (ties in data order), for evaluation.</summary>
    public static DataLoader<Example, Batch> EvalLoader(Example[] data, int batchSize, int dim, Device device) =>
        new(new ListDataset<Example>(data), new BucketBatchSampler(data.Select(e => e.Frames).ToArray(), batchSize, shuffle: false),
            items => MakeBatch(items, dim, device));
}
