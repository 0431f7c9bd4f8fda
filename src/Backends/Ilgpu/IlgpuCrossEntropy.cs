using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public (RawTensor Loss, RawTensor Stats) CrossEntropy(RawTensor x, RawTensor target, RawTensor rowWeight)
    {
        const string op = "CrossEntropy";
        var (sx, st, sw) = (In(x, op), In(target, op), In(rowWeight, op));
        var (rows, c, _) = BackendChecks.ClassRows(op, x, target, [("rowWeight", rowWeight)]);
        var (loss, stats) = (Alloc([rows], x.DType), Alloc([rows, 2], x.DType));
        if (rows == 0) return (loss, stats);
        if (x.DType == DType.Float32) Ks<float, F32>().CrossEntropy(rows, sx.View<float>(), st.View<long>(), sw.View<float>(), loss.View<float>(), stats.View<float>(), c);
        else Ks<double, F64>().CrossEntropy(rows, sx.View<double>(), st.View<long>(), sw.View<double>(), loss.View<double>(), stats.View<double>(), c);
        return (loss, stats);
    }

    /// <inheritdoc/>
    public RawTensor CrossEntropyBackward(RawTensor x, RawTensor target, RawTensor rowWeight, RawTensor stats, RawTensor g)
    {
        const string op = "CrossEntropyBackward";
        var (sx, st, sw, se, sg) = (In(x, op), In(target, op), In(rowWeight, op), In(stats, op), In(g, op));
        var (rows, c, _) = BackendChecks.ClassRows(op, x, target, [("rowWeight", rowWeight), ("g", g)], ("stats", stats));
        var dx = Alloc(x.Shape, x.DType);
        if (x.Numel == 0) return dx;
        if (x.DType == DType.Float32) Ks<float, F32>().CrossEntropyBackward(x.Numel, sx.View<float>(), st.View<long>(), sw.View<float>(), se.View<float>(), sg.View<float>(), dx.View<float>(), c);
        else Ks<double, F64>().CrossEntropyBackward(x.Numel, sx.View<double>(), st.View<long>(), sw.View<double>(), se.View<double>(), sg.View<double>(), dx.View<double>(), c);
        return dx;
    }
}

/// <summary>CrossEntropy's kernels in double: one thread per row (forward), one per element (backward).</summary>
internal static class KCrossEntropy
{
    public static void Forward<T, O>(Index1D r, ArrayView<T> x, ArrayView<long> target, ArrayView<T> w, ArrayView<T> loss, ArrayView<T> stats, int c)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        double wr = o.ToDouble(w[r]);
        if (wr == 0) { loss[r] = o.Zero(); stats[2 * r] = o.Zero(); stats[2 * r + 1] = o.Zero(); return; } // an ignored target
        long at = (long)(int)r * c;
        double max = double.NegativeInfinity, sum = 0;
        for (int j = 0; j < c; j++) max = XMath.Max(max, o.ToDouble(x[at + j]));
        double m = max > double.NegativeInfinity ? max : 0; // +inf: inf - inf = NaN everywhere, as PyTorch's
        for (int j = 0; j < c; j++) sum += XMath.Exp(o.ToDouble(x[at + j]) - m);
        double ls = XMath.Log(sum);
        stats[2 * r] = o.FromDouble(m); // an element of x: exact in T
        stats[2 * r + 1] = o.FromDouble(ls);
        loss[r] = o.FromDouble(wr * (ls - (o.ToDouble(x[at + target[r]]) - m)));
    }

    public static void Backward<T, O>(Index1D i, ArrayView<T> x, ArrayView<long> target, ArrayView<T> w, ArrayView<T> stats, ArrayView<T> g, ArrayView<T> dx, int c)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int r = i / c, j = i - r * c;
        double wr = o.ToDouble(w[r]);
        if (wr == 0) { dx[i] = o.Zero(); return; }
        double scale = o.ToDouble(g[r]) * wr;
        double p = XMath.Exp(o.ToDouble(x[i]) - o.ToDouble(stats[2 * r]) - o.ToDouble(stats[2 * r + 1])) * scale;
        dx[i] = o.FromDouble(target[r] == j ? p - scale : p);
    }
}

internal sealed partial class KernelCache<T, O>
{
    Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>? crossEntropy;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int> CrossEntropy =>
        Get(ref crossEntropy, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>(KCrossEntropy.Forward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>? crossEntropyBackward;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int> CrossEntropyBackward =>
        Get(ref crossEntropyBackward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>(KCrossEntropy.Backward<T, O>));
}
