using System.Collections;

namespace MiniGrad.Nn.Data;

/// <summary>
/// The order in which a <see cref="DataLoader{T, TBatch}"/> visits a dataset's items in one epoch (PyTorch's
/// <c>torch.utils.data.Sampler</c>): each enumeration is one epoch. A random sampler draws from its
/// <see cref="Generator"/> when an enumeration starts, so successive epochs differ and the same seed gives the same epochs.
/// </summary>
public abstract class Sampler : IEnumerable<int>
{
    /// <summary>The number of indices one epoch yields.</summary>
    public abstract int Count { get; }

    /// <summary>One epoch's indices.</summary>
    public abstract IEnumerator<int> GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Seeds a sampler's own generator (one not given by the user) for the epoch about to start from
    /// <see cref="Torch.DefaultGenerator"/>, as PyTorch's samplers do at each iteration.</summary>
    internal static void SeedForEpoch(Generator own) => own.ManualSeed((long)Torch.DefaultGenerator.NextUInt64());

    /// <summary>A random permutation of 0..n-1 (Fisher-Yates from the last element down, as PyTorch's randperm in spirit).</summary>
    public static int[] Randperm(int n, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"Randperm: n = {n} is invalid; expected a non-negative count");
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Shuffle(order, generator);
        return order;
    }

    /// <summary>Shuffles in place (Fisher-Yates from the last element down), drawing one number below i + 1 for each i.</summary>
    internal static void Shuffle<TItem>(TItem[] a, Generator generator)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = (int)generator.NextBelow((ulong)(i + 1));
            (a[i], a[j]) = (a[j], a[i]);
        }
    }


    internal static void CheckCount(string owner, int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, $"{owner}: count = {count} is invalid; expected a non-negative number of items");
    }
}

/// <summary>0, 1, ..., Count - 1 in order, every epoch (PyTorch's SequentialSampler).</summary>
public sealed class SequentialSampler : Sampler
{
    /// <summary>A sampler over <paramref name="count"/> items.</summary>
    public SequentialSampler(int count)
    {
        CheckCount(nameof(SequentialSampler), count);
        Count = count;
    }

    /// <inheritdoc/>
    public override int Count { get; }

    /// <inheritdoc/>
    public override IEnumerator<int> GetEnumerator()
    {
        for (int i = 0; i < Count; i++) yield return i;
    }
}

/// <summary>A fresh random permutation of 0..Count-1 each epoch, drawn from the generator (PyTorch's RandomSampler without replacement).</summary>
public sealed class RandomSampler : Sampler
{
    readonly int count;

    /// <summary>A sampler over <paramref name="count"/> items; without a generator, one of its own, seeded from
    /// <see cref="Torch.DefaultGenerator"/> at the start of every epoch (as PyTorch's RandomSampler does), so that
    /// Torch.ManualSeed before the loop fixes the order even for a sampler made earlier.</summary>
    public RandomSampler(int count, Generator? generator = null)
    {
        CheckCount(nameof(RandomSampler), count);
        this.count = count;
        owned = generator is null;
        Generator = generator ?? new Generator(0); // its own: seeded at each epoch's start
    }

    readonly bool owned;

    /// <summary>The stream each epoch's permutation is drawn from; a given one can be reseeded (ManualSeed) to replay an
    /// epoch (the sampler's own is reseeded from Torch.DefaultGenerator every epoch).</summary>
    public Generator Generator { get; }

    /// <inheritdoc/>
    public override int Count => count;

    /// <summary>One epoch: the permutation is drawn when enumeration starts.</summary>
    public override IEnumerator<int> GetEnumerator()
    {
        if (owned) SeedForEpoch(Generator);
        return ((IEnumerable<int>)Randperm(count, Generator)).GetEnumerator();
    }
}

/// <summary>
/// Yields one epoch's batches of dataset indices (PyTorch's <c>batch_sampler</c>): each enumeration is one epoch, and
/// every batch is non-empty.
/// </summary>
public interface IBatchSampler : IEnumerable<int[]>
{
    /// <summary>The number of batches one epoch yields.</summary>
    int Count { get; }
}

