namespace MiniGrad.Nn;

/// <summary>
/// One LSTM layer (one direction, or both) over all T steps as a single node on the tape: a graph of per-step ops
/// would be T times deeper and allocate a dozen tensors per step. Per direction:
/// Forward: one GEMM projects the inputs of every step into a (T, N, 4H) buffer (X W_ih^T); each step is then one
/// GEMM (h W_hh^T) and the backend's fused cell, which turns its row of the buffer into the gate activations.
/// Backward: each step in reverse is the fused cell backward, which turns the row into d(gates), and one GEMM
/// (dGates W_hh) for dh; the buffer then holds dG for all steps and the weight gradients are single GEMMs over
/// time: dW_ih = dG^T X, dW_hh = dG^T H_prev, db = sum of the rows of dG.
/// The two directions of a bidirectional layer are independent, so on the CPU each gets a core of its own.
/// </summary>
internal sealed class LstmLayerFn(int dirs, bool hasBias, bool hasState) : Function
{
    Pass[]? state;
    RawTensor? dcLast;

    /// <summary>One direction's parameters: W_ih (4H, I), W_hh (4H, H), and the biases (4H) or null.</summary>
    internal readonly record struct Weights(Tensor Wih, Tensor Whh, Tensor? Bih, Tensor? Bhh);

    /// <summary>What one direction's backward needs: the activations (T, N, 4H), and h and c per step t (in time order).</summary>
    sealed record Pass(RawTensor Output, RawTensor Gates, RawTensor[] H, RawTensor[] C);

    /// <summary>x (T, N, I), one Weights per direction (the second runs backward in time), h0 and c0 (D, N, H) or null; returns the output (T, N, D * H) and c_n (D, N, H).</summary>
    public static (Tensor Output, Tensor C) Apply(Tensor x, Weights[] w, Tensor? h0, Tensor? c0)
    {
        var passes = RunAll(x.Raw, w, h0?.Raw, c0?.Raw);
        var b = x.Raw.Backend;
        int T = x.Size(0), N = x.Size(1), H = w[0].Whh.Size(1);
        var output = w.Length == 1 ? passes[0].Output : b.Cat(passes.Select(p => p.Output).ToArray(), 2);
        var cLast = b.Cat(passes.Select((p, d) => p.C[d == 1 ? 0 : T - 1]).ToArray(), 0).Reshape([w.Length, N, H]);
        bool hasBias = w[0].Bih is not null, hasState = h0 is not null && c0 is not null;
        Tensor[] inputs = [x, .. w.SelectMany(p => hasBias ? new[] { p.Wih, p.Whh, p.Bih!, p.Bhh! } : [p.Wih, p.Whh]), .. hasState ? new[] { h0!, c0! } : []];
        var y = Record(output, () =>
        {
            var f = new LstmLayerFn(w.Length, hasBias, hasState) { state = passes };
            f.Save(inputs.Select(t => t.Detach()).ToArray());
            return f;
        }, inputs);
        return (y, y.GradFn is LstmLayerFn fn ? LstmStateFn.Apply(y, cLast, fn) : new Tensor(cLast));
    }

    // The directions are independent: on the CPU each gets a core (measured 15% faster on a 2-core machine; the
    // GEMMs' own threading then mostly runs inline). Devices that queue kernels in order run them one after the other.
    // Only raw backend calls run on the worker threads: grad mode and the tape are per thread.
    static T[] ForEachDirection<T>(int dirs, Device device, Func<int, T> body)
    {
        var r = new T[dirs];
        if (dirs > 1 && device == Device.Cpu) Parallel.For(0, dirs, d => r[d] = body(d));
        else for (int d = 0; d < dirs; d++) r[d] = body(d);
        return r;
    }

    static RawTensor? Slice(RawTensor? s, int d) => s is null ? null : s.Backend.Narrow(s, 0, d, 1).Reshape(s.Shape[1..]);

    static Pass[] RunAll(RawTensor x, Weights[] w, RawTensor? h0, RawTensor? c0) => ForEachDirection(w.Length, x.Backend.Device,
        d => Run(x, w[d].Wih.Raw, w[d].Whh.Raw, w[d].Bih?.Raw, w[d].Bhh?.Raw, Slice(h0, d), Slice(c0, d), reverse: d == 1));

    static Pass Run(RawTensor x, RawTensor wih, RawTensor whh, RawTensor? bih, RawTensor? bhh, RawTensor? h0, RawTensor? c0, bool reverse)
    {
        var b = x.Backend;
        int T = x.Shape[0], N = x.Shape[1], H = whh.Shape[1];
        var gates = b.MatMul(x.Reshape([T * N, x.Shape[2]]), wih, false, true).Reshape([T, N, 4 * H]);
        var bias = bih is null || bhh is null ? null : b.Binary(BinaryOp.Add, bih, bhh);
        var whhT = b.Permute(whh, [1, 0]); // (H, 4H) once: the GEMM then copies rows of it instead of transposing every step
        RawTensor? h = h0; // no initial state: h0 = 0, so the first step needs no GEMM
        var c = c0 ?? b.Full([N, H], x.DType, 0);
        RawTensor[] hs = new RawTensor[T], cs = new RawTensor[T];
        for (int s = 0; s < T; s++)
        {
            int t = reverse ? T - 1 - s : s;
            var hh = h is null ? null : b.MatMul(h, whhT, false, false);
            (h, c) = b.LstmCell(gates, t, hh, bias, c);
            (hs[t], cs[t]) = (h, c);
        }
        return new Pass(b.Cat(hs, 0).Reshape([T, N, H]), gates, hs, cs);
    }

