namespace MiniGrad.Nn;

/// <summary>
/// What tells the recurrent layers apart: their cell. The time loop, the parts, the packed row ranges and the weight
/// gradients (<see cref="RecurrentLayerFn"/>) are one for all; a cell says how many gate blocks of H rows its weights
/// have, whether it carries a cell state c (the LSTM) or a second per-step buffer, and which fused backend step runs it.
/// </summary>
internal abstract class CellKind
{
    /// <summary>torch.nn.LSTM's cell: gates (i, f, g, o), the cell state c in the second buffer.</summary>
    public static readonly CellKind Lstm = new LstmKind();
    /// <summary>torch.nn.GRU's cell: gates (r, z, n), W_hn h + b_hn in the second buffer.</summary>
    public static readonly CellKind Gru = new GruKind();
    /// <summary>torch.nn.RNN's cell with tanh.</summary>
    public static readonly CellKind RnnTanh = new ElmanKind(false);
    /// <summary>torch.nn.RNN's cell with relu.</summary>
    public static readonly CellKind RnnRelu = new ElmanKind(true);

    /// <summary>The module family ("Lstm", "Gru", "Rnn"): the tape node is its name + "LayerBackward".</summary>
    public abstract string Name { get; }
    /// <summary>Blocks of H rows in W_ih and W_hh: 4 (LSTM), 3 (GRU), 1 (RNN).</summary>
    public abstract int Gates { get; }
    /// <summary>Whether the layer carries a cell state c beside h (the LSTM): a c0 to start from and a c_n to return.</summary>
    public virtual bool HasCellState => false;
    /// <summary>Whether a step writes a second (T, n, H) buffer beside h's: the LSTM's c, the GRU's W_hn h + b_hn.</summary>
    public virtual bool HasAux => false;

    /// <summary>The bias a step adds, from b_ih and b_hh (or null): their sum, unless the cell needs them apart.</summary>
    public virtual RawTensor? StepBias(IBackend b, RawTensor? bih, RawTensor? bhh) => bih is null || bhh is null ? null : b.Binary(BinaryOp.Add, bih, bhh);

    /// <summary>The backend's fused step t over the rows [n0, n0 + count) (see IBackend.LstmCell).</summary>
    public abstract void Step(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count);

    /// <summary>Its backward: row t of the gates becomes d(pre-activation), dh (and dc) the gradients for the step before.</summary>
    public abstract void StepBackward(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor? dc, RawTensor? whh, int n0, int count);

    /// <summary>After the backward, d(pre-activation) of the input projection, (T, n, Gates * H): the gates buffer
    /// (which holds the hidden side's, for W_hh), unless the two sides differ.</summary>
    public virtual RawTensor InputGrad(IBackend b, RecurrentLayerFn.Pass s) => s.Gates;

    sealed class LstmKind : CellKind
    {
        public override string Name => "Lstm";
        public override int Gates => 4;
        public override bool HasCellState => true;
        public override bool HasAux => true;
        public override void Step(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count) =>
            b.LstmCell(s.Gates, t, prev, s.Hs, s.Aux!, h0, c0, whhT, bias, n0, count);
        public override void StepBackward(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor? dc, RawTensor? whh, int n0, int count) =>
            b.LstmCellBackward(s.Gates, t, prev, s.Aux!, c0, dy, dh, dc!, whh, n0, count);
    }

