using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace MiniGrad.Backends.Cpu;

// Conv1d by Winograd's minimal filtering (Lavin and Gray 2016, "Fast Algorithms for Convolutional Neural Networks", in
// one dimension), for stride 1 and dilation 1. F(m, r) gives m outputs of an r-tap correlation from a tile of
// alpha = m + r - 1 inputs with alpha multiplies instead of m r: y = A^T [(G g) . (B^T d)]. Over channels the products
// are alpha GEMMs, one per transform point, so a layer's multiply-adds shrink by alpha / (m r): 8 / 20 for kernel 5.
// Each batch item goes time-major (its rows (time, channels) contiguous per frame), so that every transform is a
// vector pass along the channels. The three products of a layer use it:
//   forward  y  = x * w                       F(m, k) over x, tiles of y
//   dx       dx = dy * (w flipped, transposed) F(m, k) over dy (the transposed convolution is a correlation too)
//   dW       dW = sum over items and tiles     F(k, m): the k taps are the outputs, m frames of dy the filter
// Transform points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (alpha = 8), as NNPACK's F(6x6, 3x3): float32 results differ
// from float64 by up to about 1e-5 of the values' scale (the direct sums: 1-3e-6), and an inf in the input can turn
// outputs it reaches into NaN (Inf - Inf in the transforms) where the direct sums give inf. Used for kernels of 2 to 7
// taps with at least 8 channels in and out per group and a few tiles per row; everything else (strides, dilation,
// depthwise, long kernels) goes through the windows and one GEMM (CpuConv.cs).
public sealed partial class CpuBackend
{
    /// <summary>Whether Conv1d of this geometry runs by Winograd's transforms.</summary>
    static bool UsesWinograd(ConvGeometry g) =>
        g.Win.Stride == 1 && g.Win.Dilation == 1 && g.K >= 2 && g.K < Winograd.Alpha && g.Cg >= 8 && g.Og >= 8 && g.LOut >= 2 * (Winograd.Alpha + 1 - g.K);

    /// <summary>
    /// The transforms of F(m, r), alpha = m + r - 1 = 8, from Toom-Cook: with V_n (alpha x n) evaluating a polynomial of
    /// n coefficients at the points (infinity: its leading coefficient), linear convolution is s = V_8^-1 [(V_r g) . (V_m h)],
    /// and its transpose is the correlation: A^T = V_m^T, G = V_r, B^T = (V_8^-1)^T.
    /// </summary>
    sealed class Winograd
    {
        public const int Alpha = 8;
        static readonly double[] Points = [0, 1, -1, 2, -2, 0.5, -0.5]; // and infinity
        static readonly Winograd?[] Plans = new Winograd?[Alpha];

        public readonly int M, R;
        public readonly double[] AT, G, BT; // (M x alpha), (alpha x R), (alpha x alpha), row-major

        Winograd(int m)
        {
            (M, R) = (m, Alpha + 1 - m);
            double[] vm = Vandermonde(M), inverse = Invert(Vandermonde(Alpha));
            AT = new double[M * Alpha];
            BT = new double[Alpha * Alpha];
            for (int i = 0; i < M; i++)
                for (int x = 0; x < Alpha; x++) AT[i * Alpha + x] = vm[x * M + i];
            for (int x = 0; x < Alpha; x++)
                for (int q = 0; q < Alpha; q++) BT[x * Alpha + q] = inverse[q * Alpha + x];
            G = Vandermonde(R);
            CheckStructure();
        }

