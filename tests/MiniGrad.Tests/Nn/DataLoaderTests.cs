using System.Collections.Concurrent;
using MiniGrad.Nn;
using MiniGrad.Nn.Data;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// The data toolkit: datasets, samplers (sequential, random, length buckets), the loader (batches, shuffling from a
/// generator, dropLast, prefetch on a background thread, errors naming the item) and the padding collate.
/// </summary>
public class DataLoaderTests
{
    static ListDataset<int> Ints(int n) => new(Enumerable.Range(0, n).ToArray());

    static List<int[]> Epoch(DataLoader<int, int[]> loader) => loader.ToList();

    static DataLoader<int, int[]> Loader(int n, int batchSize, bool shuffle = false, bool dropLast = false, Generator? g = null, int prefetch = 0) =>
        new(Ints(n), items => items, batchSize, shuffle, dropLast, g, prefetch);

    /// <summary>The exception of exactly type TEx, with the parameter name and every fragment in the message.</summary>
    static TEx Err<TEx>(Action action, string? param, params string[] fragments) where TEx : Exception
    {
        var e = Assert.Throws<TEx>(action);
        if (param is not null) Assert.Equal(param, Assert.IsAssignableFrom<ArgumentException>(e).ParamName);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    static void CoversEachOnce(IEnumerable<int[]> batches, int n) =>
        Assert.Equal(Enumerable.Range(0, n), batches.SelectMany(b => b).Order());

    // ---------- batches, shuffling, dropLast ----------

    [Fact]
    public void SequentialBatchesInOrderWithAShortLastBatch()
    {
        var loader = Loader(23, 5);
        Assert.Equal(5, loader.Count);
        var batches = Epoch(loader);
        Assert.Equal(5, batches.Count);
        Assert.Equal(new[] { 5, 5, 5, 5, 3 }, batches.Select(b => b.Length));
        Assert.Equal(Enumerable.Range(0, 23), batches.SelectMany(b => b)); // in order, each once
        Assert.Equal(batches, Epoch(loader)); // every epoch the same
    }

    [Fact]
    public void DropLastDropsOnlyTheShortFinalBatch()
    {
        var loader = Loader(23, 5, dropLast: true);
        Assert.Equal(4, loader.Count);
        var batches = Epoch(loader);
        Assert.Equal(4, batches.Count);
        Assert.All(batches, b => Assert.Equal(5, b.Length));
        Assert.Equal(Enumerable.Range(0, 20), batches.SelectMany(b => b));
        // A size that divides evenly loses nothing.
        Assert.Equal(Enumerable.Range(0, 20), Epoch(Loader(20, 5, dropLast: true)).SelectMany(b => b));

        var shuffled = Loader(23, 5, shuffle: true, dropLast: true, g: new Generator(3));
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var e = Epoch(shuffled);
            Assert.Equal(4, e.Count);
            Assert.All(e, b => Assert.Equal(5, b.Length));
            Assert.Equal(20, e.SelectMany(b => b).Distinct().Count());
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(23, 5)]
    [InlineData(40, 8)]
    [InlineData(7, 10)]
    public void ShuffledEpochsCoverEveryItemExactlyOnce(int n, int batchSize)
    {
        var loader = Loader(n, batchSize, shuffle: true, g: new Generator(11));
        for (int epoch = 0; epoch < 4; epoch++)
        {
            var batches = Epoch(loader);
            Assert.Equal(loader.Count, batches.Count);
            Assert.All(batches[..^1], b => Assert.Equal(batchSize, b.Length));
            CoversEachOnce(batches, n);
        }
    }

    [Fact]
    public void ShuffleIsReproducibleForASeedAndDiffersAcrossEpochsAndSeeds()
    {
        var a = Loader(50, 4, shuffle: true, g: new Generator(42));
        var b = Loader(50, 4, shuffle: true, g: new Generator(42));
        var (a1, a2, b1, b2) = (Flat(a), Flat(a), Flat(b), Flat(b));
        Assert.Equal(a1, b1);
        Assert.Equal(a2, b2);
        Assert.NotEqual(a1, a2); // the generator moves on between epochs
        Assert.NotEqual(Enumerable.Range(0, 50), a1); // actually shuffled
        Assert.NotEqual(a1, Flat(Loader(50, 4, shuffle: true, g: new Generator(43))));

        // Reseeding the generator replays an epoch (how a run seeds each epoch from its seed).
        var g = new Generator(0);
        var c = Loader(50, 4, shuffle: true, g: g);
        g.ManualSeed(42);
        Assert.Equal(a1, Flat(c));

        // Without a generator the loader's is seeded from Torch's default, so Torch.ManualSeed fixes it.
        Torch.ManualSeed(5);
        var d1 = Flat(Loader(50, 4, shuffle: true));
        Torch.ManualSeed(5);
        Assert.Equal(d1, Flat(Loader(50, 4, shuffle: true)));
        // ... also for a loader made before the seed is set (PyTorch seeds its sampler at each epoch's start).
        var early = Loader(50, 4, shuffle: true);
        var buckets = new BucketBatchSampler(Enumerable.Range(0, 50).ToArray(), 4);
        Torch.ManualSeed(5);
        Assert.Equal(d1, Flat(early));
        Torch.ManualSeed(6);
        var bucketEpoch = buckets.SelectMany(x => x).ToArray();
        Torch.ManualSeed(6);
        Assert.Equal(bucketEpoch, buckets.SelectMany(x => x).ToArray());

        static int[] Flat(DataLoader<int, int[]> l) => l.SelectMany(x => x).ToArray();
    }

    [Fact]
    public void RandomSamplerDrawsAPermutationEachEpoch()
    {
        var s = new RandomSampler(30, new Generator(9));
        Assert.Equal(30, s.Count);
        var (e1, e2) = (s.ToArray(), s.ToArray());
        Assert.Equal(Enumerable.Range(0, 30), e1.Order());
        Assert.Equal(Enumerable.Range(0, 30), e2.Order());
        Assert.NotEqual(e1, e2);
        Assert.Equal(e1, Sampler.Randperm(30, new Generator(9)));
        Assert.Equal(Enumerable.Range(0, 6), new SequentialSampler(6));
        Assert.Empty(new SequentialSampler(0));
        Assert.Equal(new[] { new[] { 0, 1, 2 }, [3, 4, 5], [6] }, new BatchSampler(new SequentialSampler(7), 3).ToArray());
        Assert.Equal(2, new BatchSampler(new SequentialSampler(7), 3, dropLast: true).Count);
    }

    [Fact]
    public void DatasetIndexerAndCount()
    {
        var d = new ListDataset<string>(["a", "b", "c"]);
        Assert.Equal(3, d.Count);
        Assert.Equal("b", d[1]);
        Assert.Equal("c", d.Get(2));
        Err<ArgumentOutOfRangeException>(() => _ = d[3], "index", "ListDataset", "index 3", "0..2");
        Err<ArgumentOutOfRangeException>(() => d.Get(-1), "index", "index -1");
    }

    // ---------- length buckets ----------

    /// <summary>A skewed set: most items short, a tenth very long.</summary>
    static int[] SkewedLengths(int n, int seed)
    {
        var g = new Generator(seed);
        return Enumerable.Range(0, n).Select(_ => g.NextDouble() < 0.1 ? 200 + (int)g.NextBelow(200) : 5 + (int)g.NextBelow(20)).ToArray();
    }

    static long Padding(IEnumerable<int[]> batches, int[] lengths) =>
        batches.Sum(b => (long)b.Max(i => lengths[i]) * b.Length - b.Sum(i => (long)lengths[i]));

    [Fact]
    public void BucketingCutsPaddingAndKeepsEveryItem()
    {
        var lengths = SkewedLengths(403, 1);
        var bucket = new BucketBatchSampler(lengths, 8, generator: new Generator(2), bucketBatches: 10);
        var random = new BatchSampler(new RandomSampler(lengths.Length, new Generator(2)), 8);
        Assert.Equal(random.Count, bucket.Count);
        long bucketPad = 0, randomPad = 0;
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var b = bucket.ToArray();
            Assert.Equal(bucket.Count, b.Length);
            CoversEachOnce(b, lengths.Length);
            Assert.Equal(1, b.Count(x => x.Length != 8)); // 403 = 50 x 8 + 3
            bucketPad += Padding(b, lengths);
            randomPad += Padding(random, lengths);
        }
        Assert.True(bucketPad * 4 < randomPad, $"bucketed padding {bucketPad} should be well under random batching's {randomPad}");
    }