    // r multiplies W_hn h + b_hn, so b_in and b_hn stay apart: the step's bias is (b_ir + b_hr, b_iz + b_hz, b_in, b_hn), and
    // the input side's d(pre-activation) differs from the hidden side's in the n block (dn against dn r).
    sealed class GruKind : CellKind
    {
        public override string Name => "Gru";
        public override int Gates => 3;
        public override bool HasAux => true;
        public override RawTensor? StepBias(IBackend b, RawTensor? bih, RawTensor? bhh)
        {
            if (bih is null || bhh is null) return null;
            int h = bih.Shape[0] / 3;
            return b.Cat([b.Binary(BinaryOp.Add, b.Narrow(bih, 0, 0, 2 * h), b.Narrow(bhh, 0, 0, 2 * h)), b.Narrow(bih, 0, 2 * h, h), b.Narrow(bhh, 0, 2 * h, h)], 0);
        }
        public override void Step(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count) =>
            b.GruCell(s.Gates, t, prev, s.Hs, s.Aux!, h0, whhT, bias, n0, count);
        public override void StepBackward(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor? dc, RawTensor? whh, int n0, int count) =>
            b.GruCellBackward(s.Gates, t, prev, s.Hs, s.Aux!, h0, dy, dh, whh, n0, count);
        public override RawTensor InputGrad(IBackend b, RecurrentLayerFn.Pass s) =>
            b.Cat([b.Narrow(s.Gates, 2, 0, 2 * s.Hs.Shape[2]), s.Aux!], 2);
    }

    sealed class ElmanKind(bool relu) : CellKind
    {
        public override string Name => "Rnn";
        public override int Gates => 1;
        public override void Step(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count) =>
            b.RnnCell(s.Gates, t, prev, s.Hs, h0, whhT, bias, relu, n0, count);
        public override void StepBackward(IBackend b, RecurrentLayerFn.Pass s, int t, int prev, RawTensor? h0, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor? dc, RawTensor? whh, int n0, int count) =>
            b.RnnCellBackward(s.Gates, t, dy, dh, whh, relu, n0, count);
    }
}

/// <summary>
/// One recurrent layer (LSTM, GRU or RNN: the <see cref="CellKind"/>; one direction, or both) over all T steps as a
/// single node on the tape: a graph of per-step ops would be T times deeper and allocate a dozen tensors per step. Per
/// direction:
/// Forward: one GEMM projects the inputs of every step into a (T, N, G * H) buffer (X W_ih^T, G gate blocks); each step
/// is then the backend's fused cell: a GEMM adding h W_hh^T onto its row of the buffer (the GRU keeps W_hn h apart, in a
/// second (T, N, H) buffer, since r multiplies it), then the gate activations in place.
/// Backward: each step in reverse is the fused cell backward, which turns the row into d(gates) and reads it back for
/// the step's GEMM (dGates W_hh), the gradient for the previous h; the buffer then holds dG for all steps and the
/// weight gradients are single GEMMs over time: dW_ih = dG^T X, dW_hh = dG^T H_prev, db = sum of the rows of dG.
/// On the CPU the independent parts of the work (the two directions, or two halves of the batch) run on cores of their
/// own (see Split). Each part's h (and the cell's second buffer) for all steps live in (T, n, H) buffers that the steps
/// write row by row.
/// Sequences of different lengths (PyTorch's packed sequences) come sorted by length, longest first, so the rows still
/// running at step t are the first active(t) rows: each step works on those only (as cuDNN's packed mode), and a
/// reverse direction's rows start (from h0 and c0) at their own last frames. x is zero at the padding frames, so the
/// padding's gates, outputs and gradients are exactly zero.
/// </summary>
internal sealed class RecurrentLayerFn(CellKind cell, int dirs, bool hasBias, bool hasState) : Function
{
    Part[]? parts;
    Pass[]? state;
    RawTensor? dcLast;

    /// <summary>One direction's parameters: W_ih (G * H, I), W_hh (G * H, H), and the biases (G * H) or null.</summary>
    internal readonly record struct Weights(Tensor Wih, Tensor Whh, Tensor? Bih, Tensor? Bhh);

    /// <summary>What one part's backward needs: the activations (T, n, G * H), h of every step (T, n, H), in time order,
    /// and the cell's second buffer (T, n, H: the LSTM's c, the GRU's W_hn h + b_hn) or null; Hs is also the part's output.</summary>
    internal sealed record Pass(RawTensor Gates, RawTensor Hs, RawTensor? Aux);