        /// <summary>The structure the transforms count on (see InputTransform): points 1 to 6 in pairs p, -p; B^T's and G's row
        /// for -p is that for p with odd columns negated, A^T's column likewise; B^T's row 0 has even columns only, its last
        /// row odd ones; G's and A^T's point 0 and infinity one coefficient each.</summary>
        void CheckStructure()
        {
            static bool Zero(double v) => Math.Abs(v) < 1e-12;
            static bool Mirror(double a, double b, int power) => Zero(a - (power % 2 == 0 ? b : -b));
            bool ok = true;
            for (int q = 0; q < Alpha; q++)
            {
                ok &= q % 2 == 0 ? Zero(BT[7 * Alpha + q]) : Zero(BT[q]);
                for (int x = 1; x < 7; x += 2) ok &= Mirror(BT[(x + 1) * Alpha + q], BT[x * Alpha + q], q) && (q is > 0 and < 7 || Zero(BT[x * Alpha + q]));
            }
            for (int j = 0; j < R; j++)
            {
                ok &= (j == 0 || Zero(G[j])) && (j == R - 1 || Zero(G[7 * R + j]));
                for (int x = 1; x < 7; x += 2) ok &= Mirror(G[(x + 1) * R + j], G[x * R + j], j);
            }
            for (int i = 0; i < M; i++)
            {
                ok &= (i == 0 || Zero(AT[i * Alpha])) && (i == M - 1 || Zero(AT[i * Alpha + 7]));
                for (int x = 1; x < 7; x += 2) ok &= Mirror(AT[i * Alpha + x + 1], AT[i * Alpha + x], i);
            }
            if (!ok) throw new InvalidOperationException($"Winograd F({M}, {R}): the transforms lack the structure of points in pairs p, -p");
        }

        /// <summary>F(m, 9 - m), made once.</summary>
        public static Winograd Of(int m) => Plans[m] ??= new Winograd(m);

        /// <summary>(alpha x n): row x = the powers 0..n-1 of point x; the last row (infinity) picks the leading coefficient.</summary>
        static double[] Vandermonde(int n)
        {
            var v = new double[Alpha * n];
            for (int x = 0; x < Alpha - 1; x++)
                for (int j = 0; j < n; j++) v[x * n + j] = Math.Pow(Points[x], j);
            v[Alpha * n - 1] = 1;
            return v;
        }

        /// <summary>Gauss-Jordan with partial pivoting (8 x 8, well conditioned for these points).</summary>
        static double[] Invert(double[] a)
        {
            int n = Alpha;
            var m = (double[])a.Clone();
            var inv = new double[n * n];
            for (int i = 0; i < n; i++) inv[i * n + i] = 1;
            for (int col = 0; col < n; col++)
            {
                int pivot = col;
                for (int r = col + 1; r < n; r++) if (Math.Abs(m[r * n + col]) > Math.Abs(m[pivot * n + col])) pivot = r;
                for (int j = 0; j < n; j++)
                {
                    (m[col * n + j], m[pivot * n + j]) = (m[pivot * n + j], m[col * n + j]);
                    (inv[col * n + j], inv[pivot * n + j]) = (inv[pivot * n + j], inv[col * n + j]);
                }
                double d = m[col * n + col];
                for (int j = 0; j < n; j++) { m[col * n + j] /= d; inv[col * n + j] /= d; }
                for (int r = 0; r < n; r++)
                {
                    if (r == col || m[r * n + col] == 0) continue;
                    double f = m[r * n + col];
                    for (int j = 0; j < n; j++) { m[r * n + j] -= f * m[col * n + j]; inv[r * n + j] -= f * inv[col * n + j]; }
                }
            }
            return inv;
        }
    }

    /// <summary>A width every vector divides (16 floats at 512 bits): the time-major rows and planes are padded to it, so that the
    /// transforms run in whole vectors (the padding columns hold no data: the GEMMs read the channels only, or zeros of u).</summary>
    static int PadWidth(int channels) => (channels + 15) / 16 * 16;

