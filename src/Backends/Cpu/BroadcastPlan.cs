namespace MiniGrad.Backends.Cpu;

/// <summary>
/// Walks an output shape and its broadcast operands as rows: adjacent dims are merged where every operand is
/// contiguous across them, so the innermost row is as long as possible and each operand is either a contiguous run
/// (stride 1) or a repeated value (stride 0) along it.
/// </summary>
internal sealed class BroadcastPlan
{
    readonly int[] shape;          // merged output shape
    readonly int[][] strides;      // per operand, per merged dim; 0 where broadcast
    readonly int inner, rows;

    public delegate void RowBody(int row, int start, int length, ReadOnlySpan<int> operandOffsets, int outOffset);

    public BroadcastPlan(int[] outShape, params int[][] operandShapes)
    {
        int rank = outShape.Length, k = operandShapes.Length;
        var full = new int[k][];
        for (int o = 0; o < k; o++)
        {
            var s = operandShapes[o];
            var st = Shapes.Strides(s);
            full[o] = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                int j = i - (rank - s.Length);
                full[o][i] = j >= 0 && s[j] != 1 ? st[j] : 0;
            }
        }
        // Merge dim i into dim i+1 when every operand's stride[i] == stride[i+1] * size[i+1].
        var dims = new List<int>(); var ms = Enumerable.Range(0, k).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < rank; i++)
        {
            if (outShape[i] == 1) continue;
            if (dims.Count > 0 && Enumerable.Range(0, k).All(o => ms[o][^1] == full[o][i] * outShape[i]))
            {
                dims[^1] *= outShape[i];
                for (int o = 0; o < k; o++) ms[o][^1] = full[o][i];
            }
            else
            {
                dims.Add(outShape[i]);
                for (int o = 0; o < k; o++) ms[o].Add(full[o][i]);
            }
        }
        if (dims.Count == 0) { dims.Add(1); for (int o = 0; o < k; o++) ms[o].Add(0); }
        shape = dims.ToArray();
        strides = ms.Select(m => m.ToArray()).ToArray();
        inner = shape[^1];
        rows = Shapes.Numel(outShape) / Math.Max(inner, 1);
    }

    /// <summary>Stride (0 or 1) of operand o along the row.</summary>
    public int InnerStride(int o) => strides[o][^1];

    // Single-threaded on purpose: these ops stream memory into a freshly allocated output, and measured on the
    // 2-core machine two threads faulting in new pages at once were 2-3x slower than one (1M-float add: 1.2 vs 0.4 ms).
    public void Run(RowBody body)
    {
        if (rows == 0 || inner == 0) return;
        int k = strides.Length;
        Span<int> off = stackalloc int[k];
        for (int row = 0; row < rows; row++)
        {
            int rem = row;
            off.Clear();
            for (int d = shape.Length - 2; d >= 0; d--)
            {
                int idx = rem % shape[d]; rem /= shape[d];
                for (int o = 0; o < k; o++) off[o] += idx * strides[o][d];
            }
            body(row, 0, inner, off, row * inner);
        }
    }
}
