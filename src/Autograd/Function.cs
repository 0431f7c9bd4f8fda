namespace MiniGrad;

/// <summary>
/// One recorded op on the tape: it keeps what its backward needs and maps the output gradient to input gradients.
/// Each op's subclass sits next to its forward in Ops/ (micrograd style: forward and backward side by side).
/// </summary>
public abstract class Function
{
    internal Edge[] Edges = [];
    Tensor[]? saved;
    List<RawTensor>? kept;
    bool released;
    int[] outputShape = [];

    /// <summary>Hooks registered on the tensor this op produced (Tensor.RegisterHook on a non-leaf); null when none.</summary>
    internal List<Func<Tensor, Tensor?>>? Hooks;
    /// <summary>The output tensor whose gradient Backward keeps in its Grad (Tensor.RetainGrad), or null.</summary>
    internal Tensor? RetainedOutput;

    /// <summary>The forward's call stack, captured only while Torch.DetectAnomaly() is on (it is too costly otherwise).</summary>
    internal System.Diagnostics.StackTrace? ForwardTrace;

    /// <summary>The name shown in grad_fn, e.g. "MulBackward".</summary>
    public virtual string Name => GetType().Name.Replace("Fn", "Backward");

    /// <summary>Shape of the tensor this op produced (a copy).</summary>
    public int[] OutputShape => (int[])outputShape.Clone();

    /// <summary>Element type of the tensor this op produced.</summary>
    public DType OutputDType { get; private set; }

    /// <summary>
    /// L2 norm of the gradient that flowed into this op (d loss / d output) in the last Backward() run inside
    /// Torch.RecordGradNorms(); null if none was recorded. Graph exports show it.
    /// </summary>
    public double? GradNorm { get; internal set; }

    /// <summary>
    /// L2 norm of the gradient this op sent to each input in that same Backward() (null for inputs that got none);
    /// null if none was recorded. Graph.ToSvg writes them on the edges.
    /// </summary>
    public double?[]? EdgeGradNorms { get; internal set; }

    /// <summary>Where the op was created in user code ("Method in File.cs:line"), known only for ops recorded inside Torch.DetectAnomaly().</summary>
    public string? CreatedAt => ForwardTrace is null ? null : Anomaly.UserFrame(ForwardTrace);

    /// <summary>The functions (or leaf tensors) that gradients flow to from here, in input order.</summary>
    public IEnumerable<object?> NextFunctions => Edges.Select(e => (object?)e.Fn ?? e.Leaf);

    /// <summary>
    /// Keeps tensors for the backward; they are dropped after it unless the graph is retained. The op owns what it saved
    /// (detached tensors of its own over the same storage), so disposing the originals, or their scope ending, does not free it.
    /// </summary>
    protected void Save(params Tensor[] tensors)
    {
        if (saved is not null) foreach (var t in saved) t.Dispose();
        saved = new Tensor[tensors.Length];
        for (int i = 0; i < tensors.Length; i++) saved[i] = tensors[i].Shadow();
    }

    /// <summary>Keeps a raw tensor (a workspace, an output's storage) for the backward as one of its owners; released with the saved tensors.</summary>
    internal RawTensor Keep(RawTensor raw)
    {
        raw.Retain();
        (kept ??= []).Add(raw);
        return raw;
    }

    void DropSaved()
    {
        if (saved is not null) foreach (var t in saved) t.Dispose();
        if (kept is not null) foreach (var r in kept) r.Release();
        (saved, kept) = (null, null);
    }

    /// <summary>A tensor kept by Save.</summary>
    protected Tensor Saved(int i) => saved![i];

    /// <summary>
    /// Whether input i needs a gradient (PyTorch's ctx.needs_input_grad): it required grad when the op was recorded.
    /// Backward returns null for the others instead of computing them (MatMul then runs one GEMM, not two, per Linear on data).
    /// </summary>
    protected bool NeedsInputGrad(int i) => i >= 0 && i < Edges.Length && Edges[i].IsLive;

    /// <summary>Gradients for each input (null where none is needed), given the output gradient.</summary>
    protected internal abstract Tensor?[] Backward(Tensor grad);