    /// <summary>A transform matrix (rows x cols, cols &lt;= 8) in T, each row padded with zeros to 8 (InputTransform, FilterTransform, OutputTransform).</summary>
    static T[] Rows8<T>(double[] a, int cols) where T : IFloatingPointIeee754<T>
    {
        int rows = a.Length / cols;
        var r = new T[rows * 8];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) r[i * 8 + j] = T.CreateTruncating(a[i * cols + j]);
        return r;
    }

    /// <summary>
    /// u[x][ci, co] (alpha planes of (cin, PadWidth(cout))) = sum over j of G[x, j] w'[co, ci, j], for ci in co's group: the
    /// forward's w' = w (cin = C, cout = O), dx's w'[c, o, j] = w[o, c, k - 1 - j] (cin = O, cout = C). One small GEMM,
    /// G (alpha, k; for dx with its taps reversed) by the weights as (O C_g, k) rows transposed, then laid into the planes
    /// (per group a block transpose for the forward, row copies for dx).
    /// </summary>
    static unsafe T[] WinogradWeights<T>(T[] w, ConvGeometry g, Winograd f, bool forDx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int a = Winograd.Alpha;
        int cin = forDx ? g.O : g.C, cout = forDx ? g.C : g.O, coutP = PadWidth(cout), k = g.K, rows = g.O * g.Cg;
        var gm = new T[a * k];
        for (int x = 0; x < a; x++)
            for (int j = 0; j < k; j++) gm[x * k + j] = T.CreateTruncating(f.G[x * k + (forDx ? k - 1 - j : j)]);
        var prod = ArrayPool<T>.Shared.Rent(a * rows); // (alpha, O C_g)
        fixed (T* pw = w, pg = gm, pp = prod) GemmT(false, true, a, rows, k, pg, k, pw, k, pp, rows, accumulate: false);
        var u = ArrayPool<T>.Shared.Rent(a * cin * coutP); // returned by the caller
        u.AsSpan(0, a * cin * coutP).Clear();
        // Plane x of prod is (O, C_g): for dx its rows go to rows o of u[x] at their group's columns; for the forward each
        // group's (O_g, C_g) block goes transposed to rows c, columns o of u[x].
        for (int x = 0; x < a; x++)
            for (int gr = 0; gr < g.Groups; gr++)
            {
                int plane = x * cin * coutP;
                if (forDx)
                    for (int o = gr * g.Og; o < (gr + 1) * g.Og; o++) prod.AsSpan(x * rows + o * g.Cg, g.Cg).CopyTo(u.AsSpan(plane + o * coutP + gr * g.Cg));
                else
                    TransposeBlock(prod, x * rows + gr * g.Og * g.Cg, g.Cg, u, plane + gr * g.Cg * coutP + gr * g.Og, g.Cg, g.Og, coutP);
            }
        ArrayPool<T>.Shared.Return(prod);
        return u;
    }

    /// <summary>Per-thread buffers, grown on demand and kept (fresh ones for every call cost more than the transforms), up to
    /// KeepMax elements each: larger ones (very long rows) are made for the one use, so that a thread does not hold them.</summary>
    sealed class WinogradScratch<T>
    {
        const int KeepMax = 1 << 21;
        [ThreadStatic] static WinogradScratch<T>? t_scratch;
        public static WinogradScratch<T> Mine => t_scratch ??= new();

        public T[] In = [], Planes = [], Products = [], Out = [], Dy = [], DyPlanes = [];
        public static T[] Get(ref T[] a, int n) => a.Length >= n ? a : n > KeepMax ? new T[n] : a = new T[n];
    }

    /// <summary>
    /// dst[q * ld + c] = src[so + c * len + q + off] for q &lt; rows, c &lt; channels (zero where q + off is outside [0, len)),
    /// one item's rows, time-major. The padding columns keep what they hold: the GEMMs never read them.
    /// </summary>
    static void TimeMajor<T>(T[] src, int so, int channels, int len, int off, int rows, int ld, T[] dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int q0 = Math.Clamp(-off, 0, rows), q1 = Math.Clamp(len - off, q0, rows);
        dst.AsSpan(0, q0 * ld).Clear();
        dst.AsSpan(q1 * ld, (rows - q1) * ld).Clear();
        if (q1 > q0) TransposeBlock(src, so + q0 + off, len, dst, q0 * ld, q1 - q0, channels, ld);
    }

    /// <summary>
    /// One item of a correlation over channel groups: output[item, co, s] = bias[co] + sum over ci (of co's group) and j of
    /// w'[co, ci, j] in(s + j)[ci], s &lt; lenOut, where in(q) is row q of inRows from row `first` (TimeMajor's rows, cinP =
    /// PadWidth(cin) wide); u: w' transformed (WinogradWeights); bt, at: f's B^T and A^T (Rows8); init: the bias padded to
    /// PadWidth(cout), or null.
    /// </summary>
    static unsafe void WinogradItem<T>(T[] inRows, int first, int cin, T[] u, int cout, int groups, Winograd f, T[] bt, T[] at, int lenOut,
        T[]? init, T[] output, int item, WinogradScratch<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int a = Winograd.Alpha;
        int m = f.M, tiles = (lenOut + m - 1) / m, cinP = PadWidth(cin), coutP = PadWidth(cout);
        int cinG = cin / groups, coutG = cout / groups, inPlane = tiles * cinP, outPlane = tiles * coutP;
        var planes = WinogradScratch<T>.Get(ref s.Planes, a * inPlane);
        var products = WinogradScratch<T>.Get(ref s.Products, a * outPlane);
        var outRows = WinogradScratch<T>.Get(ref s.Out, tiles * m * coutP);
        fixed (T* pin = inRows, pv = planes, pm = products, pout = outRows, pu = u, pbt = bt, pat = at, pinit = init)
        {
            var tr = new InputTransform<T>(pin + (nint)first * cinP, pv, pbt, tiles, m, cinP, inPlane);
            Simd.Run<T, InputTransform<T>>(ref tr);
            // With one group the GEMMs fill the padding columns too (u is zero there): whole register tiles, not edge tiles.
            int n = groups == 1 ? coutP : coutG;
            for (int x = 0; x < a; x++)
                for (int gr = 0; gr < groups; gr++)
                    GemmT(false, false, tiles, n, cinG, pv + x * inPlane + gr * cinG, cinP, pu + (nint)x * cin * coutP + gr * cinG * coutP + gr * coutG, coutP,
                        pm + x * outPlane + gr * coutG, coutP, accumulate: false);
            var back = new OutputTransform<T>(pm, pout, pat, pinit, m, tiles, coutP, outPlane);
            Simd.Run<T, OutputTransform<T>>(ref back);
        }
        TransposeBlock(outRows, 0, coutP, output, item * cout * lenOut, cout, lenOut);
    }

    /// <summary>The rows F(m, r) reads for lenOut outputs: whole tiles of m, and r - 1 more.</summary>
    static int TileRows(Winograd f, int lenOut) => (lenOut + f.M - 1) / f.M * f.M + f.R - 1;

    static void WinogradForward<T>(T[] x, T[] w, T[]? bias, T[] y, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Winograd.Of(Winograd.Alpha + 1 - g.K);
        var u = WinogradWeights(w, g, f, forDx: false);
        T[] bt = Rows8<T>(f.BT, Winograd.Alpha), at = Rows8<T>(f.AT, Winograd.Alpha);
        T[]? init = null;
        if (bias is not null) { init = new T[PadWidth(g.O)]; bias.CopyTo(init, 0); }
        int rows = TileRows(f, g.LOut);
        ForItems(g.N, (n, _) =>
        {
            var sc = WinogradScratch<T>.Mine;
            var xRows = WinogradScratch<T>.Get(ref sc.In, rows * PadWidth(g.C));
            TimeMajor(x, n * g.C * g.Win.L, g.C, g.Win.L, -g.Win.PadLeft, rows, PadWidth(g.C), xRows);
            WinogradItem(xRows, 0, g.C, u, g.O, g.Groups, f, bt, at, g.LOut, init, y, n, sc);
        });
        ArrayPool<T>.Shared.Return(u);
    }

    /// <summary>
    /// dx and dW by Winograd, db directly. The batch in slabs fixed by its size (as ConvBackward): per item dx, and the
    /// slab's dW in the transform domain, D[x] (C, PadWidth(O)) = sum over its items and tiles of (B^T x-tile)[x] (G dy-tile)[x]
    /// (F(k, m)); then dW[o, c, j] = sum over x of A^T[j, x] (D_slab0 + D_slab1 + ...)[x][c, o].
    /// </summary>
    static unsafe void WinogradBackward<T>(T[] gy, T[]? x, T[] w, T[]? dx, T[]? dw, T[]? db, ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int a = Winograd.Alpha;
        int slabs = Math.Min(g.N, MaxSlabs), parts = Math.Min(Par.Cores, slabs), k = g.K, L = g.Win.L, lo = g.LOut;
        var f = Winograd.Of(a + 1 - k); // F(m, k) for dx
        var fw = Winograd.Of(k);         // F(k, m) for dW: the same points, m frames of dy as the filter
        int m = fw.R, tiles = (lo + m - 1) / m, cP = PadWidth(g.C), oP = PadWidth(g.O), dPlane = g.C * oP;
        var u = dx is null ? null : WinogradWeights(w, g, f, forDx: true);
        var partial = new T[slabs][];
        T[] bt = Rows8<T>(fw.BT, a), gm = Rows8<T>(fw.G, m), at = Rows8<T>(f.AT, a); // f's B^T is fw's (the same points)
        int dxFrom = g.Win.PadLeft - (k - 1), yStart = Math.Min(dx is null ? 0 : dxFrom, 0);
        int yEnd = Math.Max(dx is null ? 0 : dxFrom + TileRows(f, L), dw is null ? 0 : tiles * m);
        ForSlabs(slabs, parts, (s, p) =>
        {
            var sc = WinogradScratch<T>.Mine;
            int n0 = g.N * s / slabs, n1 = g.N * (s + 1) / slabs;
            if (dw is not null) partial[s] = ArrayPool<T>.Shared.Rent(a * dPlane); // overwritten by the slab's first item
            for (int n = n0; n < n1; n++)
            {
                // dy_n time-major once for both: dx reads from position padLeft - (k - 1), dW from 0 (whole tiles of m).
                var yRows = WinogradScratch<T>.Get(ref sc.Dy, (yEnd - yStart) * oP);
                TimeMajor(gy, n * g.O * lo, g.O, lo, yStart, yEnd - yStart, oP, yRows);
                if (dx is not null) WinogradItem(yRows, dxFrom - yStart, g.O, u!, g.C, g.Groups, f, bt, at, L, null, dx, n, sc);
                if (dw is null) continue;
                int rows = tiles * m + k - 1, xPlane = tiles * cP, yPlane = tiles * oP;
                var xRows = WinogradScratch<T>.Get(ref sc.In, rows * cP);
                var xPlanes = WinogradScratch<T>.Get(ref sc.Planes, a * xPlane);
                var yPlanes = WinogradScratch<T>.Get(ref sc.DyPlanes, a * yPlane);
                TimeMajor(x!, n * g.C * L, g.C, L, -g.Win.PadLeft, rows, cP, xRows);
                fixed (T* px = xRows, pxv = xPlanes, py0 = yRows, pyv = yPlanes, pbt = bt, pg = gm, pd = partial[s])
                {
                    var tx = new InputTransform<T>(px, pxv, pbt, tiles, m, cP, xPlane);
                    Simd.Run<T, InputTransform<T>>(ref tx);
                    var ty = new FilterTransform<T>(py0 - (nint)yStart * oP, pyv, pg, m, tiles, m, oP, yPlane);
                    Simd.Run<T, FilterTransform<T>>(ref ty);
                    for (int xi = 0; xi < a; xi++)
                        for (int gr = 0; gr < g.Groups; gr++)
                            GemmT(true, false, g.Cg, g.Og, tiles, pxv + xi * xPlane + gr * g.Cg, cP, pyv + xi * yPlane + gr * g.Og, oP,
                                pd + xi * dPlane + gr * g.Cg * oP + gr * g.Og, oP, accumulate: n > n0);
                }
            }
        });
        if (u is not null) ArrayPool<T>.Shared.Return(u);
        if (dw is not null)
        {
            // By rows c of the planes, over the cores: the slabs summed in order (into slab 0's rows), then F(k, m)'s output
            // transform with the rows c as its tiles (tap j's row = sum over x of A^T[j, x] D[x][c, :]), written to dW[o, c, j]
            // for the o of c's group.
            var total = partial[0];
            var atW = Rows8<T>(fw.AT, a);
            Par.For(g.C, (long)(slabs + k) * a * oP, (c0, c1) =>
            {
                for (int c = c0; c < c1; c++)
                    for (int xi = 0; xi < a; xi++)
                    {
                        var row = total.AsSpan(xi * dPlane + c * oP, oP);
                        for (int s = 1; s < slabs; s++) TP.Add(row, partial[s].AsSpan(xi * dPlane + c * oP, oP), row);
                    }
                var taps = ArrayPool<T>.Shared.Rent((c1 - c0) * k * oP); // (c, j) rows of oP
                fixed (T* pt = total, pa = atW, po = taps)
                {
                    var back = new OutputTransform<T>(pt + (nint)c0 * oP, po, pa, null, k, c1 - c0, oP, dPlane);
                    Simd.Run<T, OutputTransform<T>>(ref back);
                }
                for (int c = c0; c < c1; c++)
                {
                    int gr = c / g.Cg, cg = c % g.Cg;
                    for (int j = 0; j < k; j++)
                        for (int o = gr * g.Og, from = ((c - c0) * k + j) * oP; o < (gr + 1) * g.Og; o++) dw[(o * g.Cg + cg) * k + j] = taps[from + o];
                }
                ArrayPool<T>.Shared.Return(taps);
            });
            foreach (var d in partial) ArrayPool<T>.Shared.Return(d);
        }
        if (db is not null) Par.For(g.O, (long)g.N * lo, (o0, o1) => { for (int o = o0; o < o1; o++) db[o] = BiasGrad(gy, o, g); });
    }

    // The transforms run on the structure of the points rather than on whole 8 x 8 matrices: with p and -p both among the
    // points, Lagrange's basis for -p is that for p at -t, so B^T's row for -p is the row for p with its odd columns negated,
    // and likewise G's (powers of p) and A^T's columns. Each pair of rows is then an even and an odd sum, added and
    // subtracted; the rows of 0 and infinity use the columns of one parity (B^T) or one column (G, A^T). Checked once per
    // plan (Winograd.CheckStructure). Only coefficients the structure leaves nonzero are used, so a non-finite input reaches
    // only the transform points that depend on it.

    /// <summary>dst[x][t, :] = sum over q of B^T[x, q] src[t m + q, :] for the 8 points x, t &lt; tiles; width columns (a multiple of
    /// every vector width), dst planes plane apart; bt: B^T (Rows8).</summary>
    readonly unsafe struct InputTransform<T>(T* src, T* dst, T* bt, int tiles, int m, int width, int plane) : ISimdKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            for (int t = 0; t < tiles; t++)
                for (int col = 0; col < width; col += v)
                {
                    T* s = src + (nint)t * m * width + col, d = dst + (nint)t * width + col;
                    TV s0 = S.Load(s), s1 = S.Load(s + width), s2 = S.Load(s + 2 * width), s3 = S.Load(s + 3 * width);
                    TV s4 = S.Load(s + 4 * width), s5 = S.Load(s + 5 * width), s6 = S.Load(s + 6 * width), s7 = S.Load(s + 7 * width);
                    S.Store(S.Fma(Coef<T, TV, S>(bt, 0), s0, Every2<T, TV, S>(bt, 2, s2, s4, s6)), d);
                    for (int x = 1; x < 7; x += 2)
                    {
                        T* c = bt + x * 8;
                        TV e = Every2<T, TV, S>(c, 2, s2, s4, s6), o = Every2<T, TV, S>(c, 1, s1, s3, s5);
                        S.Store(S.Add(e, o), d + x * plane);
                        S.Store(S.Sub(e, o), d + (x + 1) * plane);
                    }
                    T* c7 = bt + 56;
                    S.Store(S.Fma(Coef<T, TV, S>(c7, 7), s7, Every2<T, TV, S>(c7, 1, s1, s3, s5)), d + 7 * plane);
                }
        }
    }

    /// <summary>dst[x][t, :] = sum over j &lt; taps of G[x, j] src[t m + j, :] for the 8 points x, t &lt; tiles (dW's filter transform of
    /// dy, taps = its F(k, m)'s m, 2 to 7); gm: G (Rows8).</summary>
    readonly unsafe struct FilterTransform<T>(T* src, T* dst, T* gm, int taps, int tiles, int m, int width, int plane) : ISimdKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            TV zero = S.Splat(T.Zero);
            for (int t = 0; t < tiles; t++)
                for (int col = 0; col < width; col += v)
                {
                    T* s = src + (nint)t * m * width + col, d = dst + (nint)t * width + col;
                    TV s0 = S.Load(s), s1 = S.Load(s + width), s2 = taps > 2 ? S.Load(s + 2 * width) : zero, s3 = taps > 3 ? S.Load(s + 3 * width) : zero;
                    TV s4 = taps > 4 ? S.Load(s + 4 * width) : zero, s5 = taps > 5 ? S.Load(s + 5 * width) : zero, s6 = taps > 6 ? S.Load(s + 6 * width) : zero;
                    S.Store(S.Mul(Coef<T, TV, S>(gm, 0), s0), d);
                    for (int x = 1; x < 7; x += 2)
                    {
                        T* c = gm + x * 8;
                        TV e = S.Mul(Coef<T, TV, S>(c, 0), s0), o = S.Mul(Coef<T, TV, S>(c, 1), s1);
                        if (taps > 2) e = S.Fma(Coef<T, TV, S>(c, 2), s2, e);
                        if (taps > 3) o = S.Fma(Coef<T, TV, S>(c, 3), s3, o);
                        if (taps > 4) e = S.Fma(Coef<T, TV, S>(c, 4), s4, e);
                        if (taps > 5) o = S.Fma(Coef<T, TV, S>(c, 5), s5, o);
                        if (taps > 6) e = S.Fma(Coef<T, TV, S>(c, 6), s6, e);
                        S.Store(S.Add(e, o), d + x * plane);
                        S.Store(S.Sub(e, o), d + (x + 1) * plane);
                    }
                    S.Store(S.Mul(Coef<T, TV, S>(gm, 56 + taps - 1), S.Load(s + (nint)(taps - 1) * width)), d + 7 * plane);
                }
        }
    }

    /// <summary>c[q] a + c[q + 2] b + c[q + 4] d: three coefficients of one parity.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe TV Every2<T, TV, S>(T* c, int q, TV a, TV b, TV d) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> =>
        S.Fma(Coef<T, TV, S>(c, q), a, S.Fma(Coef<T, TV, S>(c, q + 2), b, S.Mul(Coef<T, TV, S>(c, q + 4), d)));

    /// <summary>Coefficient i of a row, as a vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe TV Coef<T, TV, S>(T* c, int i) where T : unmanaged, IFloatingPointIeee754<T> where TV : unmanaged where S : ISimd<TV, T> => S.Splat(c[i]);

    /// <summary>dst[t m + i, :] = init + sum over x of A^T[i, x] src[x][t, :] for i &lt; m, t &lt; tiles (init: zero when null); at: A^T (Rows8).</summary>
    readonly unsafe struct OutputTransform<T>(T* src, T* dst, T* at, T* init, int m, int tiles, int width, int plane) : ISimdKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
        {
            int v = S.Lanes;
            for (int t = 0; t < tiles; t++)
                for (int col = 0; col < width; col += v)
                {
                    T* s = src + (nint)t * width + col, d = dst + (nint)t * m * width + col;
                    TV p1 = S.Load(s + plane), p2 = S.Load(s + 2 * plane), p3 = S.Load(s + 3 * plane), p4 = S.Load(s + 4 * plane);
                    TV p5 = S.Load(s + 5 * plane), p6 = S.Load(s + 6 * plane);
                    TV a1 = S.Add(p1, p2), b1 = S.Sub(p1, p2), a3 = S.Add(p3, p4), b3 = S.Sub(p3, p4), a5 = S.Add(p5, p6), b5 = S.Sub(p5, p6);
                    TV b = init == null ? S.Splat(T.Zero) : S.Load(init + col);
                    for (int i = 0; i < m; i++, d += width)
                    {
                        T* c = at + i * 8;
                        TV y = (i & 1) == 0
                            ? S.Fma(Coef<T, TV, S>(c, 1), a1, S.Fma(Coef<T, TV, S>(c, 3), a3, S.Fma(Coef<T, TV, S>(c, 5), a5, b)))
                            : S.Fma(Coef<T, TV, S>(c, 1), b1, S.Fma(Coef<T, TV, S>(c, 3), b3, S.Fma(Coef<T, TV, S>(c, 5), b5, b)));
                        if (i == 0) y = S.Fma(Coef<T, TV, S>(c, 0), S.Load(s), y);
                        if (i == m - 1) y = S.Fma(Coef<T, TV, S>(c, 7), S.Load(s + 7 * plane), y);
                        S.Store(y, d);
                    }
                }
        }
    }
}
