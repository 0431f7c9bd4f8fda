using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// im2col and col2im along the last dim: each (n, c) row is independent, so rows are split over the cores, and every
// window row of one kernel tap is a strided (at stride 1: contiguous) run of its input row.
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public RawTensor Unfold1d(RawTensor x, int kernel, int stride, int dilation, int padLeft, int lOut, double padValue)
    {
        BackendChecks.Window("Unfold1d", x, 3, kernel, stride, dilation, padLeft, lOut);
        int rows = x.Shape[0] * x.Shape[1], l = x.Shape[2];
        var dst = CpuTensor.Alloc([x.Shape[0], x.Shape[1], kernel, lOut], x.DType);
        var w = new Win(l, kernel, stride, dilation, padLeft, lOut);
        if (x.DType == DType.Float32) Unfold((float[])C(x).Data, (float[])dst.Data, rows, w, (float)padValue);
        else Unfold((double[])C(x).Data, (double[])dst.Data, rows, w, padValue);
        return dst;
    }

    /// <inheritdoc/>
    public RawTensor Fold1d(RawTensor cols, int length, int stride, int dilation, int padLeft)
    {
        BackendChecks.Window("Fold1d", cols, 4, cols.Rank == 4 ? cols.Shape[2] : 1, stride, dilation, padLeft, length);
        int rows = cols.Shape[0] * cols.Shape[1];
        var dst = CpuTensor.Alloc([cols.Shape[0], cols.Shape[1], length], cols.DType);
        var w = new Win(length, cols.Shape[2], stride, dilation, padLeft, cols.Shape[3]);
        if (cols.DType == DType.Float32) Fold((float[])C(cols).Data, (float[])dst.Data, rows, w);
        else Fold((double[])C(cols).Data, (double[])dst.Data, rows, w);
        return dst;
    }

    /// <summary>Window geometry; Run(k) is the range [T0, T1) of windows whose tap k lands inside the row, at input offset t * Stride + Off.</summary>
    readonly record struct Win(int L, int Kernel, int Stride, int Dilation, int PadLeft, int LOut)
    {
        public (int T0, int T1, int Off) Run(int k)
        {
            int off = k * Dilation - PadLeft;
            int t0 = off >= 0 ? 0 : Math.Min(LOut, (-off + Stride - 1) / Stride);
            int t1 = L - 1 - off < 0 ? 0 : Math.Min(LOut, (L - 1 - off) / Stride + 1);
            return (t0, Math.Max(t0, t1), off);
        }
    }

    static void Unfold<T>(T[] x, T[] d, int rows, Win w, T pad) where T : unmanaged
    {
        Par.For(rows, (long)w.Kernel * w.LOut, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) UnfoldRow<T>(x.AsSpan(r * w.L, w.L), d.AsSpan(r * w.Kernel * w.LOut, w.Kernel * w.LOut), w, pad);
        });
    }

    /// <summary>One input row (L) into its kernel x lOut windows, tap k's at dst[k ld..] (ld: lOut unless given).</summary>
    static void UnfoldRow<T>(ReadOnlySpan<T> src, Span<T> dst, Win w, T pad, int ld = 0) where T : unmanaged
    {
        for (int k = 0; k < w.Kernel; k++)
        {
            var row = dst.Slice(k * (ld > 0 ? ld : w.LOut), w.LOut);
            var (t0, t1, off) = w.Run(k);
            row[..t0].Fill(pad);
            row[t1..].Fill(pad);
            if (t0 == t1) continue; // this tap reads only padding (a short row with wide padding or dilation)
            if (w.Stride == 1) src.Slice(t0 + off, t1 - t0).CopyTo(row[t0..t1]);
            else for (int t = t0; t < t1; t++) row[t] = src[t * w.Stride + off];
        }
    }

    // Each input row sums its taps in k order, whatever the thread count, so results are bit-identical.
    static void Fold<T>(T[] s, T[] d, int rows, Win w) where T : unmanaged, INumber<T>
    {
        Par.For(rows, (long)w.Kernel * w.LOut, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) FoldRow<T>(s.AsSpan(r * w.Kernel * w.LOut, w.Kernel * w.LOut), d.AsSpan(r * w.L, w.L), w);
        });
    }

    /// <summary>One row's kernel x lOut windows (tap k's at src[k ld..]; ld: lOut unless given) summed back into the input
    /// row (L), tap by tap in k order.</summary>
    static void FoldRow<T>(ReadOnlySpan<T> src, Span<T> dst, Win w, int ld = 0) where T : unmanaged, INumber<T>
    {
        dst.Clear();
        for (int k = 0; k < w.Kernel; k++)
        {
            var row = src.Slice(k * (ld > 0 ? ld : w.LOut), w.LOut);
            var (t0, t1, off) = w.Run(k);
            if (t0 == t1) continue; // this tap reads only padding
            if (w.Stride == 1) { var span = dst.Slice(t0 + off, t1 - t0); TP.Add(span, row[t0..t1], span); }
            else for (int t = t0; t < t1; t++) dst[t * w.Stride + off] += row[t];
        }
    }
}
