using ILGPU;
using ILGPU.Algorithms;

namespace MiniGrad.Backends.Ilgpu;

/// <summary>Six ints passed by value into a kernel (shapes and strides; kernels cannot take arrays of the host).</summary>
internal struct Idx6
{
    public int D0, D1, D2, D3, D4, D5;

    public readonly int Get(int i) => i switch { 0 => D0, 1 => D1, 2 => D2, 3 => D3, 4 => D4, _ => D5 };

    public static Idx6 From(ReadOnlySpan<int> v)
    {
        var r = new Idx6();
        if (v.Length > 0) r.D0 = v[0];
        if (v.Length > 1) r.D1 = v[1];
        if (v.Length > 2) r.D2 = v[2];
        if (v.Length > 3) r.D3 = v[3];
        if (v.Length > 4) r.D4 = v[4];
        if (v.Length > 5) r.D5 = v[5];
        return r;
    }
}

/// <summary>An output shape (rank at most 6 after merging) and up to three operands' element strides (0 = broadcast).</summary>
internal struct Strided
{
    public int Rank, Offset0;
    public Idx6 Shape, S0, S1, S2;

    /// <summary>Offsets of the operands at a linear output index.</summary>
    public readonly void Offsets(int linear, out int o0, out int o1, out int o2)
    {
        int rem = linear;
        o0 = Offset0; o1 = 0; o2 = 0;
        for (int d = Rank - 1; d >= 0; d--)
        {
            int size = Shape.Get(d), i = rem % size;
            rem /= size;
            o0 += i * S0.Get(d); o1 += i * S1.Get(d); o2 += i * S2.Get(d);
        }
    }
}

internal struct MatArgs
{
    public int M, N, K, Lda, Ldb, TransA, TransB, ABatch, BBatch, TilesM, TilesN, Ts, Accumulate; // Accumulate: C += op(A) op(B)
}

internal struct CellArgs
{
    // T: the step's row; N0: the first batch row; HasC and CAt: whether there is a previous c (GRU: a previous h) and where
    // it starts in its buffer; Relu: the RNN's nonlinearity is relu (else tanh).
    public int T, N, H, N0, HasHH, HasBias, HasC, CAt, Relu;
}

internal struct WindowArgs
{
    public int L, Kernel, Stride, Dilation, PadLeft, LOut;
}

internal struct CtcArgs
{
    public int MaxT, N, C, Blank, ZeroInfinity;
}

internal enum UKind { Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, Sign, Square }

/// <summary>The kernel bodies. Each is a static method loaded once per accelerator and element type (see KernelCache).</summary>
internal static class K
{
    public const int MaxTile = 16;          // matmul tiles are at most 16 x 16 (the group is Ts * Ts threads)
    public const int MaxGroup = 256;        // row-reduction groups (softmax) use at most this many threads

    public static void Fill<T>(Index1D i, ArrayView<T> d, T v) where T : unmanaged => d[i] = v;

    public static void CastViaDouble<TA, OA, TB, OB>(Index1D i, ArrayView<TA> x, ArrayView<TB> d)
        where TA : unmanaged where OA : struct, INumOps<TA> where TB : unmanaged where OB : struct, INumOps<TB>
        => d[i] = default(OB).FromDouble(default(OA).ToDouble(x[i]));

    public static void CastViaLong<TA, OA, TB, OB>(Index1D i, ArrayView<TA> x, ArrayView<TB> d)
        where TA : unmanaged where OA : struct, INumOps<TA> where TB : unmanaged where OB : struct, INumOps<TB>
        => d[i] = default(OB).FromLong(default(OA).ToLong(x[i]));

