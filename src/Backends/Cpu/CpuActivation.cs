using System.Numerics;
using System.Runtime.CompilerServices;

namespace MiniGrad.Backends.Cpu;

public sealed partial class CpuBackend
{
    // float64: ActivationMath's formulas (src/Tensors/Activations.cs, shared with the ILGPU kernels) in double, element by
    // element. float32: the same formulas in float32 on the SIMD layer (ActivationKernel), at the widest accelerated width,
    // with PyTorch's float32 choices (parameters rounded to float, as its kernels do). Either way in chunks over the cores
    // (each element costs an exp or two, so big arrays pay for the split).

    /// <inheritdoc/>
    public RawTensor Activation(ActivationOp op, RawTensor x, double p0, double p1)
    {
        var src = C(x);
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32:
            {
                float[] s = (float[])src.Data, d = (float[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => ActivationKernel.Run(op, s, null, d, a, b, p0, p1));
                break;
            }
            case DType.Float64:
            {
                double[] s = (double[])src.Data, d = (double[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => { for (int i = a; i < b; i++) d[i] = ActivationMath<SystemMath>.Forward(op, s[i], p0, p1); });
                break;
            }
            default: throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        }
        return dst;
    }

    /// <inheritdoc/>
    public RawTensor ActivationBackward(ActivationOp op, RawTensor x, RawTensor gy, double p0, double p1)
    {
        var src = C(x);
        var g = C(gy);
        if (!Shapes.Equal(x.Shape, gy.Shape) || x.DType != gy.DType)
            throw new ArgumentException($"{op}Backward: the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}) does not match the input ({Shapes.Format(x.Shape)}, {x.DType})");
        var dst = CpuTensor.Alloc(x.Shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32:
            {
                float[] s = (float[])src.Data, gd = (float[])g.Data, d = (float[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => ActivationKernel.Run(op, s, gd, d, a, b, p0, p1));
                break;
            }
            case DType.Float64:
            {
                double[] s = (double[])src.Data, gd = (double[])g.Data, d = (double[])dst.Data;
                Par.For(x.Numel, 16, (a, b) => { for (int i = a; i < b; i++) d[i] = ActivationMath<SystemMath>.Backward(op, s[i], gd[i], p0, p1); });
                break;
            }
            default: throw new ArgumentException($"{op}: expected a floating point tensor, but dtype is {x.DType}; convert with To(DType.Float32)");
        }
        return dst;
    }

    /// <inheritdoc/>
    public RawTensor UnaryBackward(UnaryOp op, RawTensor saved, RawTensor gy)
    {
        if (op is not (UnaryOp.Relu or UnaryOp.Tanh or UnaryOp.Sigmoid))
            throw new ArgumentException($"UnaryBackward: {op} has no fused gradient; expected Relu, Tanh or Sigmoid", nameof(op));
        if (!Shapes.Equal(saved.Shape, gy.Shape) || saved.DType != gy.DType || !saved.DType.IsFloating())
            throw new ArgumentException($"{op}Backward: the gradient ({Shapes.Format(gy.Shape)}, {gy.DType}) does not match the saved tensor ({Shapes.Format(saved.Shape)}, {saved.DType}) or is not floating point");
        var dst = CpuTensor.Alloc(saved.Shape, saved.DType);
        if (saved.DType == DType.Float32) UnaryGrad((float[])C(saved).Data, (float[])C(gy).Data, (float[])dst.Data, saved.Numel, op);
        else UnaryGrad((double[])C(saved).Data, (double[])C(gy).Data, (double[])dst.Data, saved.Numel, op);
        return dst;
    }

    static unsafe void UnaryGrad<T>(T[] s, T[] g, T[] d, int n, UnaryOp op) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 2, (a, b) =>
        {
            fixed (T* ps = s, pg = g, pd = d)
            {
                var k = new UnaryGradKernel<T>(op, ps + a, pg + a, pd + a, b - a);
                Simd.Run<T, UnaryGradKernel<T>>(ref k);
            }
        });
    }
}

