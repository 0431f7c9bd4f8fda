using MiniGrad;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;

namespace SpeechCtc;

/// <summary>One utterance ready for the model: stacked features (Frames, Dim) row-major, labels and transcript; for
/// training with augmentation also its log-mel views (see <see cref="Augmentation"/>).</summary>
sealed record Example(float[] Features, int Frames, int[] Labels, string Transcript)
{
    public (float[] Mel, int Frames)[]? Views { get; init; }
}

/// <summary>One padded batch: features (T, N, F), padded targets (N, S), and the lengths.</summary>
sealed record Batch(Tensor Features, Tensor Targets, int[] InputLengths, int[] TargetLengths, Example[] Items);

/// <summary>Builds the train/validation/test sets (built-in synthetic digits or a TSV folder) and batches them.</summary>
static class Corpus
{
    // The built-in corpus seeds: fixed, so that every run is scored on the same unseen test set.
    public const long TrainSeed = 101, ValidationSeed = 202, TestSeed = 303;

    public static readonly LogMel Features = new();

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

    /// <summary>Pads a list of examples into one batch.</summary>
    public static Batch MakeBatch(Example[] items, int dim, Device device)
    {
        int n = items.Length, T = items.Max(e => e.Frames), S = Math.Max(1, items.Max(e => e.Labels.Length));
        var x = new float[T * n * dim];
        var y = new long[n * S];
        for (int b = 0; b < n; b++)
        {
            var e = items[b];
            for (int t = 0; t < e.Frames; t++) Array.Copy(e.Features, t * dim, x, (t * n + b) * dim, dim);
            for (int s = 0; s < e.Labels.Length; s++) y[b * S + s] = e.Labels[s];
        }
        return new Batch(Torch.Tensor(x, T, n, dim).To(device), Torch.Tensor(y, n, S), items.Select(e => e.Frames).ToArray(),
            items.Select(e => e.Labels.Length).ToArray(), items);
    }

    /// <summary>
    /// The batches of one epoch: shuffled, then sorted by length within windows of 20 batches so that little
    /// padding is needed, then the batches shuffled again (deterministic in the seed).
    /// </summary>
    public static List<Example[]> EpochBatches(Example[] data, int batchSize, Generator rng)
    {
        var order = Enumerable.Range(0, data.Length).ToArray();
        Shuffle(order, rng);
        var batches = new List<Example[]>();
        int window = batchSize * 20;
        for (int w = 0; w < order.Length; w += window)
        {
            var chunk = order.Skip(w).Take(window).OrderBy(i => data[i].Frames).ThenBy(i => i).ToArray();
            for (int b = 0; b < chunk.Length; b += batchSize) batches.Add(chunk.Skip(b).Take(batchSize).Select(i => data[i]).ToArray());
        }
        var bo = batches.ToArray();
        Shuffle(bo, rng);
        return bo.ToList();
    }

    /// <summary>Fixed batches sorted by length, for evaluation.</summary>
    public static List<Example[]> EvalBatches(Example[] data, int batchSize) =>
        data.OrderBy(e => e.Frames).Chunk(batchSize).ToList();

    static void Shuffle<T>(T[] a, Generator rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = (int)rng.NextBelow((ulong)(i + 1));
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
