using System.Collections;
using System.Collections.Concurrent;

namespace MiniGrad.Nn.Data;

/// <summary>
/// Loading a batch failed: reading an item from the dataset or collating the batch threw. The message names the batch
/// (its index in the epoch) and the item (its dataset index) and the original exception is the InnerException; it is
/// thrown on the thread that enumerates the loader, with or without prefetch.
/// </summary>
public sealed class DataLoaderException(string message, int batchIndex, int? itemIndex, Exception inner)
    : InvalidOperationException(message, inner)
{
    /// <summary>The failing batch's position in the epoch (0-based).</summary>
    public int BatchIndex { get; } = batchIndex;
    /// <summary>The dataset index of the item whose reading threw; null when the collate function threw.</summary>
    public int? ItemIndex { get; } = itemIndex;
}

/// <summary>
/// Batches a dataset for training or evaluation (PyTorch's <c>torch.utils.data.DataLoader</c>): each enumeration is
/// one epoch; a batch sampler picks each batch's item indices, the items are read from the dataset and a collate
/// function turns them into a batch (padded tensors, say: <see cref="Collate"/>). With <c>prefetch</c> &gt; 0 a
/// background thread reads and collates up to that many batches ahead of the consumer (so feature extraction or
/// augmentation overlaps the training step); the batches and their order are the same with or without prefetch, since
/// the epoch's index batches are drawn on the consumer's thread when enumeration starts and the worker prepares them in
/// order. An exception in the worker comes out of the consumer's MoveNext as a <see cref="DataLoaderException"/>
/// naming the batch and item; disposing the enumerator (leaving a foreach early) stops the worker and waits for it.
/// </summary>
/// <typeparam name="T">The dataset's item type.</typeparam>
/// <typeparam name="TBatch">What the collate function makes of a batch's items.</typeparam>
public sealed class DataLoader<T, TBatch> : IEnumerable<TBatch>
{
    readonly Func<T[], int, TBatch> collate;

    /// <summary>
    /// Batches of <paramref name="batchSize"/> items in order, or in a fresh random order every epoch with
    /// <paramref name="shuffle"/> (drawn from <paramref name="generator"/>, or from one seeded from
    /// <see cref="Torch.DefaultGenerator"/> at each epoch's start); <paramref name="dropLast"/> drops a final short batch;
    /// <paramref name="prefetch"/> batches are prepared ahead on a background thread (0: on the consumer's thread).
    /// </summary>
    public DataLoader(Dataset<T> dataset, Func<T[], TBatch> collate, int batchSize = 1, bool shuffle = false, bool dropLast = false,
        Generator? generator = null, int prefetch = 0)
        : this(dataset, Wrap(collate), MakeSampler(dataset, batchSize, shuffle, dropLast, generator), prefetch) { }

    /// <summary>
    /// Batches whose item indices come from <paramref name="batchSampler"/> (a <see cref="BucketBatchSampler"/>, say);
    /// <paramref name="prefetch"/> batches are prepared ahead on a background thread (0: on the consumer's thread).
    /// </summary>
    public DataLoader(Dataset<T> dataset, IBatchSampler batchSampler, Func<T[], TBatch> collate, int prefetch = 0)
        : this(dataset, Wrap(collate), batchSampler, prefetch) { }

    /// <summary>
    /// As the other constructor with a batch sampler, with a collate function that also receives the batch's index in
    /// the epoch: a random augmentation can seed its own generator from it (and the epoch), so that its draws do not
    /// depend on prefetch, on threads, or on where a resumed epoch starts.
    /// </summary>
    public DataLoader(Dataset<T> dataset, IBatchSampler batchSampler, Func<T[], int, TBatch> collate, int prefetch = 0)
        : this(dataset, collate, batchSampler, prefetch) { }

    DataLoader(Dataset<T> dataset, Func<T[], int, TBatch> collate, IBatchSampler batchSampler, int prefetch)
    {
        Dataset = dataset ?? throw new ArgumentNullException(nameof(dataset), "DataLoader: dataset is null; expected a Dataset");
        this.collate = collate ?? throw new ArgumentNullException(nameof(collate), "DataLoader: collate is null; expected a function from a batch's items to a batch");
        BatchSampler = batchSampler ?? throw new ArgumentNullException(nameof(batchSampler), "DataLoader: batchSampler is null; expected an IBatchSampler");
        if (prefetch < 0) throw new ArgumentOutOfRangeException(nameof(prefetch), prefetch, $"DataLoader: prefetch = {prefetch} is invalid; expected 0 (load on the consumer's thread) or a positive number of batches to prepare ahead");
        Prefetch = prefetch;
    }

    static Func<T[], int, TBatch> Wrap(Func<T[], TBatch> collate)
    {
        if (collate is null) throw new ArgumentNullException(nameof(collate), "DataLoader: collate is null; expected a function from a batch's items to a batch");
        return (items, _) => collate(items);
    }