    internal Tensor?[] RunBackward(Tensor grad)
    {
        if (released)
            throw new InvalidOperationException(
                $"Backward: trying to backward through the graph a second time ({Name}): its saved tensors were freed after the first Backward(). Pass retainGraph: true to the first Backward() if you need to call it again.");
        return Backward(grad);
    }

    /// <summary>Drops the saved tensors after a backward that does not retain the graph.</summary>
    internal virtual void Release() { DropSaved(); released = true; }

    /// <summary>
    /// Wraps a forward result; when grad mode is on and some input requires grad, links fn into the graph.
    /// Ops call it as: <c>return Function.Record(new MulFn(...), raw, a, b);</c> (fn may be built lazily by the op).
    /// </summary>
    internal static Tensor Record(RawTensor output, Func<Function> makeFn, params Tensor[] inputs)
    {
        var result = new Tensor(output);
        if (!Autograd.IsGradEnabled) return result;
        bool any = false;
        foreach (var t in inputs) any |= t.RequiresGrad;
        if (!any) return result;
        var fn = makeFn();
        fn.outputShape = output.Shape;
        fn.OutputDType = output.DType;
        if (Autograd.IsAnomalyEnabled) fn.ForwardTrace = new System.Diagnostics.StackTrace(1, fNeedFileInfo: true);
        fn.Edges = new Edge[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            fn.Edges[i] = !t.RequiresGrad ? default : t.GradFn is { } g ? new Edge(g, null, t.Raw.Shape) : new Edge(null, t, t.Raw.Shape);
        }
        result.SetGradFn(fn);
        return result;
    }
}

/// <summary>Where an input's gradient goes: the function that produced it, or the leaf tensor itself.</summary>
internal readonly record struct Edge(Function? Fn, Tensor? Leaf, int[]? Shape)
{
    public bool IsLive => Fn != null || Leaf != null;
}

/// <summary>Grad mode and the backward walk.</summary>
public static class Autograd
{
    [ThreadStatic] static int noGradDepth, anomalyDepth, gradNormDepth;

    /// <summary>False inside a <see cref="Torch.NoGrad"/> scope on this thread.</summary>
    public static bool IsGradEnabled => noGradDepth == 0;

    /// <summary>True inside a <see cref="Torch.DetectAnomaly"/> scope on this thread.</summary>
    public static bool IsAnomalyEnabled => anomalyDepth > 0;

    /// <summary>True inside a <see cref="Torch.RecordGradNorms"/> scope on this thread.</summary>
    public static bool IsRecordingGradNorms => gradNormDepth > 0;

    internal static IDisposable NoGrad() { noGradDepth++; return new Scope(() => noGradDepth--); }
    internal static IDisposable DetectAnomaly() { anomalyDepth++; return new Scope(() => anomalyDepth--); }
    internal static IDisposable RecordGradNorms() { gradNormDepth++; return new Scope(() => gradNormDepth--); }

    sealed class Scope(Action exit) : IDisposable
    {
        bool done;
        public void Dispose() { if (!done) { done = true; exit(); } }
    }

    /// <summary>
    /// Reverse-mode sweep: topological order without recursion (LSTM graphs are deep), gradients summed per
    /// function, leaf gradients accumulated into Grad, saved tensors released unless retainGraph.
    /// </summary>
    internal static void Backward(Tensor root, Tensor? gradient, bool retainGraph)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward: the tensor does not require grad and has no grad_fn; call RequiresGrad_() on a leaf that feeds it, or compute it outside Torch.NoGrad()");
        if (gradient is null)
        {
            if (root.Numel != 1)
                throw new InvalidOperationException($"Backward: gradient can be implicitly created only for scalar outputs, but the tensor has shape {Shapes.Format(root.Raw.Shape)}; pass a gradient of that shape");
            gradient = Torch.OnesLike(root);
        }
        else if (!Shapes.Equal(gradient.Raw.Shape, root.Raw.Shape))
            throw new ArgumentException($"Backward: gradient shape {Shapes.Format(gradient.Raw.Shape)} does not match the tensor's shape {Shapes.Format(root.Raw.Shape)}", nameof(gradient));
        else if (gradient.DType != root.DType)
            throw new ArgumentException($"Backward: gradient dtype {gradient.DType} does not match the tensor's dtype {root.DType}", nameof(gradient));

