using System.Globalization;
using System.Text;

namespace MiniGrad;

public static partial class Graph
{
    // Sizes in SVG pixels. Text width is estimated (no font metrics in managed code): 6.6 px per character at 11 px
    // Helvetica/Arial is a little wider than their average glyph, so labels fit their boxes.
    const double CharWidth = 6.6, LineHeight = 14, PadX = 10, PadY = 6, GapX = 28, GapY = 46, Margin = 12, DummyWidth = 8;

    /// <summary>
    /// The graph as an SVG picture, laid out here in managed code (no Graphviz): leaves on top, the output at the
    /// bottom, arrows in the direction data flows. After a Backward() inside Torch.RecordGradNorms(), each edge is
    /// labelled with the norm of the gradient that flowed back along it, and ops with the norm that reached them.
    /// </summary>
    /// <remarks>
    /// Layout (Sugiyama-style, deterministic): each node sits one layer above the highest of its consumers (longest
    /// path to the output), edges that skip layers pass through invisible dummy nodes, the order within layers comes
    /// from barycentre sweeps (the order with the fewest crossings is kept), and x positions are the nearest to
    /// the mean of each node's neighbours that keep the order and the spacing (isotonic regression).
    /// </remarks>
    public static string ToSvg(this Tensor root, IReadOnlyDictionary<Tensor, string>? names = null)
    {
        var g = Walk(root, names);
        var layout = Layout(g);
        return Render(g, layout);
    }

    sealed class LNode
    {
        public required string Id;
        public Node? Node;           // null for a dummy
        public int Rank;             // 0 = the output's layer; leaves have the highest ranks
        public double W, H, X, Y;    // X, Y: centre
        public List<LNode> Up = [];  // neighbours one layer above (data comes from them)
        public List<LNode> Down = []; // neighbours one layer below
    }

    sealed record SvgLayout(List<List<LNode>> Layers, List<(List<LNode> Path, double? Norm)> Edges, double Width, double Height);

    static SvgLayout Layout(Drawing g)
    {
        var nodes = new Dictionary<string, LNode>();
        foreach (var n in g.Nodes)
        {
            int chars = n.Lines.Max(l => l.Length);
            nodes[n.Id] = new LNode { Id = n.Id, Node = n, W = Math.Round(chars * CharWidth + 2 * PadX), H = n.Lines.Length * LineHeight + 2 * PadY };
        }

        // Rank = longest path to a sink, walking consumers before producers (Kahn's algorithm on reversed edges).
        var consumers = g.Nodes.ToDictionary(n => n.Id, _ => new List<string>());
        foreach (var (from, to, _) in g.Edges) { consumers[from].Add(to); }
        var outDegree = g.Nodes.ToDictionary(n => n.Id, n => consumers[n.Id].Count);
        var producers = g.Nodes.ToDictionary(n => n.Id, _ => new List<string>());
        foreach (var (from, to, _) in g.Edges) producers[to].Add(from);
        var ready = new Queue<string>(g.Nodes.Where(n => outDegree[n.Id] == 0).Select(n => n.Id));
        while (ready.Count > 0)
        {
            var id = ready.Dequeue();
            foreach (var p in producers[id])
            {
                nodes[p].Rank = Math.Max(nodes[p].Rank, nodes[id].Rank + 1);
                if (--outDegree[p] == 0) ready.Enqueue(p);
            }
        }
        int maxRank = nodes.Values.Max(n => n.Rank);

        // Layers from the top (highest rank) down; edges that skip layers get a dummy node per layer crossed.
        var layers = Enumerable.Range(0, maxRank + 1).Select(_ => new List<LNode>()).ToList();
        foreach (var n in g.Nodes) layers[maxRank - nodes[n.Id].Rank].Add(nodes[n.Id]);
        var edges = new List<(List<LNode> Path, double? Norm)>();
        int dummies = 0;
        foreach (var (from, to, norm) in g.Edges)
        {
            var path = new List<LNode> { nodes[from] };
            for (int r = nodes[from].Rank - 1; r > nodes[to].Rank; r--)
            {
                var d = new LNode { Id = $"d{dummies++}", Rank = r, W = DummyWidth, H = 0 };
                layers[maxRank - r].Add(d);
                path.Add(d);
            }
            path.Add(nodes[to]);
            for (int i = 0; i + 1 < path.Count; i++) { path[i].Down.Add(path[i + 1]); path[i + 1].Up.Add(path[i]); }
            edges.Add((path, norm));
        }

        OrderLayers(layers);
        PlaceX(layers);

        // Y: each layer as tall as its tallest node; then shift everything right of the margin.
        double y = Margin;
        foreach (var layer in layers)
        {
            double h = layer.Max(n => n.H);
            foreach (var n in layer) n.Y = y + h / 2;
            y += h + GapY;
        }
        double minX = layers.SelectMany(l => l).Min(n => n.X - n.W / 2), maxX = layers.SelectMany(l => l).Max(n => n.X + n.W / 2);
        foreach (var n in layers.SelectMany(l => l)) n.X = n.X - minX + Margin;
        return new SvgLayout(layers, edges, Math.Ceiling(maxX - minX + 2 * Margin), Math.Ceiling(y - GapY + Margin));
    }

