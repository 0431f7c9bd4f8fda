using System.Globalization;
using System.Xml.Linq;
using MiniGrad.Nn;
using Snapshooter.Xunit3;

namespace MiniGrad.Tests.Teaching;

public class GraphSvgTests
{
    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    // The same graph as GraphExportTests: loss = sum(y * y), y = tanh(w @ x + b).
    static (Tensor Loss, Dictionary<Tensor, string> Names, Tensor Y, Tensor B) SmallGraph()
    {
        var w = new Parameter(Torch.Tensor(new[] { 0.1, 0.2, 0.3, -0.4, 0.5, -0.6 }, 2, 3));
        var x = Torch.Tensor(new[] { 1.0, 0.0, -1.0 }).RequiresGrad_();
        var b = Torch.Tensor(new[] { 0.5, -0.5 }).RequiresGrad_();
        var y = (w.MatMul(x) + b).Tanh();
        var loss = (y * y).Sum();
        return (loss, new Dictionary<Tensor, string> { [w] = "w", [x] = "x", [y] = "y", [loss] = "loss" }, y, b);
    }

    static string SvgAfterBackward()
    {
        var (loss, names, _, _) = SmallGraph();
        using (Torch.RecordGradNorms()) loss.Backward();
        return loss.ToSvg(names);
    }

    sealed record Box(string Id, string Kind, double X, double Y, double W, double H, string[] Lines);

    static Dictionary<string, Box> Boxes(XDocument doc) => doc.Descendants(Svg + "g")
        .Where(g => ((string?)g.Attribute("class"))?.StartsWith("node ", StringComparison.Ordinal) == true)
        .Select(g =>
        {
            var r = g.Element(Svg + "rect")!;
            double D(string a) => double.Parse((string)r.Attribute(a)!, CultureInfo.InvariantCulture);
            return new Box((string)g.Attribute("id")!, ((string)g.Attribute("class")!)[5..], D("x"), D("y"), D("width"), D("height"),
                g.Elements(Svg + "text").Select(t => t.Value).ToArray());
        }).ToDictionary(b => b.Id);

    static List<(string From, string To, string? Label)> Edges(XDocument doc) => doc.Descendants(Svg + "g")
        .Where(g => (string?)g.Attribute("class") == "edge")
        .Select(g => ((string)g.Attribute("data-from")!, (string)g.Attribute("data-to")!, g.Element(Svg + "text")?.Nodes().OfType<XText>().Single().Value))
        .ToList();

    [Fact]
    public void SvgOfASmallGraphMatchesTheSnapshot() => Snapshot.Match(SvgAfterBackward());

    [Fact]
    public void EveryNodeIsABoxAndEveryEdgePointsDownFromProducerToConsumer()
    {
        var doc = XDocument.Parse(SvgAfterBackward());
        var boxes = Boxes(doc);
        Assert.Equal(11, boxes.Count); // 7 ops, 3 leaves, the output: as in the DOT export
        Assert.Equal(["loss", "[] Float64"], boxes["out"].Lines);
        Assert.Equal("output", boxes["out"].Kind);
        Assert.Equal("parameter", boxes["t1"].Kind);
        Assert.Equal(["w (parameter)", "[2,3] Float64", "grad norm 1.066"], boxes["t1"].Lines);
        // The output is the lowest box; every edge goes from a box above to a box below.
        Assert.True(boxes.Values.All(b => b.Id == "out" || b.Y < boxes["out"].Y));
        var edges = Edges(doc);
        Assert.Equal(11, edges.Count);
        foreach (var (from, to, _) in edges) Assert.True(boxes[from].Y + boxes[from].H <= boxes[to].Y, $"{from} -> {to} does not point down");
        // Boxes never overlap, and all lie inside the picture.
        var all = boxes.Values.ToList();
        double width = double.Parse((string)doc.Root!.Attribute("width")!, CultureInfo.InvariantCulture);
        double height = double.Parse((string)doc.Root!.Attribute("height")!, CultureInfo.InvariantCulture);
        foreach (var a in all)
        {
            Assert.True(a.X >= 0 && a.Y >= 0 && a.X + a.W <= width && a.Y + a.H <= height, $"{a.Id} is outside the picture");
            foreach (var b in all.Where(b => string.CompareOrdinal(a.Id, b.Id) < 0))
                Assert.False(a.X < b.X + b.W && b.X < a.X + a.W && a.Y < b.Y + b.H && b.Y < a.Y + a.H, $"{a.Id} overlaps {b.Id}");
        }
        // Each box is wide enough for its longest line at the estimated 6.6 px per character.
        foreach (var b in all) Assert.True(b.W >= b.Lines.Max(l => l.Length) * 6.6, $"{b.Id} is too narrow");
    }