    [Fact]
    public void BucketEpochsAreReproducibleShuffledAndDifferent()
    {
        var lengths = SkewedLengths(200, 3);
        var a = new BucketBatchSampler(lengths, 8, generator: new Generator(4));
        var b = new BucketBatchSampler(lengths, 8, generator: new Generator(4));
        var (a1, a2) = (a.ToArray(), a.ToArray());
        Assert.Equal(a1, b.ToArray());
        Assert.Equal(a2, b.ToArray());
        Assert.NotEqual(a1, a2);
        Assert.NotEqual(a1, new BucketBatchSampler(lengths, 8, generator: new Generator(5)).ToArray());
        // Batch order is shuffled: the batches' longest items are not in increasing order.
        var maxima = a1.Select(x => x.Max(i => lengths[i])).ToArray();
        Assert.NotEqual(maxima.Order(), maxima);
    }

    [Fact]
    public void BucketMatchesItsDocumentedAlgorithm()
    {
        // Shuffle, sort buckets of bucketBatches x batchSize by (length, index), cut, shuffle the batches: the speech
        // example's batching before the toolkit, so its runs are unchanged.
        var lengths = SkewedLengths(257, 7);
        for (int bucketBatches = 1; bucketBatches <= 20; bucketBatches += 19)
        {
            var expected = Reference(lengths, 6, bucketBatches, new Generator(8));
            Assert.Equal(expected, new BucketBatchSampler(lengths, 6, generator: new Generator(8), bucketBatches: bucketBatches).ToArray());
        }

        static int[][] Reference(int[] len, int batchSize, int bucketBatches, Generator rng)
        {
            var order = Enumerable.Range(0, len.Length).ToArray();
            Shuffle(order, rng);
            var batches = new List<int[]>();
            int window = batchSize * bucketBatches;
            for (int w = 0; w < order.Length; w += window)
            {
                var chunk = order.Skip(w).Take(window).OrderBy(i => len[i]).ThenBy(i => i).ToArray();
                for (int b = 0; b < chunk.Length; b += batchSize) batches.Add(chunk.Skip(b).Take(batchSize).ToArray());
            }
            var bo = batches.ToArray();
            Shuffle(bo, rng);
            return bo;
        }

        static void Shuffle<TI>(TI[] a, Generator rng)
        {
            for (int i = a.Length - 1; i > 0; i--)
            {
                int j = (int)rng.NextBelow((ulong)(i + 1));
                (a[i], a[j]) = (a[j], a[i]);
            }
        }
    }

