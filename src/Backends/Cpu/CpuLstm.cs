using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// The fused LSTM cell. Next to the step's GEMM (N x H x 4H multiply-adds) the gate math is cheap, but as separate
// ops it would be a dozen passes over N x 4H values with a buffer each; here it is a few Vector512 passes over the
// step's rows, with no buffers of its own. Rows go to static methods: inside a lambda each array would be a closure
// field, reloaded after every store (measured 2.4x slower).
public sealed partial class CpuBackend
{
    // Par.For work per hidden unit of a row: rows are split over the cores from N x H = 4096 up (N = 32, H = 128);
    // below that a step's cell takes a few microseconds, no more than waking a second thread (measured).
    const long LstmCost = 16;

    /// <inheritdoc/>
    public void LstmCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor cs, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias)
    {
        ArgumentNullException.ThrowIfNull(whhT);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.LstmStep("LstmCell", gates, t, prev, [hs, cs], [("h0", h0, nh), ("c0", c0, nh), ("whhT", whhT, h * 4 * h), ("bias", bias, 4 * h)]);
        // The step's GEMM adds h W_hh^T straight onto row t: no (N, 4H) buffer per step, and the cell reads one row less.
        var (hPrev, hAt) = prev >= 0 ? (hs, prev * nh) : (h0, 0);
        if (hPrev is not null) Gemm1(hPrev, whhT, C(gates), false, false, n, 4 * h, h, h, 4 * h, hAt, 0, t * n * 4 * h, accumulate: true);
        var (cPrev, cAt) = prev >= 0 ? (cs, prev * nh) : (c0, 0);
        if (hs.DType == DType.Float32) Par.For(n, LstmCost * h, (r0, r1) => CellRows(A<float>(gates), t, Opt<float>(bias), Opt<float>(cPrev), cAt, A<float>(hs), A<float>(cs), n, h, r0, r1));
        else Par.For(n, LstmCost * h, (r0, r1) => CellRows(A<double>(gates), t, Opt<double>(bias), Opt<double>(cPrev), cAt, A<double>(hs), A<double>(cs), n, h, r0, r1));
    }

    /// <inheritdoc/>
    public void LstmCellBackward(RawTensor gates, int t, int prev, RawTensor cs, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor dc, RawTensor? whh)
    {
        ArgumentNullException.ThrowIfNull(dh);
        ArgumentNullException.ThrowIfNull(dc);
        int n = cs.Rank == 3 ? cs.Shape[1] : 0, h = cs.Rank == 3 ? cs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.LstmStep("LstmCellBackward", gates, t, prev, [cs, dy], [("c0", c0, nh), ("dh", dh, nh), ("dc", dc, nh), ("whh", whh, 4 * h * h)]);
        var (cPrev, cAt) = prev >= 0 ? (cs, prev * nh) : (c0, 0);
        if (cs.DType == DType.Float32) Par.For(n, LstmCost * h, (r0, r1) => CellBackwardRows(A<float>(gates), t, Opt<float>(cPrev), cAt, A<float>(cs), A<float>(dy), A<float>(dh), A<float>(dc), n, h, r0, r1));
        else Par.For(n, LstmCost * h, (r0, r1) => CellBackwardRows(A<double>(gates), t, Opt<double>(cPrev), cAt, A<double>(cs), A<double>(dy), A<double>(dh), A<double>(dc), n, h, r0, r1));
        // dh for the previous step straight from row t, which now holds d(pre-activation): no (N, 4H) copy of it.
        if (whh is not null) Gemm1(gates, whh, C(dh), false, false, n, h, 4 * h, 4 * h, h, t * n * 4 * h, 0, 0);
    }

    static T[] A<T>(RawTensor x) => (T[])C(x).Data;
    static T[]? Opt<T>(RawTensor? x) => x is null ? null : A<T>(x);

    // Row t of a (T, N, 4H) buffer holds the pre-activations z and becomes the activations (i, f, g, o):
    //   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o),  c' = f c + i g,  h' = o tanh(c').
    // The transcendental parts are two sigmoid passes (FastMath) over the whole block of rows (tanh(x) =
    // 2 sigmoid(2x) - 1); the vector passes around them only add, scale and combine. A sigmoid per vector inside the
    // loop (Vector512.Exp) measured 3-4x slower.
    static void CellRows<T>(T[] a, int t, T[]? b, T[]? c, int cAt, T[] hs, T[] cs, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h4 = 4 * h, o = t * n * h; // hs and cs are written at row t
        T two = T.One + T.One;
        for (int r = r0; r < r1; r++) // z = a + b (a already holds x W_ih^T + h W_hh^T), with the g block doubled
            for (int k = 0; k < h4; k += h)
            {
                int a0 = (t * n + r) * h4 + k, j = 0;
                bool isG = k == 2 * h;
                if (Vector512.IsHardwareAccelerated)
                    for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                    {
                        var z = L(a, a0 + j) + (b is null ? default : L(b, k + j));
                        S(a, a0 + j, isG ? z + z : z);
                    }
                for (; j < h; j++)
                {
                    T z = a[a0 + j] + (b is null ? T.Zero : b[k + j]);
                    a[a0 + j] = isG ? z + z : z;
                }
            }
        var block = a.AsSpan((t * n + r0) * h4, (r1 - r0) * h4);
        FastMath.Sigmoid<T>(block, block);
        for (int r = r0; r < r1; r++) // g = 2 sigmoid(2 z_g) - 1, c' = f c + i g; h' holds 2 c' for now
        {
            int a0 = (t * n + r) * h4, s0 = o + r * h, p0 = cAt + r * h, j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                {
                    var g = L(a, a0 + 2 * h + j) * Vector512.Create(two) - Vector512<T>.One;
                    var cn = (c is null ? default : L(a, a0 + h + j) * L(c, p0 + j)) + L(a, a0 + j) * g;
                    S(a, a0 + 2 * h + j, g); S(cs, s0 + j, cn); S(hs, s0 + j, cn + cn);
                }
            for (; j < h; j++)
            {
                T g = two * a[a0 + 2 * h + j] - T.One, cn = (c is null ? T.Zero : a[a0 + h + j] * c[p0 + j]) + a[a0 + j] * g;
                (a[a0 + 2 * h + j], cs[s0 + j], hs[s0 + j]) = (g, cn, cn + cn);
            }
        }
        var hb = hs.AsSpan(o + r0 * h, (r1 - r0) * h);
        FastMath.Sigmoid<T>(hb, hb);
        for (int r = r0; r < r1; r++) // h' = o tanh(c') = o (2 sigmoid(2 c') - 1)
        {
            int o0 = (t * n + r) * h4 + 3 * h, s0 = o + r * h, j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                    S(hs, s0 + j, L(a, o0 + j) * (L(hs, s0 + j) * Vector512.Create(two) - Vector512<T>.One));
            for (; j < h; j++) hs[s0 + j] = a[o0 + j] * (two * hs[s0 + j] - T.One);
        }
    }

    // With s = tanh(c'), dh = dy[t] + dh (from the next step) and dc' = dc + dh o (1 - s^2):
    //   di = dc' g i (1 - i),  df = dc' cPrev f (1 - f),  dg = dc' i (1 - g^2),  do = dh s o (1 - o),  dcPrev = dc' f.
    // d(pre-activation) replaces the activations in row t (whose last reader this is), where the dh GEMM reads it, and
    // dcPrev replaces dc lane by lane. tanh(c') for the block goes first into the thread's scratch buffer.
    static void CellBackwardRows<T>(T[] a, int t, T[]? cPrev, int cAt, T[] cs, T[] dy, T[] dhIn, T[] dc, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int o = t * n * h;
        var tanh = Scratch<T>.Get((r1 - r0) * h);
        TP.Tanh<T>(cs.AsSpan(o + r0 * h, (r1 - r0) * h), tanh.AsSpan(0, (r1 - r0) * h));
        for (int r = r0; r < r1; r++)
        {
            int a0 = (t * n + r) * 4 * h, s0 = r * h, p0 = cAt + s0, q0 = (r - r0) * h, y0 = o + s0, j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                {
                    var one = Vector512<T>.One;
                    Vector512<T> i = L(a, a0 + j), f = L(a, a0 + h + j), g = L(a, a0 + 2 * h + j), og = L(a, a0 + 3 * h + j), s = L(tanh, q0 + j);
                    var dh = L(dy, y0 + j) + L(dhIn, s0 + j);
                    var dct = L(dc, s0 + j) + dh * og * (one - s * s);
                    void Put(int k, Vector512<T> v) => S(a, a0 + k + j, v);
                    Put(0, dct * g * i * (one - i));
                    Put(h, (cPrev is null ? default : dct * L(cPrev, p0 + j)) * f * (one - f));
                    Put(2 * h, dct * i * (one - g * g));
                    Put(3 * h, dh * s * og * (one - og));
                    S(dc, s0 + j, dct * f);
                }
            for (; j < h; j++) // the same formulas for the lanes left over
            {
                T i = a[a0 + j], f = a[a0 + h + j], g = a[a0 + 2 * h + j], og = a[a0 + 3 * h + j], s = tanh[q0 + j];
                T dh = dy[y0 + j] + dhIn[s0 + j];
                T dct = dc[s0 + j] + dh * og * (T.One - s * s);
                void Put(int k, T v) => a[a0 + k + j] = v;
                Put(0, dct * g * i * (T.One - i));
                Put(h, (cPrev is null ? T.Zero : dct * cPrev[p0 + j]) * f * (T.One - f));
                Put(2 * h, dct * i * (T.One - g * g));
                Put(3 * h, dh * s * og * (T.One - og));
                dc[s0 + j] = dct * f;
            }
        }
    }

    /// <summary>A per-thread scratch buffer, grown on demand and kept (no allocation per step).</summary>
    static class Scratch<T>
    {
        [ThreadStatic] static T[]? t_buf;
        public static T[] Get(int length) => t_buf is { } b && b.Length >= length ? b : t_buf = new T[length];
    }

    static Vector512<T> L<T>(T[] x, int at) => Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(x), (nuint)at);
    static void S<T>(T[] x, int at, Vector512<T> v) => v.StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(x), (nuint)at);
}