    // Barycentre sweeps, down then up, keeping the order with the fewest crossings (ties keep the earlier one).
    static void OrderLayers(List<List<LNode>> layers)
    {
        var best = layers.Select(l => l.ToList()).ToList();
        long bestCrossings = Crossings(layers);
        for (int iter = 0; iter < 8 && bestCrossings > 0; iter++)
        {
            bool down = iter % 2 == 0;
            for (int k = 1; k < layers.Count; k++)
            {
                int li = down ? k : layers.Count - 1 - k;
                var fixedLayer = layers[down ? li - 1 : li + 1];
                var pos = new Dictionary<LNode, int>(ReferenceEqualityComparer.Instance);
                for (int i = 0; i < fixedLayer.Count; i++) pos[fixedLayer[i]] = i;
                var layer = layers[li];
                var keys = new Dictionary<LNode, double>(ReferenceEqualityComparer.Instance);
                for (int i = 0; i < layer.Count; i++)
                {
                    var nb = down ? layer[i].Up : layer[i].Down;
                    // Scaled to the other layer's positions; nodes without neighbours there keep their place.
                    keys[layer[i]] = nb.Count > 0 ? nb.Average(n => pos[n]) : i * (fixedLayer.Count / (double)Math.Max(layer.Count, 1));
                }
                var sorted = layer.Select((n, i) => (n, i)).OrderBy(p => keys[p.n]).ThenBy(p => p.i).Select(p => p.n).ToList();
                layer.Clear();
                layer.AddRange(sorted);
            }
            long c = Crossings(layers);
            if (c < bestCrossings) { bestCrossings = c; best = layers.Select(l => l.ToList()).ToList(); }
        }
        for (int i = 0; i < layers.Count; i++) { layers[i].Clear(); layers[i].AddRange(best[i]); }
    }