    [Fact]
    public void BucketWithoutShuffleSortsByLengthThenIndex()
    {
        int[] lengths = [5, 3, 9, 3, 1, 5, 7];
        var s = new BucketBatchSampler(lengths, 3, shuffle: false);
        var expected = new[] { new[] { 4, 1, 3 }, [0, 5, 6], [2] };
        Assert.Equal(expected, s.ToArray());
        Assert.Equal(expected, s.ToArray());
        Assert.Equal(new[] { new[] { 4, 1, 3 }, [0, 5, 6] }, new BucketBatchSampler(lengths, 3, shuffle: false, dropLast: true).ToArray());
    }

    [Fact]
    public void BucketDropLastKeepsOnlyFullBatches()
    {
        var lengths = SkewedLengths(101, 9);
        var s = new BucketBatchSampler(lengths, 8, generator: new Generator(1), dropLast: true);
        Assert.Equal(12, s.Count);
        var b = s.ToArray();
        Assert.Equal(12, b.Length);
        Assert.All(b, x => Assert.Equal(8, x.Length));
        Assert.Equal(96, b.SelectMany(x => x).Distinct().Count());
    }

    // ---------- collate ----------

    static Tensor Seq(int frames, int features, float offset) =>
        Torch.Tensor(Enumerable.Range(0, frames * features).Select(v => offset + v).ToArray(), frames, features);

