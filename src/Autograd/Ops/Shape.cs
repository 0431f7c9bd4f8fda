namespace MiniGrad;

// Shape ops. Storage is always contiguous: Reshape shares it, the others copy (and their backward undoes the move).
public partial class Tensor
{
    /// <summary>Same data, new shape; one dim may be -1 (inferred). Shares storage.</summary>
    public Tensor Reshape(params int[] shape) => ReshapeFn.Apply(this, InferShape("Reshape", shape));
    /// <summary>Same as Reshape (storage is always contiguous here).</summary>
    public Tensor View(params int[] shape) => ReshapeFn.Apply(this, InferShape("View", shape));
    /// <summary>Flattens to 1-D.</summary>
    public Tensor Flatten() => Reshape(-1);
    /// <summary>Inserts a dim of size 1 at dim (negative counts from the end of the result).</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = NormalizeNewDim("Unsqueeze", dim, Rank);
        var s = Raw.Shape.ToList(); s.Insert(d, 1);
        return ReshapeFn.Apply(this, s.ToArray());
    }
    /// <summary>Removes every dim of size 1.</summary>
    public Tensor Squeeze() => ReshapeFn.Apply(this, Raw.Shape.Where(x => x != 1).ToArray());
    /// <summary>Removes dim if its size is 1 (otherwise a view of the same shape, as PyTorch does).</summary>
    public Tensor Squeeze(int dim)
    {
        if (Rank == 0) { Shapes.NormalizeDim("Squeeze", dim, 0); return Alias(); }
        int d = Shapes.NormalizeDim("Squeeze", dim, Rank);
        return Raw.Shape[d] != 1 ? Alias() : ReshapeFn.Apply(this, Raw.Shape.Where((_, i) => i != d).ToArray());
    }

    /// <summary>A view of the same shape, for the shape ops that change nothing: like PyTorch's, a new tensor (a node in
    /// the graph when this one requires grad), never this one, so that its Grad, hooks and RetainGrad are its own.</summary>
    Tensor Alias() => ReshapeFn.Apply(this, Raw.Shape);

    /// <summary>Reorders the dims: result dim i is input dim perm[i].</summary>
    public Tensor Permute(params int[] perm) => PermuteFn.Apply(this, perm);
    /// <summary>Swaps two dims.</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = Shapes.NormalizeDim("Transpose", dim0, Rank, "dim0"), b = Shapes.NormalizeDim("Transpose", dim1, Rank, "dim1");
        if (Rank == 0 || a == b) return Alias(); // dims 0 and -1 of a 0-d tensor, as in PyTorch
        var p = Enumerable.Range(0, Rank).ToArray();
        (p[a], p[b]) = (p[b], p[a]);
        return PermuteFn.Apply(this, p);
    }
    /// <summary>Transpose of a 2-D tensor (identity for 0-D and 1-D, as in PyTorch).</summary>
    public Tensor T => Rank < 2 ? Alias() : Rank == 2 ? Transpose(0, 1)
        : throw new InvalidOperationException($"T: expects a tensor of rank <= 2, but rank is {Rank}; use Permute or Transpose");

    /// <summary>Broadcasts to a larger shape; -1 keeps a dim. The backward sums over the broadcast dims.</summary>
    public Tensor Expand(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length < Rank) throw new ArgumentException($"Expand: the target shape {Shapes.Format(shape)} has fewer dims than the tensor's {Shapes.Format(Raw.Shape)}", nameof(shape));
        var s = (int[])shape.Clone();
        int lead = s.Length - Rank;
        for (int i = 0; i < s.Length; i++)
        {
            int own = i >= lead ? Raw.Shape[i - lead] : 1;
            if (s[i] == -1 && i >= lead) s[i] = own;
            if (s[i] < 0 || (own != 1 && own != s[i]))
                throw new ArgumentException($"Expand: the tensor's shape {Shapes.Format(Raw.Shape)} cannot be expanded to {Shapes.Format(shape)}: dimension {i} is {own} vs {shape[i]}", nameof(shape));
        }
        return Shapes.Equal(s, Raw.Shape) ? Alias() : ExpandFn.Apply(this, s);
    }

    /// <summary>length elements from start along dim.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = RequireRank("Narrow", dim);
        int size = Raw.Shape[d];
        if (start < -size || start > size) throw new ArgumentOutOfRangeException(nameof(start), start, $"Narrow: start = {start} is out of range for dimension {d} of size {size}");
        if (start < 0) start += size;
        if (length < 0 || start + length > size)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Narrow: start ({start}) + length ({length}) exceeds dimension {d} of size {size}");
        return NarrowFn.Apply(this, d, start, length);
    }