    static long Crossings(List<List<LNode>> layers)
    {
        long total = 0;
        for (int li = 0; li + 1 < layers.Count; li++)
        {
            var pos = new Dictionary<LNode, int>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < layers[li + 1].Count; i++) pos[layers[li + 1][i]] = i;
            var segs = new List<(int A, int B)>();
            for (int i = 0; i < layers[li].Count; i++)
                foreach (var d in layers[li][i].Down) segs.Add((i, pos[d]));
            for (int a = 0; a < segs.Count; a++)
                for (int b = a + 1; b < segs.Count; b++)
                    if ((segs[a].A - segs[b].A) * (long)(segs[a].B - segs[b].B) < 0) total++;
        }
        return total;
    }

    // Packs each layer, then pulls nodes toward the mean x of their neighbours, a few sweeps each way.
    static void PlaceX(List<List<LNode>> layers)
    {
        foreach (var layer in layers)
        {
            double x = 0;
            foreach (var n in layer) { n.X = x + n.W / 2; x += n.W + GapX; }
        }
        double widest = layers.Max(l => l.Sum(n => n.W + GapX));
        foreach (var layer in layers) // centre each layer under the widest one to start with
        {
            double shift = (widest - layer.Sum(n => n.W + GapX)) / 2;
            foreach (var n in layer) n.X += shift;
        }
        for (int iter = 0; iter < 6; iter++)
        {
            bool down = iter % 2 == 0;
            for (int k = 0; k < layers.Count; k++)
            {
                var layer = layers[down ? k : layers.Count - 1 - k];
                var desired = layer.Select(n =>
                {
                    var nb = iter >= 4 ? n.Up.Concat(n.Down).ToList() : down ? n.Up : n.Down;
                    return nb.Count > 0 ? nb.Average(m => m.X) : n.X;
                }).ToArray();
                Spread(layer, desired);
            }
        }
    }

    // The x positions closest (least squares) to the desired ones that keep the layer's order and spacing:
    // subtract each node's minimum offset from the first, then pool adjacent violators into blocks at their mean.
    static void Spread(List<LNode> layer, double[] desired)
    {
        int n = layer.Count;
        var offset = new double[n];
        for (int i = 1; i < n; i++) offset[i] = offset[i - 1] + layer[i - 1].W / 2 + GapX + layer[i].W / 2;
        var blocks = new List<(double Sum, int Count)>();
        for (int i = 0; i < n; i++)
        {
            blocks.Add((desired[i] - offset[i], 1));
            while (blocks.Count > 1 && blocks[^2].Sum / blocks[^2].Count > blocks[^1].Sum / blocks[^1].Count)
            {
                var last = blocks[^1];
                blocks.RemoveAt(blocks.Count - 1);
                blocks[^1] = (blocks[^1].Sum + last.Sum, blocks[^1].Count + last.Count);
            }
        }
        int j = 0;
        foreach (var (sum, count) in blocks)
            for (int c = 0; c < count; c++, j++) layer[j].X = sum / count + offset[j];
    }

    static string Render(Drawing g, SvgLayout layout)
    {
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(layout.Width)}\" height=\"{F(layout.Height)}\" viewBox=\"0 0 {F(layout.Width)} {F(layout.Height)}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n");
        sb.Append("<defs><marker id=\"minigrad-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555555\"/></marker></defs>\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        foreach (var (path, norm) in layout.Edges)
        {
            var from = path[0];
            var to = path[^1];
            sb.Append($"<g class=\"edge\" data-from=\"{from.Id}\" data-to=\"{to.Id}\"><path d=\"M{F(from.X)},{F(from.Y + from.H / 2)}");
            for (int i = 1; i + 1 < path.Count; i++) sb.Append($" L{F(path[i].X)},{F(path[i].Y)}");
            sb.Append($" L{F(to.X)},{F(to.Y - to.H / 2)}\" fill=\"none\" stroke=\"#555555\" stroke-width=\"1.2\" marker-end=\"url(#minigrad-arrow)\"/>");
            if (norm is { } v)
            {
                // On the first segment, just below the source, where edges leaving one node are still apart.
                var next = path[1];
                double y0 = from.Y + from.H / 2, y1 = next.H > 0 ? next.Y - next.H / 2 : next.Y;
                double t = 0.45, lx = from.X + (next.X - from.X) * t + 4, ly = y0 + (y1 - y0) * t + 4;
                sb.Append($"<text x=\"{F(lx)}\" y=\"{F(ly)}\" font-size=\"10\" fill=\"#b03a2e\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"><title>norm of the gradient along this edge</title>{Num(v)}</text>");
            }
            sb.Append("</g>\n");
        }
        foreach (var n in layout.Layers.SelectMany(l => l))
        {
            if (n.Node is not { } node) continue;
            string fill = node.Kind switch { "parameter" => "#cfe2f3", "input" => "#fff2cc", "output" => "#d9ead3", _ => "#ffffff" };
            string stroke = node.Kind switch { "parameter" => "#3d85c6", "input" => "#bf9000", "output" => "#6aa84f", _ => "#555555" };
            double left = n.X - n.W / 2, top = n.Y - n.H / 2;
            sb.Append($"<g class=\"node {node.Kind}\" id=\"{node.Id}\"><rect x=\"{F(left)}\" y=\"{F(top)}\" width=\"{F(n.W)}\" height=\"{F(n.H)}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\"/>");
            for (int i = 0; i < node.Lines.Length; i++)
            {
                string weight = i == 0 ? " font-weight=\"bold\"" : "";
                sb.Append($"<text x=\"{F(n.X)}\" y=\"{F(top + PadY + LineHeight * (i + 1) - 3)}\" text-anchor=\"middle\"{weight}>{Xml(node.Lines[i])}</text>");
            }
            sb.Append("</g>\n");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    static string F(double v) => Math.Round(v, 1).ToString("0.#", CultureInfo.InvariantCulture);

    static string Xml(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