    [Fact]
    public void PadSequencesTimeMajorAndBatchFirst()
    {
        var seqs = new[] { Seq(2, 3, 100), Seq(4, 3, 200), Seq(1, 3, 300) };
        var p = Collate.PadSequences(seqs, paddingValue: -1);
        Assert.Equal(new[] { 4, 3, 3 }, p.Data.Shape);
        Assert.Equal(new[] { 2, 4, 1 }, p.Lengths);
        Assert.Equal(DType.Int64, p.LengthsTensor.DType);
        Assert.Equal(new long[] { 2, 4, 1 }, p.LengthsTensor.ToArray<long>());
        var x = p.Data.ToArray<float>();
        float At(int t, int n, int f) => x[(t * 3 + n) * 3 + f];
        for (int n = 0; n < 3; n++)
            for (int t = 0; t < 4; t++)
                for (int f = 0; f < 3; f++)
                    Assert.Equal(t < p.Lengths[n] ? 100 * (n + 1) + t * 3 + f : -1f, At(t, n, f));

        var q = Collate.PadSequences(seqs, batchFirst: true, paddingValue: -1);
        Assert.Equal(new[] { 3, 4, 3 }, q.Data.Shape);
        Assert.Equal(p.Data.Transpose(0, 1).ToArray<float>(), q.Data.ToArray<float>());
        Assert.False(q.Data.RequiresGrad);

        // The float-array form gives the same tensor.
        var r = Collate.PadSequences(seqs.Select(s => s.ToArray<float>()).ToArray(), 3, paddingValue: -1);
        Assert.Equal(p.Data.Shape, r.Data.Shape);
        Assert.Equal(x, r.Data.ToArray<float>());
        Assert.Equal(p.Lengths, r.Lengths);
        Assert.Equal(q.Data.ToArray<float>(), Collate.PadSequences(seqs.Select(s => s.ToArray<float>()).ToArray(), 3, batchFirst: true, paddingValue: -1).Data.ToArray<float>());
        // Default padding is zero.
        Assert.Equal(0f, Collate.PadSequences(seqs).Data.ToArray<float>()[(3 * 3 + 0) * 3]);
    }

