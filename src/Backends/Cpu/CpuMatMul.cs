namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public unsafe RawTensor MatMul(RawTensor a, RawTensor b, bool transA, bool transB)
    {
        int ra = a.Rank, rb = b.Rank;
        int m = transA ? a.Shape[ra - 1] : a.Shape[ra - 2], k = transA ? a.Shape[ra - 2] : a.Shape[ra - 1];
        int n = transB ? b.Shape[rb - 2] : b.Shape[rb - 1];
        int lda = a.Shape[ra - 1], ldb = b.Shape[rb - 1];
        var batch = Shapes.Broadcast("MatMul", a.Shape.AsSpan(0, ra - 2), b.Shape.AsSpan(0, rb - 2));
        var dst = CpuTensor.Alloc([.. batch, m, n], a.DType);
        int count = Shapes.Numel(batch);
        if (count == 0 || m == 0 || n == 0) return dst;

        // A batch of a against one shared b (a Linear layer over time) is one tall GEMM: fold the batch into m.
        if (!transA && Shapes.Numel(b.Shape.AsSpan(0, rb - 2)) == 1 && Shapes.Numel(a.Shape.AsSpan(0, ra - 2)) == count)
        {
            Gemm1(a, b, dst, false, transB, count * m, n, k, lda, ldb, 0, 0, 0);
            return dst;
        }
        // Batch offsets with stride 0 along broadcast dims.
        var aOff = BatchOffsets(a.Shape.AsSpan(0, ra - 2), batch, a.Shape[ra - 2] * a.Shape[ra - 1]);
        var bOff = BatchOffsets(b.Shape.AsSpan(0, rb - 2), batch, b.Shape[rb - 2] * b.Shape[rb - 1]);
        for (int i = 0; i < count; i++) Gemm1(a, b, dst, transA, transB, m, n, k, lda, ldb, aOff[i], bOff[i], i * m * n);
        return dst;
    }

    /// <summary>C[co..] (m x n, row stride ldc, default n) = (or += when accumulating) op(A) op(B), from element offsets into the three tensors.</summary>
    static unsafe void Gemm1(RawTensor a, RawTensor b, CpuTensor c, bool transA, bool transB, int m, int n, int k, int lda, int ldb, int ao, int bo, int co, bool accumulate = false, int ldc = 0)
    {
        if (ldc == 0) ldc = n;
        switch (a.DType)
        {
            case DType.Float32:
                fixed (float* pa = (float[])C(a).Data, pb = (float[])C(b).Data, pc = (float[])c.Data)
                    Gemm.Sgemm(transA, transB, m, n, k, pa + ao, lda, pb + bo, ldb, pc + co, ldc, accumulate);
                break;
            case DType.Float64:
                fixed (double* pa = (double[])C(a).Data, pb = (double[])C(b).Data, pc = (double[])c.Data)
                    Gemm.Dgemm(transA, transB, m, n, k, pa + ao, lda, pb + bo, ldb, pc + co, ldc, accumulate);
                break;
            default: throw new ArgumentException($"MatMul: dtype {a.DType} is not supported; expected Float32 or Float64");
        }
    }

    static int[] BatchOffsets(ReadOnlySpan<int> own, int[] batch, int matrixSize)
    {
        int count = Shapes.Numel(batch), rank = batch.Length;
        var st = new int[rank];
        int acc = matrixSize;
        for (int i = rank - 1; i >= 0; i--)
        {
            int j = i - (rank - own.Length);
            st[i] = j >= 0 && own[j] != 1 ? acc : 0;
            if (j >= 0) acc *= own[j];
        }
        var off = new int[count];
        for (int i = 0; i < count; i++)
        {
            int rem = i, o = 0;
            for (int d = rank - 1; d >= 0; d--) { o += rem % batch[d] * st[d]; rem /= batch[d]; }
            off[i] = o;
        }
        return off;
    }
}
