using System.Globalization;
using System.Text;

namespace MiniGrad;

/// <summary>
/// Draws a tensor's autograd graph, as torchviz's make_dot does: one node per op (its grad_fn name, output shape
/// and dtype), the leaves it reaches (marked "parameter" or "input"), and the tensor itself, with arrows in the
/// direction data flows. After a Backward() inside Torch.RecordGradNorms(), ops show the norm of the gradient that
/// reached them; leaves show the norm of their Grad whenever they have one.
/// </summary>
/// <example><code>
/// File.WriteAllText("graph.dot", loss.ToDot(model.ParameterNames()));  // dot -Tpng graph.dot -o graph.png
/// Console.WriteLine(loss.ToMermaid());                                   // paste into a Markdown ```mermaid block
/// </code></example>
public static partial class Graph
{
    /// <summary>The graph in Graphviz DOT; names label chosen tensors (leaves, intermediates or the root).</summary>
    public static string ToDot(this Tensor root, IReadOnlyDictionary<Tensor, string>? names = null)
    {
        var g = Walk(root, names);
        var sb = new StringBuilder();
        sb.Append("digraph autograd {\n");
        sb.Append("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];\n");
        foreach (var n in g.Nodes)
        {
            string label = string.Join("\\n", n.Lines.Select(l => l.Replace("\\", "\\\\").Replace("\"", "\\\"")));
            string fill = n.Kind switch { "parameter" => "#cfe2f3", "input" => "#fff2cc", "output" => "#d9ead3", _ => "" };
            sb.Append($"  {n.Id} [label=\"{label}\"{(fill.Length > 0 ? $", fillcolor=\"{fill}\"" : "")}];\n");
        }
        foreach (var (from, to, _) in g.Edges) sb.Append($"  {from} -> {to};\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>The graph as a Mermaid flowchart (renders in GitHub Markdown and many notebooks).</summary>
    public static string ToMermaid(this Tensor root, IReadOnlyDictionary<Tensor, string>? names = null)
    {
        var g = Walk(root, names);
        var sb = new StringBuilder();
        sb.Append("flowchart TB\n");
        foreach (var n in g.Nodes)
        {
            string label = string.Join("<br/>", n.Lines.Select(l => l.Replace("\"", "#quot;")));
            // Ops are boxes, leaves rounded, the root tensor a stadium.
            string shaped = n.Kind switch { "op" => $"[\"{label}\"]", "output" => $"([\"{label}\"])", _ => $"(\"{label}\")" };
            sb.Append($"  {n.Id}{shaped}\n");
        }
        foreach (var (from, to, _) in g.Edges) sb.Append($"  {from} --> {to}\n");
        sb.Append("  classDef parameter fill:#cfe2f3,stroke:#3d85c6\n");
        sb.Append("  classDef input fill:#fff2cc,stroke:#bf9000\n");
        sb.Append("  classDef output fill:#d9ead3,stroke:#6aa84f\n");
        foreach (var kind in new[] { "parameter", "input", "output" })
        {
            var ids = g.Nodes.Where(n => n.Kind == kind).Select(n => n.Id).ToList();
            if (ids.Count > 0) sb.Append($"  class {string.Join(",", ids)} {kind}\n");
        }
        return sb.ToString();
    }

    sealed record Node(string Id, string Kind, string[] Lines);

    // An edge's Norm is that of the gradient which flowed along it (from the op back to that input) in the last
    // Backward() inside Torch.RecordGradNorms(); null when none was recorded.
    sealed record Drawing(List<Node> Nodes, List<(string From, string To, double? Norm)> Edges);

    // Breadth-first from the root's grad_fn, inputs in order, so ids (f0, f1, ...; leaves t0, t1, ...) are stable.
    static Drawing Walk(Tensor root, IReadOnlyDictionary<Tensor, string>? names)
    {
        ArgumentNullException.ThrowIfNull(root);
        var fnNames = new Dictionary<Function, string>(ReferenceEqualityComparer.Instance);
        if (names is not null)
            foreach (var (t, n) in names)
                if (t.GradFn is { } f && !ReferenceEquals(t, root)) fnNames[f] = n; // the root's name is on its own node
        string? NameOf(Tensor t) => names is not null && names.TryGetValue(t, out var n) ? n : null;

        var nodes = new List<Node>();
        var edges = new List<(string, string, double?)>();
        if (root.GradFn is null)
        {
            nodes.Add(LeafNode("t0", root, NameOf(root)));
            return new Drawing(nodes, edges);
        }

        var fnIds = new Dictionary<Function, string>(ReferenceEqualityComparer.Instance);
        var leafIds = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        nodes.Add(new Node("out", "output", [NameOf(root) ?? "output", Describe(root.Raw.Shape, root.DType)]));
        var queue = new Queue<Function>();
        string Visit(Function f)
        {
            if (fnIds.TryGetValue(f, out var id)) return id;
            fnIds[f] = id = $"f{fnIds.Count}";
            queue.Enqueue(f);
            return id;
        }
        edges.Add((Visit(root.GradFn), "out", root.GradFn.GradNorm));
        while (queue.Count > 0)
        {
            var fn = queue.Dequeue();
            var lines = new List<string> { fnNames.TryGetValue(fn, out var n) ? $"{n} = {fn.Name}" : fn.Name, Describe(fn.OutputShape, fn.OutputDType) };
            if (fn.GradNorm is { } norm) lines.Add($"grad norm {Num(norm)}");
            nodes.Add(new Node(fnIds[fn], "op", [.. lines]));
            for (int k = 0; k < fn.Edges.Length; k++)
            {
                var e = fn.Edges[k];
                double? edgeNorm = fn.EdgeGradNorms is { } en && k < en.Length ? en[k] : null;
                if (e.Fn is { } child) edges.Add((Visit(child), fnIds[fn], edgeNorm));
                else if (e.Leaf is { } leaf)
                {
                    if (!leafIds.TryGetValue(leaf, out var id))
                    {
                        leafIds[leaf] = id = $"t{leafIds.Count}";
                        nodes.Add(LeafNode(id, leaf, NameOf(leaf)));
                    }
                    edges.Add((id, fnIds[fn], edgeNorm));
                }
            }
        }
        return new Drawing(nodes, edges);
    }

    static Node LeafNode(string id, Tensor t, string? name)
    {
        var kind = t.LeafKind;
        var lines = new List<string> { name is null ? kind : $"{name} ({kind})", Describe(t.Raw.Shape, t.DType) };
        if (t.Grad is { } g) lines.Add($"grad norm {Num(Autograd.Norm(g))}");
        return new Node(id, kind, [.. lines]);
    }

    static string Describe(int[] shape, DType dtype) => $"{Shapes.Format(shape)} {dtype}";

    static string Num(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
