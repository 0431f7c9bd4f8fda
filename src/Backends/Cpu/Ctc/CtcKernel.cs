using System.Numerics;
using System.Runtime.CompilerServices;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// CTC loss forward and backward on the CPU with PyTorch's semantics (DESIGN.md, "CTC loss — normative
/// semantics") and PyTorch's arithmetic: log space, log-alpha and log-beta not rescaled, and the per-class
/// gradient sums formed by PyTorch's running log-add over the states in descending order. The float32 golden
/// gradients carry libtorch's own rounding (on 700 frames they differ from the exact gradient by ~1e-3 relative,
/// the size of the tolerance), and only the same operations rounded at the same points reproduce them.
/// Speed comes from vectorizing over the states of a frame (recursions) and over frames (gradient sums), and
/// from running samples in parallel; each sample is computed by one thread in a fixed order, so results are
/// bit-identical whatever the thread count. The body is written once over <see cref="ISimd{TV, T}"/> and the
/// composites of <see cref="SimdMath"/>, which compute the same operations per lane at every width, so results are
/// also the same at 512, 256 and 128 bits and at scalar width in float32. float64 takes exp and log from the runtime
/// (<see cref="ISimd{TV, T}.RuntimeExp"/>), whose implementations per width differ in the last bit on a few arguments:
/// float64 agrees across widths to 1e-12 (tested), and is bit-identical across runs and thread counts at one width.
/// This file: the entry points. Forward and Backward per sample: CtcForward.cs and CtcBackward.cs; the saved state
/// and the pooled workspace: CtcState.cs.
/// </summary>
internal static unsafe partial class CtcKernel
{
    /// <summary>Upper bound on worker threads (tests set 1 to check thread-count independence); &lt;= 0: <see cref="Par.Cores"/>
    /// (Torch.SetNumThreads's count, or a part's share of it).</summary>
    internal static int MaxDegreeOfParallelism = -1;

    // Below this many (frame x state) cells in total, starting workers costs more than it saves.
    const long ParallelThreshold = 24_000;

    /// <summary>
    /// Computes the per-sample negative log-likelihood into <paramref name="nll"/> (+inf for infeasible samples,
    /// NaN when a NaN log-prob of the sample's blank or labels lies within its input length) and returns the
    /// state Backward needs. Inputs are assumed validated: logProbs is (maxT, batch, classes) row-major, labels lie
    /// in [0, classes) and differ from blank, inputLengths lie in [0, maxT]. Runs at the calling thread's
    /// <see cref="Simd.Bits"/>, and so does the Backward of the state it returns.
    /// </summary>
    public static CtcSaved<T> Forward<T>(ReadOnlySpan<T> logProbs, int maxT, int batch, int classes,
        ReadOnlySpan<int> targets, ReadOnlySpan<int> targetOffsets, ReadOnlySpan<int> targetLengths,
        ReadOnlySpan<int> inputLengths, int blank, Span<T> nll) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        if (logProbs.Length < (long)maxT * batch * classes || nll.Length < batch || inputLengths.Length < batch ||
            targetLengths.Length < batch || targetOffsets.Length < batch)
        {
            throw new ArgumentException(
                $"CtcKernel.Forward: buffers too small for T={maxT}, N={batch}, C={classes} " +
                $"(logProbs {logProbs.Length}, nll {nll.Length}, inputLengths {inputLengths.Length}, " +
                $"targetLengths {targetLengths.Length}, targetOffsets {targetOffsets.Length}).");
        }
        var ws = CtcPool<T>.Rent();
        ws.Setup(maxT, batch, classes, blank, targets, targetOffsets, targetLengths, inputLengths);
        long work = 0;
        for (int n = 0; n < batch; n++) work += (long)ws.InputLengths[n] * (ws.TargetLengths[n] + 1);
        fixed (T* lp = logProbs)
        {
            ws.Lp = lp;
            try
            {
                Run(batch, work, ws.ForwardBody);
            }
            finally
            {
                ws.Lp = null;
            }
        }
        for (int n = 0; n < batch; n++) nll[n] = FromDouble<T>(ws.Nll[n]);
        return new CtcSaved<T>(ws);
    }

    /// <summary>
    /// Writes d(sum_n gradOut[n] * nll[n]) / d(activations) in PyTorch's form into <paramref name="grad"/>
    /// ((T, N, C), fully overwritten): (exp(lp) - exp(log(sum alpha*beta) + nll - lp)) * gradOut[n], 0 for frames
    /// past the input length and for samples with input length 0; for an infinite nll, NaN (or 0 with
    /// <paramref name="zeroInfinity"/>). With <paramref name="release"/> (the default) the saved state goes back
    /// to the pool and <paramref name="saved"/> becomes unusable; pass false to keep it for another Backward.
    /// </summary>
    public static void Backward<T>(ReadOnlySpan<T> logProbs, CtcSaved<T> saved, ReadOnlySpan<T> gradOut,
        bool zeroInfinity, Span<T> grad, bool release = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        var ws = saved.Acquire();
        long size = (long)ws.MaxT * ws.Batch * ws.Classes;
        if (logProbs.Length < size || grad.Length < size || gradOut.Length < ws.Batch)
        {
            throw new ArgumentException(
                $"CtcKernel.Backward: buffers too small for T={ws.MaxT}, N={ws.Batch}, C={ws.Classes} " +
                $"(logProbs {logProbs.Length}, grad {grad.Length}, gradOut {gradOut.Length}).");
        }
        long work = 0;
        for (int n = 0; n < ws.Batch; n++)
            work += (long)ws.InputLengths[n] * (ws.TargetLengths[n] + 1) + (long)ws.MaxT * ws.Classes / 8;
        fixed (T* lp = logProbs)
        fixed (T* g = grad)
        fixed (T* go = gradOut)
        {
            ws.Lp = lp;
            ws.Grad = g;
            ws.GradOut = go;
            ws.ZeroInfinity = zeroInfinity;
            try
            {
                Run(ws.Batch, work, ws.BackwardBody);
            }
            finally
            {
                ws.Lp = null;
                ws.Grad = null;
                ws.GradOut = null;
            }
        }
        if (release) CtcPool<T>.Return(ws);
    }

    /// <summary>Returns a saved state that Backward will not use to the pool (optional; otherwise the GC takes it).</summary>
    public static void Release<T>(CtcSaved<T> saved) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (saved.IsAlive) CtcPool<T>.Return(saved.Acquire());
    }

    static void CheckType<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"CtcKernel: element type {typeof(T).Name} is not supported (float32 and float64 are).");
    }

    static void Run(int batch, long work, Action<int> body)
    {
        int dop = MaxDegreeOfParallelism > 0 ? MaxDegreeOfParallelism : Par.Cores;
        if (batch <= 1 || dop <= 1 || work < ParallelThreshold)
        {
            for (int n = 0; n < batch; n++) body(n);
            return;
        }
        Team.Run(batch, dop, body);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double ToDouble<T>(T x) where T : unmanaged
        => typeof(T) == typeof(float) ? Unsafe.As<T, float>(ref x) : Unsafe.As<T, double>(ref x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T FromDouble<T>(double x) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float f = (float)x;
            return Unsafe.As<float, T>(ref f);
        }
        return Unsafe.As<double, T>(ref x);
    }
}