/// <summary>
/// float32 activations (every <see cref="ActivationOp"/>) over [from, to) of a span, forward (g null) or
/// backward (g the output gradient), on <see cref="ISimd{TV, T}"/> at <see cref="Simd.Bits"/>: the same operations per
/// lane at every width and for every split, so the bits depend on neither.
/// </summary>
internal readonly unsafe struct ActivationKernel : ISimdKernel<float>
{
    readonly ActivationOp op;
    readonly float* x, g, y;
    readonly int n;
    readonly float p0, p1;

    ActivationKernel(ActivationOp op, float* x, float* g, float* y, int n, float p0, float p1)
    {
        this.op = op; this.x = x; this.g = g; this.y = y; this.n = n; this.p0 = p0; this.p1 = p1;
    }

    public static void Run(ActivationOp op, float[] x, float[]? g, float[] y, int from, int to, double p0, double p1)
    {
        fixed (float* px = x, pg = g, py = y)
        {
            var k = new ActivationKernel(op, px + from, pg == null ? null : pg + from, py + from, to - from, (float)p0, (float)p1);
            Simd.Run<float, ActivationKernel>(ref k);
        }
    }

    public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, float>
    {
        switch (op)
        {
            case ActivationOp.Gelu: Loop<TV, S, Gelu>(); break;
            case ActivationOp.GeluTanh: Loop<TV, S, GeluTanh>(); break;
            case ActivationOp.Silu: Loop<TV, S, Silu>(); break;
            case ActivationOp.LeakyRelu: Loop<TV, S, LeakyRelu>(); break;
            case ActivationOp.Elu: Loop<TV, S, Elu>(); break;
            case ActivationOp.Softplus: Loop<TV, S, Softplus>(); break;
            case ActivationOp.Hardtanh: Loop<TV, S, Hardtanh>(); break;
            case ActivationOp.LogSigmoid: Loop<TV, S, LogSigmoid>(); break;
            default: throw new ArgumentException($"{op}: not an activation", nameof(op));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Loop<TV, S, A>() where TV : unmanaged where S : ISimd<TV, float> where A : struct, IActivation
    {
        TV a = S.Splat(p0), b = S.Splat(p1);
        int v = S.Lanes, i = 0;
        if (g == null) for (; i + v <= n; i += v) S.Store(A.Forward<TV, S>(S.Load(x + i), a, b), y + i);
        else for (; i + v <= n; i += v) S.Store(A.Backward<TV, S>(S.Load(x + i), S.Load(g + i), a, b), y + i);
        if (i == n) return;
        // The rest through one whole vector (zeros past the end are harmless: no op traps).
        float* tx = stackalloc float[16], tg = stackalloc float[16];
        new Span<float>(tx, 16).Clear();
        new Span<float>(tg, 16).Clear();
        new Span<float>(x + i, n - i).CopyTo(new Span<float>(tx, 16));
        if (g != null) new Span<float>(g + i, n - i).CopyTo(new Span<float>(tg, 16));
        S.Store(g == null ? A.Forward<TV, S>(S.Load(tx), a, b) : A.Backward<TV, S>(S.Load(tx), S.Load(tg), a, b), tx);
        new Span<float>(tx, n - i).CopyTo(new Span<float>(y + i, n - i));
    }

    /// <summary>One activation's forward and derivative (times g), with parameters a = p0 and b = p1 in every lane.</summary>
    interface IActivation
    {
        static abstract TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>;
        static abstract TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>;
    }

    // Shorthands: exp and friends from SimdMath, the masks x <= y (NaN: false) and |x|.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Exp<TV, S>(TV x) where TV : unmanaged where S : ISimd<TV, float> => SimdMath.Exp<float, TV, S>(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV LessEqual<TV, S>(TV x, TV y) where TV : unmanaged where S : ISimd<TV, float>
    {
        var lt = S.LessThan(x, y);
        return S.Select(lt, lt, S.Equal(x, y));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Abs<TV, S>(TV x) where TV : unmanaged where S : ISimd<TV, float>
    {
        var zero = S.Splat(0f);
        return S.Select(S.LessThan(x, zero), S.Sub(zero, x), x);
    }

    const float Sqrt2OverPi = 0.7978845608f, Kappa = 0.044715f;

    /// <summary>
    /// x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2; derivative Phi(x) + x e^(-x^2 / 2) / sqrt(2 pi). erfc(z) for z &gt;= 0 as
    /// Numerical Recipes' erfcc, t exp(-z^2 + P(t)) with t = 1 / (1 + z / 2), relative error below 1.2e-7 (in float32 about
    /// 1e-6 far out in the tail, where z^2 rounds), and 2 - erfc(-z) below 0: Phi is accurate relative to itself in the left
    /// tail, where 1 + erf would cancel.
    /// </summary>
    struct Gelu : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static TV Phi<TV, S>(TV x) where TV : unmanaged where S : ISimd<TV, float>
        {
            var one = S.Splat(1f);
            var z = S.Mul(x, S.Splat(-0.70710678f)); // -x / sqrt 2
            var az = Abs<TV, S>(z);
            var t = S.Div(one, S.Fma(S.Splat(0.5f), az, one));
            var p = S.Splat(0.17087277f);
            p = S.Fma(p, t, S.Splat(-0.82215223f));
            p = S.Fma(p, t, S.Splat(1.48851587f));
            p = S.Fma(p, t, S.Splat(-1.13520398f));
            p = S.Fma(p, t, S.Splat(0.27886807f));
            p = S.Fma(p, t, S.Splat(-0.18628806f));
            p = S.Fma(p, t, S.Splat(0.09678418f));
            p = S.Fma(p, t, S.Splat(0.37409196f));
            p = S.Fma(p, t, S.Splat(1.00002368f));
            p = S.Fma(p, t, S.Splat(-1.26551223f));
            var erfc = S.Mul(t, Exp<TV, S>(S.Sub(p, S.Mul(az, az)))); // erfc(|z|)
            var half = S.Splat(0.5f);
            // z >= 0 (x <= 0): erfc(z) / 2; z < 0: 1 - erfc(-z) / 2. NaN: erfc is NaN either way.
            return S.Select(S.LessThan(z, S.Splat(0f)), S.Fma(S.Splat(-0.5f), erfc, one), S.Mul(half, erfc));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float> => S.Mul(x, Phi<TV, S>(x));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var density = S.Mul(S.Splat(0.39894228f), Exp<TV, S>(S.Mul(S.Splat(-0.5f), S.Mul(x, x)))); // e^(-x^2/2) / sqrt(2 pi)
            return S.Mul(g, S.Fma(x, density, Phi<TV, S>(x)));
        }
    }

    /// <summary>0.5 x (1 + t), t = tanh(sqrt(2/pi) (x + 0.044715 x^3)).</summary>
    struct GeluTanh : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static TV T<TV, S>(TV x) where TV : unmanaged where S : ISimd<TV, float>
            => SimdMath.Tanh<float, TV, S>(S.Mul(S.Splat(Sqrt2OverPi), S.Fma(S.Mul(S.Splat(Kappa), S.Mul(x, x)), x, x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Mul(S.Mul(S.Splat(0.5f), x), S.Add(S.Splat(1f), T<TV, S>(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var t = T<TV, S>(x);
            var one = S.Splat(1f);
            var half = S.Splat(0.5f);
            // The second term is 0 (1 - t^2 is) long before x^2 overflows float32; x clamped keeps it from 0 * inf = NaN.
            var xc = S.Min(S.Splat(1e4f), S.Max(S.Splat(-1e4f), x)); // NaN stays NaN (the second operand, or NaN on ARM64)
            var inner = S.Mul(S.Splat(Sqrt2OverPi), S.Fma(S.Splat(3 * Kappa), S.Mul(xc, xc), one)); // d/dx of tanh's argument
            var d = S.Fma(S.Mul(S.Mul(half, xc), S.Sub(one, S.Mul(t, t))), inner, S.Mul(half, S.Add(one, t)));
            return S.Mul(g, d);
        }
    }

    /// <summary>x / (1 + e^-x); derivative s (1 + x (1 - s)), s = sigmoid(x).</summary>
    struct Silu : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Div(x, S.Add(S.Splat(1f), Exp<TV, S>(S.Sub(S.Splat(0f), x))));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var one = S.Splat(1f);
            var s = SimdMath.Sigmoid<float, TV, S>(x);
            return S.Mul(S.Mul(g, s), S.Fma(x, S.Sub(one, s), one));
        }
    }

    /// <summary>x if x &gt; 0, else a x; the slope at 0 is a.</summary>
    struct LeakyRelu : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Select(S.LessThan(S.Splat(0f), x), x, S.Mul(x, a));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Select(S.LessThan(S.Splat(0f), x), g, S.Mul(g, a));
    }

    /// <summary>a (e^x - 1) for x &lt;= 0, else x; the slope at 0 is a.</summary>
    struct Elu : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Select(LessEqual<TV, S>(x, S.Splat(0f)), S.Mul(a, SimdMath.ExpM1<float, TV, S>(x)), x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Select(LessEqual<TV, S>(x, S.Splat(0f)), S.Mul(S.Mul(g, a), Exp<TV, S>(x)), g);
    }

    /// <summary>log(1 + e^(a x)) / a, but x where a x &gt; b (a: beta, b: threshold); derivative sigmoid(a x).</summary>
    struct Softplus : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var ax = S.Mul(x, a);
            return S.Select(S.LessThan(b, ax), x, S.Div(SimdMath.Log1PNonNegative<float, TV, S>(Exp<TV, S>(ax)), a));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var ax = S.Mul(x, a);
            return S.Select(S.LessThan(b, ax), g, S.Div(g, S.Add(S.Splat(1f), Exp<TV, S>(S.Sub(S.Splat(0f), ax)))));
        }
    }

    /// <summary>x clamped into [a, b] (NaN passes); the gradient passes only strictly inside (0 at the bounds).</summary>
    struct Hardtanh : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
            => S.Select(S.LessThan(x, a), a, S.Select(S.LessThan(b, x), b, x));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var atA = LessEqual<TV, S>(x, a);
            var outside = S.Select(atA, atA, LessEqual<TV, S>(b, x));
            return S.Select(outside, S.Splat(0f), g);
        }
    }

    /// <summary>min(x, 0) - log1p(e^-|x|); derivative sigmoid(-x) = 1 / (1 + z) for x &lt; 0, else z / (1 + z), z = e^-|x|.</summary>
    struct LogSigmoid : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Forward<TV, S>(TV x, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var zero = S.Splat(0f);
            var z = Exp<TV, S>(S.Sub(zero, Abs<TV, S>(x)));
            return S.Sub(S.Min(zero, x), SimdMath.Log1PNonNegative<float, TV, S>(z)); // Min: x where x is NaN
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Backward<TV, S>(TV x, TV g, TV a, TV b) where TV : unmanaged where S : ISimd<TV, float>
        {
            var zero = S.Splat(0f);
            var z = Exp<TV, S>(S.Sub(zero, Abs<TV, S>(x)));
            var den = S.Add(S.Splat(1f), z);
            return S.Select(S.LessThan(x, zero), S.Div(g, den), S.Mul(g, S.Div(z, den)));
        }
    }
}