    [Fact]
    public void EdgesCarryTheNormOfTheGradientThatFlowedAlongThem()
    {
        var (loss, names, y, b) = SmallGraph();
        using (Torch.RecordGradNorms()) loss.Backward();
        var edges = Edges(XDocument.Parse(loss.ToSvg(names)));
        string G4(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
        double Norm(Tensor t) => Math.Sqrt(t.ToArray<double>().Sum(v => v * v));
        // y * y: MulBackward sends y (the other factor times the incoming ones) to each of its two inputs.
        var mulInputs = edges.Where(e => e.From == "f2" && e.To == "f1").ToList();
        Assert.Equal(2, mulInputs.Count);
        Assert.All(mulInputs, e => Assert.Equal(G4(Norm(y)), e.Label));
        // b's edge carries d loss / d b, which is its Grad; the seed edge into the output is 1.
        Assert.Equal(G4(Norm(b.Grad!)), edges.Single(e => e.From == "t0").Label);
        Assert.Equal("1", edges.Single(e => e.To == "out").Label);
        Assert.Equal(Norm(y), loss.GradFn!.NextFunctions.OfType<Function>().Single().EdgeGradNorms![0]!.Value, 12);
    }

    [Fact]
    public void WithoutRecordingEdgesHaveNoLabels()
    {
        var (loss, names, _, _) = SmallGraph();
        loss.Backward();
        var edges = Edges(XDocument.Parse(loss.ToSvg(names)));
        Assert.All(edges, e => Assert.Null(e.Label));
        Assert.Null(loss.GradFn!.EdgeGradNorms);
    }

    [Fact]
    public void NamesAreEscapedAndALeafRootIsOneBox()
    {
        var x = Torch.Ones([2], requiresGrad: true);
        var svg = x.ToSvg(new Dictionary<Tensor, string> { [x] = "a<b & \"c\"" });
        var boxes = Boxes(XDocument.Parse(svg));
        Assert.Equal(["a<b & \"c\" (input)", "[2] Float32"], Assert.Single(boxes.Values).Lines);
        Assert.Contains("a&lt;b &amp; &quot;c&quot; (input)", svg);
    }

    [Fact]
    public void LongChainsAndSkippedLayersLayOutWithoutCrossings()
    {
        // x feeds the first and the last op of a chain: its edge to the last skips layers through dummy nodes.
        var x = Torch.Tensor(new[] { 1.0, 2.0 }).RequiresGrad_();
        var h = x;
        for (int i = 0; i < 5; i++) h = h.Tanh();
        var loss = (h * x).Sum();
        var doc = XDocument.Parse(loss.ToSvg());
        var boxes = Boxes(doc);
        Assert.Equal(9, boxes.Count); // x, 5 tanh, mul, sum and the output
        var paths = doc.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "edge" && (string)g.Attribute("data-from")! == "t0")
            .Select(g => (string)g.Element(Svg + "path")!.Attribute("d")!).ToList();
        Assert.Equal(2, paths.Count);
        Assert.Contains(paths, d => d.Split(' ').Length > 3); // the long edge bends through its dummy points
    }
}
