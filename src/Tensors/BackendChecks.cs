namespace MiniGrad;

/// <summary>Argument checks shared by every backend's implementation of a primitive.</summary>
public static class BackendChecks
{
    /// <summary>
    /// The LSTM cell primitives' shapes: step t of a (T, N, width * H) sequence buffer against an (N, H) cell state,
    /// plus optional tensors of known size. The layer above validates user input; this only keeps a kernel from
    /// reading or writing out of bounds.
    /// </summary>
    public static void LstmStep(string op, RawTensor c, int t, (RawTensor X, int Width) seq, (RawTensor? X, int Numel)[] others)
    {
        if (!c.DType.IsFloating()) throw new ArgumentException($"{op}: dtype {c.DType} is not supported; expected Float32 or Float64");
        var s = seq.X;
        if (c.Rank != 2 || s.Rank != 3 || s.DType != c.DType || s.Shape[1] != c.Shape[0] || s.Shape[2] != seq.Width * c.Shape[1] || t < 0 || t >= s.Shape[0])
            throw new ArgumentException($"{op}: step {t} of a sequence of shape {Shapes.Format(s.Shape)} does not fit a cell state of shape {Shapes.Format(c.Shape)}");
        foreach (var (x, numel) in others)
            if (x is not null && (x.DType != c.DType || x.Numel != numel))
                throw new ArgumentException($"{op}: got a {x.DType} tensor of shape {Shapes.Format(x.Shape)}, expected {numel} {c.DType} elements for a state of shape {Shapes.Format(c.Shape)}");
    }

    /// <summary>The LSTM cell's h and W_hh^T: both given (a step with a previous state) or both null.</summary>
    public static void LstmRecurrence(string op, RawTensor? h, RawTensor? whhT)
    {
        if ((h is null) != (whhT is null))
            throw new ArgumentException($"{op}: h and whhT go together; got {(h is null ? "whhT" : "h")} without {(h is null ? "h" : "whhT")}");
    }
}