/// <summary>Relu's, Tanh's and Sigmoid's gradients in one pass over [0, n), float32 or float64, at <see cref="Simd.Bits"/>: the
/// operations (and roundings) of the composed g * (1 - y * y) and g * y * (1 - y), without their temporaries.</summary>
internal readonly unsafe struct UnaryGradKernel<T>(UnaryOp op, T* s, T* g, T* d, int n) : ISimdKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run<TV, S>() where TV : unmanaged where S : ISimd<TV, T>
    {
        int v = S.Lanes, i = 0;
        for (; i + v <= n; i += v) S.Store(Grad<TV, S>(S.Load(s + i), S.Load(g + i)), d + i);
        for (; i < n; i++) d[i] = S.Element(Grad<TV, S>(S.Splat(s[i]), S.Splat(g[i])), 0); // lane 0 computes what every lane does
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    TV Grad<TV, S>(TV s, TV g) where TV : unmanaged where S : ISimd<TV, T>
    {
        var one = S.Splat(T.One);
        return op switch
        {
            // PyTorch's threshold_backward: 0 where x <= 0, else g (so g passes where x is NaN).
            UnaryOp.Relu => S.Select(S.LessThan(S.Splat(T.Zero), s), g, S.Select(S.Equal(s, s), S.Splat(T.Zero), g)),
            UnaryOp.Tanh => S.Mul(g, S.Sub(one, S.Mul(s, s))),
            _ => S.Mul(S.Mul(g, s), S.Sub(one, s)),
        };
    }
}