    public static void Unary<T, O>(Index1D i, ArrayView<T> x, ArrayView<T> d, int op) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        T v = x[i];
        d[i] = (UKind)op switch
        {
            UKind.Neg => o.Neg(v),
            UKind.Exp => o.Exp(v),
            UKind.Log => o.Log(v),
            UKind.Sqrt => o.Sqrt(v),
            UKind.Abs => o.Abs(v),
            UKind.Tanh => o.Tanh(v),
            UKind.Sigmoid => Sigmoid<T, O>(v),
            UKind.Relu => o.Max(v, o.Zero()),
            UKind.Sign => o.Lt(o.Zero(), v) ? o.FromLong(1) : o.Lt(v, o.Zero()) ? o.FromLong(-1) : o.Zero(), // 0 at NaN, as PyTorch
            _ => o.Mul(v, v),
        };
    }

    static T Sigmoid<T, O>(T v) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        return o.Div(o.FromLong(1), o.Add(o.FromLong(1), o.Exp(o.Neg(v))));
    }

    static T Apply<T, O>(int op, T x, T y) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        return (BinaryOp)op switch
        {
            BinaryOp.Add => o.Add(x, y),
            BinaryOp.Sub => o.Sub(x, y),
            BinaryOp.Mul => o.Mul(x, y),
            BinaryOp.Div => o.Div(x, y),
            BinaryOp.Pow => o.Pow(x, y),
            BinaryOp.Maximum => o.Max(x, y),
            _ => o.Min(x, y),
        };
    }

    public static void Binary<T, O>(Index1D i, ArrayView<T> a, ArrayView<T> b, ArrayView<T> d, Strided s, int op)
        where T : unmanaged where O : struct, INumOps<T>
    {
        s.Offsets(i, out int oa, out int ob, out _);
        d[i] = Apply<T, O>(op, a[oa], b[ob]);
    }

    public static void Compare<T, O>(Index1D i, ArrayView<T> a, ArrayView<T> b, ArrayView<byte> d, Strided s, int op)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        s.Offsets(i, out int oa, out int ob, out _);
        T x = a[oa], y = b[ob];
        bool r = (BinaryOp)op switch
        {
            BinaryOp.Eq => o.Eq(x, y),
            BinaryOp.Ne => !o.Eq(x, y),
            BinaryOp.Lt => o.Lt(x, y),
            BinaryOp.Le => o.Lt(x, y) || o.Eq(x, y),
            BinaryOp.Gt => o.Lt(y, x),
            _ => o.Lt(y, x) || o.Eq(x, y),
        };
        d[i] = r ? (byte)1 : (byte)0;
    }

    public static void Where<T>(Index1D i, ArrayView<byte> c, ArrayView<T> a, ArrayView<T> b, ArrayView<T> d, Strided s) where T : unmanaged
    {
        s.Offsets(i, out int oc, out int oa, out int ob);
        d[i] = c[oc] != 0 ? a[oa] : b[ob];
    }

    public static void Clamp<T, O>(Index1D i, ArrayView<T> x, ArrayView<T> d, T min, T max, int hasMin, int hasMax)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        T v = x[i];
        if (hasMin != 0) v = o.Max(v, min);
        if (hasMax != 0) v = o.Min(v, max);
        d[i] = v;
    }

    /// <summary>Copies a strided view (S0 strides, Offset0 start) into a contiguous output: Permute, Expand, Narrow.</summary>
    public static void StridedCopy<T>(Index1D i, ArrayView<T> x, ArrayView<T> d, Strided s) where T : unmanaged
    {
        s.Offsets(i, out int ox, out _, out _);
        d[i] = x[ox];
    }

    // x viewed as (outer, r, inner): one thread per output element walks r in order, so sums are deterministic. A sum
    // goes in cascade (blocks of 64, then 64 blocks, then 64 of those, then those in order; the CPU combines its blocks in
    // a binary tree instead, so the last bits may differ), so that its rounding error grows with r only past 64^3 rows:
    // one running float32 sum of 1e6 values 0.1f was 1% off.
    public static void Reduce<T, O>(Index1D i, ArrayView<T> x, ArrayView<T> d, int r, int inner, int op)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int outer = i / inner, j = i % inner, b = outer * r * inner + j;
        if (r == 0) { d[i] = o.Zero(); return; }
        if ((ReduceOp)op == ReduceOp.Sum)
        {
            const int B = 64;
            T total = o.Zero();
            for (int s2 = 0; s2 < r; s2 += B * B * B)
            {
                T l2 = o.Zero();
                for (int s1 = s2; s1 < s2 + B * B * B && s1 < r; s1 += B * B)
                {
                    T l1 = o.Zero();
                    for (int b0 = s1; b0 < s1 + B * B && b0 < r; b0 += B)
                    {
                        T block = x[b + b0 * inner];
                        for (int k = b0 + 1; k < b0 + B && k < r; k++) block = o.Add(block, x[b + k * inner]);
                        l1 = b0 == s1 ? block : o.Add(l1, block);
                    }
                    l2 = s1 == s2 ? l1 : o.Add(l2, l1);
                }
                total = s2 == 0 ? l2 : o.Add(total, l2);
            }
            d[i] = total;
            return;
        }
        T acc = x[b];
        for (int k = 1; k < r; k++)
        {
            T v = x[b + k * inner];
            acc = (ReduceOp)op == ReduceOp.Max ? o.Max(acc, v) : o.Min(acc, v);
        }
        d[i] = acc;
    }

    public static void ArgReduce<T, O>(Index1D i, ArrayView<T> x, ArrayView<long> d, int r, int inner, int isMax)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int outer = i / inner, j = i % inner, b = outer * r * inner + j;
        int best = 0;
        T bv = x[b];
        for (int k = 1; k < r && !o.IsNaN(bv); k++)
        {
            T v = x[b + k * inner];
            if (o.IsNaN(v) || (isMax != 0 ? o.Lt(bv, v) : o.Lt(v, bv))) { best = k; bv = v; }
        }
        d[i] = best;
    }

    /// <summary>
    /// Tiled GEMM: one group of Ts x Ts threads per output tile; tiles of op(a) and op(b) are staged in shared memory.
    /// Grid = batch x tilesM x tilesN groups (flattened).
    /// </summary>
    public static void MatMul<T, O>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatArgs p) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        var sa = SharedMemory.Allocate<T>(MaxTile * MaxTile);
        var sb = SharedMemory.Allocate<T>(MaxTile * MaxTile);
        int ts = p.Ts, tid = Group.IdxX, tx = tid % ts, ty = tid / ts;
        int blk = Grid.IdxX, per = p.TilesM * p.TilesN, batch = blk / per, rem = blk % per;
        int row = rem / p.TilesN * ts + ty, col = rem % p.TilesN * ts + tx;
        long ao = (long)batch * p.ABatch, bo = (long)batch * p.BBatch;
        T acc = o.Zero();
        for (int k0 = 0; k0 < p.K; k0 += ts)
        {
            int ka = k0 + tx, kb = k0 + ty;
            sa[ty * ts + tx] = row < p.M && ka < p.K ? a[ao + (p.TransA != 0 ? (long)ka * p.Lda + row : (long)row * p.Lda + ka)] : o.Zero();
            sb[ty * ts + tx] = col < p.N && kb < p.K ? b[bo + (p.TransB != 0 ? (long)col * p.Ldb + kb : (long)kb * p.Ldb + col)] : o.Zero();
            Group.Barrier();
            for (int kk = 0; kk < ts; kk++) acc = o.Add(acc, o.Mul(sa[ty * ts + kk], sb[kk * ts + tx]));
            Group.Barrier();
        }
        if (row >= p.M || col >= p.N) return;
        long at = (long)batch * p.M * p.N + (long)row * p.N + col;
        c[at] = p.Accumulate != 0 ? o.Add(c[at], acc) : acc;
    }

    public static void CatBlock<T>(Index1D i, ArrayView<T> x, ArrayView<T> d, int block, int outRow, int at) where T : unmanaged
        => d[i / block * outRow + at + i % block] = x[i];

    public static void IndexSelect<T>(Index1D i, ArrayView<T> x, ArrayView<long> idx, ArrayView<T> d, int k, int r, int inner) where T : unmanaged
    {
        int e = i % inner, j = i / inner % k, outer = i / inner / k;
        d[i] = x[((long)outer * r + idx[j]) * inner + e];
    }

    // zeros(shape) + src rows at idx along dim: each output element sums its matching index entries in order (no atomics).
    public static void IndexAdd<T, O>(Index1D i, ArrayView<T> src, ArrayView<long> idx, ArrayView<T> d, int k, int r, int inner)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int e = i % inner, row = i / inner % r, outer = i / inner / r;
        T acc = o.Zero();
        for (int j = 0; j < k; j++)
            if (idx[j] == row) acc = o.Add(acc, src[((long)outer * k + j) * inner + e]);
        d[i] = acc;
    }

    // im2col: one thread per window element (n, c, k, t), reading input position t * stride + k * dilation - padLeft.
    public static void Unfold1d<T>(Index1D i, ArrayView<T> x, ArrayView<T> d, WindowArgs a, T pad) where T : unmanaged
    {
        int t = i % a.LOut, k = i / a.LOut % a.Kernel, row = i / a.LOut / a.Kernel;
        int p = t * a.Stride + k * a.Dilation - a.PadLeft;
        d[i] = p >= 0 && p < a.L ? x[(long)row * a.L + p] : pad;
    }

    // col2im: one thread per input element, summing the window elements that read it in k order (no atomics, the CPU's order).
    public static void Fold1d<T, O>(Index1D i, ArrayView<T> s, ArrayView<T> d, WindowArgs a) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int p = i % a.L, row = i / a.L;
        T acc = o.Zero();
        for (int k = 0; k < a.Kernel; k++)
        {
            int q = p + a.PadLeft - k * a.Dilation;
            if (q < 0 || q % a.Stride != 0) continue;
            int t = q / a.Stride;
            if (t < a.LOut) acc = o.Add(acc, s[((long)row * a.Kernel + k) * a.LOut + t]);
        }
        d[i] = acc;
    }

    public static void Gather<T>(Index1D i, ArrayView<T> x, ArrayView<long> idx, ArrayView<T> d, Strided s, int dim) where T : unmanaged
    {
        // s.Shape = index shape, s.S0 = x strides
        int rem = i, off = 0;
        for (int q = s.Rank - 1; q >= 0; q--)
        {
            int size = s.Shape.Get(q), c = rem % size;
            rem /= size;
            off += (q == dim ? (int)idx[i] : c) * s.S0.Get(q);
        }
        d[i] = x[off];
    }

    // One thread per output element: walks the index entries that share its coordinates off dim (in order, no atomics).
    // s.Shape = output shape, s.S0 = index strides (contiguous), s.S1 = index shape.
    public static void ScatterAdd<T, O>(Index1D i, ArrayView<T> src, ArrayView<long> idx, ArrayView<T> d, Strided s, int dim)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int rem = i, baseOff = 0, target = 0;
        bool inside = true;
        for (int q = s.Rank - 1; q >= 0; q--)
        {
            int size = s.Shape.Get(q), c = rem % size;
            rem /= size;
            if (q == dim) target = c;
            else if (c >= s.S1.Get(q)) inside = false;
            else baseOff += c * s.S0.Get(q);
        }
        T acc = o.Zero();
        if (inside)
        {
            int n = s.S1.Get(dim), st = s.S0.Get(dim);
            for (int j = 0; j < n; j++)
            {
                int at = baseOff + j * st;
                if (idx[at] == target) acc = o.Add(acc, src[at]);
            }
        }
        d[i] = acc;
    }

    static T TreeReduce<T, O>(ArrayView<T> sh, T v, bool max) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int t = Group.IdxX;
        sh[t] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s) sh[t] = max ? o.Max(sh[t], sh[t + s]) : o.Add(sh[t], sh[t + s]);
            Group.Barrier();
        }
        T r = sh[0];
        Group.Barrier();
        return r;
    }

    /// <summary>One group per row (a row is d elements at stride inner); shared-memory tree reductions for max and sum.</summary>
    public static void Softmax<T, O>(ArrayView<T> x, ArrayView<T> y, int d, int inner, int log) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        var sh = SharedMemory.Allocate<T>(MaxGroup);
        int row = Grid.IdxX, t = Group.IdxX, g = Group.DimX;
        long b = (long)(row / inner) * d * inner + row % inner;
        T m = o.NegInf();
        for (int k = t; k < d; k += g) m = o.Max(m, x[b + (long)k * inner]);
        m = TreeReduce<T, O>(sh, m, true);
        if (o.Eq(m, o.NegInf())) m = o.Zero();
        T s = o.Zero();
        for (int k = t; k < d; k += g) s = o.Add(s, o.Exp(o.Sub(x[b + (long)k * inner], m)));
        s = TreeReduce<T, O>(sh, s, false);
        T ls = o.Log(s);
        for (int k = t; k < d; k += g)
        {
            long at = b + (long)k * inner;
            y[at] = log != 0 ? o.Sub(o.Sub(x[at], m), ls) : o.Div(o.Exp(o.Sub(x[at], m)), s);
        }
    }

    /// <summary>log: gx = gy - exp(y) sum(gy); softmax: gx = y (gy - sum(gy y)).</summary>
    public static void SoftmaxBackward<T, O>(ArrayView<T> y, ArrayView<T> gy, ArrayView<T> gx, int d, int inner, int log)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        var sh = SharedMemory.Allocate<T>(MaxGroup);
        int row = Grid.IdxX, t = Group.IdxX, g = Group.DimX;
        long b = (long)(row / inner) * d * inner + row % inner;
        T s = o.Zero();
        for (int k = t; k < d; k += g)
        {
            long at = b + (long)k * inner;
            s = o.Add(s, log != 0 ? gy[at] : o.Mul(gy[at], y[at]));
        }
        s = TreeReduce<T, O>(sh, s, false);
        for (int k = t; k < d; k += g)
        {
            long at = b + (long)k * inner;
            gx[at] = log != 0 ? o.Sub(gy[at], o.Mul(o.Exp(y[at]), s)) : o.Mul(y[at], o.Sub(gy[at], s));
        }
    }

    /// <summary>The fused gate kernel of an LSTM step (the GEMM h @ W_hh^T runs before it): one thread per (row, unit) of the rows from N0 on; h' and c' go to row T of hs and cs.</summary>
    public static void LstmCell<T, O>(Index1D idx, ArrayView<T> a, ArrayView<T> hh, ArrayView<T> bias, ArrayView<T> c, ArrayView<T> hs, ArrayView<T> cs, CellArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int h = p.H, r = p.N0 + idx / h, j = idx % h;
        long a0 = ((long)p.T * p.N + r) * 4 * h, g0 = (long)(r - p.N0) * 4 * h, s0 = (long)r * h, y0 = (long)p.T * p.N * h + s0;
        T zi = a[a0 + j], zf = a[a0 + h + j], zg = a[a0 + 2 * h + j], zo = a[a0 + 3 * h + j];
        if (p.HasHH != 0) { zi = o.Add(zi, hh[g0 + j]); zf = o.Add(zf, hh[g0 + h + j]); zg = o.Add(zg, hh[g0 + 2 * h + j]); zo = o.Add(zo, hh[g0 + 3 * h + j]); }
        if (p.HasBias != 0) { zi = o.Add(zi, bias[j]); zf = o.Add(zf, bias[h + j]); zg = o.Add(zg, bias[2 * h + j]); zo = o.Add(zo, bias[3 * h + j]); }
        T i = Sigmoid<T, O>(zi), f = Sigmoid<T, O>(zf), g = o.Tanh(zg), og = Sigmoid<T, O>(zo);
        T cn = o.Mul(i, g);
        if (p.HasC != 0) cn = o.Add(o.Mul(f, c[p.CAt + s0 + j]), cn);
        a[a0 + j] = i; a[a0 + h + j] = f; a[a0 + 2 * h + j] = g; a[a0 + 3 * h + j] = og;
        cs[y0 + j] = cn;
        hs[y0 + j] = o.Mul(og, o.Tanh(cn));
    }

    /// <summary>Its backward, one thread per (row, unit): row T of a becomes d(pre-activation), which the dh GEMM then reads in place; dc becomes dcPrev in place.</summary>
    public static void LstmCellBackward<T, O>(Index1D idx, ArrayView<T> a, ArrayView<T> cPrev, ArrayView<T> cs, ArrayView<T> dy, ArrayView<T> dhIn, ArrayView<T> dc,
        CellArgs p) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        T one = o.FromLong(1);
        int h = p.H, r = p.N0 + idx / h, j = idx % h;
        long a0 = ((long)p.T * p.N + r) * 4 * h, s0 = (long)r * h, y0 = (long)p.T * p.N * h + s0;
        T i = a[a0 + j], f = a[a0 + h + j], g = a[a0 + 2 * h + j], og = a[a0 + 3 * h + j], s = o.Tanh(cs[y0 + j]);
        T dh = o.Add(dy[y0 + j], dhIn[s0 + j]);
        T dct = o.Add(dc[s0 + j], o.Mul(o.Mul(dh, og), o.Sub(one, o.Mul(s, s))));
        T di = o.Mul(o.Mul(o.Mul(dct, g), i), o.Sub(one, i));
        T df = p.HasC != 0 ? o.Mul(o.Mul(o.Mul(dct, cPrev[p.CAt + s0 + j]), f), o.Sub(one, f)) : o.FromLong(0);
        T dgg = o.Mul(o.Mul(dct, i), o.Sub(one, o.Mul(g, g)));
        T dO = o.Mul(o.Mul(o.Mul(dh, s), og), o.Sub(one, og));
        a[a0 + j] = di; a[a0 + h + j] = df; a[a0 + 2 * h + j] = dgg; a[a0 + 3 * h + j] = dO;
        dc[s0 + j] = o.Mul(dct, f);
    }

    /// <summary>The gate kernel of a GRU step (the GEMM h @ W_hh^T runs before it, into hh (rows, 3H)): one thread per (row, unit) of the rows from N0 on; (r, z, n) replace row T of a, W_hn h + b_hn goes to row T of hn and h' to row T of hs.</summary>
    public static void GruCell<T, O>(Index1D idx, ArrayView<T> a, ArrayView<T> hh, ArrayView<T> bias, ArrayView<T> hPrev, ArrayView<T> hs, ArrayView<T> hn, CellArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int h = p.H, r = p.N0 + idx / h, j = idx % h;
        long a0 = ((long)p.T * p.N + r) * 3 * h, g0 = (long)(r - p.N0) * 3 * h, s0 = (long)r * h, y0 = (long)p.T * p.N * h + s0;
        T zr = a[a0 + j], zz = a[a0 + h + j], zn = a[a0 + 2 * h + j], hv = o.Zero();
        if (p.HasHH != 0) { zr = o.Add(zr, hh[g0 + j]); zz = o.Add(zz, hh[g0 + h + j]); hv = hh[g0 + 2 * h + j]; }
        if (p.HasBias != 0) { zr = o.Add(zr, bias[j]); zz = o.Add(zz, bias[h + j]); zn = o.Add(zn, bias[2 * h + j]); hv = o.Add(hv, bias[3 * h + j]); }
        T rg = Sigmoid<T, O>(zr), zg = Sigmoid<T, O>(zz), ng = o.Tanh(o.Add(zn, o.Mul(rg, hv)));
        T hp = p.HasC != 0 ? hPrev[p.CAt + s0 + j] : o.Zero();
        a[a0 + j] = rg; a[a0 + h + j] = zg; a[a0 + 2 * h + j] = ng;
        hn[y0 + j] = hv;
        hs[y0 + j] = o.Add(ng, o.Mul(zg, o.Sub(hp, ng)));
    }

    /// <summary>Its backward, one thread per (row, unit): row T of a becomes the hidden side's d(pre-activation) (dr, dz, dn r), which the dh GEMM then reads in place and adds onto dh = dh' z; row T of hn becomes dn.</summary>
    public static void GruCellBackward<T, O>(Index1D idx, ArrayView<T> a, ArrayView<T> hn, ArrayView<T> hPrev, ArrayView<T> dy, ArrayView<T> dhIn, CellArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        T one = o.FromLong(1);
        int h = p.H, r = p.N0 + idx / h, j = idx % h;
        long a0 = ((long)p.T * p.N + r) * 3 * h, s0 = (long)r * h, y0 = (long)p.T * p.N * h + s0;
        T rg = a[a0 + j], zg = a[a0 + h + j], ng = a[a0 + 2 * h + j], hv = hn[y0 + j];
        T hp = p.HasC != 0 ? hPrev[p.CAt + s0 + j] : o.Zero();
        T d = o.Add(dy[y0 + j], dhIn[s0 + j]);
        T dn = o.Mul(o.Mul(d, o.Sub(one, zg)), o.Sub(one, o.Mul(ng, ng)));
        a[a0 + j] = o.Mul(o.Mul(o.Mul(dn, hv), rg), o.Sub(one, rg));
        a[a0 + h + j] = o.Mul(o.Mul(o.Mul(d, o.Sub(hp, ng)), zg), o.Sub(one, zg));
        a[a0 + 2 * h + j] = o.Mul(dn, rg);
        hn[y0 + j] = dn;
        dhIn[s0 + j] = o.Mul(d, zg);
    }

    /// <summary>The activation kernel of an Elman RNN step (the GEMM h @ W_hh^T runs before it, into hh (rows, H)): one thread per (row, unit); h' = act(row T of a + hh + bias) goes to row T of a and of hs.</summary>
    public static void RnnCell<T, O>(Index1D idx, ArrayView<T> a, ArrayView<T> hh, ArrayView<T> bias, ArrayView<T> hs, CellArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int h = p.H, r = p.N0 + idx / h, j = idx % h;
        long y0 = ((long)p.T * p.N + r) * h + j;
        T z = a[y0];
        if (p.HasHH != 0) z = o.Add(z, hh[(long)(r - p.N0) * h + j]);
        if (p.HasBias != 0) z = o.Add(z, bias[j]);
        T y = p.Relu != 0 ? (o.Lt(z, o.Zero()) ? o.Zero() : z) : o.Tanh(z);
        a[y0] = y;
        hs[y0] = y;
    }

    /// <summary>Its backward, one thread per (row, unit): row T of a becomes d(pre-activation), which the dh GEMM then reads in place.</summary>
    public static void RnnCellBackward<T, O>(Index1D idx, ArrayView<T> a, ArrayView<T> dy, ArrayView<T> dhIn, CellArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int h = p.H, r = p.N0 + idx / h, j = idx % h;
        long y0 = ((long)p.T * p.N + r) * h + j;
        T y = a[y0], d = o.Add(dy[y0], dhIn[(long)r * h + j]);
        a[y0] = p.Relu != 0 ? (o.Lt(o.Zero(), y) ? d : o.Zero()) : o.Mul(d, o.Sub(o.FromLong(1), o.Mul(y, y)));
    }

    static T Lse<T, O>(T a, T b) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        T ninf = o.NegInf();
        if (o.Eq(a, ninf)) return b;
        if (o.Eq(b, ninf)) return a;
        T m = o.Max(a, b);
        return o.Add(m, o.Log(o.Add(o.FromLong(1), o.Exp(o.Neg(o.Abs(o.Sub(a, b)))))));
    }

    // ints: [labels..., per sample: offset, targetLength, inputLength, alphaOffset] laid out as four arrays.
    static int Label(ArrayView<int> labels, int off, int s, int blank) => (s & 1) == 0 ? blank : labels[off + s / 2];

    /// <summary>
    /// CTC forward: one group per utterance, threads over the 2L+1 extended-target states, a barrier per time step.
    /// alpha (log space) lives in global memory at meta's alpha offset with rows of 2L+1. The recursion runs in double
    /// whatever the input type: over long utterances float32 log-likelihoods lose the digits the gradient's
    /// exp(log(alpha beta) + nll - lp) needs.
    /// </summary>
    public static void CtcForward<T, O>(ArrayView<T> lp, ArrayView<int> labels, ArrayView<int> meta, ArrayView<double> alpha, ArrayView<double> nllD, ArrayView<T> nll, CtcArgs p)
        where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int n = Grid.IdxX, tid = Group.IdxX, g = Group.DimX;
        int off = meta[4 * n], L = meta[4 * n + 1], il = meta[4 * n + 2], ab = meta[4 * n + 3], S = 2 * L + 1, C = p.C;
        double ninf = double.NegativeInfinity;
        if (il == 0)
        {
            if (tid == 0) { double v = L == 0 ? 0.0 : double.PositiveInfinity; nllD[n] = v; nll[n] = o.FromDouble(v); }
            return;
        }
        for (int s = tid; s < S; s += g)
            alpha[ab + s] = s == 0 ? o.ToDouble(lp[(long)n * C + p.Blank]) : s == 1 ? o.ToDouble(lp[(long)n * C + labels[off]]) : ninf;
        Group.Barrier();
        for (int t = 1; t < il; t++)
        {
            long row = ((long)t * p.N + n) * C;
            int cur = ab + t * S, prev = cur - S;
            for (int s = tid; s < S; s += g)
            {
                int l = Label(labels, off, s, p.Blank);
                double v = alpha[prev + s];
                if (s >= 1) v = Lse<double, F64>(v, alpha[prev + s - 1]);
                if (s >= 2 && l != Label(labels, off, s - 2, p.Blank)) v = Lse<double, F64>(v, alpha[prev + s - 2]);
                alpha[cur + s] = v == ninf ? ninf : v + o.ToDouble(lp[row + l]);
            }
            Group.Barrier();
        }
        if (tid == 0)
        {
            int last = ab + (il - 1) * S;
            double ll = L == 0 ? alpha[last] : Lse<double, F64>(alpha[last + S - 1], alpha[last + S - 2]);
            nllD[n] = -ll;
            nll[n] = o.FromDouble(-ll);
        }
    }

    /// <summary>
    /// CTC backward: beta (with the emission term) per time step under a barrier, then PyTorch's gradient
    /// grad[t][c] = (exp(lp) - exp(log(sum_{s: l'(s)=c} alpha beta) + nll - lp)) * gradNll[n], threads over classes.
    /// </summary>
    public static void CtcBackward<T, O>(ArrayView<T> lp, ArrayView<int> labels, ArrayView<int> meta, ArrayView<double> alpha, ArrayView<double> beta,
        ArrayView<double> nll, ArrayView<T> gradNll, ArrayView<T> grad, CtcArgs p) where T : unmanaged where O : struct, INumOps<T>
    {
        var o = default(O);
        int n = Grid.IdxX, tid = Group.IdxX, g = Group.DimX;
        int off = meta[4 * n], L = meta[4 * n + 1], il = meta[4 * n + 2], ab = meta[4 * n + 3], S = 2 * L + 1, C = p.C;
        double ninf = double.NegativeInfinity, ls = nll[n], go = o.ToDouble(gradNll[n]);
        bool zero = il == 0 || (p.ZeroInfinity != 0 && ls == double.PositiveInfinity);
        if (!zero)
        {
            int last = ab + (il - 1) * S;
            long lrow = ((long)(il - 1) * p.N + n) * C;
            for (int s = tid; s < S; s += g)
                beta[last + s] = s == S - 1 ? o.ToDouble(lp[lrow + p.Blank]) : s == S - 2 ? o.ToDouble(lp[lrow + labels[off + L - 1]]) : ninf;
            Group.Barrier();
            for (int t = il - 2; t >= 0; t--)
            {
                long row = ((long)t * p.N + n) * C;
                int cur = ab + t * S, next = cur + S;
                for (int s = tid; s < S; s += g)
                {
                    int l = Label(labels, off, s, p.Blank);
                    double v = beta[next + s];
                    if (s + 1 < S) v = Lse<double, F64>(v, beta[next + s + 1]);
                    if (s + 2 < S && l != Label(labels, off, s + 2, p.Blank)) v = Lse<double, F64>(v, beta[next + s + 2]);
                    beta[cur + s] = v == ninf ? ninf : v + o.ToDouble(lp[row + l]);
                }
                Group.Barrier();
            }
        }
        for (int t = 0; t < p.MaxT; t++)
        {
            long row = ((long)t * p.N + n) * C;
            int cur = ab + t * S;
            for (int c = tid; c < C; c += g)
            {
                if (zero || t >= il) { grad[row + c] = o.Zero(); continue; }
                double lcab = ninf;
                if (c == p.Blank)
                    for (int s = 0; s < S; s += 2) lcab = Lse<double, F64>(lcab, alpha[cur + s] + beta[cur + s]);
                else
                    for (int j = 0; j < L; j++)
                        if (labels[off + j] == c) lcab = Lse<double, F64>(lcab, alpha[cur + 2 * j + 1] + beta[cur + 2 * j + 1]);
                double v = o.ToDouble(lp[row + c]);
                grad[row + c] = o.FromDouble((XMath.Exp(v) - XMath.Exp(lcab + ls - v)) * go);
            }
        }
    }
}