#pragma warning disable RS0026 // optional dim on both overloads, as PyTorch's split(size_or_sizes, dim=0): no older overload to break
    /// <summary>Pieces of splitSize along dim, the last one shorter if the size does not divide (torch.split), each a Narrow (a copy; gradients flow back).</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        int d = RequireRank("Split", dim), size = Raw.Shape[d];
        if (splitSize <= 0) throw new ArgumentOutOfRangeException(nameof(splitSize), splitSize, $"Split: splitSize = {splitSize}; expected a positive size");
        if (size == 0) return [NarrowFn.Apply(this, d, 0, 0)];
        return Enumerable.Range(0, (size + splitSize - 1) / splitSize).Select(i => NarrowFn.Apply(this, d, i * splitSize, Math.Min(splitSize, size - i * splitSize))).ToArray();
    }

    /// <summary>Pieces of the given sizes along dim, which must add up to its size (torch.split with a list).</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        int d = RequireRank("Split", dim), size = Raw.Shape[d];
        if (sizes.Any(s => s < 0) || sizes.Sum(s => (long)s) != size)
            throw new ArgumentException($"Split: sizes {Shapes.Format(sizes)} must be >= 0 and add up to dimension {d}'s size {size}", nameof(sizes));
        var parts = new Tensor[sizes.Length];
        for (int i = 0, at = 0; i < sizes.Length; at += sizes[i], i++) parts[i] = NarrowFn.Apply(this, d, at, sizes[i]);
        return parts;
    }

#pragma warning restore RS0026

    /// <summary>At most chunks pieces of ceil(size / chunks) along dim, the last one shorter (torch.chunk: fewer pieces when
    /// the size is small).</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        if (chunks <= 0) throw new ArgumentOutOfRangeException(nameof(chunks), chunks, $"Chunk: chunks = {chunks}; expected a positive count");
        int d = RequireRank("Chunk", dim);
        if (Raw.Shape[d] == 0) return Split(new int[chunks], d); // PyTorch: chunks empty pieces
        return Split((Raw.Shape[d] + chunks - 1) / chunks, d);
    }

    /// <summary>Elements [start, end) along dim, Python-style: negative indices count from the end, bounds are clipped.</summary>
    public Tensor Slice(int dim, int start, int end)
    {
        int d = RequireRank("Slice", dim);
        int size = Raw.Shape[d];
        int s = Math.Clamp(start < 0 ? start + size : start, 0, size), e = Math.Clamp(end < 0 ? end + size : end, 0, size);
        return NarrowFn.Apply(this, d, s, Math.Max(0, e - s));
    }

    /// <summary>The slice at index along dim, with that dim removed.</summary>
    public Tensor Select(int dim, int index)
    {
        int d = RequireRank("Select", dim);
        int size = Raw.Shape[d];
        if (index < -size || index >= size) throw new ArgumentOutOfRangeException(nameof(index), index, $"Select: index {index} is out of range for dimension {d} of size {size}");
        return NarrowFn.Apply(this, d, index < 0 ? index + size : index, 1).Squeeze(d);
    }

    /// <summary>Picks slices along dim by an integer index vector.</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        int d = RequireRank("IndexSelect", dim);
        CheckIndex("IndexSelect", index, d);
        if (index.Rank > 1) throw new ArgumentException($"IndexSelect: index must be 0-D or 1-D, but has shape {Shapes.Format(index.Raw.Shape)}", nameof(index));
        return IndexSelectFn.Apply(this, d, index.Rank == 0 ? index.Reshape(1) : index);
    }

    /// <summary>out[i][j] = x[i][index[i][j]] along dim (PyTorch's gather).</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        int d = RequireRank("Gather", dim);
        CheckIndex("Gather", index, d);
        if (index.Rank != Rank) throw new ArgumentException($"Gather: index must have the same rank as the input ({Rank}), but has shape {Shapes.Format(index.Raw.Shape)}", nameof(index));
        for (int i = 0; i < Rank; i++)
            if (i != d && index.Raw.Shape[i] > Raw.Shape[i])
                throw new ArgumentException($"Gather: index shape {Shapes.Format(index.Raw.Shape)} exceeds input shape {Shapes.Format(Raw.Shape)} at dimension {i}", nameof(index));
        return GatherFn.Apply(this, d, index);
    }

    int RequireRank(string op, int dim)
    {
        if (Rank == 0) throw new ArgumentException($"{op}: expects a tensor with at least one dimension, but got a 0-d tensor");
        return Shapes.NormalizeDim(op, dim, Rank);
    }

    void CheckIndex(string op, Tensor index, int dim)
    {
        SameDevice(op, this, index);
        if (index.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"{op}: index must be Int64 or Int32, but dtype is {index.DType}", nameof(index));
        int size = Raw.Shape[dim];
        foreach (var v in index.ToArray<long>())
            if (v < 0 || v >= size) throw new ArgumentOutOfRangeException(nameof(index), v, $"{op}: index {v} is out of range for dimension {dim} of size {size}");
    }

    // A new dim may go anywhere in [-(rank + 1), rank]; the message names the input's rank, not the result's.
    internal static int NormalizeNewDim(string op, int dim, int rank)
    {
        if (dim < -(rank + 1) || dim > rank)
            throw new ArgumentOutOfRangeException(nameof(dim), dim, $"{op}: dim = {dim} is out of range for a tensor of rank {rank} (expected {-(rank + 1)} <= dim < {rank + 1})");
        return dim < 0 ? dim + rank + 1 : dim;
    }

    int[] InferShape(string op, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var s = (int[])shape.Clone();
        int infer = -1; long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1) { if (infer >= 0) throw new ArgumentException($"{op}: only one dimension can be -1, but shape is {Shapes.Format(shape)}", nameof(shape)); infer = i; }
            else if (s[i] < 0) throw new ArgumentException($"{op}: invalid size {s[i]} at dimension {i} in {Shapes.Format(shape)}", nameof(shape));
            else known *= s[i];
        }
        if (infer >= 0 && known != 0 && Numel % known == 0) s[infer] = (int)(Numel / known);
        if ((infer >= 0 && (known == 0 || Numel % known != 0)) || Shapes.Numel(s) != Numel)
            throw new ArgumentException($"{op}: shape {Shapes.Format(shape)} is invalid for a tensor of {Numel} elements (shape {Shapes.Format(Raw.Shape)})", nameof(shape));
        return s;
    }
}

