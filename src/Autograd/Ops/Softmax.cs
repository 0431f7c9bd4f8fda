namespace MiniGrad;

// Softmax and LogSoftmax: one fused, numerically stable backend kernel each way.
public partial class Tensor
{
    /// <summary>exp(x) / sum(exp(x)) over dim.</summary>
    public Tensor Softmax(int dim) => SoftmaxFn.Apply(this, dim, log: false);
    /// <summary>x - logsumexp(x) over dim.</summary>
    public Tensor LogSoftmax(int dim) => SoftmaxFn.Apply(this, dim, log: true);
}

sealed class SoftmaxFn(int dim, bool log) : Function
{
    public override string Name => log ? "LogSoftmaxBackward" : "SoftmaxBackward";

    public static Tensor Apply(Tensor x, int dim, bool log)
    {
        string op = log ? "LogSoftmax" : "Softmax";
        int d = x.Rank == 0 ? Shapes.NormalizeDim(op, dim, 0) : Shapes.NormalizeDim(op, dim, x.Rank);
        if (!x.DType.IsFloating()) throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        var raw = x.Backend.Softmax(x.Raw, d, log);
        return Record(raw, () => { var f = new SoftmaxFn(d, log); f.Save(new Tensor(raw)); return f; }, x);
    }

    protected internal override Tensor?[] Backward(Tensor g) =>
        [new Tensor(g.Backend.SoftmaxBackward(Saved(0).Raw, g.Raw, dim, log))];
}
