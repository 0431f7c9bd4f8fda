using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public RawTensor Reduce(ReduceOp op, RawTensor x, int dim)
    {
        var src = C(x);
        int rank = x.Rank;
        int r = rank == 0 ? 1 : x.Shape[dim];
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= x.Shape[i];
        for (int i = dim + 1; i < rank; i++) inner *= x.Shape[i];
        var shape = (int[])x.Shape.Clone();
        if (rank > 0) shape[dim] = 1;
        bool arg = op is ReduceOp.ArgMax or ReduceOp.ArgMin;
        if (r == 0 && op != ReduceOp.Sum)
            throw new ArgumentException($"{op}: cannot reduce dimension {dim} of size 0 (shape {Shapes.Format(x.Shape)})");
        var dst = CpuTensor.Alloc(shape, arg ? DType.Int64 : x.DType);
        switch (x.DType)
        {
            case DType.Float32: ReduceT(op, (float[])src.Data, outer, r, inner, dst); break;
            case DType.Float64: ReduceT(op, (double[])src.Data, outer, r, inner, dst); break;
            case DType.Int32: ReduceT(op, (int[])src.Data, outer, r, inner, dst); break;
            case DType.Int64: ReduceT(op, (long[])src.Data, outer, r, inner, dst); break;
            default: throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType.Int64)");
        }
        return dst;
    }

    // x viewed as (outer, r, inner); reduce the middle axis. Each output element is owned by one chunk and summed
    // in a fixed order, so results are bit-identical whatever the thread count.
    static void ReduceT<T>(ReduceOp op, T[] x, int outer, int r, int inner, CpuTensor dst) where T : unmanaged, INumber<T>
    {
        if (op is ReduceOp.ArgMax or ReduceOp.ArgMin)
        {
            var idx = (long[])dst.Data;
            Par.For(outer, (long)r * inner, (o0, o1) =>
            {
                for (int o = o0; o < o1; o++)
                {
                    int b = o * r * inner;
                    for (int j = 0; j < inner; j++)
                    {
                        int best = 0; T bv = x[b + j];
                        for (int k = 1; k < r && !IsNaN(bv); k++)
                        {
                            T v = x[b + k * inner + j];
                            if (IsNaN(v) || (op == ReduceOp.ArgMax ? v > bv : v < bv)) { best = k; bv = v; }
                        }
                        idx[o * inner + j] = best;
                    }
                }
            });
            return;
        }
        var d = (T[])dst.Data;
        if (outer == 1 && (long)r * inner >= ParallelReduce && (inner > 1 || op == ReduceOp.Sum))
        {
            // One reduction over everything (a whole sum) or over the leading dim (a bias gradient): no slabs to share, so
            // the cores share its columns, or a whole sum's blocks (see SumKernel); either way the bits are one core's.
            if (inner == 1) d[0] = Sum<T>(x.AsSpan(0, r), parallel: true);
            else Par.For((inner + ColumnGroup - 1) / ColumnGroup, (long)r * ColumnGroup, (g0, g1) =>
            {
                int j0 = g0 * ColumnGroup, j1 = Math.Min(inner, g1 * ColumnGroup);
                ReduceRows(op, x.AsSpan(j0), r, inner, d.AsSpan(j0, j1 - j0));
            });
            return;
        }
        Par.For(outer, (long)r * inner, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                var rows = x.AsSpan(o * r * inner, r * inner);
                if (inner == 1)
                {
                    d[o] = op switch
                    {
                        ReduceOp.Sum => Sum<T>(rows),
                        ReduceOp.Max => TP.Max<T>(rows),
                        _ => TP.Min<T>(rows),
                    };
                    continue;
                }
                ReduceRows(op, rows, r, inner, d.AsSpan(o * inner, inner));
            }
        });
    }

    // Elements from which a reduction of one slab is shared by the cores (4 MB of float32 read in ~0.1 ms by one core;
    // below ~1 MB, waking a second one costs about what it saves); and the columns each core takes at a time.
    const int ParallelReduce = 1 << 18, ColumnGroup = 64;

    /// <summary>acc = the reduction of r rows, the k-th at rows[k * ld ..] (acc.Length long).</summary>
    static void ReduceRows<T>(ReduceOp op, ReadOnlySpan<T> rows, int r, int ld, Span<T> acc) where T : unmanaged, INumber<T>
    {
        int w = acc.Length;
        if (r == 0) { acc.Clear(); return; }
        if (op == ReduceOp.Sum && (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && r > Block)
        {
            CascadeRows(rows, r, ld, acc);
            return;
        }
        rows[..w].CopyTo(acc);
        for (int k = 1; k < r; k++)
        {
            var row = rows.Slice(k * ld, w);
            switch (op)
            {
                case ReduceOp.Sum: TP.Add(acc, row, acc); break;
                case ReduceOp.Max: TP.Max(acc, row, acc); break;
                default: TP.Min(acc, row, acc); break;
            }
        }
    }

    static bool IsNaN<T>(T v) where T : INumber<T> => T.IsNaN(v);

    // Floating sums in cascade, as PyTorch's cascade sum, so that the rounding error does not grow with the length: one
    // long running float32 sum of 1e6 values 0.1f was 1% off (each add rounds at the size of the total). Blocks (Block
    // rows, or Block elements per lane of the vector kernel's four accumulators) are summed from zero, then the block
    // sums pairwise, in a binary tree over the block indices (PairwiseStack). The tree depends only on the length (and
    // the width), so results stay bit-identical for any thread count.
    const int Block = 64;

    /// <summary>acc = the sum of the r rows (the k-th at rows[k * ld ..], acc.Length long): blocks of Block rows, summed pairwise.</summary>
    static void CascadeRows<T>(ReadOnlySpan<T> rows, int r, int ld, Span<T> acc) where T : unmanaged, INumber<T>
    {
        int w = acc.Length;
        // At most one partial sum per bit of the block count, plus the block being summed.
        var levels = System.Buffers.ArrayPool<T>.Shared.Rent((BitOperations.Log2((uint)((r + Block - 1) / Block)) + 2) * w);
        var stack = new PairwiseStack();
        for (int b0 = 0; b0 < r; b0 += Block)
        {
            var block = levels.AsSpan(stack.Depth * w, w);
            rows.Slice(b0 * ld, w).CopyTo(block);
            for (int k = b0 + 1; k < Math.Min(b0 + Block, r); k++) TP.Add(block, rows.Slice(k * ld, w), block);
            for (stack.Push(); stack.Merge();)
            {
                var below = levels.AsSpan((stack.Depth - 1) * w, w);
                TP.Add(below, levels.AsSpan(stack.Depth * w, w), below);
            }
        }
        for (int k = stack.Depth - 1; k > 0; k--)
        {
            var below = levels.AsSpan((k - 1) * w, w);
            TP.Add(below, levels.AsSpan(k * w, w), below);
        }
        levels.AsSpan(0, w).CopyTo(acc);
        System.Buffers.ArrayPool<T>.Shared.Return(levels);
    }

    /// <summary>
    /// The shape of a pairwise sum over blocks 0, 1, 2, ... written in order at level Depth: after Push, each Merge that
    /// returns true asks to add level Depth into level Depth - 1 (Depth already lowered). After block b the stack holds
    /// one partial sum per set bit of b + 1, the largest at level 0.
    /// </summary>
    struct PairwiseStack
    {
        public const int MaxDepth = 40;
        long count;
        int pending;

        public int Depth { get; private set; }

        public void Push() { Depth++; count++; pending = BitOperations.TrailingZeroCount(count); }

        public bool Merge()
        {
            if (pending == 0) return false;
            pending--;
            Depth--;
            return true;
        }
    }

    /// <summary>
    /// A vectorized sum whose order depends only on the length and the width (per block four vectors from the block's
    /// start, then a fixed tree; blocks in cascade, see Block), so a repeated run is bit-identical; TensorPrimitives.Sum
    /// aligns to the address, which can vary. Integer sums do not depend on the order: TensorPrimitives. parallel: the
    /// cores share a long float sum, with the same bits (only where no caller is already splitting work over them).
    /// </summary>
    internal static T Sum<T>(ReadOnlySpan<T> x, bool parallel = false) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float)) { float s = FloatSum(MemoryMarshal.Cast<T, float>(x), parallel); return Unsafe.As<float, T>(ref s); }
        if (typeof(T) == typeof(double)) { double s = FloatSum(MemoryMarshal.Cast<T, double>(x), parallel); return Unsafe.As<double, T>(ref s); }
        return TP.Sum(x);
    }

    static unsafe T FloatSum<T>(ReadOnlySpan<T> x, bool parallel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* p = x)
        {
            var kernel = new SumKernel<T>(p, x.Length, parallel && x.Length >= ParallelReduce);
            Simd.Run<T, SumKernel<T>>(ref kernel);
            return kernel.Result;
        }
    }

    unsafe struct SumKernel<T>(T* x, int n, bool parallel) : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Result;

        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            // Blocks of Block values per accumulator lane (2,048 elements at AVX2, 256 one at a time), their sums pairwise.
            int blockElements = 4 * Block * S.Lanes, blocks = (int)(((long)n + blockElements - 1) / blockElements);
            Span<T> levels = stackalloc T[PairwiseStack.MaxDepth];
            if (!parallel || blocks < 2)
            {
                Result = Fold(levels, Cascade<TV, S>(x, n, 0, blocks, blockElements, levels));
                return;
            }
            // Runs of 2^k blocks: each is a whole subtree of the pairwise tree, so their sums, joined by the same tree (and
            // the last, partial run's levels after them), give the bits of the sum block by block on one core.
            int run = 1 << BitOperations.Log2((uint)Math.Max(1, blocks / (4 * Par.Cores))), runs = (blocks + run - 1) / run, len = n;
            var sums = new T[runs - 1 + PairwiseStack.MaxDepth];
            int lastDepth = 0;
            nint at = (nint)x; // the caller keeps x pinned until Par.For returns
            Par.For(runs, (long)run * blockElements, (r0, r1) =>
            {
                Span<T> own = stackalloc T[PairwiseStack.MaxDepth];
                for (int i = r0; i < r1; i++)
                {
                    int depth = Cascade<TV, S>((T*)at, len, i * run, Math.Min(blocks, (i + 1) * run), blockElements, own);
                    if (i < runs - 1) sums[i] = own[0]; // a whole run: one subtree
                    else { own[..depth].CopyTo(sums.AsSpan(runs - 1)); lastDepth = depth; }
                }
            });
            var stack = new PairwiseStack();
            for (int i = 0; i < runs - 1; i++)
            {
                levels[stack.Depth] = sums[i];
                for (stack.Push(); stack.Merge();) levels[stack.Depth - 1] += levels[stack.Depth];
            }
            sums.AsSpan(runs - 1, lastDepth).CopyTo(levels[stack.Depth..]);
            Result = Fold(levels, stack.Depth + lastDepth);
        }

        /// <summary>Blocks [b0, b1) summed pairwise from an empty tree: its partial sums into levels (largest first); returns their count.</summary>
        static int Cascade<TV, S>(T* x, int n, int b0, int b1, int blockElements, Span<T> levels) where TV : unmanaged where S : ISimd<TV, T>
        {
            var stack = new PairwiseStack();
            for (int b = b0; b < b1; b++)
            {
                int start = b * blockElements;
                levels[stack.Depth] = BlockSum<TV, S>(x + start, Math.Min(blockElements, n - start));
                for (stack.Push(); stack.Merge();) levels[stack.Depth - 1] += levels[stack.Depth];
            }
            return stack.Depth;
        }

        /// <summary>The partial sums added from the smallest (last) up.</summary>
        static T Fold(Span<T> levels, int depth)
        {
            T total = depth == 0 ? T.Zero : levels[depth - 1];
            for (int k = depth - 2; k >= 0; k--) total = levels[k] + total;
            return total;
        }

        /// <summary>Four vector accumulators from the block's start, a fixed tree, then the elements past the last four vectors.</summary>
        static T BlockSum<TV, S>(T* x, int n) where TV : unmanaged where S : ISimd<TV, T>
        {
            int w = S.Lanes, i = 0;
            T s = T.Zero;
            if (n >= 4 * w)
            {
                TV a0 = S.Splat(T.Zero), a1 = a0, a2 = a0, a3 = a0;
                for (; i <= n - 4 * w; i += 4 * w)
                {
                    a0 = S.Add(a0, S.Load(x + i));
                    a1 = S.Add(a1, S.Load(x + i + w));
                    a2 = S.Add(a2, S.Load(x + i + 2 * w));
                    a3 = S.Add(a3, S.Load(x + i + 3 * w));
                }
                s = S.Sum(S.Add(S.Add(a0, a1), S.Add(a2, a3)));
            }
            for (; i < n; i++) s += x[i];
            return s;
        }
    }
}