/// <summary>Cuts a sampler's indices into batches of batchSize, in the sampler's order; the last one shorter unless dropLast (PyTorch's BatchSampler).</summary>
public sealed class BatchSampler : IBatchSampler
{
    /// <summary>Batches of <paramref name="batchSize"/> indices from <paramref name="sampler"/>; <paramref name="dropLast"/> drops a final short batch.</summary>
    public BatchSampler(Sampler sampler, int batchSize, bool dropLast = false)
    {
        Sampler = sampler ?? throw new ArgumentNullException(nameof(sampler), "BatchSampler: sampler is null; expected a Sampler");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"BatchSampler: batchSize = {batchSize} is invalid; expected a positive number of items per batch");
        BatchSize = batchSize;
        DropLast = dropLast;
    }

    /// <summary>Where the indices come from.</summary>
    public Sampler Sampler { get; }
    /// <summary>Items per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Whether a final batch shorter than BatchSize is dropped.</summary>
    public bool DropLast { get; }

    /// <inheritdoc/>
    public int Count => DropLast ? Sampler.Count / BatchSize : (Sampler.Count + BatchSize - 1) / BatchSize;

    /// <inheritdoc/>
    public IEnumerator<int[]> GetEnumerator()
    {
        var batch = new List<int>(BatchSize);
        foreach (int i in Sampler)
        {
            batch.Add(i);
            if (batch.Count == BatchSize) { yield return batch.ToArray(); batch.Clear(); }
        }
        if (batch.Count > 0 && !DropLast) yield return batch.ToArray();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// Batches of items of similar length, so that padding a batch to its longest item wastes little. With shuffle (for
/// training) each epoch shuffles the items, sorts each bucket of <c>bucketBatches x batchSize</c> consecutive items by
/// length (ties by index), cuts it into batches, and shuffles the order of all the batches; every draw comes from the
/// generator, so a seed fixes the epochs. Without shuffle (for evaluation) the items are sorted by length once and cut
/// into batches in that order, the same every epoch. Larger buckets pad less but mix lengths less across batches.
/// </summary>
public sealed class BucketBatchSampler : IBatchSampler
{
    readonly int[] lengths;

    /// <summary>
    /// Batches over items whose lengths (frames, tokens: any size that padding follows) are <paramref name="lengths"/>;
    /// <paramref name="bucketBatches"/> is the bucket size in batches; <paramref name="dropLast"/> drops batches shorter
    /// than batchSize; without a generator, one seeded from <see cref="Torch.DefaultGenerator"/>.
    /// </summary>
    public BucketBatchSampler(IReadOnlyList<int> lengths, int batchSize, bool shuffle = true, Generator? generator = null, int bucketBatches = 20, bool dropLast = false)
    {
        if (lengths is null) throw new ArgumentNullException(nameof(lengths), "BucketBatchSampler: lengths is null; expected one length per item");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"BucketBatchSampler: batchSize = {batchSize} is invalid; expected a positive number of items per batch");
        if (bucketBatches <= 0) throw new ArgumentOutOfRangeException(nameof(bucketBatches), bucketBatches, $"BucketBatchSampler: bucketBatches = {bucketBatches} is invalid; expected a positive number of batches per bucket");
        this.lengths = lengths.ToArray();
        for (int i = 0; i < this.lengths.Length; i++)
            if (this.lengths[i] < 0)
                throw new ArgumentException($"BucketBatchSampler: lengths[{i}] = {this.lengths[i]} is invalid; expected a non-negative length", nameof(lengths));
        BatchSize = batchSize;
        Shuffle = shuffle;
        BucketBatches = bucketBatches;
        DropLast = dropLast;
        owned = shuffle && generator is null;
        Generator = shuffle ? generator ?? new Generator(0) : generator; // its own: seeded at each epoch's start
    }

    readonly bool owned; // the generator is the sampler's own: reseeded from Torch.DefaultGenerator every epoch, as RandomSampler's

    /// <summary>Items per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch is shuffled (training) or sorted by length (evaluation).</summary>
    public bool Shuffle { get; }
    /// <summary>Batches per bucket when shuffling.</summary>
    public int BucketBatches { get; }
    /// <summary>Whether batches shorter than BatchSize are dropped.</summary>
    public bool DropLast { get; }
    /// <summary>The stream each shuffled epoch is drawn from (null without shuffle and no generator given); a given one
    /// can be reseeded (ManualSeed) to replay an epoch, the sampler's own is reseeded from Torch.DefaultGenerator every epoch.</summary>
    public Generator? Generator { get; }

    /// <inheritdoc/>
    public int Count => DropLast ? lengths.Length / BatchSize : (lengths.Length + BatchSize - 1) / BatchSize;

    /// <summary>One epoch's batches, all drawn when enumeration starts.</summary>
    public IEnumerator<int[]> GetEnumerator() => ((IEnumerable<int[]>)Epoch()).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    int[][] Epoch()
    {
        int n = lengths.Length;
        if (owned) Sampler.SeedForEpoch(Generator!);
        var order = Shuffle ? Sampler.Randperm(n, Generator!) : Enumerable.Range(0, n).ToArray();
        int window = Shuffle ? (int)Math.Min((long)BatchSize * BucketBatches, int.MaxValue) : Math.Max(n, 1);
        var batches = new List<int[]>(Count);
        for (int w = 0; w < n; w += window)
        {
            var bucket = order.AsSpan(w, Math.Min(window, n - w)).ToArray();
            Array.Sort(bucket, (a, b) => lengths[a] != lengths[b] ? lengths[a].CompareTo(lengths[b]) : a.CompareTo(b));
            for (int b = 0; b < bucket.Length; b += BatchSize)
            {
                int size = Math.Min(BatchSize, bucket.Length - b);
                if (size < BatchSize && DropLast) continue;
                batches.Add(bucket.AsSpan(b, size).ToArray());
            }
        }
        var result = batches.ToArray();
        if (Shuffle) Sampler.Shuffle(result, Generator!);
        return result;
    }
}
