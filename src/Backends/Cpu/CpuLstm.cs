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
    public (RawTensor H, RawTensor C) LstmCell(RawTensor gates, int t, RawTensor? hPrev, RawTensor? whhT, RawTensor? bias, RawTensor c)
    {
        int n = c.Shape[0], h = c.Shape[^1];
        BackendChecks.LstmStep("LstmCell", c, t, (gates, 4), [(hPrev, n * h), (whhT, h * 4 * h), (bias, 4 * h)]);
        BackendChecks.LstmRecurrence("LstmCell", hPrev, whhT);
        // The step's GEMM adds h W_hh^T straight onto row t: no (N, 4H) buffer per step, and the cell reads one row less.
        if (hPrev is not null) Gemm1(hPrev, whhT!, C(gates), false, false, n, 4 * h, h, h, 4 * h, 0, 0, t * n * 4 * h, accumulate: true);
        var hOut = CpuTensor.Alloc([n, h], c.DType);
        var cOut = CpuTensor.Alloc([n, h], c.DType);
        if (c.DType == DType.Float32) Par.For(n, LstmCost * h, (r0, r1) => CellRows<float>(A<float>(gates), t, Opt<float>(bias), A<float>(c), A<float>(hOut), A<float>(cOut), n, h, r0, r1));
        else Par.For(n, LstmCost * h, (r0, r1) => CellRows<double>(A<double>(gates), t, Opt<double>(bias), A<double>(c), A<double>(hOut), A<double>(cOut), n, h, r0, r1));
        return (hOut, cOut);
    }

    /// <inheritdoc/>
    public (RawTensor? DHPrev, RawTensor DCPrev) LstmCellBackward(RawTensor gates, int t, RawTensor cPrev, RawTensor c, RawTensor dy, RawTensor? dhNext, RawTensor? dc, RawTensor? whh)
    {
        int n = c.Shape[0], h = c.Shape[^1];
        BackendChecks.LstmStep("LstmCellBackward", c, t, (gates, 4), [(cPrev, n * h), (dhNext, n * h), (dc, n * h), (whh, 4 * h * h)]);
        BackendChecks.LstmStep("LstmCellBackward", c, t, (dy, 1), []);
        var dcPrev = CpuTensor.Alloc([n, h], c.DType);
        if (c.DType == DType.Float32) Par.For(n, LstmCost * h, (r0, r1) => CellBackwardRows<float>(A<float>(gates), t, A<float>(cPrev), A<float>(c), A<float>(dy), Opt<float>(dhNext), Opt<float>(dc), A<float>(dcPrev), n, h, r0, r1));
        else Par.For(n, LstmCost * h, (r0, r1) => CellBackwardRows<double>(A<double>(gates), t, A<double>(cPrev), A<double>(c), A<double>(dy), Opt<double>(dhNext), Opt<double>(dc), A<double>(dcPrev), n, h, r0, r1));
        if (whh is null) return (null, dcPrev);
        // dh for the previous step straight from row t, which now holds d(pre-activation): no (N, 4H) copy of it.
        var dhPrev = CpuTensor.Alloc([n, h], c.DType);
        Gemm1(gates, whh, dhPrev, false, false, n, h, 4 * h, 4 * h, h, t * n * 4 * h, 0, 0);
        return (dhPrev, dcPrev);
    }

    static T[] A<T>(RawTensor x) => (T[])C(x).Data;
    static T[]? Opt<T>(RawTensor? x) => x is null ? null : A<T>(x);

    // Row t of a (T, N, 4H) buffer holds the pre-activations z and becomes the activations (i, f, g, o):
    //   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o),  c' = f c + i g,  h' = o tanh(c').
    // The transcendental parts are two TensorPrimitives.Sigmoid calls over the whole block of rows (tanh(x) =
    // 2 sigmoid(2x) - 1); the vector passes around them only add, scale and combine. A sigmoid per vector inside the
    // loop (Vector512.Exp) measured 3-4x slower.
    static void CellRows<T>(T[] a, int t, T[]? b, T[] c, T[] hOut, T[] cOut, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h4 = 4 * h;
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
        TP.Sigmoid<T>(block, block);
        for (int r = r0; r < r1; r++) // g = 2 sigmoid(2 z_g) - 1, c' = f c + i g; hOut holds 2 c' for now
        {
            int a0 = (t * n + r) * h4, s0 = r * h, j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                {
                    var g = L(a, a0 + 2 * h + j) * Vector512.Create(two) - Vector512<T>.One;
                    var cn = L(a, a0 + h + j) * L(c, s0 + j) + L(a, a0 + j) * g;
                    S(a, a0 + 2 * h + j, g); S(cOut, s0 + j, cn); S(hOut, s0 + j, cn + cn);
                }
            for (; j < h; j++)
            {
                T g = two * a[a0 + 2 * h + j] - T.One, cn = a[a0 + h + j] * c[s0 + j] + a[a0 + j] * g;
                (a[a0 + 2 * h + j], cOut[s0 + j], hOut[s0 + j]) = (g, cn, cn + cn);
            }
        }
        var hs = hOut.AsSpan(r0 * h, (r1 - r0) * h);
        TP.Sigmoid<T>(hs, hs);
        for (int r = r0; r < r1; r++) // h' = o tanh(c') = o (2 sigmoid(2 c') - 1)
        {
            int o0 = (t * n + r) * h4 + 3 * h, s0 = r * h, j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                    S(hOut, s0 + j, L(a, o0 + j) * (L(hOut, s0 + j) * Vector512.Create(two) - Vector512<T>.One));
            for (; j < h; j++) hOut[s0 + j] = a[o0 + j] * (two * hOut[s0 + j] - T.One);
        }
    }

    // With s = tanh(c'), dh = dy[t] + dhNext and dc' = dc + dh o (1 - s^2):
    //   di = dc' g i (1 - i),  df = dc' cPrev f (1 - f),  dg = dc' i (1 - g^2),  do = dh s o (1 - o),  dcPrev = dc' f.
    // d(pre-activation) replaces the activations in row t (whose last reader this is), where the dh GEMM reads it.
    // tanh(c') for the block goes first into dcPrev, which each lane reads before it overwrites it.
    static void CellBackwardRows<T>(T[] a, int t, T[] cPrev, T[] c, T[] dy, T[]? dhNext, T[]? dc, T[] dcPrev, int n, int h, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TP.Tanh<T>(c.AsSpan(r0 * h, (r1 - r0) * h), dcPrev.AsSpan(r0 * h, (r1 - r0) * h));
        for (int r = r0; r < r1; r++)
        {
            int a0 = (t * n + r) * 4 * h, s0 = r * h, y0 = (t * n + r) * h, j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + Vector512<T>.Count <= h; j += Vector512<T>.Count)
                {
                    var one = Vector512<T>.One;
                    Vector512<T> i = L(a, a0 + j), f = L(a, a0 + h + j), g = L(a, a0 + 2 * h + j), o = L(a, a0 + 3 * h + j), s = L(dcPrev, s0 + j);
                    var dh = L(dy, y0 + j) + (dhNext is null ? default : L(dhNext, s0 + j));
                    var dct = (dc is null ? default : L(dc, s0 + j)) + dh * o * (one - s * s);
                    void Put(int k, Vector512<T> v) => S(a, a0 + k + j, v);
                    Put(0, dct * g * i * (one - i));
                    Put(h, dct * L(cPrev, s0 + j) * f * (one - f));
                    Put(2 * h, dct * i * (one - g * g));
                    Put(3 * h, dh * s * o * (one - o));
                    S(dcPrev, s0 + j, dct * f);
                }
            for (; j < h; j++) // the same formulas for the lanes left over
            {
                T i = a[a0 + j], f = a[a0 + h + j], g = a[a0 + 2 * h + j], o = a[a0 + 3 * h + j], s = dcPrev[s0 + j];
                T dh = dy[y0 + j] + (dhNext is null ? T.Zero : dhNext[s0 + j]);
                T dct = (dc is null ? T.Zero : dc[s0 + j]) + dh * o * (T.One - s * s);
                void Put(int k, T v) => a[a0 + k + j] = v;
                Put(0, dct * g * i * (T.One - i));
                Put(h, dct * cPrev[s0 + j] * f * (T.One - f));
                Put(2 * h, dct * i * (T.One - g * g));
                Put(3 * h, dh * s * o * (T.One - o));
                dcPrev[s0 + j] = dct * f;
            }
        }
    }

    static Vector512<T> L<T>(T[] x, int at) => Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(x), (nuint)at);
    static void S<T>(T[] x, int at, Vector512<T> v) => v.StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(x), (nuint)at);
}
