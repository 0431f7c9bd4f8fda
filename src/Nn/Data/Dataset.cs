namespace MiniGrad.Nn.Data;

/// <summary>
/// A map-style dataset (PyTorch's <c>torch.utils.data.Dataset</c>): a fixed number of items read by index. A
/// <see cref="DataLoader{T, TBatch}"/> with prefetch reads items on its worker thread, so reading must be safe from a
/// thread other than the one that made the dataset (reading from one other thread at a time is enough).
/// </summary>
/// <typeparam name="T">The type of one item.</typeparam>
public abstract class Dataset<T>
{
    /// <summary>The number of items (PyTorch's <c>len(dataset)</c>).</summary>
    public abstract int Count { get; }

    /// <summary>The item at <paramref name="index"/>, in [0, <see cref="Count"/>).</summary>
    public abstract T Get(int index);

    /// <summary>The item at <paramref name="index"/> (PyTorch's <c>dataset[i]</c>); the same as <see cref="Get"/>.</summary>
    public T this[int index] => Get(index);

    /// <summary>Throws an ArgumentOutOfRangeException naming the dataset, the index and the valid range when <paramref name="index"/> is outside [0, Count).</summary>
    protected void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{GetType().Name}: index {index} is out of range; expected 0..{Count - 1} ({Count} items)");
    }
}

/// <summary>A dataset over items held in memory (a list or an array); the list is not copied, so keep it unchanged while in use.</summary>
/// <typeparam name="T">The type of one item.</typeparam>
public sealed class ListDataset<T> : Dataset<T>
{
    readonly IReadOnlyList<T> items;

    /// <summary>A dataset whose item i is <c>items[i]</c>.</summary>
    public ListDataset(IReadOnlyList<T> items) =>
        this.items = items ?? throw new ArgumentNullException(nameof(items), "ListDataset: items is null; expected a list of items");

    /// <inheritdoc/>
    public override int Count => items.Count;

    /// <inheritdoc/>
    public override T Get(int index)
    {
        CheckIndex(index);
        return items[index];
    }
}