sealed class ReshapeFn(int[] inShape) : Function
{
    public static Tensor Apply(Tensor x, int[] shape) => Record(x.Raw.Reshape(shape), () => new ReshapeFn(x.Raw.Shape), x);
    protected internal override Tensor?[] Backward(Tensor g) => [g.Reshape(inShape)];
}

sealed class PermuteFn(int[] perm) : Function
{
    public static Tensor Apply(Tensor x, int[] perm)
    {
        ArgumentNullException.ThrowIfNull(perm);
        if (perm.Length != x.Rank) throw new ArgumentException($"Permute: got {perm.Length} dims {Shapes.Format(perm)} for a tensor of rank {x.Rank}", nameof(perm));
        var p = perm.Select(d => Shapes.NormalizeDim("Permute", d, x.Rank)).ToArray();
        if (p.Distinct().Count() != p.Length) throw new ArgumentException($"Permute: dims {Shapes.Format(perm)} repeat a dimension", nameof(perm));
        return Record(x.Backend.Permute(x.Raw, p), () => new PermuteFn(p), x);
    }
    protected internal override Tensor?[] Backward(Tensor g)
    {
        var inv = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inv[perm[i]] = i;
        return [g.Permute(inv)];
    }
}

sealed class ExpandFn(int[] inShape) : Function
{
    public static Tensor Apply(Tensor x, int[] shape) => Record(x.Backend.Expand(x.Raw, shape), () => new ExpandFn(x.Raw.Shape), x);
    protected internal override Tensor?[] Backward(Tensor g) => [g.SumTo(inShape)];
}

sealed class NarrowFn(int[] inShape, int dim, int start) : Function
{
    public static Tensor Apply(Tensor x, int dim, int start, int length) =>
        Record(x.Backend.Narrow(x.Raw, dim, start, length), () => new NarrowFn(x.Raw.Shape, dim, start), x);