    /// <inheritdoc/>
    public override string Name => cell.Name + "LayerBackward";

    /// <summary>An independent share of the layer's work: one direction, for the batch rows [N0, N0 + Count); Active[t]
    /// of them (its first rows) are still running at step t, and none at t = T.</summary>
    readonly record struct Part(int Dir, int N0, int Count, int[] Active);

    /// <summary>The cell, x (T, N, I), one Weights per direction (the second runs backward in time), h0 (and the LSTM's c0)
    /// (D, N, H) or null, and the sequences' lengths (non-increasing, 1..T; null: all T) with x zero past them; returns the
    /// output (T, N, D * H), zero past each length, and the LSTM's c_n (D, N, H), each sequence's state after its last
    /// frame (null for the other cells).</summary>
    public static (Tensor Output, Tensor? C) Apply(CellKind cell, Tensor x, Weights[] w, Tensor? h0, Tensor? c0, int[]? lengths = null)
    {
        // The raw intermediates go back to the pool at the end; the output, c_n and what the backward keeps stay.
        using var scratch = ScratchRegion.Begin();
        int T = x.Size(0), N = x.Size(1), H = w[0].Whh.Size(1);
        if (lengths is not null && lengths.All(n => n == T)) lengths = null;
        var parts = Split(w.Length, T, N, H, x.Device, lengths);
        if (!cell.HasCellState) c0 = null;
        var passes = RunAll(cell, parts, x.Raw, w, h0?.Raw, c0?.Raw);
        var output = JoinDirections(w.Length, d => Join(parts, d, i => passes[i].Hs, 1), 2);
        var cLast = cell.HasCellState ? JoinDirections(w.Length, d => Join(parts, d, i => Last(passes[i].Aux!, parts[i], d == 1), 0), 0).Reshape([w.Length, N, H]) : null;
        bool hasBias = w[0].Bih is not null, hasState = h0 is not null && (c0 is not null || !cell.HasCellState);
        Tensor[] inputs = [x, .. w.SelectMany(p => hasBias ? new[] { p.Wih, p.Whh, p.Bih!, p.Bhh! } : [p.Wih, p.Whh]), .. hasState ? c0 is null ? new[] { h0! } : [h0!, c0] : []];
        var y = Record(output, () =>
        {
            var f = new RecurrentLayerFn(cell, w.Length, hasBias, hasState) { parts = parts, state = passes };
            f.Save(inputs);
            foreach (var p in passes) { f.Keep(p.Gates); f.Keep(p.Hs); if (p.Aux is { } aux) f.Keep(aux); }
            return f;
        }, inputs);
        if (cLast is null) return (y, null);
        return (y, y.GradFn is RecurrentLayerFn fn ? LstmStateFn.Apply(y, cLast, fn) : new Tensor(cLast));
    }

    // The directions are independent, and so are the samples of a batch: on the CPU the parts run side by side (the
    // backend's RunParts), each with its share of the cores (one each on a 2-core machine), and the GEMMs and cells
    // inside a part stay on that share, with no hand-over per step. A bidirectional layer has one part per direction. A
    // one-way layer of 8 or more samples splits its batch in two halves: forward + backward of I=40 H=128 T=100 N=16
    // went from 9.2 to 8.1 ms (two parts against one part whose every step's GEMM was split over both cores), and of
    // I=80 H=256 T=200 N=32 from ~92 to ~79 ms once the kernels inside a part kept to their share. The split depends on
    // the shape only, never on the core count, so results are the same on every machine. Devices that queue kernels in
    // order get one part per direction. Only raw backend calls run on the worker threads: grad mode and the tape are
    // per thread.
    static Part[] Split(int dirs, int T, int N, int H, Device device, int[]? lengths)
    {
        int halves = device == Device.Cpu && dirs == 1 && T > 1 && N >= 8 ? 2 : 1;
        return [.. from d in Enumerable.Range(0, dirs) from h in Enumerable.Range(0, halves)
                   let n0 = N * h / halves let count = N * (h + 1) / halves - n0
                   select new Part(d, n0, count, Enumerable.Range(0, T + 1)
                       .Select(t => t == T ? 0 : lengths is null ? count : lengths.Skip(n0).Take(count).Count(n => n > t)).ToArray())];
    }

