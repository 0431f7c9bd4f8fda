using System.Numerics;
using System.Runtime.CompilerServices;

namespace MiniGrad.Backends.Cpu;

// The fused LSTM cell. Next to the step's GEMM (N x H x 4H multiply-adds) the gate math is cheap, but as separate
// ops it would be a dozen passes over N x 4H values with a buffer each; here it is a few vector passes (SimdMath, any width) over the
// step's rows, with no buffers of its own. Rows go to static methods: inside a lambda each array would be a closure
// field, reloaded after every store (measured 2.4x slower).
public sealed partial class CpuBackend
{
    // Par.For work per hidden unit of a row: rows are split over the cores from N x H = 4096 up (N = 32, H = 128);
    // below that a step's cell takes a few microseconds, no more than waking a second thread (measured).
    const long LstmCost = 16;

    /// <inheritdoc/>
    public void LstmCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor cs, RawTensor? h0, RawTensor? c0, RawTensor whhT, RawTensor? bias, int n0, int count)
    {
        ArgumentNullException.ThrowIfNull(whhT);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.LstmStep("LstmCell", gates, t, prev, n0, count, [hs, cs], [("h0", h0, nh), ("c0", c0, nh), ("whhT", whhT, h * 4 * h), ("bias", bias, 4 * h)]);
        // The step's GEMM adds h W_hh^T straight onto row t: no (N, 4H) buffer per step, and the cell reads one row less.
        var (hPrev, hAt) = prev >= 0 ? (hs, prev * nh) : (h0, 0);
        if (count == 0) return;
        if (hPrev is not null) Gemm1(hPrev, whhT, C(gates), false, false, count, 4 * h, h, h, 4 * h, hAt + n0 * h, 0, (t * n + n0) * 4 * h, accumulate: true);
        var (cPrev, cAt) = prev >= 0 ? (cs, prev * nh) : (c0, 0);
        if (hs.DType == DType.Float32) Par.For(count, LstmCost * h, (r0, r1) => CellRows(A<float>(gates), t, Opt<float>(bias), Opt<float>(cPrev), cAt, A<float>(hs), A<float>(cs), n, h, n0 + r0, n0 + r1));
        else Par.For(count, LstmCost * h, (r0, r1) => CellRows(A<double>(gates), t, Opt<double>(bias), Opt<double>(cPrev), cAt, A<double>(hs), A<double>(cs), n, h, n0 + r0, n0 + r1));
    }

    /// <inheritdoc/>
    public void LstmCellBackward(RawTensor gates, int t, int prev, RawTensor cs, RawTensor? c0, RawTensor dy, RawTensor dh, RawTensor dc, RawTensor? whh, int n0, int count)
    {
        ArgumentNullException.ThrowIfNull(dh);
        ArgumentNullException.ThrowIfNull(dc);
        int n = cs.Rank == 3 ? cs.Shape[1] : 0, h = cs.Rank == 3 ? cs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.LstmStep("LstmCellBackward", gates, t, prev, n0, count, [cs, dy], [("c0", c0, nh), ("dh", dh, nh), ("dc", dc, nh), ("whh", whh, 4 * h * h)]);
        if (count == 0) return;
        var (cPrev, cAt) = prev >= 0 ? (cs, prev * nh) : (c0, 0);
        if (cs.DType == DType.Float32) Par.For(count, LstmCost * h, (r0, r1) => CellBackwardRows(A<float>(gates), t, Opt<float>(cPrev), cAt, A<float>(cs), A<float>(dy), A<float>(dh), A<float>(dc), n, h, n0 + r0, n0 + r1));
        else Par.For(count, LstmCost * h, (r0, r1) => CellBackwardRows(A<double>(gates), t, Opt<double>(cPrev), cAt, A<double>(cs), A<double>(dy), A<double>(dh), A<double>(dc), n, h, n0 + r0, n0 + r1));
        // dh for the previous step straight from row t, which now holds d(pre-activation): no (N, 4H) copy of it.
        if (whh is not null) Gemm1(gates, whh, C(dh), false, false, count, h, 4 * h, 4 * h, h, (t * n + n0) * 4 * h, 0, n0 * h);
    }

    static T[] A<T>(RawTensor x) => (T[])C(x).Data;
    static T[]? Opt<T>(RawTensor? x) => x is null ? null : A<T>(x);

    // Row t of a (T, N, 4H) buffer holds the pre-activations z and becomes the activations (i, f, g, o):
    //   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o),  c' = f c + i g,  h' = o tanh(c').
    // The transcendental parts are two sigmoid passes (SimdMath) over the whole block of rows (tanh(x) =
    // 2 sigmoid(2x) - 1); the vector passes around them only add, scale and combine. A sigmoid per vector inside the
    // loop measured 3-4x slower.
    static void CellRows<T>(T[] a, int t, T[]? b, T[]? c, int cAt, T[] hs, T[] cs, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = new CellKernel<T>(a, t, b, c, cAt, hs, cs, n, h, r0, r1);
        Simd.Run<T, CellKernel<T>>(ref kernel);
    }

    readonly unsafe struct CellKernel<T>(T[] a, int t, T[]? b, T[]? c, int cAt, T[] hs, T[] cs, int n, int h, int r0, int r1)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* ap = a, bp = b, cp = c, hp = hs, sp = cs)
                Rows<TV, S>(ap, t, bp, cp, cAt, hp, sp, n, h, r0, r1, a.AsSpan(), hs.AsSpan());
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Rows<TV, S>(T* a, int t, T* b, T* c, int cAt, T* hs, T* cs, int n, int h, int r0, int r1, Span<T> aSpan, Span<T> hsSpan)
            where TV : unmanaged where S : ISimd<TV, T>
        {
            int h4 = 4 * h, o = t * n * h, w = S.Lanes; // hs and cs are written at row t
            T two = T.One + T.One;
            TV twoV = S.Splat(two), oneV = S.Splat(T.One);
            for (int r = r0; r < r1; r++) // z = a + b (a already holds x W_ih^T + h W_hh^T), with the g block doubled
                for (int k = 0; k < h4; k += h)
                {
                    T* ar = a + (t * n + r) * h4 + k;
                    bool isG = k == 2 * h;
                    int j = 0;
                    for (; j + w <= h; j += w)
                    {
                        var z = b is null ? S.Load(ar + j) : S.Add(S.Load(ar + j), S.Load(b + k + j));
                        S.Store(isG ? S.Add(z, z) : z, ar + j);
                    }
                    for (; j < h; j++)
                    {
                        T z = ar[j] + (b is null ? T.Zero : b[k + j]);
                        ar[j] = isG ? z + z : z;
                    }
                }
            var block = aSpan.Slice((t * n + r0) * h4, (r1 - r0) * h4);
            SimdMath.Sigmoid<T>(block, block);
            for (int r = r0; r < r1; r++) // g = 2 sigmoid(2 z_g) - 1, c' = f c + i g; h' holds 2 c' for now
            {
                T* ar = a + (t * n + r) * h4, hr = hs + o + r * h, cr = cs + o + r * h, pr = c + cAt + r * h;
                int j = 0;
                for (; j + w <= h; j += w)
                {
                    var g = S.Sub(S.Mul(S.Load(ar + 2 * h + j), twoV), oneV);
                    var ig = S.Mul(S.Load(ar + j), g);
                    var cn = c is null ? ig : S.Add(S.Mul(S.Load(ar + h + j), S.Load(pr + j)), ig);
                    S.Store(g, ar + 2 * h + j); S.Store(cn, cr + j); S.Store(S.Add(cn, cn), hr + j);
                }
                for (; j < h; j++)
                {
                    T g = two * ar[2 * h + j] - T.One, cn = (c is null ? T.Zero : ar[h + j] * pr[j]) + ar[j] * g;
                    (ar[2 * h + j], cr[j], hr[j]) = (g, cn, cn + cn);
                }
            }
            var hb = hsSpan.Slice(o + r0 * h, (r1 - r0) * h);
            SimdMath.Sigmoid<T>(hb, hb);
            for (int r = r0; r < r1; r++) // h' = o tanh(c') = o (2 sigmoid(2 c') - 1)
            {
                T* og = a + (t * n + r) * h4 + 3 * h, hr = hs + o + r * h;
                int j = 0;
                for (; j + w <= h; j += w) S.Store(S.Mul(S.Load(og + j), S.Sub(S.Mul(S.Load(hr + j), twoV), oneV)), hr + j);
                for (; j < h; j++) hr[j] = og[j] * (two * hr[j] - T.One);
            }
        }
    }

    // With s = tanh(c'), dh = dy[t] + dh (from the next step) and dc' = dc + dh o (1 - s^2):
    //   di = dc' g i (1 - i),  df = dc' cPrev f (1 - f),  dg = dc' i (1 - g^2),  do = dh s o (1 - o),  dcPrev = dc' f.
    // d(pre-activation) replaces the activations in row t (whose last reader this is), where the dh GEMM reads it, and
    // dcPrev replaces dc lane by lane. tanh(c') for the block goes first into the thread's scratch buffer.
    static void CellBackwardRows<T>(T[] a, int t, T[]? cPrev, int cAt, T[] cs, T[] dy, T[] dhIn, T[] dc, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tanh = Scratch<T>.Get((r1 - r0) * h);
        SimdMath.Tanh<T>(cs.AsSpan(t * n * h + r0 * h, (r1 - r0) * h), tanh.AsSpan(0, (r1 - r0) * h));
        var kernel = new CellBackwardKernel<T>(a, t, cPrev, cAt, tanh, dy, dhIn, dc, n, h, r0, r1);
        Simd.Run<T, CellBackwardKernel<T>>(ref kernel);
    }

    readonly unsafe struct CellBackwardKernel<T>(T[] a, int t, T[]? cPrev, int cAt, T[] tanh, T[] dy, T[] dhIn, T[] dc, int n, int h, int r0, int r1)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* ap = a, pp = cPrev, sp = tanh, yp = dy, hp = dhIn, dp = dc)
                Rows<TV, S>(ap, t, pp, cAt, sp, yp, hp, dp, n, h, r0, r1);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Rows<TV, S>(T* a, int t, T* cPrev, int cAt, T* tanh, T* dy, T* dhIn, T* dc, int n, int h, int r0, int r1)
            where TV : unmanaged where S : ISimd<TV, T>
        {
            int o = t * n * h, w = S.Lanes;
            TV one = S.Splat(T.One);
            for (int r = r0; r < r1; r++)
            {
                T* ar = a + (t * n + r) * 4 * h, sr = tanh + (r - r0) * h, yr = dy + o + r * h, hr = dhIn + r * h, dr = dc + r * h, pr = cPrev + cAt + r * h;
                int j = 0;
                for (; j + w <= h; j += w)
                {
                    TV i = S.Load(ar + j), f = S.Load(ar + h + j), g = S.Load(ar + 2 * h + j), og = S.Load(ar + 3 * h + j), s = S.Load(sr + j);
                    var dh = S.Add(S.Load(yr + j), S.Load(hr + j));
                    var dct = S.Add(S.Load(dr + j), S.Mul(S.Mul(dh, og), S.Sub(one, S.Mul(s, s))));
                    S.Store(S.Mul(S.Mul(S.Mul(dct, g), i), S.Sub(one, i)), ar + j);
                    S.Store(S.Mul(S.Mul(cPrev is null ? S.Splat(T.Zero) : S.Mul(dct, S.Load(pr + j)), f), S.Sub(one, f)), ar + h + j);
                    S.Store(S.Mul(S.Mul(dct, i), S.Sub(one, S.Mul(g, g))), ar + 2 * h + j);
                    S.Store(S.Mul(S.Mul(S.Mul(dh, s), og), S.Sub(one, og)), ar + 3 * h + j);
                    S.Store(S.Mul(dct, f), dr + j);
                }
                for (; j < h; j++) // the same formulas for the lanes left over
                {
                    T i = ar[j], f = ar[h + j], g = ar[2 * h + j], og = ar[3 * h + j], s = sr[j];
                    T dh = yr[j] + hr[j];
                    T dct = dr[j] + dh * og * (T.One - s * s);
                    ar[j] = dct * g * i * (T.One - i);
                    ar[h + j] = (cPrev is null ? T.Zero : dct * pr[j]) * f * (T.One - f);
                    ar[2 * h + j] = dct * i * (T.One - g * g);
                    ar[3 * h + j] = dh * s * og * (T.One - og);
                    dr[j] = dct * f;
                }
            }
        }
    }

    /// <summary>A per-thread scratch buffer, grown on demand and kept (no allocation per step).</summary>
    static class Scratch<T>
    {
        [ThreadStatic] static T[]? t_buf;
        public static T[] Get(int length) => t_buf is { } b && b.Length >= length ? b : t_buf = new T[length];
    }
}