    static IBatchSampler MakeSampler(Dataset<T> dataset, int batchSize, bool shuffle, bool dropLast, Generator? generator)
    {
        if (dataset is null) throw new ArgumentNullException(nameof(dataset), "DataLoader: dataset is null; expected a Dataset");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"DataLoader: batchSize = {batchSize} is invalid; expected a positive number of items per batch");
        if (!shuffle && generator is not null) throw new ArgumentException("DataLoader: a generator was given with shuffle = false; expected shuffle = true (the generator drives the shuffling) or no generator", nameof(generator));
        Sampler sampler = shuffle ? new RandomSampler(dataset.Count, generator) : new SequentialSampler(dataset.Count);
        return new BatchSampler(sampler, batchSize, dropLast);
    }

    /// <summary>The dataset the items come from.</summary>
    public Dataset<T> Dataset { get; }
    /// <summary>Picks each batch's item indices, one enumeration per epoch.</summary>
    public IBatchSampler BatchSampler { get; }
    /// <summary>How many batches the background thread prepares ahead (0: none, loading happens in MoveNext).</summary>
    public int Prefetch { get; }

    /// <summary>The number of batches in one epoch (PyTorch's <c>len(loader)</c>).</summary>
    public int Count => BatchSampler.Count;

    /// <summary>One epoch.</summary>
    public IEnumerator<TBatch> GetEnumerator() => Batches().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// One epoch from batch <paramref name="start"/> on: the epoch's index batches are drawn as for a whole epoch (the
    /// sampler's generator advances the same), and the batches before <paramref name="start"/> are skipped without
    /// being loaded, which is how a run resumed mid-epoch sees what an uninterrupted one would.
    /// <paramref name="cancellationToken"/> stops the worker and makes MoveNext throw OperationCanceledException.
    /// The index batches are drawn when this method is called.
    /// </summary>
    public IEnumerable<TBatch> Batches(int start = 0, CancellationToken cancellationToken = default)
    {
        if (start < 0) throw new ArgumentOutOfRangeException(nameof(start), start, $"DataLoader: start = {start} is invalid; expected a batch index in 0..{Count}");
        // The prefetch worker's seed, drawn with or without prefetch (as PyTorch draws its base seed for any num_workers),
        // so that turning prefetch on changes neither the next epochs' order nor any later draw of the caller's stream.
        long workerSeed = (long)Torch.DefaultGenerator.NextUInt64();
        var batches = BatchSampler.ToArray();
        if (start > batches.Length) throw new ArgumentOutOfRangeException(nameof(start), start, $"DataLoader: start = {start} is past the epoch's {batches.Length} batches; expected 0..{batches.Length}");
        for (int b = 0; b < batches.Length; b++)
        {
            if (batches[b] is null || batches[b].Length == 0)
                throw new InvalidOperationException($"DataLoader: the batch sampler's batch {b} is {(batches[b] is null ? "null" : "empty")}; expected at least one index");
            foreach (int i in batches[b])
                if ((uint)i >= (uint)Dataset.Count)
                    throw new InvalidOperationException($"DataLoader: the batch sampler's batch {b} holds index {i}, outside the dataset's 0..{Dataset.Count - 1}");
        }
        return Prefetch == 0 ? Inline(batches, start, cancellationToken) : Prefetched(batches, start, workerSeed, cancellationToken);
    }

    IEnumerable<TBatch> Inline(int[][] batches, int start, CancellationToken ct)
    {
        for (int b = start; b < batches.Length; b++)
        {
            ct.ThrowIfCancellationRequested();
            yield return Load(batches[b], b);
        }
    }

    /// <summary>Reads and collates one batch, wrapping a failure in a DataLoaderException naming the batch and item.</summary>
    TBatch Load(int[] indices, int b)
    {
        var items = new T[indices.Length];
        for (int k = 0; k < indices.Length; k++)
        {
            try { items[k] = Dataset.Get(indices[k]); }
            catch (Exception e)
            {
                throw new DataLoaderException($"DataLoader: reading item {indices[k]} (batch {b} of the epoch) from the dataset failed: {e.GetType().Name}: {e.Message}", b, indices[k], e);
            }
        }
        try { return collate(items, b); }
        catch (Exception e)
        {
            string shown = string.Join(", ", indices.Take(16)) + (indices.Length > 16 ? ", ..." : "");
            throw new DataLoaderException($"DataLoader: collating batch {b} of the epoch (items {shown}) failed: {e.GetType().Name}: {e.Message}", b, null, e);
        }
    }

    IEnumerable<TBatch> Prefetched(int[][] batches, int start, long seed, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var queue = new BlockingCollection<(TBatch Batch, Exception? Error)>(Prefetch);
        // The worker's Torch.DefaultGenerator (one per thread) is seeded from the consumer's (seed, drawn by Batches), once
        // per epoch, as PyTorch seeds its workers: a dataset that draws random numbers (augmentation) differs from epoch to
        // epoch, and Torch.ManualSeed fixes it.
        var worker = new Thread(() =>
        {
            try
            {
                Torch.ManualSeed(seed);
                for (int b = start; b < batches.Length && !stop.IsCancellationRequested; b++)
                {
                    (TBatch, Exception?) result;
                    try { result = (Load(batches[b], b), null); }
                    catch (DataLoaderException e) { result = (default!, e); }
                    queue.Add(result, stop.Token);
                    if (result.Item2 is not null) break;
                }
            }
            catch (OperationCanceledException) { } // the consumer stopped: nothing more to prepare
            finally { queue.CompleteAdding(); }
        })
        { IsBackground = true, Name = "DataLoader prefetch" };
        worker.Start();
        try
        {
            foreach (var (batch, error) in queue.GetConsumingEnumerable(ct))
            {
                if (error is not null) throw error;
                yield return batch;
            }
            ct.ThrowIfCancellationRequested();
        }
        finally
        {
            stop.Cancel();
            worker.Join();
        }
    }
}