    /// <summary>
    /// Step t's rows in two calls: the rows [0, Going) continue from the state of step From (the step before in the
    /// direction's order); the rows [Going, Active[t]) start there from h0 and c0. Going forward in time every running
    /// sequence continues (all start at t = 0); going backward a sequence starts at its own last frame.
    /// </summary>
    static (int From, int Going) Continuing(Part p, int t, bool reverse)
    {
        int from = reverse ? t + 1 : t - 1, T = p.Active.Length - 1;
        return (from, from < 0 || from >= T ? 0 : Math.Min(p.Active[from], p.Active[t]));
    }

    /// <summary>The state after each sequence's last step, (n, H) from a (T, n, H) sequence: going backward row 0, going
    /// forward row T - 1, or with shorter sequences each one's row length - 1.</summary>
    static RawTensor Last(RawTensor seq, Part p, bool reverse)
    {
        int T = seq.Shape[0], n = seq.Shape[1];
        if (reverse || p.Active[T - 1] == n) return Step(seq, reverse ? 0 : T - 1);
        var rows = new long[n]; // sequence r ends at step t when it is active there and not at t + 1
        for (int t = 0; t < T; t++)
            for (int r = p.Active[t + 1]; r < p.Active[t]; r++) rows[r] = (long)t * n + r;
        var b = seq.Backend;
        return b.IndexSelect(seq.Reshape([T * n, seq.Shape[2]]), 0, b.FromArray(rows, [n]));
    }

    static T[] ForEachPart<T>(Part[] parts, IBackend backend, Func<int, T> body)
    {
        var r = new T[parts.Length];
        backend.RunParts(parts.Length, i => r[i] = body(i));
        return r;
    }

    /// <summary>Direction d's pieces (one per part), concatenated along the batch dimension.</summary>
    static RawTensor Join(Part[] parts, int d, Func<int, RawTensor> piece, int batchDim)
    {
        var ps = Enumerable.Range(0, parts.Length).Where(i => parts[i].Dir == d).Select(piece).ToArray();
        return ps.Length == 1 ? ps[0] : ps[0].Backend.Cat(ps, batchDim);
    }

    /// <summary>Direction d's pieces summed, in part order (weight gradients).</summary>
    static RawTensor Sum(Part[] parts, int d, Func<int, RawTensor> piece) =>
        Enumerable.Range(0, parts.Length).Where(i => parts[i].Dir == d).Select(piece).Aggregate((a, b) => a.Backend.Binary(BinaryOp.Add, a, b));

    static RawTensor JoinDirections(int dirs, Func<int, RawTensor> perDirection, int dim) =>
        dirs == 1 ? perDirection(0) : perDirection(0).Backend.Cat(Enumerable.Range(0, dirs).Select(perDirection).ToArray(), dim);

    /// <summary>Direction d of a (D, N, H) state, or null.</summary>
    static RawTensor? Slice(RawTensor? s, int d) => s is null ? null : s.Backend.Narrow(s, 0, d, 1).Reshape(s.Shape[1..]);

    /// <summary>Row t of a (T, n, H) sequence, as (n, H).</summary>
    static RawTensor Step(RawTensor seq, int t) => seq.Backend.Narrow(seq, 0, t, 1).Reshape(seq.Shape[1..]);

    /// <summary>The part's batch rows of s along dim, or null.</summary>
    static RawTensor? Rows(RawTensor? s, int dim, Part p) =>
        s is null || (p.N0 == 0 && p.Count == s.Shape[dim]) ? s : s.Backend.Narrow(s, dim, p.N0, p.Count);

