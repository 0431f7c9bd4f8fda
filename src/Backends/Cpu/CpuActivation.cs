namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    // The formulas are ActivationMath's (src/Tensors/Activations.cs), shared with the ILGPU kernels; here they only run
    // over the span, in chunks over the cores (each element costs an exp or two, so big arrays pay for the split).

    /// <inheritdoc/>
    public RawTensor Activation(ActivationOp op, RawTensor x, double p0, double p1)
    {
        var src = C(x);
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32:
            {
                float[] s = (float[])src.Data, d = (float[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => { for (int i = a; i < b; i++) d[i] = (float)ActivationMath<SystemMath>.Forward(op, s[i], p0, p1); });
                break;
            }
            case DType.Float64:
            {
                double[] s = (double[])src.Data, d = (double[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => { for (int i = a; i < b; i++) d[i] = ActivationMath<SystemMath>.Forward(op, s[i], p0, p1); });
                break;
            }
            default: throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        }
        return dst;
    }

    /// <inheritdoc/>
    public RawTensor ActivationBackward(ActivationOp op, RawTensor x, RawTensor gy, double p0, double p1)
    {
        var src = C(x);
        var g = C(gy);
        if (!Shapes.Equal(x.Shape, gy.Shape) || x.DType != gy.DType)
            throw new ArgumentException($"{op}Backward: the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}) does not match the input ({Shapes.Format(x.Shape)}, {x.DType})");
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32:
            {
                float[] s = (float[])src.Data, gd = (float[])g.Data, d = (float[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => { for (int i = a; i < b; i++) d[i] = (float)ActivationMath<SystemMath>.Backward(op, s[i], gd[i], p0, p1); });
                break;
            }
            case DType.Float64:
            {
                double[] s = (double[])src.Data, gd = (double[])g.Data, d = (double[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => { for (int i = a; i < b; i++) d[i] = ActivationMath<SystemMath>.Backward(op, s[i], gd[i], p0, p1); });
                break;
            }
            default: throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        }
        return dst;
    }
}
