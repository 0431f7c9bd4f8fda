using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public RawTensor Permute(RawTensor x, int[] perm)
    {
        var st = Shapes.Strides(x.Shape);
        var shape = perm.Select(p => x.Shape[p]).ToArray();
        return StridedCopy(C(x), 0, perm.Select(p => st[p]).ToArray(), shape);
    }

    /// <inheritdoc/>
    public RawTensor Expand(RawTensor x, int[] shape)
    {
        var st = Shapes.Strides(x.Shape);
        var s = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            int j = i - (shape.Length - x.Rank);
            s[i] = j >= 0 && x.Shape[j] != 1 ? st[j] : 0;
        }
        return StridedCopy(C(x), 0, s, shape);
    }

    /// <inheritdoc/>
    public RawTensor Narrow(RawTensor x, int dim, int start, int length)
    {
        var st = Shapes.Strides(x.Shape);
        var shape = (int[])x.Shape.Clone();
        shape[dim] = length;
        return StridedCopy(C(x), start * st[dim], st, shape);
    }

    // Copies a strided view of src into a new contiguous tensor; runs of the last dim with stride 1 are block copies.
    static CpuTensor StridedCopy(CpuTensor src, int offset, int[] strides, int[] shape)
    {
        var dst = CpuTensor.Alloc(shape, src.DType);
        int n = dst.Numel;
        if (n == 0) return dst;
        (shape, strides) = Coalesce(shape, strides);
        int rank = shape.Length, inner = rank == 0 ? 1 : shape[^1], innerStride = rank == 0 ? 1 : strides[^1];
        if (rank >= 2 && strides[^2] == 1 && innerStride != 1 && shape[^2] > 1)
        {
            switch (src.Data) // a transpose of the last two dims
            {
                case float[] f: TransposeTiles(f, offset, strides, shape, (float[])dst.Data); break;
                case double[] f: TransposeTiles(f, offset, strides, shape, (double[])dst.Data); break;
                case int[] f: TransposeTiles(f, offset, strides, shape, (int[])dst.Data); break;
                case long[] f: TransposeTiles(f, offset, strides, shape, (long[])dst.Data); break;
                case bool[] f: TransposeTiles(f, offset, strides, shape, (bool[])dst.Data); break;
            }
            return dst;
        }
        if (rank == 1 && innerStride == 0) // a broadcast of one element (Sum's and Mean's backward; Coalesce made it one dim): one fill
        {
            Par.For(n, 1, (i0, i1) => CopyStrided(src.Data, offset, 0, dst.Data, i0, i1 - i0));
            return dst;
        }
        int rows = n / inner;
        Par.For(rows, inner, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
            {
                int rem = row, so = offset;
                for (int d = rank - 2; d >= 0; d--) { so += rem % shape[d] * strides[d]; rem /= shape[d]; }
                int dOff = row * inner;
                if (innerStride == 1) Array.Copy(src.Data, so, dst.Data, dOff, inner);
                else CopyStrided(src.Data, so, innerStride, dst.Data, dOff, inner);
            }
        });
        return dst;
    }

    // The output's last two dims (r, c) read the source at r * 1 + c * ss: per batch, the transpose of a c x r block of
    // source rows. 32 x 32 tiles keep both sides in L1 (element by element, a 512 x 128 transpose took 318 us: every
    // read touched a new cache line); float32 and float64 tiles go V x V blocks at a time through the Simd layer's
    // register transpose.
    static void TransposeTiles<T>(T[] s, int offset, int[] strides, int[] shape, T[] d)
    {
        int rank = shape.Length, r = shape[^2], c = shape[^1], ss = strides[^1], batches = d.Length == 0 ? 0 : shape[..^2].Aggregate(1, (a, b) => a * b);
        Par.For(batches, (long)r * c, (b0, b1) =>
        {
            for (int b = b0; b < b1; b++)
            {
                int rem = b, so = offset;
                for (int k = rank - 3; k >= 0; k--) { so += rem % shape[k] * strides[k]; rem /= shape[k]; }
                int dOff = b * r * c;
                if (s is float[] fs) TransposeBlock(fs, so, ss, (float[])(object)d, dOff, r, c);
                else if (s is double[] ds) TransposeBlock(ds, so, ss, (double[])(object)d, dOff, r, c);
                else
                    for (int i0 = 0; i0 < r; i0 += TransposeTile)
                        for (int j0 = 0; j0 < c; j0 += TransposeTile)
                            for (int j = j0, j1 = Math.Min(c, j0 + TransposeTile); j < j1; j++)
                                for (int i = i0, i1 = Math.Min(r, i0 + TransposeTile); i < i1; i++)
                                    d[dOff + i * c + j] = s[so + j * ss + i];
            }
        });
    }

    const int TransposeTile = 32;

    /// <summary>d[dOff + i * ldd + j] = s[so + j * ss + i] for i &lt; r, j &lt; c (ldd: c unless given).</summary>
    static unsafe void TransposeBlock<T>(T[] s, int so, int ss, T[] d, int dOff, int r, int c, int ldd = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* sp = s, dp = d)
        {
            var kernel = new TransposeKernel<T>(sp + so, ss, dp + dOff, r, c, ldd > 0 ? ldd : c);
            Simd.Run<T, TransposeKernel<T>>(ref kernel);
        }
    }

    /// <summary>d[i * ldd + j] = s[j * ss + i] for i &lt; r, j &lt; c: whole V x V blocks in registers, the edges one by one.</summary>
    readonly unsafe struct TransposeKernel<T>(T* s, int ss, T* d, int r, int c, int ldd) : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            for (int i0 = 0; i0 < r; i0 += TransposeTile)
                for (int j0 = 0; j0 < c; j0 += TransposeTile)
                {
                    int i1 = Math.Min(r, i0 + TransposeTile), j1 = Math.Min(c, j0 + TransposeTile);
                    int iv = i0 + (i1 - i0) / v * v, jv = j0 + (j1 - j0) / v * v;
                    for (int j = j0; j < jv; j += v)
                        for (int i = i0; i < iv; i += v)
                            S.Transpose(s + (nint)j * ss + i, ss, v, d + (nint)i * ldd + j, ldd); // source rows j.., output rows i..
                    for (int j = j0; j < j1; j++) // what the blocks left: i past iv, and every i for j past jv
                        for (int i = j < jv ? iv : i0; i < i1; i++)
                            d[(nint)i * ldd + j] = s[(nint)j * ss + i];
                }
        }
    }

    static void CopyStrided(Array s, int so, int ss, Array d, int dOff, int n)
    {
        switch (s)
        {
            case float[] f: Gather1(f, so, ss, (float[])d, dOff, n); break;
            case double[] f: Gather1(f, so, ss, (double[])d, dOff, n); break;
            case int[] f: Gather1(f, so, ss, (int[])d, dOff, n); break;
            case long[] f: Gather1(f, so, ss, (long[])d, dOff, n); break;
            case bool[] f: Gather1(f, so, ss, (bool[])d, dOff, n); break;
        }
    }

    /// <summary>
    /// The same view with fewer dims: size-1 dims dropped, and each dim merged into the next where it steps over that one
    /// whole (a Narrow of the batch of a (T, N, H) tensor reads T runs of n * H, not T * n runs of H).
    /// </summary>
    static (int[] Shape, int[] Strides) Coalesce(int[] shape, int[] strides)
    {
        var (sh, st) = (new List<int>(shape.Length), new List<int>(shape.Length));
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1) continue;
            if (sh.Count > 0 && strides[i] == sh[^1] * st[^1]) sh[^1] *= shape[i];
            else { sh.Add(shape[i]); st.Add(strides[i]); }
        }
        sh.Reverse(); st.Reverse();
        return ([.. sh], [.. st]);
    }

    static void Gather1<T>(T[] s, int so, int ss, T[] d, int dOff, int n)
    {
        if (ss == 0) { d.AsSpan(dOff, n).Fill(s[so]); return; }
        for (int i = 0; i < n; i++) d[dOff + i] = s[so + i * ss];
    }

    /// <inheritdoc/>
    public RawTensor Cat(IReadOnlyList<RawTensor> xs, int dim)
    {
        var shape = (int[])xs[0].Shape.Clone();
        shape[dim] = xs.Sum(x => x.Shape[dim]);
        var dst = CpuTensor.Alloc(shape, xs[0].DType);
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        int outRow = shape[dim] * inner;
        Par.For(outer, outRow, (o0, o1) =>
        {
            int at = 0;
            foreach (var x in xs)
            {
                int block = x.Shape[dim] * inner;
                var data = C(x).Data;
                for (int o = o0; o < o1; o++) Array.Copy(data, o * block, dst.Data, o * outRow + at, block);
                at += block;
            }
        });
        return dst;
    }

    static long[] Indices(RawTensor index) => index.DType == DType.Int64
        ? (long[])C(index).Data
        : ((int[])C(index).Data).Take(index.Numel).Select(i => (long)i).ToArray();

    /// <inheritdoc/>
    public RawTensor IndexSelect(RawTensor x, int dim, RawTensor index)
    {
        var idx = Indices(index);
        var shape = (int[])x.Shape.Clone();
        shape[dim] = index.Numel;
        var dst = CpuTensor.Alloc(shape, x.DType);
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        int k = index.Numel, r = x.Shape[dim];
        var src = C(x).Data;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
                Array.Copy(src, (o * r + (int)idx[j]) * inner, dst.Data, (o * k + j) * inner, inner);
        return dst;
    }

    /// <inheritdoc/>
    public RawTensor IndexAdd(int[] shape, int dim, RawTensor index, RawTensor src)
    {
        var idx = Indices(index);
        var dst = CpuTensor.Zeros(shape, src.DType);
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        int k = index.Numel, r = shape[dim];
        switch (src.DType)
        {
            case DType.Float32: AddRows((float[])C(src).Data, (float[])dst.Data, idx, outer, k, r, inner); break;
            case DType.Float64: AddRows((double[])C(src).Data, (double[])dst.Data, idx, outer, k, r, inner); break;
            case DType.Int32: AddRows((int[])C(src).Data, (int[])dst.Data, idx, outer, k, r, inner); break;
            case DType.Int64: AddRows((long[])C(src).Data, (long[])dst.Data, idx, outer, k, r, inner); break;
            default: throw new ArgumentException("IndexAdd: Bool tensors are not supported");
        }
        return dst;
    }

    static void AddRows<T>(T[] s, T[] d, long[] idx, int outer, int k, int r, int inner) where T : unmanaged, INumber<T>
    {
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
            {
                var dr = d.AsSpan((o * r + (int)idx[j]) * inner, inner);
                TP.Add(dr, s.AsSpan((o * k + j) * inner, inner), dr);
            }
    }

    /// <inheritdoc/>
    public RawTensor Gather(RawTensor x, int dim, RawTensor index)
    {
        var off = Offsets(index.Shape, dim, Shapes.Strides(x.Shape), Indices(index));
        var dst = CpuTensor.Alloc(index.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32: GatherT((float[])C(x).Data, (float[])dst.Data, off); break;
            case DType.Float64: GatherT((double[])C(x).Data, (double[])dst.Data, off); break;
            case DType.Int32: GatherT((int[])C(x).Data, (int[])dst.Data, off); break;
            case DType.Int64: GatherT((long[])C(x).Data, (long[])dst.Data, off); break;
            default: GatherT((bool[])C(x).Data, (bool[])dst.Data, off); break;
        }
        return dst;
    }

    static void GatherT<T>(T[] s, T[] d, int[] off) { for (int i = 0; i < off.Length; i++) d[i] = s[off[i]]; }

    /// <inheritdoc/>
    public RawTensor ScatterAdd(int[] shape, int dim, RawTensor index, RawTensor src)
    {
        var off = Offsets(index.Shape, dim, Shapes.Strides(shape), Indices(index));
        var dst = CpuTensor.Zeros(shape, src.DType);
        switch (src.DType)
        {
            case DType.Float32: ScatterAddT((float[])C(src).Data, (float[])dst.Data, off); break;
            case DType.Float64: ScatterAddT((double[])C(src).Data, (double[])dst.Data, off); break;
            case DType.Int32: ScatterAddT((int[])C(src).Data, (int[])dst.Data, off); break;
            case DType.Int64: ScatterAddT((long[])C(src).Data, (long[])dst.Data, off); break;
            default: throw new ArgumentException("ScatterAdd: Bool tensors are not supported");
        }
        return dst;
    }

    static void ScatterAddT<T>(T[] s, T[] d, int[] off) where T : INumber<T> { for (int i = 0; i < off.Length; i++) d[off[i]] += s[i]; }

    // For every element of the index tensor, the offset in the other tensor: the same coordinates except along dim,
    // where the index value is used (the addressing shared by gather and scatter_add).
    static int[] Offsets(int[] indexShape, int dim, int[] otherStrides, long[] idx)
    {
        int n = Shapes.Numel(indexShape), rank = indexShape.Length;
        var off = new int[n];
        Span<int> coord = stackalloc int[Math.Max(rank, 1)];
        coord.Clear();
        for (int i = 0; i < n; i++)
        {
            int o = 0;
            for (int d = 0; d < rank; d++) o += (d == dim ? (int)idx[i] : coord[d]) * otherStrides[d];
            off[i] = o;
            for (int d = rank - 1; d >= 0; d--) { if (++coord[d] < indexShape[d]) break; coord[d] = 0; }
        }
        return off;
    }
}