    static Pass[] RunAll(CellKind cell, Part[] parts, RawTensor x, Weights[] w, RawTensor? h0, RawTensor? c0)
    {
        var b = x.Backend;
        // Per direction, shared by its parts: W_hh^T (H, G * H), so that the step's GEMM reads rows of it instead of
        // transposing every step, and the step's bias (b_ih + b_hh).
        var whhT = w.Select(p => b.Permute(p.Whh.Raw, [1, 0])).ToArray();
        var bias = w.Select(p => cell.StepBias(b, p.Bih?.Raw, p.Bhh?.Raw)).ToArray();
        return ForEachPart(parts, b, i =>
        {
            var (d, p) = (parts[i].Dir, parts[i]);
            return Run(cell, Rows(x, 1, p)!, w[d].Wih.Raw, whhT[d], bias[d], Rows(Slice(h0, d), 0, p), Rows(Slice(c0, d), 0, p), p, reverse: d == 1);
        });
    }

    static Pass Run(CellKind cell, RawTensor x, RawTensor wih, RawTensor whhT, RawTensor? bias, RawTensor? h0, RawTensor? c0, Part p, bool reverse)
    {
        var b = x.Backend;
        int T = x.Shape[0], N = x.Shape[1], H = whhT.Shape[0];
        var gates = b.MatMul(x.Reshape([T * N, x.Shape[2]]), wih, false, true).Reshape([T, N, cell.Gates * H]);
        // Each step writes its h (and c) into row t; without an initial state (h0 = c0 = 0) the first step has no GEMM.
        var st = new Pass(gates, b.Full([T, N, H], x.DType, 0), cell.HasAux ? b.Full([T, N, H], x.DType, 0) : null);
        for (int s = 0; s < T; s++)
        {
            int t = reverse ? T - 1 - s : s;
            var (from, going) = Continuing(p, t, reverse);
            if (going > 0) cell.Step(b, st, t, from, h0, c0, whhT, bias, 0, going);
            if (p.Active[t] > going) cell.Step(b, st, t, -1, h0, c0, whhT, bias, going, p.Active[t] - going);
        }
        return st;
    }

    /// <summary>Adds the gradient of the LSTM's c_n (from <see cref="LstmStateFn"/>, which always runs before this node).</summary>
    internal void AddCellGrad(RawTensor g) => dcLast = dcLast is null ? g : g.Backend.Binary(BinaryOp.Add, dcLast, g);

