using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public RawTensor Activation(ActivationOp op, RawTensor x, double p0, double p1)
    {
        var s = In(x, op.ToString());
        if (!x.DType.IsFloating()) throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        var d = Alloc(x.Shape, x.DType);
        int n = x.Numel;
        if (n == 0) return d;
        if (x.DType == DType.Float32) Ks<float, F32>().Activation(n, s.View<float>(), d.View<float>(), (int)op, p0, p1);
        else Ks<double, F64>().Activation(n, s.View<double>(), d.View<double>(), (int)op, p0, p1);
        return d;
    }

    /// <inheritdoc/>
    public RawTensor ActivationBackward(ActivationOp op, RawTensor x, RawTensor gy, double p0, double p1)
    {
        var s = In(x, op.ToString());
        var g = In(gy, op.ToString());
        if (!x.DType.IsFloating()) throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        if (!Shapes.Equal(x.Shape, gy.Shape) || x.DType != gy.DType)
            throw new ArgumentException($"{op}Backward: the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}) does not match the input ({Shapes.Format(x.Shape)}, {x.DType})");
        var d = Alloc(x.Shape, x.DType);
        int n = x.Numel;
        if (n == 0) return d;
        if (x.DType == DType.Float32) Ks<float, F32>().ActivationBackward(n, s.View<float>(), g.View<float>(), d.View<float>(), (int)op, p0, p1);
        else Ks<double, F64>().ActivationBackward(n, s.View<double>(), g.View<double>(), d.View<double>(), (int)op, p0, p1);
        return d;
    }

    /// <inheritdoc/>
    public RawTensor UnaryBackward(UnaryOp op, RawTensor saved, RawTensor gy)
    {
        // From the elementwise kernels, in the order of operations the CPU's fused kernel rounds in.
        RawTensor One() => Full([], saved.DType, 1);
        return op switch
        {
            UnaryOp.Relu => Where(Binary(BinaryOp.Le, saved, Full([], saved.DType, 0)), Full([], saved.DType, 0), gy), // g passes where x is NaN
            UnaryOp.Tanh => Binary(BinaryOp.Mul, gy, Binary(BinaryOp.Sub, One(), Binary(BinaryOp.Mul, saved, saved))),
            UnaryOp.Sigmoid => Binary(BinaryOp.Mul, Binary(BinaryOp.Mul, gy, saved), Binary(BinaryOp.Sub, One(), saved)),
            _ => throw new ArgumentException($"UnaryBackward: {op} has no fused gradient; expected Relu, Tanh or Sigmoid", nameof(op)),
        };
    }
}

/// <summary>exp, log and tanh for ActivationMath inside kernels.</summary>
internal struct XMathOps : IScalarMath
{
    public readonly double Exp(double x) => XMath.Exp(x);
    public readonly double Log(double x) => XMath.Log(x);
    public readonly double Tanh(double x) => XMath.Tanh(x);
}

/// <summary>The activation kernels: one thread per element, ActivationMath's formulas in double.</summary>
internal static class KAct
{
    public static void Forward<T, O>(Index1D i, ArrayView<T> x, ArrayView<T> d, int op, double p0, double p1) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        d[i] = o.FromDouble(ActivationMath<XMathOps>.Forward((ActivationOp)op, o.ToDouble(x[i]), p0, p1));
    }

    public static void Backward<T, O>(Index1D i, ArrayView<T> x, ArrayView<T> g, ArrayView<T> d, int op, double p0, double p1) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        d[i] = o.FromDouble(ActivationMath<XMathOps>.Backward((ActivationOp)op, o.ToDouble(x[i]), o.ToDouble(g[i]), p0, p1));
    }
}

internal sealed partial class KernelCache<T, O>
{
    Action<Index1D, ArrayView<T>, ArrayView<T>, int, double, double>? activation;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, int, double, double> Activation => Get(ref activation, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int, double, double>(KAct.Forward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, double, double>? activationBackward;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, double, double> ActivationBackward => Get(ref activationBackward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, double, double>(KAct.Backward<T, O>));
}
