using System.Reflection;
using System.Diagnostics;
using System.Globalization;

namespace MiniGrad;

/// <summary>
/// Thrown by Backward() inside Torch.DetectAnomaly() at the first op whose computed input gradient holds a NaN or
/// an infinity. The message names the op, the input and where the op was created in your code.
/// </summary>
public sealed class AnomalyException : InvalidOperationException
{
    internal AnomalyException(string message, string opName, int input, string? createdAt, string? forwardStackTrace) : base(message)
    {
        OpName = opName;
        Input = input;
        CreatedAt = createdAt;
        ForwardStackTrace = forwardStackTrace;
    }

    /// <summary>The op whose backward produced the bad gradient, e.g. "LogBackward".</summary>
    public string OpName { get; }
    /// <summary>Which of the op's inputs got the bad gradient (0-based).</summary>
    public int Input { get; }
    /// <summary>The first frame of your code that created the op, or null if it was created outside anomaly mode.</summary>
    public string? CreatedAt { get; }
    /// <summary>The whole call stack of the op's forward (PyTorch prints it as the "traceback of forward call").</summary>
    public string? ForwardStackTrace { get; }
}

/// <summary>Anomaly mode's checks: finite input gradients, and the user's frame in a forward stack trace.</summary>
static class Anomaly
{
    /// <summary>Throws AnomalyException if a gradient fn computed for a live input holds a NaN or an infinity.</summary>
    internal static void Check(Function fn, Tensor?[] inputGrads)
    {
        for (int k = 0; k < inputGrads.Length && k < fn.Edges.Length; k++)
        {
            if (!fn.Edges[k].IsLive || inputGrads[k] is not { } g) continue;
            var v = g.ToArray<double>();
            int bad = Array.FindIndex(v, x => !double.IsFinite(x));
            if (bad < 0) continue;
            int count = v.Count(x => !double.IsFinite(x));
            string what = double.IsNaN(v[bad]) ? "NaN" : v[bad] > 0 ? "+inf" : "-inf";
            string where = fn.CreatedAt is { } at ? $"The op was created at {at}."
                : "The op was created outside Torch.DetectAnomaly(), so where is unknown; run the forward inside the scope too.";
            throw new AnomalyException(
                $"Backward (anomaly mode): {fn.Name} returned a gradient for its input {k} (shape {Shapes.Format(g.Raw.Shape)}, {g.DType}) " +
                $"that is not finite: {what} at flat index {bad.ToString(CultureInfo.InvariantCulture)} ({count} non-finite of {v.Length}). {where}",
                fn.Name, k, fn.CreatedAt, fn.ForwardTrace?.ToString());
        }
    }

    /// <summary>
    /// The first frame outside MiniGrad's own assemblies, preferring user code over the framework's (a LINQ lambda
    /// calling an op reports the lambda): "Type.Method in path/File.cs:line" when PDBs give a file, else the method.
    /// </summary>
    internal static string? UserFrame(StackTrace trace)
    {
        // DiagnosticMethodInfo rather than StackFrame.GetMethod: it needs no reflection metadata, so it stays trim- and
        // AOT-safe (where the runtime has no name for a frame it is null and the frame is skipped).
        StackFrame? first = null;
        DiagnosticMethodInfo? firstInfo = null;
        foreach (var frame in trace.GetFrames())
        {
            var info = DiagnosticMethodInfo.Create(frame);
            var asm = info?.DeclaringAssemblyName is { } full ? new AssemblyName(full).Name : null;
            if (asm is null || IsMiniGrad(asm)) continue;
            if (first is null) { first = frame; firstInfo = info; }
            if (!IsFramework(asm)) { first = frame; firstInfo = info; break; }
        }
        if (first is null) return null;
        string method = $"{firstInfo!.DeclaringTypeName}.{firstInfo.Name}";
        return first.GetFileName() is { } file
            ? $"{method} in {file}:{first.GetFileLineNumber().ToString(CultureInfo.InvariantCulture)}"
            : method;
    }

    // The libraries, not their tests or examples (MiniGrad.Tests is user code here).
    static bool IsMiniGrad(string asm) => asm is "MiniGrad.Tensors" or "MiniGrad.Autograd" or "MiniGrad.Nn" || asm.StartsWith("MiniGrad.Backends", StringComparison.Ordinal);

    static bool IsFramework(string asm) => asm.StartsWith("System", StringComparison.Ordinal) || asm.StartsWith("Microsoft", StringComparison.Ordinal)
        || asm is "mscorlib" or "netstandard" || asm.StartsWith("xunit", StringComparison.Ordinal);
}