    // The gradient is g padded with zeros before and after along dim.
    protected internal override Tensor?[] Backward(Tensor g)
    {
        int after = inShape[dim] - start - g.Raw.Shape[dim];
        if (start == 0 && after == 0) return [g];
        var parts = new List<Tensor>();
        var s = (int[])inShape.Clone();
        if (start > 0) { s[dim] = start; parts.Add(Torch.Zeros(s, g.DType, g.Device)); }
        parts.Add(g);
        if (after > 0) { s[dim] = after; parts.Add(Torch.Zeros(s, g.DType, g.Device)); }
        return [Torch.Cat(parts.ToArray(), dim)];
    }
}

sealed class CatFn(int dim, int[] sizes) : Function
{
    public static Tensor Apply(Tensor[] xs, int dim)
    {
        ArgumentNullException.ThrowIfNull(xs);
        if (xs.Length == 0) throw new ArgumentException("Cat: expected a non-empty list of tensors", nameof(xs));
        var first = xs[0];
        if (first.Rank == 0) throw new ArgumentException("Cat: zero-dimensional tensors cannot be concatenated; use Stack", nameof(xs));
        int d = Shapes.NormalizeDim("Cat", dim, first.Rank);
        for (int i = 1; i < xs.Length; i++)
        {
            var x = xs[i];
            Tensor.SameDevice("Cat", first, x);
            if (x.DType != first.DType) throw new ArgumentException($"Cat: tensor {i} has dtype {x.DType}, but tensor 0 has {first.DType}", nameof(xs));
            if (x.Rank != first.Rank || Enumerable.Range(0, x.Rank).Any(k => k != d && x.Raw.Shape[k] != first.Raw.Shape[k]))
                throw new ArgumentException($"Cat: tensor {i} has shape {Shapes.Format(x.Raw.Shape)}, which does not match tensor 0's {Shapes.Format(first.Raw.Shape)} except in dimension {d}", nameof(xs));
        }
        var raw = first.Backend.Cat(xs.Select(x => x.Raw).ToArray(), d);
        return Record(raw, () => new CatFn(d, xs.Select(x => x.Raw.Shape[d]).ToArray()), xs);
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        var r = new Tensor?[sizes.Length];
        for (int i = 0, at = 0; i < sizes.Length; at += sizes[i], i++) r[i] = NeedsInputGrad(i) ? g.Narrow(dim, at, sizes[i]) : null;
        return r;
    }
}

sealed class IndexSelectFn(int[] inShape, int dim) : Function
{
    public static Tensor Apply(Tensor x, int dim, Tensor index) =>
        Record(x.Backend.IndexSelect(x.Raw, dim, index.Raw), () => { var f = new IndexSelectFn(x.Raw.Shape, dim); f.Save(index); return f; }, x);

    protected internal override Tensor?[] Backward(Tensor g) => [new Tensor(g.Backend.IndexAdd(inShape, dim, Saved(0).Raw, g.Raw))];
}

sealed class GatherFn(int[] inShape, int dim) : Function
{
    public static Tensor Apply(Tensor x, int dim, Tensor index) =>
        Record(x.Backend.Gather(x.Raw, dim, index.Raw), () => { var f = new GatherFn(x.Raw.Shape, dim); f.Save(index); return f; }, x);

    protected internal override Tensor?[] Backward(Tensor g) => [new Tensor(g.Backend.ScatterAdd(inShape, dim, Saved(0).Raw, g.Raw))];
}

public static partial class Torch
{
    /// <summary>Concatenates tensors along an existing dim.</summary>
    public static Tensor Cat(Tensor[] tensors, int dim = 0) => CatFn.Apply(tensors, dim);

    /// <summary>Stacks same-shaped tensors along a new dim.</summary>
    public static Tensor Stack(Tensor[] tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Length == 0) throw new ArgumentException("Stack: expected a non-empty list of tensors", nameof(tensors));
        for (int i = 1; i < tensors.Length; i++)
            if (!Shapes.Equal(tensors[i].Raw.Shape, tensors[0].Raw.Shape))
                throw new ArgumentException($"Stack: expects each tensor to be equal size, but got {Shapes.Format(tensors[0].Raw.Shape)} at entry 0 and {Shapes.Format(tensors[i].Raw.Shape)} at entry {i}", nameof(tensors));
        int d = MiniGrad.Tensor.NormalizeNewDim("Stack", dim, tensors[0].Rank);
        return Cat(tensors.Select(t => t.Unsqueeze(d)).ToArray(), d);
    }
}
