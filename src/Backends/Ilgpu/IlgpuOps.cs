using ILGPU;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

public sealed partial class IlgpuBackend
{
    // ---- shape planning -------------------------------------------------------------------------------------------

    /// <summary>Per-dim element strides of an operand broadcast to outShape (0 along broadcast dims).</summary>
    static int[] BroadcastStrides(int[] own, int[] outShape)
    {
        var st = Shapes.Strides(own);
        var r = new int[outShape.Length];
        for (int i = 0; i < outShape.Length; i++)
        {
            int j = i - (outShape.Length - own.Length);
            r[i] = j >= 0 && own[j] != 1 ? st[j] : 0;
        }
        return r;
    }

    /// <summary>
    /// Drops size-1 dims and merges adjacent dims where every operand is contiguous across them, so kernels see at most
    /// six dims (enough for any shape whose operands are not permuted in more than six independent ways).
    /// </summary>
    static Strided Plan(string op, int[] outShape, int offset, params int[][] strides)
    {
        int k = strides.Length;
        var dims = new List<int>();
        var ms = Enumerable.Range(0, k).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < outShape.Length; i++)
        {
            if (outShape[i] == 1) continue;
            if (dims.Count > 0 && Enumerable.Range(0, k).All(o => ms[o][^1] == strides[o][i] * outShape[i]))
            {
                dims[^1] *= outShape[i];
                for (int o = 0; o < k; o++) ms[o][^1] = strides[o][i];
            }
            else
            {
                dims.Add(outShape[i]);
                for (int o = 0; o < k; o++) ms[o].Add(strides[o][i]);
            }
        }
        if (dims.Count == 0) { dims.Add(1); for (int o = 0; o < k; o++) ms[o].Add(0); }
        if (dims.Count > 6)
            throw new NotSupportedException($"{op}: the ILGPU backend handles at most 6 non-mergeable dims; shape {Shapes.Format(outShape)} needs {dims.Count}");
        return new Strided
        {
            Rank = dims.Count,
            Offset0 = offset,
            Shape = Idx6.From(dims.ToArray()),
            S0 = Idx6.From(k > 0 ? ms[0].ToArray() : []),
            S1 = Idx6.From(k > 1 ? ms[1].ToArray() : []),
            S2 = Idx6.From(k > 2 ? ms[2].ToArray() : []),
        };
    }

    static int Pow2AtMost(int cap, int want)
    {
        int g = 1;
        while (g * 2 <= cap && g < want) g *= 2;
        return g;
    }

    // ---- elementwise ----------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public RawTensor Unary(UnaryOp op, RawTensor x)
    {
        var s = In(x, op.ToString());
        if (x.DType == DType.Bool) throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType)");
        if (!x.DType.IsFloating() && op is not (UnaryOp.Neg or UnaryOp.Abs or UnaryOp.Relu or UnaryOp.Square or UnaryOp.Sign))
            throw new ArgumentException($"{op}: integer tensors are not supported; convert with To(DType.Float32)");
        var d = Alloc(x.Shape, x.DType);
        int n = x.Numel;
        if (n == 0) return d;
        switch (x.DType)
        {
            case DType.Float32: Ks<float, F32>().Unary(n, s.View<float>(), d.View<float>(), (int)op); break;
            case DType.Float64: Ks<double, F64>().Unary(n, s.View<double>(), d.View<double>(), (int)op); break;
            case DType.Int32: Ks<int, I32>().Unary(n, s.View<int>(), d.View<int>(), (int)op); break;
            default: Ks<long, I64>().Unary(n, s.View<long>(), d.View<long>(), (int)op); break;
        }
        return d;
    }

    /// <inheritdoc/>
    public RawTensor Binary(BinaryOp op, RawTensor a, RawTensor b)
    {
        var sa = In(a, op.ToString());
        var sb = In(b, op.ToString());
        var shape = Shapes.Broadcast(op.ToString(), a.Shape, b.Shape);
        bool compare = op >= BinaryOp.Eq;
        if (a.DType == DType.Bool && !(op is BinaryOp.Eq or BinaryOp.Ne))
            throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType)");
        if (!compare && !a.DType.IsFloating() && op is BinaryOp.Div or BinaryOp.Pow)
            throw new ArgumentException($"{op}: integer tensors are not supported; convert with To(DType.Float32)");
        var d = Alloc(shape, compare ? DType.Bool : a.DType);
        int n = d.Numel;
        if (n == 0) return d;
        var plan = Plan(op.ToString(), shape, 0, BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape));
        if (compare)
            switch (a.DType)
            {
                case DType.Float32: Ks<float, F32>().Compare(n, sa.View<float>(), sb.View<float>(), d.View<byte>(), plan, (int)op); break;
                case DType.Float64: Ks<double, F64>().Compare(n, sa.View<double>(), sb.View<double>(), d.View<byte>(), plan, (int)op); break;
                case DType.Int32: Ks<int, I32>().Compare(n, sa.View<int>(), sb.View<int>(), d.View<byte>(), plan, (int)op); break;
                case DType.Int64: Ks<long, I64>().Compare(n, sa.View<long>(), sb.View<long>(), d.View<byte>(), plan, (int)op); break;
                default: Ks<byte, U8>().Compare(n, sa.View<byte>(), sb.View<byte>(), d.View<byte>(), plan, (int)op); break;
            }
        else
            switch (a.DType)
            {
                case DType.Float32: Ks<float, F32>().Binary(n, sa.View<float>(), sb.View<float>(), d.View<float>(), plan, (int)op); break;
                case DType.Float64: Ks<double, F64>().Binary(n, sa.View<double>(), sb.View<double>(), d.View<double>(), plan, (int)op); break;
                case DType.Int32: Ks<int, I32>().Binary(n, sa.View<int>(), sb.View<int>(), d.View<int>(), plan, (int)op); break;
                default: Ks<long, I64>().Binary(n, sa.View<long>(), sb.View<long>(), d.View<long>(), plan, (int)op); break;
            }
        return d;
    }

    /// <inheritdoc/>
    public RawTensor Where(RawTensor cond, RawTensor a, RawTensor b)
    {
        var sc = In(cond, "Where"); var sa = In(a, "Where"); var sb = In(b, "Where");
        var shape = Shapes.Broadcast("Where", Shapes.Broadcast("Where", cond.Shape, a.Shape), b.Shape);
        var d = Alloc(shape, a.DType);
        int n = d.Numel;
        if (n == 0) return d;
        var plan = Plan("Where", shape, 0, BroadcastStrides(cond.Shape, shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape));
        var c = sc.View<byte>();
        switch (a.DType)
        {
            case DType.Float32: Ks<float, F32>().Where(n, c, sa.View<float>(), sb.View<float>(), d.View<float>(), plan); break;
            case DType.Float64: Ks<double, F64>().Where(n, c, sa.View<double>(), sb.View<double>(), d.View<double>(), plan); break;
            case DType.Int32: Ks<int, I32>().Where(n, c, sa.View<int>(), sb.View<int>(), d.View<int>(), plan); break;
            case DType.Int64: Ks<long, I64>().Where(n, c, sa.View<long>(), sb.View<long>(), d.View<long>(), plan); break;
            default: Ks<byte, U8>().Where(n, c, sa.View<byte>(), sb.View<byte>(), d.View<byte>(), plan); break;
        }
        return d;
    }

    /// <inheritdoc/>
    public RawTensor Clamp(RawTensor x, double min, double max)
    {
        var s = In(x, "Clamp");
        if (x.DType == DType.Bool) throw new ArgumentException("Clamp: Bool tensors are not supported");
        var d = Alloc(x.Shape, x.DType);
        int n = x.Numel, hasMin = double.IsNaN(min) ? 0 : 1, hasMax = double.IsNaN(max) ? 0 : 1;
        if (n == 0) return d;
        switch (x.DType)
        {
            case DType.Float32: Ks<float, F32>().Clamp(n, s.View<float>(), d.View<float>(), (float)min, (float)max, hasMin, hasMax); break;
            case DType.Float64: Ks<double, F64>().Clamp(n, s.View<double>(), d.View<double>(), min, max, hasMin, hasMax); break;
            case DType.Int32: Ks<int, I32>().Clamp(n, s.View<int>(), d.View<int>(), hasMin == 0 ? 0 : (int)Math.Ceiling(min), hasMax == 0 ? 0 : (int)Math.Floor(max), hasMin, hasMax); break;
            default: Ks<long, I64>().Clamp(n, s.View<long>(), d.View<long>(), hasMin == 0 ? 0 : (long)Math.Ceiling(min), hasMax == 0 ? 0 : (long)Math.Floor(max), hasMin, hasMax); break;
        }
        return d;
    }

    // ---- reductions -----------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public RawTensor Reduce(ReduceOp op, RawTensor x, int dim)
    {
        var s = In(x, op.ToString());
        if (x.DType == DType.Bool) throw new ArgumentException($"{op}: Bool tensors are not supported; convert with To(DType.Int64)");
        var (outer, r, inner) = Shapes.Split(x.Shape, dim);
        if (r == 0 && op != ReduceOp.Sum)
            throw new ArgumentException($"{op}: cannot reduce dimension {dim} of size 0 (shape {Shapes.Format(x.Shape)})");
        var shape = (int[])x.Shape.Clone();
        if (shape.Length > 0) shape[dim] = 1;
        bool arg = op is ReduceOp.ArgMax or ReduceOp.ArgMin;
        var d = Alloc(shape, arg ? DType.Int64 : x.DType);
        int n = outer * inner, isMax = op == ReduceOp.ArgMax ? 1 : 0;
        if (n == 0) return d;
        switch (x.DType)
        {
            case DType.Float32 when arg: Ks<float, F32>().ArgReduce(n, s.View<float>(), d.View<long>(), r, inner, isMax); break;
            case DType.Float64 when arg: Ks<double, F64>().ArgReduce(n, s.View<double>(), d.View<long>(), r, inner, isMax); break;
            case DType.Int32 when arg: Ks<int, I32>().ArgReduce(n, s.View<int>(), d.View<long>(), r, inner, isMax); break;
            case DType.Int64 when arg: Ks<long, I64>().ArgReduce(n, s.View<long>(), d.View<long>(), r, inner, isMax); break;
            case DType.Float32: Ks<float, F32>().Reduce(n, s.View<float>(), d.View<float>(), r, inner, (int)op); break;
            case DType.Float64: Ks<double, F64>().Reduce(n, s.View<double>(), d.View<double>(), r, inner, (int)op); break;
            case DType.Int32: Ks<int, I32>().Reduce(n, s.View<int>(), d.View<int>(), r, inner, (int)op); break;
            default: Ks<long, I64>().Reduce(n, s.View<long>(), d.View<long>(), r, inner, (int)op); break;
        }
        return d;
    }

    // ---- matmul ---------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public RawTensor MatMul(RawTensor a, RawTensor b, bool transA, bool transB)
    {
        In(a, "MatMul"); In(b, "MatMul");
        if (!a.DType.IsFloating()) throw new ArgumentException($"MatMul: dtype {a.DType} is not supported; expected Float32 or Float64");
        int ra = a.Rank, rb = b.Rank;
        int m = transA ? a.Shape[ra - 1] : a.Shape[ra - 2], k = transA ? a.Shape[ra - 2] : a.Shape[ra - 1];
        int n = transB ? b.Shape[rb - 2] : b.Shape[rb - 1];
        var batch = Shapes.Broadcast("MatMul", a.Shape.AsSpan(0, ra - 2), b.Shape.AsSpan(0, rb - 2));
        var d = Alloc([.. batch, m, n], a.DType);
        int count = Shapes.Numel(batch);
        if (count == 0 || m == 0 || n == 0) return d;
        if (k == 0) return Full(d.Shape, a.DType, 0);
        // Each operand's batch is either the full batch or a single matrix; anything else is expanded first.
        var ea = BatchOperand(a, batch, count);
        var eb = BatchOperand(b, batch, count);
        var p = new MatArgs
        {
            M = m, N = n, K = k, Lda = a.Shape[ra - 1], Ldb = b.Shape[rb - 1], TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            ABatch = Shapes.Numel(ea.Shape.AsSpan(0, ea.Rank - 2)) == 1 ? 0 : a.Shape[ra - 2] * a.Shape[ra - 1],
            BBatch = Shapes.Numel(eb.Shape.AsSpan(0, eb.Rank - 2)) == 1 ? 0 : b.Shape[rb - 2] * b.Shape[rb - 1],
        };
        LaunchMatMul(ea, 0, eb, d, 0, count, p);
        return d;
    }

    /// <summary>count products op(A) op(B) (p gives the sizes, strides and batch strides) into d from element dAt on, A read from element aAt on: the LSTM step multiplies rows of its buffers in place.</summary>
    void LaunchMatMul(IlgpuTensor a, long aAt, IlgpuTensor b, IlgpuTensor d, long dAt, int count, MatArgs p)
    {
        int ts = 1;
        while ((ts * 2) * (ts * 2) <= MaxGroup && ts * 2 <= K.MaxTile) ts *= 2;
        (p.Ts, p.TilesM, p.TilesN) = (ts, (p.M + ts - 1) / ts, (p.N + ts - 1) / ts);
        var cfg = new KernelConfig(count * p.TilesM * p.TilesN, ts * ts);
        if (d.DType == DType.Float32) Ks<float, F32>().MatMul(cfg, a.View<float>().SubView(aAt, a.Numel - aAt), b.View<float>(), d.View<float>().SubView(dAt, d.Numel - dAt), p);
        else Ks<double, F64>().MatMul(cfg, a.View<double>().SubView(aAt, a.Numel - aAt), b.View<double>(), d.View<double>().SubView(dAt, d.Numel - dAt), p);
    }

    IlgpuTensor BatchOperand(RawTensor x, int[] batch, int count)
    {
        int r = x.Rank, own = Shapes.Numel(x.Shape.AsSpan(0, r - 2));
        if (own == 1 || (own == count && BatchMatches(x.Shape.AsSpan(0, r - 2), batch))) return (IlgpuTensor)x;
        return (IlgpuTensor)Expand(x, [.. batch, x.Shape[r - 2], x.Shape[r - 1]]);
    }

    static bool BatchMatches(ReadOnlySpan<int> own, int[] batch)
    {
        // Same element order: equal after dropping size-1 dims.
        var a = own.ToArray().Where(v => v != 1);
        var b = batch.Where(v => v != 1);
        return a.SequenceEqual(b);
    }

    // ---- copies ---------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public RawTensor Permute(RawTensor x, int[] perm)
    {
        var st = Shapes.Strides(x.Shape);
        return StridedCopy(In(x, "Permute"), 0, perm.Select(p => st[p]).ToArray(), perm.Select(p => x.Shape[p]).ToArray(), "Permute");
    }

    /// <inheritdoc/>
    public RawTensor Expand(RawTensor x, int[] shape) => StridedCopy(In(x, "Expand"), 0, BroadcastStrides(x.Shape, shape), shape, "Expand");

    /// <inheritdoc/>
    public RawTensor Narrow(RawTensor x, int dim, int start, int length)
    {
        var st = Shapes.Strides(x.Shape);
        var shape = (int[])x.Shape.Clone();
        shape[dim] = length;
        return StridedCopy(In(x, "Narrow"), start * st[dim], st, shape, "Narrow");
    }

    IlgpuTensor StridedCopy(IlgpuTensor x, int offset, int[] strides, int[] shape, string op)
    {
        var d = Alloc(shape, x.DType);
        int n = d.Numel;
        if (n == 0) return d;
        var plan = Plan(op, shape, offset, strides);
        switch (x.DType)
        {
            case DType.Float32: Ks<float, F32>().StridedCopy(n, x.View<float>(), d.View<float>(), plan); break;
            case DType.Float64: Ks<double, F64>().StridedCopy(n, x.View<double>(), d.View<double>(), plan); break;
            case DType.Int32: Ks<int, I32>().StridedCopy(n, x.View<int>(), d.View<int>(), plan); break;
            case DType.Int64: Ks<long, I64>().StridedCopy(n, x.View<long>(), d.View<long>(), plan); break;
            default: Ks<byte, U8>().StridedCopy(n, x.View<byte>(), d.View<byte>(), plan); break;
        }
        return d;
    }

    /// <inheritdoc/>
    public RawTensor Cat(IReadOnlyList<RawTensor> xs, int dim)
    {
        foreach (var x in xs) In(x, "Cat");
        var shape = (int[])xs[0].Shape.Clone();
        shape[dim] = xs.Sum(x => x.Shape[dim]);
        var d = Alloc(shape, xs[0].DType);
        var (_, total, inner) = Shapes.Split(shape, dim);
        int outRow = total * inner, at = 0;
        foreach (var x0 in xs)
        {
            var x = (IlgpuTensor)x0;
            int block = x.Shape[dim] * inner, n = x.Numel;
            if (n > 0)
                switch (x.DType)
                {
                    case DType.Float32: Ks<float, F32>().Cat(n, x.View<float>(), d.View<float>(), block, outRow, at); break;
                    case DType.Float64: Ks<double, F64>().Cat(n, x.View<double>(), d.View<double>(), block, outRow, at); break;
                    case DType.Int32: Ks<int, I32>().Cat(n, x.View<int>(), d.View<int>(), block, outRow, at); break;
                    case DType.Int64: Ks<long, I64>().Cat(n, x.View<long>(), d.View<long>(), block, outRow, at); break;
                    default: Ks<byte, U8>().Cat(n, x.View<byte>(), d.View<byte>(), block, outRow, at); break;
                }
            at += block;
        }
        return d;
    }

    IlgpuTensor LongIndex(RawTensor index, string op)
    {
        var i = In(index, op);
        return index.DType == DType.Int64 ? i : (IlgpuTensor)Cast(i, DType.Int64);
    }

    /// <inheritdoc/>
    public RawTensor IndexSelect(RawTensor x, int dim, RawTensor index)
    {
        var s = In(x, "IndexSelect");
        var idx = LongIndex(index, "IndexSelect").View<long>();
        var shape = (int[])x.Shape.Clone();
        shape[dim] = index.Numel;
        var d = Alloc(shape, x.DType);
        var (_, r, inner) = Shapes.Split(x.Shape, dim);
        int k = index.Numel, n = d.Numel;
        if (n == 0) return d;
        switch (x.DType)
        {
            case DType.Float32: Ks<float, F32>().IndexSelect(n, s.View<float>(), idx, d.View<float>(), k, r, inner); break;
            case DType.Float64: Ks<double, F64>().IndexSelect(n, s.View<double>(), idx, d.View<double>(), k, r, inner); break;
            case DType.Int32: Ks<int, I32>().IndexSelect(n, s.View<int>(), idx, d.View<int>(), k, r, inner); break;
            case DType.Int64: Ks<long, I64>().IndexSelect(n, s.View<long>(), idx, d.View<long>(), k, r, inner); break;
            default: Ks<byte, U8>().IndexSelect(n, s.View<byte>(), idx, d.View<byte>(), k, r, inner); break;
        }
        return d;
    }

    /// <inheritdoc/>
    public RawTensor IndexAdd(int[] shape, int dim, RawTensor index, RawTensor src)
    {
        var s = In(src, "IndexAdd");
        if (src.DType == DType.Bool) throw new ArgumentException("IndexAdd: Bool tensors are not supported");
        var idx = LongIndex(index, "IndexAdd").View<long>();
        var d = Alloc(shape, src.DType);
        var (_, r, inner) = Shapes.Split(shape, dim);
        int k = index.Numel, n = d.Numel;
        if (n == 0) return d;
        switch (src.DType)
        {
            case DType.Float32: Ks<float, F32>().IndexAdd(n, s.View<float>(), idx, d.View<float>(), k, r, inner); break;
            case DType.Float64: Ks<double, F64>().IndexAdd(n, s.View<double>(), idx, d.View<double>(), k, r, inner); break;
            case DType.Int32: Ks<int, I32>().IndexAdd(n, s.View<int>(), idx, d.View<int>(), k, r, inner); break;
            default: Ks<long, I64>().IndexAdd(n, s.View<long>(), idx, d.View<long>(), k, r, inner); break;
        }
        return d;
    }

    static void CheckRank6(string op, int rank)
    {
        if (rank > 6) throw new NotSupportedException($"{op}: the ILGPU backend supports tensors of rank at most 6 here, got rank {rank}");
    }

    /// <inheritdoc/>
    public RawTensor Gather(RawTensor x, int dim, RawTensor index)
    {
        var s = In(x, "Gather");
        CheckRank6("Gather", index.Rank);
        var idx = LongIndex(index, "Gather").View<long>();
        var d = Alloc(index.Shape, x.DType);
        int n = d.Numel;
        if (n == 0) return d;
        var plan = new Strided { Rank = Math.Max(index.Rank, 1), Shape = Idx6.From(index.Rank == 0 ? [1] : index.Shape), S0 = Idx6.From(Shapes.Strides(x.Shape)) };
        switch (x.DType)
        {
            case DType.Float32: Ks<float, F32>().Gather(n, s.View<float>(), idx, d.View<float>(), plan, dim); break;
            case DType.Float64: Ks<double, F64>().Gather(n, s.View<double>(), idx, d.View<double>(), plan, dim); break;
            case DType.Int32: Ks<int, I32>().Gather(n, s.View<int>(), idx, d.View<int>(), plan, dim); break;
            case DType.Int64: Ks<long, I64>().Gather(n, s.View<long>(), idx, d.View<long>(), plan, dim); break;
            default: Ks<byte, U8>().Gather(n, s.View<byte>(), idx, d.View<byte>(), plan, dim); break;
        }
        return d;
    }

    /// <inheritdoc/>
    public RawTensor ScatterAdd(int[] shape, int dim, RawTensor index, RawTensor src)
    {
        var s = In(src, "ScatterAdd");
        if (src.DType == DType.Bool) throw new ArgumentException("ScatterAdd: Bool tensors are not supported");
        CheckRank6("ScatterAdd", shape.Length);
        var idx = LongIndex(index, "ScatterAdd").View<long>();
        var d = Alloc(shape, src.DType);
        int n = d.Numel;
        if (n == 0) return d;
        if (index.Numel == 0) return Full(shape, src.DType, 0);
        var plan = new Strided
        {
            Rank = Math.Max(shape.Length, 1), Shape = Idx6.From(shape.Length == 0 ? [1] : shape),
            S0 = Idx6.From(Shapes.Strides(index.Shape)), S1 = Idx6.From(index.Shape),
        };
        switch (src.DType)
        {
            case DType.Float32: Ks<float, F32>().ScatterAdd(n, s.View<float>(), idx, d.View<float>(), plan, dim); break;
            case DType.Float64: Ks<double, F64>().ScatterAdd(n, s.View<double>(), idx, d.View<double>(), plan, dim); break;
            case DType.Int32: Ks<int, I32>().ScatterAdd(n, s.View<int>(), idx, d.View<int>(), plan, dim); break;
            default: Ks<long, I64>().ScatterAdd(n, s.View<long>(), idx, d.View<long>(), plan, dim); break;
        }
        return d;
    }

    // ---- softmax --------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public RawTensor Softmax(RawTensor x, int dim, bool log)
    {
        var s = In(x, log ? "LogSoftmax" : "Softmax");
        if (!x.DType.IsFloating()) throw new ArgumentException($"{(log ? "LogSoftmax" : "Softmax")}: dtype {x.DType} is not supported; expected Float32 or Float64");
        var d = Alloc(x.Shape, x.DType);
        var (outer, len, inner) = Shapes.Split(x.Shape, dim);
        int rows = outer * inner;
        if (rows == 0 || len == 0) return d;
        var cfg = new KernelConfig(rows, Pow2AtMost(MaxGroup, len));
        if (x.DType == DType.Float32) Ks<float, F32>().Softmax(cfg, s.View<float>(), d.View<float>(), len, inner, log ? 1 : 0);
        else Ks<double, F64>().Softmax(cfg, s.View<double>(), d.View<double>(), len, inner, log ? 1 : 0);
        return d;
    }

    /// <inheritdoc/>
    public RawTensor SoftmaxBackward(RawTensor y, RawTensor gy, int dim, bool log)
    {
        var sy = In(y, "SoftmaxBackward"); var sg = In(gy, "SoftmaxBackward");
        var d = Alloc(y.Shape, y.DType);
        var (outer, len, inner) = Shapes.Split(y.Shape, dim);
        int rows = outer * inner;
        if (rows == 0 || len == 0) return d;
        var cfg = new KernelConfig(rows, Pow2AtMost(MaxGroup, len));
        if (y.DType == DType.Float32) Ks<float, F32>().SoftmaxBackward(cfg, sy.View<float>(), sg.View<float>(), d.View<float>(), len, inner, log ? 1 : 0);
        else Ks<double, F64>().SoftmaxBackward(cfg, sy.View<double>(), sg.View<double>(), d.View<double>(), len, inner, log ? 1 : 0);
        return d;
    }

    // ---- LSTM cell ------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void LstmCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor cs, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count)
    {
        const string op = "LstmCell";
        ArgumentNullException.ThrowIfNull(whhT);
        var g = In(gates, op); var shs = In(hs, op); var scs = In(cs, op);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.LstmStep(op, gates, t, prev, n0, count, [hs, cs], [("h0", h0, nh), ("c0", c0, nh), ("whhT", whhT, h * 4 * h), ("bias", bias, 4 * h)]);
        if (count * h == 0) return;
        // h W_hh^T for the rows (from row prev of hs in place, or h0) into a (count, 4H) buffer that the kernel adds to row t.
        var (hPrev, hAt) = prev >= 0 ? (shs, (long)prev * nh) : h0 is null ? (null, 0L) : (In(h0, op), 0L);
        IlgpuTensor? hh = null;
        if (hPrev is not null)
        {
            hh = Alloc([count, 4 * h], hs.DType);
            LaunchMatMul(hPrev, hAt + (long)n0 * h, In(whhT, op), hh, 0, 1, new MatArgs { M = count, N = 4 * h, K = h, Lda = h, Ldb = 4 * h });
        }
        var cPrev = prev >= 0 ? scs : c0 is null ? null : In(c0, op);
        var shh = hh is null ? g : In(hh, op); var sbias = bias is null ? g : In(bias, op);
        var p = new CellArgs { T = t, N = n, H = h, N0 = n0, HasHH = hh is null ? 0 : 1, HasBias = bias is null ? 0 : 1, HasC = cPrev is null ? 0 : 1, CAt = prev >= 0 ? prev * nh : 0 };
        var sc = cPrev ?? g;
        if (hs.DType == DType.Float32) Ks<float, F32>().Lstm(count * h, g.View<float>(), shh.View<float>(), sbias.View<float>(), sc.View<float>(), shs.View<float>(), scs.View<float>(), p);
        else Ks<double, F64>().Lstm(count * h, g.View<double>(), shh.View<double>(), sbias.View<double>(), sc.View<double>(), shs.View<double>(), scs.View<double>(), p);
    }

    /// <inheritdoc/>
    public void LstmCellBackward(RawTensor gates, int t, int prev, RawTensor cs, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor dc, RawTensor? whh, int n0, int count)
    {
        const string op = "LstmCellBackward";
        ArgumentNullException.ThrowIfNull(dh);
        ArgumentNullException.ThrowIfNull(dc);
        var g = In(gates, op); var scs = In(cs, op); var sdy = In(dy, op); var sdh = In(dh, op); var sdc = In(dc, op);
        int n = cs.Rank == 3 ? cs.Shape[1] : 0, h = cs.Rank == 3 ? cs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.LstmStep(op, gates, t, prev, n0, count, [cs, dy], [("c0", c0, nh), ("dh", dh, nh), ("dc", dc, nh), ("whh", whh, 4 * h * h)]);
        if (count * h == 0) return;
        var cPrev = prev >= 0 ? scs : c0 is null ? null : In(c0, op);
        var p = new CellArgs { T = t, N = n, H = h, N0 = n0, HasC = cPrev is null ? 0 : 1, CAt = prev >= 0 ? prev * nh : 0 };
        var sc = cPrev ?? g;
        if (cs.DType == DType.Float32)
            Ks<float, F32>().LstmBackward(count * h, g.View<float>(), sc.View<float>(), scs.View<float>(), sdy.View<float>(), sdh.View<float>(), sdc.View<float>(), p);
        else
            Ks<double, F64>().LstmBackward(count * h, g.View<double>(), sc.View<double>(), scs.View<double>(), sdy.View<double>(), sdh.View<double>(), sdc.View<double>(), p);
        // The rows of row t (now d(pre-activation)) times W_hh straight into dh, after the kernel has read dh (one stream: in order).
        if (whh is not null) LaunchMatMul(g, ((long)t * n + n0) * 4 * h, In(whh, op), sdh, (long)n0 * h, 1, new MatArgs { M = count, N = h, K = 4 * h, Lda = 4 * h, Ldb = h });
    }

    // ---- GRU and RNN cells -----------------------------------------------------------------------------------------

    /// <summary>h W_hh^T for a step's rows (from row prev of hs in place, or h0) into a new (count, width) buffer, or null without a previous h.</summary>
    IlgpuTensor? StepGemm(string op, int prev, IlgpuTensor hs, RawTensor? h0, RawTensor whhT, int n0, int count, int h, int width)
    {
        int nh = hs.Shape[1] * h;
        var (hPrev, hAt) = prev >= 0 ? (hs, (long)prev * nh) : h0 is null ? (null, 0L) : (In(h0, op), 0L);
        if (hPrev is null) return null;
        var hh = Alloc([count, width], hs.DType);
        LaunchMatMul(hPrev, hAt + (long)n0 * h, In(whhT, op), hh, 0, 1, new MatArgs { M = count, N = width, K = h, Lda = h, Ldb = width });
        return hh;
    }

    /// <inheritdoc/>
    public void GruCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor hn, RawTensor? h0, RawTensor whhT, RawTensor? bias, int n0, int count)
    {
        const string op = "GruCell";
        ArgumentNullException.ThrowIfNull(whhT);
        var g = In(gates, op); var shs = In(hs, op); var shn = In(hn, op);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep(op, 3, gates, t, prev, n0, count, [hs, hn], [("h0", h0, nh), ("whhT", whhT, h * 3 * h), ("bias", bias, 4 * h)]);
        if (count * h == 0) return;
        var hh = StepGemm(op, prev, shs, h0, whhT, n0, count, h, 3 * h);
        var hPrev = prev >= 0 ? shs : h0 is null ? null : In(h0, op);
        var shh = hh ?? g; var sbias = bias is null ? g : In(bias, op); var sp = hPrev ?? g;
        var p = new CellArgs { T = t, N = n, H = h, N0 = n0, HasHH = hh is null ? 0 : 1, HasBias = bias is null ? 0 : 1, HasC = hPrev is null ? 0 : 1, CAt = prev >= 0 ? prev * nh : 0 };
        if (hs.DType == DType.Float32) Ks<float, F32>().Gru(count * h, g.View<float>(), shh.View<float>(), sbias.View<float>(), sp.View<float>(), shs.View<float>(), shn.View<float>(), p);
        else Ks<double, F64>().Gru(count * h, g.View<double>(), shh.View<double>(), sbias.View<double>(), sp.View<double>(), shs.View<double>(), shn.View<double>(), p);
    }

    /// <inheritdoc/>
    public void GruCellBackward(RawTensor gates, int t, int prev, RawTensor hs, RawTensor hn, RawTensor? h0, RawTensor dy, RawTensor dh, RawTensor? whh, int n0, int count)
    {
        const string op = "GruCellBackward";
        ArgumentNullException.ThrowIfNull(dh);
        var g = In(gates, op); var shs = In(hs, op); var shn = In(hn, op); var sdy = In(dy, op); var sdh = In(dh, op);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep(op, 3, gates, t, prev, n0, count, [hs, hn, dy], [("h0", h0, nh), ("dh", dh, nh), ("whh", whh, 3 * h * h)]);
        if (count * h == 0) return;
        var hPrev = prev >= 0 ? shs : h0 is null ? null : In(h0, op);
        var sp = hPrev ?? g;
        var p = new CellArgs { T = t, N = n, H = h, N0 = n0, HasC = hPrev is null ? 0 : 1, CAt = prev >= 0 ? prev * nh : 0 };
        if (hs.DType == DType.Float32) Ks<float, F32>().GruBackward(count * h, g.View<float>(), shn.View<float>(), sp.View<float>(), sdy.View<float>(), sdh.View<float>(), p);
        else Ks<double, F64>().GruBackward(count * h, g.View<double>(), shn.View<double>(), sp.View<double>(), sdy.View<double>(), sdh.View<double>(), p);
        // dh (now dh' z) += the rows of row t times W_hh, after the kernel (one stream: in order).
        if (whh is not null) LaunchMatMul(g, ((long)t * n + n0) * 3 * h, In(whh, op), sdh, (long)n0 * h, 1, new MatArgs { M = count, N = h, K = 3 * h, Lda = 3 * h, Ldb = h, Accumulate = 1 });
    }

    /// <inheritdoc/>
    public void RnnCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor? h0, RawTensor whhT, RawTensor? bias, bool relu, int n0, int count)
    {
        const string op = "RnnCell";
        ArgumentNullException.ThrowIfNull(whhT);
        var g = In(gates, op); var shs = In(hs, op);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep(op, 1, gates, t, prev, n0, count, [hs], [("h0", h0, nh), ("whhT", whhT, h * h), ("bias", bias, h)]);
        if (count * h == 0) return;
        var hh = StepGemm(op, prev, shs, h0, whhT, n0, count, h, h);
        var shh = hh ?? g; var sbias = bias is null ? g : In(bias, op);
        var p = new CellArgs { T = t, N = n, H = h, N0 = n0, HasHH = hh is null ? 0 : 1, HasBias = bias is null ? 0 : 1, Relu = relu ? 1 : 0 };
        if (hs.DType == DType.Float32) Ks<float, F32>().Rnn(count * h, g.View<float>(), shh.View<float>(), sbias.View<float>(), shs.View<float>(), p);
        else Ks<double, F64>().Rnn(count * h, g.View<double>(), shh.View<double>(), sbias.View<double>(), shs.View<double>(), p);
    }

    /// <inheritdoc/>
    public void RnnCellBackward(RawTensor gates, int t, RawTensor dy, RawTensor dh, RawTensor? whh, bool relu, int n0, int count)
    {
        const string op = "RnnCellBackward";
        ArgumentNullException.ThrowIfNull(dh);
        var g = In(gates, op); var sdy = In(dy, op); var sdh = In(dh, op);
        int n = dy.Rank == 3 ? dy.Shape[1] : 0, h = dy.Rank == 3 ? dy.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep(op, 1, gates, t, -1, n0, count, [dy], [("dh", dh, nh), ("whh", whh, h * h)]);
        if (count * h == 0) return;
        var p = new CellArgs { T = t, N = n, H = h, N0 = n0, Relu = relu ? 1 : 0 };
        if (dy.DType == DType.Float32) Ks<float, F32>().RnnBackward(count * h, g.View<float>(), sdy.View<float>(), sdh.View<float>(), p);
        else Ks<double, F64>().RnnBackward(count * h, g.View<double>(), sdy.View<double>(), sdh.View<double>(), p);
        if (whh is not null) LaunchMatMul(g, ((long)t * n + n0) * h, In(whh, op), sdh, (long)n0 * h, 1, new MatArgs { M = count, N = h, K = h, Lda = h, Ldb = h });
    }

    // ---- CTC ------------------------------------------------------------------------------------------------------

    /// <summary>The CTC forward's state for the backward: device buffers (labels, per-sample meta, alpha, nll).</summary>
    internal sealed record CtcSaved(IlgpuTensor Labels, IlgpuTensor Meta, IlgpuTensor Alpha, IlgpuTensor Nll, int AlphaSize, int MaxS, int Blank);  // Alpha, Nll: Float64

    /// <inheritdoc/>
    public (RawTensor Nll, object Saved) CtcLoss(RawTensor logProbs, CtcTargets targets, int blank)
    {
        var lp = In(logProbs, "CtcLoss");
        if (!lp.DType.IsFloating()) throw new ArgumentException($"CtcLoss: dtype {lp.DType} is not supported; expected Float32 or Float64");
        int T = lp.Shape[0], N = lp.Rank == 3 ? lp.Shape[1] : 1, C = lp.Shape[^1];
        var meta = new int[4 * N];
        int alphaSize = 0, maxS = 1;
        for (int n = 0; n < N; n++)
        {
            int L = targets.TargetLengths[n], S = 2 * L + 1;
            meta[4 * n] = targets.Offsets[n];
            meta[4 * n + 1] = L;
            meta[4 * n + 2] = targets.InputLengths[n];
            meta[4 * n + 3] = alphaSize;
            alphaSize += Math.Max(targets.InputLengths[n], 1) * S;
            maxS = Math.Max(maxS, S);
        }
        var labels = (IlgpuTensor)FromArray(targets.Labels.Length == 0 ? new int[1] : targets.Labels, [Math.Max(targets.Labels.Length, 1)]);
        var metaT = (IlgpuTensor)FromArray(meta, [meta.Length]);
        var alpha = Alloc([alphaSize], DType.Float64);
        var nllD = Alloc([N], DType.Float64);
        var nll = Alloc([N], lp.DType);
        var p = new CtcArgs { MaxT = T, N = N, C = C, Blank = blank };
        if (N > 0)
        {
            var cfg = new KernelConfig(N, Pow2AtMost(MaxGroup, maxS));
            if (lp.DType == DType.Float32) Ks<float, F32>().Ctc(cfg, lp.View<float>(), labels.View<int>(), metaT.View<int>(), alpha.View<double>(), nllD.View<double>(), nll.View<float>(), p);
            else Ks<double, F64>().Ctc(cfg, lp.View<double>(), labels.View<int>(), metaT.View<int>(), alpha.View<double>(), nllD.View<double>(), nll.View<double>(), p);
        }
        return (nll, new CtcSaved(labels, metaT, alpha, nllD, alphaSize, maxS, blank));
    }

    /// <inheritdoc/>
    public RawTensor CtcLossBackward(RawTensor logProbs, object saved, RawTensor gradNll, bool zeroInfinity)
    {
        var lp = In(logProbs, "CtcLossBackward");
        var go = In(gradNll, "CtcLossBackward");
        if (saved is not CtcSaved s || !ReferenceEquals(s.Alpha.Owner, this))
            throw new ArgumentException($"CtcLossBackward: the saved state was not produced by this backend's CtcLoss on '{Device}'", nameof(saved));
        int T = lp.Shape[0], N = lp.Rank == 3 ? lp.Shape[1] : 1, C = lp.Shape[^1];
        var grad = Alloc(lp.Shape, lp.DType);
        if (grad.Numel == 0) return grad;
        var beta = Alloc([s.AlphaSize], DType.Float64);
        var p = new CtcArgs { MaxT = T, N = N, C = C, Blank = s.Blank, ZeroInfinity = zeroInfinity ? 1 : 0 };
        var cfg = new KernelConfig(N, Pow2AtMost(MaxGroup, Math.Max(s.MaxS, C)));
        if (lp.DType == DType.Float32)
            Ks<float, F32>().CtcBackward(cfg, lp.View<float>(), s.Labels.View<int>(), s.Meta.View<int>(), s.Alpha.View<double>(), beta.View<double>(), s.Nll.View<double>(), go.View<float>(), grad.View<float>(), p);
        else
            Ks<double, F64>().CtcBackward(cfg, lp.View<double>(), s.Labels.View<int>(), s.Meta.View<int>(), s.Alpha.View<double>(), beta.View<double>(), s.Nll.View<double>(), go.View<double>(), grad.View<double>(), p);
        return grad;
    }
}