        using var _ = NoGrad();
        // Everything the walk creates (each op's gradients, their sums) is disposed when it ends, so the next step
        // reuses the storage; what escapes is taken out of the scope: leaf gradients, and what hooks saw or returned.
        using var temporaries = new TensorScope();
        gradient = gradient.Detach();
        if (root.GradFn is null) { root.AccumulateGrad(Hook.Run(root.GradHooks, gradient, "a leaf tensor")); return; }

        // The teaching features cost nothing when off: two flags read once, and a null check per node.
        bool anomaly = IsAnomalyEnabled, norms = IsRecordingGradNorms;
        Dictionary<Tensor, Tensor>? hookedLeaves = null; // leaves with hooks get their summed gradient once, at the end
        var order = TopologicalOrder(root.GradFn);
        var grads = new Dictionary<Function, Tensor>(ReferenceEqualityComparer.Instance) { [root.GradFn] = gradient };
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var fn = order[i];
            if (!grads.Remove(fn, out var g)) continue;
            if (fn.Hooks is not null) g = Hook.Run(fn.Hooks, g, $"the output of {fn.Name}");
            fn.RetainedOutput?.AccumulateGrad(g); // after the tensor's hooks, as PyTorch's retain_grad
            if (norms) fn.GradNorm = Norm(g);
            var inputGrads = fn.RunBackward(g);
            if (anomaly) Anomaly.Check(fn, inputGrads);
            if (norms)
            {
                var en = new double?[fn.Edges.Length];
                for (int k = 0; k < en.Length; k++)
                    if (fn.Edges[k].IsLive && k < inputGrads.Length && inputGrads[k] is { } gk) en[k] = Norm(gk);
                fn.EdgeGradNorms = en;
            }
            for (int k = 0; k < fn.Edges.Length; k++)
            {
                var e = fn.Edges[k];
                if (!e.IsLive || k >= inputGrads.Length || inputGrads[k] is not { } gi) continue;
                if (!Shapes.Equal(gi.Raw.Shape, e.Shape))
                    throw new InvalidOperationException($"Backward: {fn.Name} returned a gradient of shape {Shapes.Format(gi.Raw.Shape)} for input {k} of shape {Shapes.Format(e.Shape)}");
                if (e.Leaf is { GradHooks: not null } hooked)
                {
                    hookedLeaves ??= new(ReferenceEqualityComparer.Instance);
                    hookedLeaves[hooked] = hookedLeaves.TryGetValue(hooked, out var sum) ? sum + gi : gi;
                }
                else if (e.Leaf is { } leaf) leaf.AccumulateGrad(gi);
                else grads[e.Fn!] = grads.TryGetValue(e.Fn!, out var acc) ? acc + gi : gi;
            }
            if (!retainGraph) fn.Release();
        }
        if (hookedLeaves is not null)
            foreach (var (leaf, g) in hookedLeaves) leaf.AccumulateGrad(Hook.Run(leaf.GradHooks, g, "a leaf tensor"));
    }

    /// <summary>The L2 norm of a tensor, as a host double (one reduction and one transfer).</summary>
    internal static double Norm(Tensor t) => Math.Sqrt((t * t).Sum().Item<double>());

    // Post-order DFS with an explicit stack: inputs come before the functions that consume them.
    static List<Function> TopologicalOrder(Function root)
    {
        var order = new List<Function>();
        var seen = new HashSet<Function>(ReferenceEqualityComparer.Instance) { root };
        var stack = new Stack<(Function Fn, int Next)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (fn, next) = stack.Pop();
            if (next < fn.Edges.Length)
            {
                stack.Push((fn, next + 1));
                if (fn.Edges[next].Fn is { } child && seen.Add(child)) stack.Push((child, 0));
            }
            else order.Add(fn);
        }
        return order;
    }
}