    [Fact]
    public void PadSequencesOtherRanksAndDTypes()
    {
        var ids = new[] { Torch.Tensor(new long[] { 1, 2, 3 }, 3), Torch.Tensor(new long[] { 4 }, 1), Torch.Tensor(Array.Empty<long>(), 0) };
        var p = Collate.PadSequences(ids, batchFirst: true, paddingValue: 9);
        Assert.Equal(DType.Int64, p.Data.DType);
        Assert.Equal(new[] { 3, 3 }, p.Data.Shape);
        Assert.Equal(new long[] { 1, 2, 3, 4, 9, 9, 9, 9, 9 }, p.Data.ToArray<long>());
        Assert.Equal(new[] { 3, 1, 0 }, p.Lengths);

        var d = Collate.PadSequences([Torch.Ones([2, 2, 2], DType.Float64), Torch.Ones([1, 2, 2], DType.Float64)]);
        Assert.Equal(new[] { 2, 2, 2, 2 }, d.Data.Shape);
        Assert.Equal(DType.Float64, d.Data.DType);
        Assert.Equal(12.0, d.Data.Sum().Item<double>()); // 8 + 4 ones, the rest zero padding

        // A padding value an integer tensor cannot hold, and inputs whose gradient the copy would lose, are errors.
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => Collate.PadSequences(ids, paddingValue: 1.5));
        Assert.Contains("cannot be stored in Int64", bad.Message);
        Assert.Equal("paddingValue", bad.ParamName);
        var ints = new[] { Torch.Tensor(new[] { 1, 2 }, 2) };
        Assert.Contains("cannot be stored in Int32", Assert.Throws<ArgumentOutOfRangeException>(() => Collate.PadSequences(ints, paddingValue: 1e20)).Message);
        var e = Assert.Throws<ArgumentException>(() => Collate.PadSequences([Torch.Ones([2, 2]), Torch.Ones([1, 2], requiresGrad: true)]));
        Assert.Contains("sequences[1] requires grad", e.Message);
    }

    // With prefetch, a dataset that draws random numbers (augmentation) runs on the worker thread, whose default
    // generator is seeded from the consumer's once per epoch: epochs differ, and Torch.ManualSeed replays them.
    sealed class RandomItems(int n) : Dataset<float>
    {
        public override int Count => n;
        public override float Get(int index) => Torch.Rand([1]).Item<float>();
    }

    [Fact]
    public void PrefetchedRandomDataDiffersByEpochAndFollowsTheSeed()
    {
        var loader = new DataLoader<float, float[]>(new RandomItems(4), x => x, 2, prefetch: 2);
        float[] Epoch() => loader.SelectMany(b => b).ToArray();
        Torch.ManualSeed(42);
        var (e1, e2) = (Epoch(), Epoch());
        Assert.NotEqual(e1, e2);
        Torch.ManualSeed(42);
        Assert.Equal(e1, Epoch());
        Assert.Equal(e2, Epoch());
    }

    [Fact]
    public void PadLabelsForCtcTargets()
    {
        var p = Collate.PadLabels([[3, 1], [], [2, 2, 5]]);
        Assert.Equal(new[] { 3, 3 }, p.Data.Shape);
        Assert.Equal(new long[] { 3, 1, 0, 0, 0, 0, 2, 2, 5 }, p.Data.ToArray<long>());
        Assert.Equal(new[] { 2, 0, 3 }, p.Lengths);
        Assert.Equal(new long[] { 7, -1 }, Collate.PadLabels([[7], []], paddingValue: -1).Data.ToArray<long>().Take(2));
        Assert.Equal(new[] { 2, 1 }, Collate.PadLabels([[], []]).Data.Shape); // one column even for empty targets
    }

    [Fact]
    public void PaddedBatchRunsThroughLstmAsEachSequenceAlone()
    {
        var g = new Generator(3);
        var lstm = new Lstm(3, 4, bidirectional: true, generator: g);
        var seqs = new[] { 5, 2, 4 }.Select(t => Torch.Randn([t, 3], generator: g)).ToArray();
        var batch = Collate.PadSequences(seqs, paddingValue: 7); // a padding value that would show if it were read
        using (Torch.NoGrad())
        {
            var y = lstm.Forward(batch.Data, batch.Lengths).Output;
            var yt = lstm.Forward(batch.Data, batch.LengthsTensor, null).Output;
            Assert.Equal(y.ToArray<float>(), yt.ToArray<float>());
            for (int n = 0; n < seqs.Length; n++)
            {
                var alone = lstm.Forward(seqs[n].Unsqueeze(1)).Output.ToArray<float>();
                var inBatch = y.Select(1, n).Narrow(0, 0, batch.Lengths[n]).ToArray<float>();
                Assert.Equal(alone.Length, inBatch.Length);
                for (int k = 0; k < alone.Length; k++) Assert.Equal(alone[k], inBatch[k], 5);
            }
        }
    }

    // ---------- prefetch ----------

    /// <summary>A dataset that counts reads, can throw at one index, and records the threads it is read on.</summary>
    sealed class Probe(int n, int throwAt = -1) : Dataset<int>
    {
        public int Reads;
        public readonly ConcurrentDictionary<int, bool> Threads = new();
        public override int Count => n;
        public override int Get(int index)
        {
            CheckIndex(index);
            Threads[Environment.CurrentManagedThreadId] = true;
            if (index == throwAt) throw new FormatException($"item {index} is corrupt");
            Interlocked.Increment(ref Reads);
            return index;
        }
    }

    [Fact]
    public void PrefetchLeavesTheCallersRandomStreamAsLoadingInlineDoes()
    {
        // The worker's seed is drawn with or without prefetch (PyTorch draws its base seed for any num_workers): the
        // second epoch's shuffle and later draws from Torch.DefaultGenerator do not depend on prefetch.
        (List<int[]>, List<int[]>, float[]) Run(int prefetch)
        {
            var loader = Loader(10, 5, shuffle: true, prefetch: prefetch);
            Torch.ManualSeed(0);
            var e1 = Epoch(loader);
            var e2 = Epoch(loader);
            return (e1, e2, Torch.Randn(3).ToArray<float>());
        }
        var (a1, a2, ar) = Run(0);
        var (b1, b2, br) = Run(2);
        Assert.Equal(a1, b1);
        Assert.Equal(a2, b2);
        Assert.NotEqual(a1, a2);
        Assert.Equal(ar, br);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(100)]
    public void PrefetchGivesTheSameBatchesAsLoadingInline(int prefetch)
    {
        var lengths = SkewedLengths(90, 2);
        var seqs = lengths.Select((l, i) => Seq(l % 17 + 1, 2, i)).ToArray();
        DataLoader<Tensor, PaddedSequences> Make(int p) =>
            new(new ListDataset<Tensor>(seqs), new BucketBatchSampler(lengths, 7, generator: new Generator(6)), (items, b) => Collate.PadSequences(items, paddingValue: b), p);
        var inline = Make(0);
        var ahead = Make(prefetch);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var x = inline.ToList();
            var y = ahead.ToList();
            Assert.Equal(x.Count, y.Count);
            for (int b = 0; b < x.Count; b++)
            {
                Assert.Equal(x[b].Lengths, y[b].Lengths);
                Assert.Equal(x[b].Data.Shape, y[b].Data.Shape);
                Assert.Equal(x[b].Data.ToArray<float>(), y[b].Data.ToArray<float>());
            }
        }
    }

    [Fact]
    public void PrefetchLoadsOnAnotherThreadAndStaysBounded()
    {
        var probe = new Probe(40);
        var loader = new DataLoader<int, int[]>(probe, items => items, batchSize: 1, prefetch: 2);
        using var e = loader.GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Equal(new[] { 0 }, e.Current);
        // The worker fills the queue (2 batches) and may hold one more, blocked on the full queue; no further.
        var wait = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref probe.Reads) < 3 && wait.Elapsed.TotalSeconds < 60) Thread.Sleep(5);
        Thread.Sleep(100);
        int reads = Volatile.Read(ref probe.Reads);
        Assert.InRange(reads, 3, 4);
        Assert.DoesNotContain(Environment.CurrentManagedThreadId, probe.Threads.Keys);
        var rest = new List<int>();
        while (e.MoveNext()) rest.Add(e.Current[0]);
        Assert.Equal(Enumerable.Range(1, 39), rest);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void AFailingItemSurfacesOnTheConsumerNamingIt(int prefetch)
    {
        var loader = new DataLoader<int, int[]>(new Probe(20, throwAt: 13), items => items, batchSize: 4, prefetch: prefetch);
        var seen = new List<int[]>();
        var e = Assert.Throws<DataLoaderException>(() => { foreach (var b in loader) seen.Add(b); });
        Assert.Equal(3, seen.Count); // batches 0..2 arrive; batch 3 (items 12..15) fails
        Assert.Equal(13, e.ItemIndex);
        Assert.Equal(3, e.BatchIndex);
        Assert.Contains("item 13", e.Message);
        Assert.Contains("batch 3", e.Message);
        Assert.Contains("item 13 is corrupt", e.Message);
        Assert.IsType<FormatException>(e.InnerException);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void AFailingCollateSurfacesNamingTheBatchAndItsItems(int prefetch)
    {
        var loader = new DataLoader<int, int>(Ints(10), items => items.Contains(7) ? throw new InvalidDataException("seven") : items.Sum(), batchSize: 3, prefetch: prefetch);
        var e = Assert.Throws<DataLoaderException>(() => loader.ToList());
        Assert.Null(e.ItemIndex);
        Assert.Equal(2, e.BatchIndex);
        Assert.Contains("collating batch 2", e.Message);
        Assert.Contains("items 6, 7, 8", e.Message);
        Assert.IsType<InvalidDataException>(e.InnerException);
    }

    [Fact]
    public void LeavingEarlyStopsTheWorker()
    {
        Thread? worker = null;
        var loader = new DataLoader<int, int[]>(Ints(1000), items => { worker ??= Thread.CurrentThread; return items; }, batchSize: 1, prefetch: 4);
        int taken = 0;
        foreach (var _ in loader) if (++taken == 3) break;
        Assert.NotNull(worker);
        Assert.NotEqual(Environment.CurrentManagedThreadId, worker!.ManagedThreadId);
        Assert.False(worker.IsAlive); // disposing the enumerator joined it
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void CancellationStopsTheEpoch(int prefetch)
    {
        Thread? worker = null;
        var loader = new DataLoader<int, int[]>(Ints(100), items => { worker ??= Thread.CurrentThread; return items; }, batchSize: 2, prefetch: prefetch);
        using var cts = new CancellationTokenSource();
        int taken = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var _ in loader.Batches(cancellationToken: cts.Token))
                if (++taken == 2) cts.Cancel();
        });
        Assert.Equal(2, taken);
        if (prefetch > 0) Assert.False(worker!.IsAlive);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void StartingMidEpochSkipsWithoutReading(int prefetch)
    {
        var lengths = SkewedLengths(60, 4);
        var probe = new Probe(60);
        var loader = new DataLoader<int, int[]>(probe, new BucketBatchSampler(lengths, 8, generator: new Generator(1)), (items, b) => items, prefetch);
        var sampler = (BucketBatchSampler)loader.BatchSampler;
        sampler.Generator!.ManualSeed(77);
        var full = loader.ToList();
        sampler.Generator.ManualSeed(77);
        probe.Reads = 0;
        var tail = loader.Batches(start: 5, TestContext.Current.CancellationToken).ToList();
        Assert.Equal(full.Skip(5), tail);
        Assert.Equal(tail.Sum(b => b.Length), probe.Reads);
        Assert.Empty(loader.Batches(loader.Count, TestContext.Current.CancellationToken));
    }

    // ---------- bad arguments ----------

    [Fact]
    public void BadLoaderArguments()
    {
        var d = Ints(10);
        Func<int[], int[]> id = x => x;
        Err<ArgumentOutOfRangeException>(() => new DataLoader<int, int[]>(d, id, batchSize: 0), "batchSize", "DataLoader", "batchSize = 0", "positive");
        Err<ArgumentOutOfRangeException>(() => new DataLoader<int, int[]>(d, id, batchSize: -3), "batchSize", "-3");
        Err<ArgumentOutOfRangeException>(() => new DataLoader<int, int[]>(d, id, 2, prefetch: -1), "prefetch", "prefetch = -1", "0", "positive");
        Err<ArgumentNullException>(() => new DataLoader<int, int[]>(null!, id), "dataset", "dataset is null");
        Err<ArgumentNullException>(() => new DataLoader<int, int[]>(d, (Func<int[], int[]>)null!), "collate", "collate is null");
        Err<ArgumentNullException>(() => new DataLoader<int, int[]>(d, (IBatchSampler)null!, id), "batchSampler");
        Err<ArgumentException>(() => new DataLoader<int, int[]>(d, id, 2, shuffle: false, generator: new Generator(1)), "generator", "shuffle = false");
        var loader = new DataLoader<int, int[]>(d, id, 3);
        Err<ArgumentOutOfRangeException>(() => loader.Batches(start: -1), "start", "start = -1");
        Err<ArgumentOutOfRangeException>(() => loader.Batches(start: 5), "start", "start = 5", "4 batches");
        // A batch sampler that points outside the dataset is caught before loading.
        var bad = new DataLoader<int, int[]>(d, new BatchSampler(new SequentialSampler(12), 4), id);
        Err<InvalidOperationException>(() => bad.ToList(), null, "batch 2", "index 10", "0..9");
    }

    [Fact]
    public void BadSamplerArguments()
    {
        Err<ArgumentOutOfRangeException>(() => new SequentialSampler(-1), "count", "SequentialSampler", "count = -1");
        Err<ArgumentOutOfRangeException>(() => new RandomSampler(-2), "count", "RandomSampler", "-2");
        Err<ArgumentOutOfRangeException>(() => Sampler.Randperm(-1, new Generator(0)), "n", "n = -1");
        Err<ArgumentNullException>(() => new BatchSampler(null!, 2), "sampler");
        Err<ArgumentOutOfRangeException>(() => new BatchSampler(new SequentialSampler(3), 0), "batchSize", "BatchSampler", "batchSize = 0");
        Err<ArgumentNullException>(() => new BucketBatchSampler(null!, 2), "lengths");
        Err<ArgumentOutOfRangeException>(() => new BucketBatchSampler([1, 2], 0), "batchSize", "BucketBatchSampler", "batchSize = 0", "positive");
        Err<ArgumentOutOfRangeException>(() => new BucketBatchSampler([1, 2], 2, bucketBatches: 0), "bucketBatches", "bucketBatches = 0");
        Err<ArgumentException>(() => new BucketBatchSampler([1, -4, 2], 2), "lengths", "lengths[1] = -4", "non-negative");
        Err<ArgumentNullException>(() => new ListDataset<int>(null!), "items");
    }

    [Fact]
    public void BadCollateArguments()
    {
        Err<ArgumentException>(() => Collate.PadSequences(Array.Empty<Tensor>()), "sequences", "PadSequences", "empty", "at least one");
        Err<ArgumentNullException>(() => Collate.PadSequences((IReadOnlyList<Tensor>)null!), "sequences");
        Err<ArgumentException>(() => Collate.PadSequences([Seq(2, 3, 0), Seq(2, 4, 0)]), "sequences", "sequences[1]", "[2,4]", "[2,3]", "(T_i, 3)");
        Err<ArgumentException>(() => Collate.PadSequences([Seq(2, 3, 0), Seq(2, 3, 0).To(DType.Float64)]), "sequences", "sequences[1]", "Float64", "Float32");
        Err<ArgumentException>(() => Collate.PadSequences([Seq(2, 3, 0), null!]), "sequences", "sequences[1] is null");
        Err<ArgumentException>(() => Collate.PadSequences([Torch.Ones([3]).Sum()]), "sequences", "scalar");
        Err<ArgumentException>(() => Collate.PadSequences([Seq(2, 3, 0), Torch.Ones([3]).Sum()]), "sequences", "sequences[1]", "[]");
        Err<ArgumentOutOfRangeException>(() => Collate.PadSequences([Torch.Tensor(new long[] { 1 }, 1)], paddingValue: double.NaN), "paddingValue", "NaN", "Int64");
        Err<ArgumentException>(() => Collate.PadSequences(Array.Empty<float[]>(), 3), "sequences", "empty");
        Err<ArgumentOutOfRangeException>(() => Collate.PadSequences([new float[6]], 0), "featureSize", "featureSize = 0", "positive");
        Err<ArgumentException>(() => Collate.PadSequences([new float[6], new float[7]], 3), "sequences", "sequences[1]", "7 values", "featureSize = 3");
        Err<ArgumentException>(() => Collate.PadSequences([new float[6], null!], 3), "sequences", "sequences[1] is null");
        Err<ArgumentException>(() => Collate.PadLabels(Array.Empty<int[]>()), "labels", "PadLabels", "empty");
        Err<ArgumentException>(() => Collate.PadLabels([[1], null!]), "labels", "labels[1] is null");
    }
}