    /// <summary>Adds the gradient of c_n (from <see cref="LstmStateFn"/>, which always runs before this node).</summary>
    internal void AddCellGrad(RawTensor g) => dcLast = dcLast is null ? g : g.Backend.Binary(BinaryOp.Add, dcLast, g);

    protected internal override Tensor?[] Backward(Tensor g)
    {
        int per = hasBias ? 4 : 2;
        Tensor x = Saved(0);
        var w = Enumerable.Range(0, dirs).Select(d => 1 + d * per)
            .Select(i => new Weights(Saved(i), Saved(i + 1), hasBias ? Saved(i + 2) : null, hasBias ? Saved(i + 3) : null)).ToArray();
        Tensor? h0 = hasState ? Saved(1 + dirs * per) : null, c0 = hasState ? Saved(2 + dirs * per) : null;
        // The backward consumes the state (it overwrites the activations); a retained graph walked again recomputes it.
        var passes = state ?? RunAll(x.Raw, w, h0?.Raw, c0?.Raw);
        var dcN = dcLast;
        (state, dcLast) = (null, null);
        var b = g.Raw.Backend;
        int H = w[0].Whh.Size(1);
        bool needX = Edges[0].IsLive, needH0 = hasState && Edges[^2].IsLive;
        var r = ForEachDirection(dirs, g.Device, d => DirectionBackward(passes[d], x.Raw, w[d], Slice(h0?.Raw, d), Slice(c0?.Raw, d),
            dirs == 1 ? g.Raw : b.Narrow(g.Raw, 2, d * H, H), Slice(dcN, d), reverse: d == 1, needX, needH0));

        var dx = r[0].DX; // both directions read x
        if (dirs == 2 && needX) dx = b.Binary(BinaryOp.Add, dx!, r[1].DX!);
        var grads = new List<Tensor?> { dx is null ? null : new Tensor(dx) };
        foreach (var q in r)
        {
            grads.AddRange([new Tensor(q.DWih), new Tensor(q.DWhh)]);
            // d/db_ih = d/db_hh: both are added to every step's gates (gradients are never written in place, so sharing is safe).
            if (hasBias) grads.AddRange([new Tensor(q.DB!), new Tensor(q.DB!)]);
        }
        Tensor Stack(Func<Grads, RawTensor?> f) => new(b.Cat(r.Select(q => f(q)!.Reshape([1, .. q.DC0.Shape])).ToArray(), 0));
        if (hasState) grads.AddRange([needH0 ? Stack(q => q.DH0) : null, Stack(q => q.DC0)]);
        return grads.ToArray();
    }

    sealed record Grads(RawTensor? DX, RawTensor DWih, RawTensor DWhh, RawTensor? DB, RawTensor? DH0, RawTensor DC0);

    static Grads DirectionBackward(Pass st, RawTensor x, Weights w, RawTensor? h0, RawTensor? c0, RawTensor dy, RawTensor? dc, bool reverse, bool needX, bool needH0)
    {
        var b = x.Backend;
        RawTensor wih = w.Wih.Raw, whh = w.Whh.Raw;
        int T = x.Shape[0], N = x.Shape[1], H = whh.Shape[1];
        var zeros = b.Full([N, H], x.DType, 0);
        RawTensor? dh = null;
        var hPrev = new RawTensor[T];
        for (int s = T - 1; s >= 0; s--)
        {
            int t = reverse ? T - 1 - s : s, prev = reverse ? t + 1 : t - 1;
            hPrev[t] = s == 0 ? h0 ?? zeros : st.H[prev];
            var cPrev = s == 0 ? c0 ?? zeros : st.C[prev];
            (var dGt, dc) = b.LstmCellBackward(st.Gates, t, cPrev, st.C[t], dy, dh, dc);
            dh = s > 0 || needH0 ? b.MatMul(dGt, whh, false, false) : null;
        }
        // Time-major like x: row t * N + n of dG belongs to row t * N + n of X and of H_prev.
        var dG = st.Gates.Reshape([T * N, 4 * H]);
        return new Grads(
            needX ? b.MatMul(dG, wih, false, false).Reshape(x.Shape) : null,
            b.MatMul(dG, x.Reshape([T * N, x.Shape[2]]), true, false),
            b.MatMul(dG, b.Cat(hPrev, 0), true, false),
            w.Bih is null ? null : b.Reduce(ReduceOp.Sum, dG, 0).Reshape([4 * H]),
            dh, dc!);
    }
}

/// <summary>
/// c_n of an LSTM layer as its own node, since a tape node has one output: it consumes the layer's output so that
/// it runs first, hands its gradient to the layer, and passes a zero gradient on so that the layer's backward runs
/// even when only c_n was used.
/// </summary>
internal sealed class LstmStateFn(LstmLayerFn layer, int[] outputShape) : Function
{
    public static Tensor Apply(Tensor output, RawTensor c, LstmLayerFn layer) => Record(c, () => new LstmStateFn(layer, output.Shape), output);

    protected internal override Tensor?[] Backward(Tensor g)
    {
        layer.AddCellGrad(g.Raw);
        return [Torch.Zeros(outputShape, g.DType, g.Device)];
    }
}
