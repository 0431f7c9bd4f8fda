using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// The fused GRU and Elman RNN cells, built like the LSTM's (CpuLstm.cs): the step's GEMM writes straight into the
// layer's buffers, then a few vector passes (the SIMD layer, any width) over the step's rows, with no buffers of their own.
public sealed partial class CpuBackend
{
    // Par.For work per hidden unit of a row (see LstmCost): the GRU's gate math is about three quarters of the LSTM's,
    // the RNN's one activation a quarter.
    const long GruCost = 12, RnnCost = 4;

    /// <inheritdoc/>
    public void GruCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor hn, RawTensor? h0, RawTensor whhT, RawTensor? bias, int n0, int count)
    {
        ArgumentNullException.ThrowIfNull(whhT);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep("GruCell", 3, gates, t, prev, n0, count, [hs, hn], [("h0", h0, nh), ("whhT", whhT, h * 3 * h), ("bias", bias, 4 * h)]);
        var (hPrev, hAt) = prev >= 0 ? (hs, prev * nh) : (h0, 0);
        if (count == 0) return;
        if (hPrev is not null)
        {
            // h W_hr^T and h W_hz^T straight onto the r and z blocks of row t (row stride 3H); h W_hn^T into row t of hn,
            // apart from x W_in^T, because r multiplies it.
            Gemm1(hPrev, whhT, C(gates), false, false, count, 2 * h, h, h, 3 * h, hAt + n0 * h, 0, (t * n + n0) * 3 * h, accumulate: true, ldc: 3 * h);
            Gemm1(hPrev, whhT, C(hn), false, false, count, h, h, h, 3 * h, hAt + n0 * h, 2 * h, (t * n + n0) * h);
        }
        if (hs.DType == DType.Float32) Par.For(count, GruCost * h, (r0, r1) => GruRows(A<float>(gates), t, Opt<float>(bias), Opt<float>(hPrev), hAt, A<float>(hs), A<float>(hn), n, h, n0 + r0, n0 + r1));
        else Par.For(count, GruCost * h, (r0, r1) => GruRows(A<double>(gates), t, Opt<double>(bias), Opt<double>(hPrev), hAt, A<double>(hs), A<double>(hn), n, h, n0 + r0, n0 + r1));
    }

    /// <inheritdoc/>
    public void GruCellBackward(RawTensor gates, int t, int prev, RawTensor hs, RawTensor hn, RawTensor? h0, RawTensor dy, RawTensor dh, RawTensor? whh, int n0, int count)
    {
        ArgumentNullException.ThrowIfNull(dh);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep("GruCellBackward", 3, gates, t, prev, n0, count, [hs, hn, dy], [("h0", h0, nh), ("dh", dh, nh), ("whh", whh, 3 * h * h)]);
        if (count == 0) return;
        var (hPrev, hAt) = prev >= 0 ? (hs, prev * nh) : (h0, 0);
        if (hs.DType == DType.Float32) Par.For(count, GruCost * h, (r0, r1) => GruBackwardRows(A<float>(gates), t, Opt<float>(hPrev), hAt, A<float>(hn), A<float>(dy), A<float>(dh), n, h, n0 + r0, n0 + r1));
        else Par.For(count, GruCost * h, (r0, r1) => GruBackwardRows(A<double>(gates), t, Opt<double>(hPrev), hAt, A<double>(hn), A<double>(dy), A<double>(dh), n, h, n0 + r0, n0 + r1));
        // dh (now dh' z) += d(hidden pre-activations) W_hh, straight from row t.
        if (whh is not null) Gemm1(gates, whh, C(dh), false, false, count, h, 3 * h, 3 * h, h, (t * n + n0) * 3 * h, 0, n0 * h, accumulate: true);
    }

    /// <inheritdoc/>
    public void RnnCell(RawTensor gates, int t, int prev, RawTensor hs, RawTensor? h0, RawTensor whhT, RawTensor? bias, bool relu, int n0, int count)
    {
        ArgumentNullException.ThrowIfNull(whhT);
        int n = hs.Rank == 3 ? hs.Shape[1] : 0, h = hs.Rank == 3 ? hs.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep("RnnCell", 1, gates, t, prev, n0, count, [hs], [("h0", h0, nh), ("whhT", whhT, h * h), ("bias", bias, h)]);
        var (hPrev, hAt) = prev >= 0 ? (hs, prev * nh) : (h0, 0);
        if (count == 0) return;
        if (hPrev is not null) Gemm1(hPrev, whhT, C(gates), false, false, count, h, h, h, h, hAt + n0 * h, 0, (t * n + n0) * h, accumulate: true);
        if (hs.DType == DType.Float32) Par.For(count, RnnCost * h, (r0, r1) => RnnRows(A<float>(gates), t, Opt<float>(bias), A<float>(hs), relu, n, h, n0 + r0, n0 + r1));
        else Par.For(count, RnnCost * h, (r0, r1) => RnnRows(A<double>(gates), t, Opt<double>(bias), A<double>(hs), relu, n, h, n0 + r0, n0 + r1));
    }

    /// <inheritdoc/>
    public void RnnCellBackward(RawTensor gates, int t, RawTensor dy, RawTensor dh, RawTensor? whh, bool relu, int n0, int count)
    {
        ArgumentNullException.ThrowIfNull(dh);
        int n = dy.Rank == 3 ? dy.Shape[1] : 0, h = dy.Rank == 3 ? dy.Shape[2] : 0, nh = n * h; // a wrong rank fails the check below
        BackendChecks.RecurrentStep("RnnCellBackward", 1, gates, t, -1, n0, count, [dy], [("dh", dh, nh), ("whh", whh, h * h)]);
        if (count == 0) return;
        if (dy.DType == DType.Float32) Par.For(count, RnnCost * h, (r0, r1) => RnnBackwardRows(A<float>(gates), t, A<float>(dy), A<float>(dh), relu, n, h, n0 + r0, n0 + r1));
        else Par.For(count, RnnCost * h, (r0, r1) => RnnBackwardRows(A<double>(gates), t, A<double>(dy), A<double>(dh), relu, n, h, n0 + r0, n0 + r1));
        if (whh is not null) Gemm1(gates, whh, C(dh), false, false, count, h, h, h, h, (t * n + n0) * h, 0, n0 * h);
    }

    // Row t of a (T, N, 3H) buffer holds x W_ih^T, plus h W_hr^T and h W_hz^T in its r and z blocks; hn's row t holds h W_hn^T:
    //   r = sigmoid(z_r + b_r), z = sigmoid(z_z + b_z), hn += b_hn, n = tanh(z_n + b_in + r hn), h' = n + z (h - n).
    // The transcendental parts go through the span forms, row by row (the r and z blocks of a row are contiguous, its n
    // block too); the vector passes between them only add and multiply.
    static void GruRows<T>(T[] a, int t, T[]? b, T[]? hPrev, int hAt, T[] hs, T[] hn, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = new GruKernel<T>(a, t, b, hPrev, hAt, hs, hn, n, h, r0, r1);
        Simd.Run<T, GruKernel<T>>(ref kernel);
    }

    readonly unsafe struct GruKernel<T>(T[] a, int t, T[]? b, T[]? hPrev, int hAt, T[] hs, T[] hn, int n, int h, int r0, int r1)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* ap = a, bp = b, pp = hPrev, hp = hs, np = hn)
                Rows<TV, S>(ap, t, bp, pp, hAt, hp, np, n, h, r0, r1, a.AsSpan());
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Rows<TV, S>(T* a, int t, T* b, T* hPrev, int hAt, T* hs, T* hn, int n, int h, int r0, int r1, Span<T> aSpan)
            where TV : unmanaged where S : ISimd<TV, T>
        {
            int h3 = 3 * h, o = t * n * h, w = S.Lanes;
            for (int r = r0; r < r1; r++)
            {
                T* ar = a + (t * n + r) * h3, nr = hn + o + r * h;
                int j = 0;
                if (b is not null) // the r and z blocks: + b_r, + b_z
                {
                    for (; j + w <= 2 * h; j += w) S.Store(S.Add(S.Load(ar + j), S.Load(b + j)), ar + j);
                    for (; j < 2 * h; j++) ar[j] += b[j];
                }
                var rz = aSpan.Slice((t * n + r) * h3, 2 * h);
                SimdMath.Sigmoid<T>(rz, rz);
                // hn = h W_hn^T + b_hn (without a previous h the GEMM did not run: b_hn alone); n's pre-activation into its block.
                j = 0;
                for (; j + w <= h; j += w)
                {
                    var hv = hPrev is null ? S.Splat(T.Zero) : S.Load(nr + j);
                    if (b is not null) hv = S.Add(hv, S.Load(b + 3 * h + j));
                    var zn = S.Add(S.Load(ar + 2 * h + j), S.Mul(S.Load(ar + j), hv));
                    S.Store(hv, nr + j);
                    S.Store(b is null ? zn : S.Add(zn, S.Load(b + 2 * h + j)), ar + 2 * h + j);
                }
                for (; j < h; j++)
                {
                    T hv = (hPrev is null ? T.Zero : nr[j]) + (b is null ? T.Zero : b[3 * h + j]);
                    nr[j] = hv;
                    ar[2 * h + j] += (b is null ? T.Zero : b[2 * h + j]) + ar[j] * hv;
                }
                var nb = aSpan.Slice((t * n + r) * h3 + 2 * h, h);
                SimdMath.Tanh<T>(nb, nb);
                // h' = n + z (h - n), or (1 - z) n = n - z n without a previous h.
                T* hr = hs + o + r * h, pr = hPrev + hAt + r * h;
                j = 0;
                for (; j + w <= h; j += w)
                {
                    TV nv = S.Load(ar + 2 * h + j), zv = S.Load(ar + h + j);
                    S.Store(S.Add(nv, S.Mul(zv, S.Sub(hPrev is null ? S.Splat(T.Zero) : S.Load(pr + j), nv))), hr + j);
                }
                for (; j < h; j++) hr[j] = ar[2 * h + j] + ar[h + j] * ((hPrev is null ? T.Zero : pr[j]) - ar[2 * h + j]);
            }
        }
    }

    // With dh' = dy[t] + dh (from the next step), and hn = W_hn h + b_hn:
    //   dn = dh' (1 - z) (1 - n^2),  dz = dh' (h - n) z (1 - z),  dr = dn hn r (1 - r),  d(hn) = dn r,  dh = dh' z (+ the GEMM).
    // Row t becomes the hidden side (dr, dz, dn r), hn's row the input side's n block (dn); no transcendentals.
    static void GruBackwardRows<T>(T[] a, int t, T[]? hPrev, int hAt, T[] hn, T[] dy, T[] dh, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = new GruBackwardKernel<T>(a, t, hPrev, hAt, hn, dy, dh, n, h, r0, r1);
        Simd.Run<T, GruBackwardKernel<T>>(ref kernel);
    }

    readonly unsafe struct GruBackwardKernel<T>(T[] a, int t, T[]? hPrev, int hAt, T[] hn, T[] dy, T[] dh, int n, int h, int r0, int r1)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* ap = a, pp = hPrev, np = hn, yp = dy, dp = dh)
                Rows<TV, S>(ap, t, pp, hAt, np, yp, dp, n, h, r0, r1);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Rows<TV, S>(T* a, int t, T* hPrev, int hAt, T* hn, T* dy, T* dh, int n, int h, int r0, int r1)
            where TV : unmanaged where S : ISimd<TV, T>
        {
            int o = t * n * h, w = S.Lanes;
            TV one = S.Splat(T.One);
            for (int r = r0; r < r1; r++)
            {
                T* ar = a + (t * n + r) * 3 * h, nr = hn + o + r * h, yr = dy + o + r * h, dr = dh + r * h, pr = hPrev + hAt + r * h;
                int j = 0;
                for (; j + w <= h; j += w)
                {
                    TV rg = S.Load(ar + j), zg = S.Load(ar + h + j), ng = S.Load(ar + 2 * h + j), hv = S.Load(nr + j);
                    var d = S.Add(S.Load(yr + j), S.Load(dr + j));
                    var dn = S.Mul(S.Mul(d, S.Sub(one, zg)), S.Sub(one, S.Mul(ng, ng)));
                    var hp = hPrev is null ? S.Splat(T.Zero) : S.Load(pr + j);
                    S.Store(S.Mul(S.Mul(S.Mul(dn, hv), rg), S.Sub(one, rg)), ar + j);
                    S.Store(S.Mul(S.Mul(S.Mul(d, S.Sub(hp, ng)), zg), S.Sub(one, zg)), ar + h + j);
                    S.Store(S.Mul(dn, rg), ar + 2 * h + j);
                    S.Store(dn, nr + j);
                    S.Store(S.Mul(d, zg), dr + j);
                }
                for (; j < h; j++) // the same formulas for the lanes left over
                {
                    T rg = ar[j], zg = ar[h + j], ng = ar[2 * h + j], hv = nr[j], d = yr[j] + dr[j];
                    T dn = d * (T.One - zg) * (T.One - ng * ng), hp = hPrev is null ? T.Zero : pr[j];
                    ar[j] = dn * hv * rg * (T.One - rg);
                    ar[h + j] = d * (hp - ng) * zg * (T.One - zg);
                    ar[2 * h + j] = dn * rg;
                    nr[j] = dn;
                    dr[j] = d * zg;
                }
            }
        }
    }

    // Row t of a (T, N, H) buffer holds x W_ih^T + h W_hh^T: h' = act(. + b), kept in the row (the backward reads it) and
    // copied to hs. The rows [r0, r1) of row t are one contiguous block, so the activation is one span pass.
    static void RnnRows<T>(T[] a, int t, T[]? b, T[] hs, bool relu, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var block = a.AsSpan((t * n + r0) * h, (r1 - r0) * h);
        if (b is not null)
            for (int r = 0; r < r1 - r0; r++) TP.Add(block.Slice(r * h, h), b, block.Slice(r * h, h));
        if (relu) TP.Max(block, T.Zero, block);
        else SimdMath.Tanh<T>(block, block);
        block.CopyTo(hs.AsSpan((t * n + r0) * h, (r1 - r0) * h));
    }

    // d(pre-activation) = (dy[t] + dh) act'(h'): 1 - h'^2 for tanh; for relu 1 where h' > 0, else 0 (PyTorch's 0 at 0).
    static void RnnBackwardRows<T>(T[] a, int t, T[] dy, T[] dh, bool relu, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = new RnnBackwardKernel<T>(a, t, dy, dh, relu, n, h, r0, r1);
        Simd.Run<T, RnnBackwardKernel<T>>(ref kernel);
    }

    readonly unsafe struct RnnBackwardKernel<T>(T[] a, int t, T[] dy, T[] dh, bool relu, int n, int h, int r0, int r1)
        : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            fixed (T* ap = a, yp = dy, dp = dh)
                Rows<TV, S>(ap + (t * n + r0) * h, yp + (t * n + r0) * h, dp + r0 * h, relu, (r1 - r0) * h);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Rows<TV, S>(T* a, T* dy, T* dh, bool relu, int len) where TV : unmanaged where S : ISimd<TV, T>
        {
            int j = 0, w = S.Lanes;
            TV one = S.Splat(T.One), zero = S.Splat(T.Zero);
            for (; j + w <= len; j += w)
            {
                TV y = S.Load(a + j), d = S.Add(S.Load(dy + j), S.Load(dh + j));
                S.Store(relu ? S.Select(S.LessThan(zero, y), d, zero) : S.Mul(d, S.Sub(one, S.Mul(y, y))), a + j);
            }
            for (; j < len; j++)
            {
                T y = a[j], d = dy[j] + dh[j];
                a[j] = relu ? (y > T.Zero ? d : T.Zero) : d * (T.One - y * y);
            }
        }
    }
}
