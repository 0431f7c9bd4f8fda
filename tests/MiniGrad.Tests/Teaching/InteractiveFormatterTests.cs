using System.Xml.Linq;
using Microsoft.DotNet.Interactive.Formatting;
using MiniGrad.Interactive;
using MiniGrad.Nn;
using Snapshooter.Xunit3;

namespace MiniGrad.Tests.Teaching;

public class InteractiveFormatterTests
{
    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    // Cells of an HTML table, row by row (th and td alike), read back with an XML parser: the HTML is well-formed.
    static List<string[]> Rows(string tableHtml) => XElement.Parse(tableHtml).Elements("tr")
        .Select(tr => tr.Elements().Select(c => c.Value).ToArray()).ToList();

    static string FirstTable(string html)
    {
        int a = html.IndexOf("<table>", StringComparison.Ordinal), b = html.IndexOf("</table>", StringComparison.Ordinal);
        return html[a..(b + "</table>".Length)];
    }

    [Fact]
    public void AMatrixWithAGradFnMatchesTheSnapshot()
    {
        var a = Torch.Tensor(new[] { 1.5f, -2f, 0.25f, 4f, 5f, -6.125f }, 2, 3).RequiresGrad_();
        Snapshot.Match(TensorHtml.ToHtml(a * 2));
    }

    [Fact]
    public void AScalarAVectorAndA3DTensorMatchTheSnapshot()
    {
        var html = TensorHtml.ToHtml(Torch.Tensor(new[] { 1.0, 2.0 }).Sum())
            + TensorHtml.ToHtml(Torch.Tensor(new long[] { 1, 20, 300 }))
            + TensorHtml.ToHtml(Torch.Arange(8).Reshape(2, 2, 2).To(DType.Float32).RequiresGrad_());
        Snapshot.Match(html);
    }

    [Fact]
    public void AMatrixShowsIndicesValuesAndMeta()
    {
        var a = Torch.Tensor(new[] { 1.5f, -2f, 0.25f, 4f, 5f, -6.125f }, 2, 3).RequiresGrad_();
        var html = TensorHtml.ToHtml(a * 2);
        Assert.Equal([["", "0", "1", "2"], ["0", "3.0000", "-4.0000", "0.5000"], ["1", "8.0000", "10.0000", "-12.2500"]], Rows(FirstTable(html)));
        Assert.Contains("<div class=\"minigrad-meta\">shape=[2,3], dtype=Float32, device=cpu, grad_fn=&lt;MulBackward&gt;</div>", html);
        Assert.Contains("requires_grad=True", TensorHtml.ToHtml(a));
        Assert.DoesNotContain("requires_grad", TensorHtml.ToHtml(a.Detach()));
    }

    [Fact]
    public void TensorsOverAThousandElementsShowThreeEdgeItemsPerLongDim()
    {
        // 40 x 50 = 2000 elements: rows 0-2, "...", 37-39; columns 0-2, "...", 47-49, as PyTorch prints them.
        var html = TensorHtml.ToHtml(Torch.Arange(2000).Reshape(40, 50));
        var rows = Rows(FirstTable(html));
        Assert.Equal(["", "0", "1", "2", "...", "47", "48", "49"], rows[0]);
        Assert.Equal(["0", "0", "1", "2", "...", "47", "48", "49"], rows[1]);
        Assert.Equal(["...", "...", "...", "...", "...", "...", "...", "..."], rows[4]);
        Assert.Equal(["39", "1950", "1951", "1952", "...", "1997", "1998", "1999"], rows[7]);
        Assert.Equal(8, rows.Count);
        // 1000 elements exactly are all shown; 1001 are summarized.
        Assert.Equal(1001, Rows(FirstTable(TensorHtml.ToHtml(Torch.Arange(1000))))[1].Length);
        Assert.Equal(["", "0", "1", "2", "...", "998", "999", "1000"], Rows(FirstTable(TensorHtml.ToHtml(Torch.Arange(1001))))[1]);
        // A long leading dim of a 3-D tensor elides whole slices.
        var three = TensorHtml.ToHtml(Torch.Zeros([10, 10, 11]));
        Assert.Equal(6, three.Split("<table>").Length - 1);
        Assert.Contains("<div class=\"minigrad-slice\">[9, :, :]</div>", three);
        Assert.Contains("<div class=\"minigrad-slice\">...</div>", three);
    }

    [Fact]
    public void RegisteredFormattersWriteTensorsParametersAndPictures()
    {
        MiniGradFormatters.Register();
        MiniGradFormatters.Register(); // twice is harmless
        var t = Torch.Tensor(new[] { 1.0, 2.0 });
        Assert.Equal(TensorHtml.ToHtml(t), t.ToDisplayString(HtmlFormatter.MimeType));
        var p = new Parameter(Torch.Ones([2]));
        Assert.Equal(TensorHtml.ToHtml(p), p.ToDisplayString(HtmlFormatter.MimeType));
        var loss = (p * p).Sum();
        var picture = loss.DrawGraph();
        Assert.Equal(loss.ToSvg(), picture.ToDisplayString(HtmlFormatter.MimeType));
    }

    [Fact]
    public void TheCtcLatticeHasANodePerSymbolAndFrameAndOnlyAllowedSteps()
    {
        // "aa": the blank between the two a's cannot be skipped, so the only skips are blank-free ones... none here.
        string[] ext = ["-", "a", "-", "a", "-"];
        var doc = XDocument.Parse(Plot.CtcLattice(ext, 4).Svg);
        Assert.Equal(5 * 4, doc.Descendants(Svg + "circle").Count());
        // Per frame step: 5 stays + 4 advances, no skips (a -> a is a repeat).
        Assert.Equal(3 * 9, doc.Descendants(Svg + "line").Count());
        // "ab": one skip from a to b over the blank between them.
        var ab = XDocument.Parse(Plot.CtcLattice(["-", "a", "-", "b", "-"], 4).Svg);
        Assert.Equal(3 * 10, ab.Descendants(Svg + "line").Count());
    }

    [Fact]
    public void PlotsAreWellFormedSvg()
    {
        var line = XDocument.Parse(Plot.Line([3, 2, 1.5, double.NaN, 1], "loss", "step", "loss", logY: true).Svg);
        Assert.Equal("4", ((string)line.Descendants(Svg + "polyline").Single().Attribute("points")!).Split(' ').Length.ToString());
        var heat = XDocument.Parse(Plot.HeatMap(new double[,] { { 0, 1 }, { 2, 3 } }, ["a", "b<c"], title: "t").Svg);
        Assert.Equal(4 + 20 + 1, heat.Descendants(Svg + "rect").Count()); // cells, the scale and the background
    }
}
