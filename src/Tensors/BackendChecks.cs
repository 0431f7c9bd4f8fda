namespace MiniGrad;

/// <summary>Argument checks shared by every backend's implementation of a primitive.</summary>
public static class BackendChecks
{
    /// <summary>
    /// An LSTM step's buffers: gates (T, N, 4H) and the sequences seqs (T, N, H) of one floating dtype, t a row of them,
    /// prev another row or negative (the first step), and each of the others null or numel elements of that dtype.
    /// </summary>
    public static void LstmStep(string op, RawTensor gates, int t, int prev, int n0, int count, RawTensor[] seqs, (string Name, RawTensor? X, int Numel)[] others) =>
        RecurrentStep(op, 4, gates, t, prev, n0, count, seqs, others);

    /// <summary>A recurrent step's buffers, as <see cref="LstmStep"/> with gates (T, N, gateCount * H): 4 for the LSTM, 3 for the GRU, 1 for the RNN.</summary>
    public static void RecurrentStep(string op, int gateCount, RawTensor gates, int t, int prev, int n0, int count, RawTensor[] seqs, (string Name, RawTensor? X, int Numel)[] others)
    {
        var s = seqs[0];
        if (!s.DType.IsFloating()) throw new ArgumentException($"{op}: dtype {s.DType} is not supported; expected Float32 or Float64");
        foreach (var q in seqs)
            if (q.Rank != 3 || q.DType != s.DType || !Shapes.Equal(q.Shape, s.Shape))
                throw new ArgumentException($"{op}: got step buffers of shapes {string.Join(" and ", seqs.Select(x => $"{x.DType} {Shapes.Format(x.Shape)}"))}; expected one (T, N, H) shape and dtype");
        int T = s.Shape[0], n = s.Shape[1], h = s.Shape[2];
        if (gates.Rank != 3 || gates.DType != s.DType || gates.Shape[0] != T || gates.Shape[1] != n || gates.Shape[2] != gateCount * h)
            throw new ArgumentException($"{op}: gates has shape {gates.DType} {Shapes.Format(gates.Shape)}; expected {s.DType} {Shapes.Format([T, n, gateCount * h])} for steps of shape {Shapes.Format(s.Shape)}");
        if (t < 0 || t >= T || prev >= T || prev == t)
            throw new ArgumentException($"{op}: step {t} after row {prev} does not fit a sequence of {T} steps; expected 0 <= t < {T} and prev < {T} (negative on a first step), prev != t");
        if (n0 < 0 || count < 0 || n0 > n - count)
            throw new ArgumentException($"{op}: batch rows [{n0}, {n0} + {count}) do not fit a batch of {n}; expected 0 <= n0 and 0 <= count <= {n} - n0");
        foreach (var (name, x, numel) in others)
            if (x is not null && (x.DType != s.DType || x.Numel != numel))
                throw new ArgumentException($"{op}: {name} is a {x.DType} tensor of shape {Shapes.Format(x.Shape)}; expected {numel} {s.DType} elements for steps of shape {Shapes.Format(s.Shape)}");
    }

    /// <summary>Unfold1d's and Fold1d's arguments: a floating x of the given rank and window geometry that fits (every count non-negative, steps positive).</summary>
    public static void Window(string op, RawTensor x, int rank, int kernel, int stride, int dilation, int padLeft, int lOut)
    {
        if (!x.DType.IsFloating()) throw new ArgumentException($"{op}: dtype {x.DType} is not supported; expected Float32 or Float64");
        if (x.Rank != rank) throw new ArgumentException($"{op}: got a tensor of shape {Shapes.Format(x.Shape)}; expected rank {rank}");
        if (kernel <= 0 || stride <= 0 || dilation <= 0 || padLeft < 0 || lOut < 0)
            throw new ArgumentException($"{op}: got kernel {kernel}, stride {stride}, dilation {dilation}, padLeft {padLeft}, lOut {lOut}; expected kernel, stride and dilation > 0 and padLeft, lOut >= 0");
    }

    /// <summary>LayerNorm's and LayerNormBackward's arguments: floating tensors of one dtype, x's numel a multiple of cols, and the
    /// others (name, tensor or null, expected numel; -1: one per row) of that many elements. Returns the row count.</summary>
    public static int Rows(string op, RawTensor x, int cols, params (string Name, RawTensor? X, int Numel)[] others)
    {
        if (!x.DType.IsFloating()) throw new ArgumentException($"{op}: dtype {x.DType} is not supported; expected Float32 or Float64");
        if (cols <= 0 || x.Numel % cols != 0)
            throw new ArgumentException($"{op}: cols = {cols} does not divide x of shape {Shapes.Format(x.Shape)}; expected a positive divisor of its {x.Numel} elements");
        int rows = x.Numel / cols;
        foreach (var (name, t, numel) in others)
            if (t is not null && (t.DType != x.DType || t.Numel != (numel < 0 ? rows : numel)))
                throw new ArgumentException($"{op}: {name} is a {t.DType} tensor of shape {Shapes.Format(t.Shape)}; expected {(numel < 0 ? rows : numel)} {x.DType} elements for x of shape {Shapes.Format(x.Shape)} in rows of {cols}");
        return rows;
    }

    /// <summary>CrossEntropy's and CrossEntropyBackward's arguments: x (rows, C) floating, target Int64 (rows) with every
    /// index in [0, C), and the others (name, tensor) rows elements of x's dtype; returns (rows, C) and the targets.</summary>
    public static (int Rows, int C, long[] Targets) ClassRows(string op, RawTensor x, RawTensor target, (string Name, RawTensor T)[] perRow, params (string Name, RawTensor T)[] stats)
    {
        if (!x.DType.IsFloating()) throw new ArgumentException($"{op}: dtype {x.DType} is not supported; expected Float32 or Float64");
        if (x.Rank != 2) throw new ArgumentException($"{op}: x has shape {Shapes.Format(x.Shape)}; expected 2 dims (rows, classes)");
        int rows = x.Shape[0], c = x.Shape[1];
        if (target.DType != DType.Int64 || target.Numel != rows)
            throw new ArgumentException($"{op}: target is a {target.DType} tensor of shape {Shapes.Format(target.Shape)}; expected {rows} Int64 class indices");
        foreach (var (name, t) in perRow)
            if (t.DType != x.DType || t.Numel != rows)
                throw new ArgumentException($"{op}: {name} is a {t.DType} tensor of shape {Shapes.Format(t.Shape)}; expected {rows} {x.DType} elements, one per row of x {Shapes.Format(x.Shape)}");
        foreach (var (name, t) in stats)
            if (t.DType != x.DType || t.Rank != 2 || t.Shape[0] != rows || t.Shape[1] != 2)
                throw new ArgumentException($"{op}: {name} is a {t.DType} tensor of shape {Shapes.Format(t.Shape)}; expected ({rows}, 2) {x.DType}, the forward's [max, log-sum] per row of x {Shapes.Format(x.Shape)}");
        var ts = (long[])target.Backend.ToArray(target);
        for (int i = 0; i < rows; i++)
            if (ts[i] < 0 || ts[i] >= c)
                throw new ArgumentOutOfRangeException(nameof(target), ts[i], $"{op}: target[{i}] = {ts[i]} is out of range; expected a class index in [0, {c})");
        return (rows, c, ts);
    }
}