    protected internal override Tensor?[] Backward(Tensor g)
    {
        using var scratch = ScratchRegion.Begin(); // the gradients returned stay; the raw intermediates are reused
        int per = hasBias ? 4 : 2;
        Tensor x = Saved(0);
        var w = Enumerable.Range(0, dirs).Select(d => 1 + d * per)
            .Select(i => new Weights(Saved(i), Saved(i + 1), hasBias ? Saved(i + 2) : null, hasBias ? Saved(i + 3) : null)).ToArray();
        Tensor? h0 = hasState ? Saved(1 + dirs * per) : null, c0 = hasState && cell.HasCellState ? Saved(2 + dirs * per) : null;
        var ps = parts!;
        // The backward consumes the state (it overwrites the activations); a retained graph walked again recomputes it.
        var passes = state ?? RunAll(cell, ps, x.Raw, w, h0?.Raw, c0?.Raw);
        var dcN = dcLast;
        (state, dcLast) = (null, null);
        var b = g.Raw.Backend;
        int H = w[0].Whh.Size(1);
        bool needX = Edges[0].IsLive, needH0 = hasState && Edges[1 + dirs * per].IsLive;
        var r = ForEachPart(ps, b, i =>
        {
            var (d, p) = (ps[i].Dir, ps[i]);
            var dy = dirs == 1 ? g.Raw : b.Narrow(g.Raw, 2, d * H, H);
            return DirectionBackward(cell, passes[i], Rows(x.Raw, 1, p)!, w[d], Rows(Slice(h0?.Raw, d), 0, p), Rows(Slice(c0?.Raw, d), 0, p),
                Rows(dy, 1, p)!, Rows(Slice(dcN, d), 0, p), p, reverse: d == 1, needX, needH0);
        });

        var grads = new List<Tensor?>();
        RawTensor? dx = null; // both directions read x
        if (needX)
            for (int d = 0; d < dirs; d++)
            {
                var dxd = Join(ps, d, i => r[i].DX!, 1);
                dx = dx is null ? dxd : b.Binary(BinaryOp.Add, dx, dxd);
            }
        grads.Add(dx is null ? null : new Tensor(dx));
        for (int d = 0; d < dirs; d++)
        {
            grads.AddRange([new Tensor(Sum(ps, d, i => r[i].DWih)), new Tensor(Sum(ps, d, i => r[i].DWhh))]);
            if (!hasBias) continue;
            // Where the two sides' d(pre-activation) are one buffer (LSTM, RNN), d/db_ih = d/db_hh: both are added to every
            // step's gates (gradients are never written in place, so sharing is safe).
            var dbih = new Tensor(Sum(ps, d, i => r[i].DBih!));
            grads.AddRange([dbih, r[0].DBhh == r[0].DBih ? dbih : new Tensor(Sum(ps, d, i => r[i].DBhh!))]);
        }
        RawTensor Leading1(RawTensor t) => t.Reshape([1, .. t.Shape]);
        Tensor Stack(Func<Grads, RawTensor?> f) => new(JoinDirections(dirs, d => Leading1(Join(ps, d, i => f(r[i])!, 0)), 0));
        if (hasState) grads.Add(needH0 ? Stack(q => q.DH0) : null);
        if (hasState && cell.HasCellState) grads.Add(Stack(q => q.DC0));
        return grads.ToArray();
    }

    /// <summary>(T, n, 1): 1 at each shorter sequence's last frame, where going backward in time it started from h0.</summary>
    static RawTensor StartMask(Part p, DType dtype, IBackend b)
    {
        int T = p.Active.Length - 1, n = p.Count;
        var m = new double[T * n];
        for (int t = 0; t < T - 1; t++)
            for (int r = p.Active[t + 1]; r < p.Active[t]; r++) m[t * n + r] = 1;
        return b.Cast(b.FromArray(m, [T, n, 1]), dtype);
    }

    sealed record Grads(RawTensor? DX, RawTensor DWih, RawTensor DWhh, RawTensor? DBih, RawTensor? DBhh, RawTensor? DH0, RawTensor? DC0);

    static Grads DirectionBackward(CellKind cell, Pass st, RawTensor x, Weights w, RawTensor? h0, RawTensor? c0, RawTensor dy, RawTensor? dc, Part p, bool reverse, bool needX, bool needH0)
    {
        var b = x.Backend;
        RawTensor wih = w.Wih.Raw, whh = w.Whh.Raw;
        int T = x.Shape[0], N = x.Shape[1], H = whh.Shape[1], G = cell.Gates;
        // The steps update dh and dc in place: fresh buffers, never a caller's tensor.
        RawTensor dh = b.Full([N, H], x.DType, 0);
        RawTensor? dcs = !cell.HasCellState ? null : dc is null ? b.Full([N, H], x.DType, 0) : b.Narrow(dc, 0, 0, N);
        // The steps in reverse order, each sequence's last step first (its dc holds dc_n until then, its dh zero). The
        // padding's rows of the gates are never touched: they stay x W_ih^T = 0, so dG is zero there.
        for (int s = T - 1; s >= 0; s--)
        {
            int t = reverse ? T - 1 - s : s;
            var (from, going) = Continuing(p, t, reverse);
            if (going > 0) cell.StepBackward(b, st, t, from, h0, c0, dy, dh, dcs, whh, 0, going);
            if (p.Active[t] > going) cell.StepBackward(b, st, t, -1, h0, c0, dy, dh, dcs, needH0 ? whh : null, going, p.Active[t] - going);
        }
        // Time-major like x: row t * N + n of dG belongs to row t * N + n of X and of H_prev, the h each step started
        // from: the outputs one step back in time (forward in time when reverse), h0 (or zeros) for the first step.
        // dG is the hidden side's d(pre-activation) (for W_hh and b_hh), dGx the input side's (for W_ih, b_ih and x): one
        // buffer except for the GRU, whose n blocks differ (r multiplies the hidden side's).
        var gx = cell.InputGrad(b, st);
        var dG = st.Gates.Reshape([T * N, G * H]);
        var dGx = gx == st.Gates ? dG : gx.Reshape([T * N, G * H]);
        var first = h0?.Reshape([1, N, H]) ?? b.Full([1, N, H], x.DType, 0);
        var hPrev = T == 1 ? first : reverse ? b.Cat([b.Narrow(st.Hs, 0, 1, T - 1), first], 0) : b.Cat([first, b.Narrow(st.Hs, 0, 0, T - 1)], 0);
        if (reverse && h0 is not null && p.Active[T - 1] < N) // a shorter sequence started from h0 at its last frame, not from padding
            hPrev = b.Binary(BinaryOp.Add, hPrev, b.Binary(BinaryOp.Mul, StartMask(p, x.DType, b), h0.Reshape([1, N, H])));
        var dbx = w.Bih is null ? null : b.Reduce(ReduceOp.Sum, dGx, 0).Reshape([G * H]);
        // The weight gradients come out transposed, (I, G * H) = x^T dG and (H, G * H) = h_prev^T dG, the GEMM's better
        // orientation for a narrow input (C I wide instead of G * H took 1.24x as long at AVX2, I = 40). Where the two sides
        // share dG (LSTM, RNN) they are one GEMM, [x | h_prev]^T dG: 1.45 ms against 1.64 for the two (I=40 H=128, 800 rows).
        int I = x.Shape[2];
        RawTensor dWih, dWhh;
        if (dGx == dG)
        {
            var dW = b.MatMul(b.Cat([x, hPrev], 2).Reshape([T * N, I + H]), dG, true, false);
            (dWih, dWhh) = (b.Narrow(dW, 0, 0, I), b.Narrow(dW, 0, I, H));
        }
        else
            (dWih, dWhh) = (b.MatMul(x.Reshape([T * N, I]), dGx, true, false), b.MatMul(hPrev.Reshape([T * N, H]), dG, true, false));
        return new Grads(
            needX ? b.MatMul(dGx, wih, false, false).Reshape(x.Shape) : null,
            b.Permute(dWih, [1, 0]), b.Permute(dWhh, [1, 0]),
            dbx, w.Bih is null ? null : dGx == dG ? dbx : b.Reduce(ReduceOp.Sum, dG, 0).Reshape([G * H]),
            needH0 ? dh : null, dcs);
    }
}

/// <summary>
/// c_n of an LSTM layer as its own node, since a tape node has one output: it consumes the layer's output so that
/// it runs first, hands its gradient to the layer, and passes a zero gradient on so that the layer's backward runs
/// even when only c_n was used.
/// </summary>
internal sealed class LstmStateFn(RecurrentLayerFn layer, int[] outputShape) : Function
{
    public static Tensor Apply(Tensor output, RawTensor c, RecurrentLayerFn layer) => Record(c, () => new LstmStateFn(layer, output.Shape), output);

    protected internal override Tensor?[] Backward(Tensor g)
    {
        layer.AddCellGrad(g.Raw);
        return [Torch.Zeros(outputShape, g.DType, g.Device)];
    }
}
