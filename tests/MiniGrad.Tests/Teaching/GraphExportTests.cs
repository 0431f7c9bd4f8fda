using MiniGrad.Nn;
using Snapshooter.Xunit3;

namespace MiniGrad.Tests.Teaching;

public class GraphExportTests
{
    // loss = sum(y * y), y = tanh(w @ x + b): a parameter, two inputs (one without a name), a reused tensor.
    static (Tensor Loss, Dictionary<Tensor, string> Names, Parameter W, Tensor X, Tensor B) SmallGraph()
    {
        var w = new Parameter(Torch.Tensor(new[] { 0.1, 0.2, 0.3, -0.4, 0.5, -0.6 }, 2, 3));
        var x = Torch.Tensor(new[] { 1.0, 0.0, -1.0 }).RequiresGrad_();
        var b = Torch.Tensor(new[] { 0.5, -0.5 }).RequiresGrad_();
        var y = (w.MatMul(x) + b).Tanh();
        var loss = (y * y).Sum();
        var names = new Dictionary<Tensor, string> { [w] = "w", [x] = "x", [y] = "y", [loss] = "loss" };
        return (loss, names, w, x, b);
    }

    static string Dot()
    {
        var (loss, names, _, _, _) = SmallGraph();
        using (Torch.RecordGradNorms()) loss.Backward();
        return loss.ToDot(names);
    }

    [Fact]
    public void DotOfASmallGraphMatchesTheSnapshot() => Snapshot.Match(Dot());

    [Fact]
    public void MermaidOfASmallGraphMatchesTheSnapshot()
    {
        var (loss, names, _, _, _) = SmallGraph();
        using (Torch.RecordGradNorms()) loss.Backward();
        Snapshot.Match(Graph.ToMermaid(loss, names));
    }

    [Fact]
    public void DotHasOneNodePerOpLeavesByKindAndGradNorms()
    {
        var dot = Dot();
        var lines = dot.Split('\n');
        Assert.Equal("digraph autograd {", lines[0]);
        Assert.Equal("}", lines[^2]);
        Assert.Contains("  out [label=\"loss\\n[] Float64\", fillcolor=\"#d9ead3\"];", lines);
        // The root op gets the seed gradient 1; y * y is one MulBackward fed twice by the same TanhBackward.
        Assert.Contains("  f0 [label=\"SumBackward\\n[] Float64\\ngrad norm 1\"];", lines);
        Assert.Contains("  f1 [label=\"MulBackward\\n[2] Float64\\ngrad norm 1.414\"];", lines); // d loss / d(y * y) = [1, 1]
        Assert.Equal(2, lines.Count(l => l == "  f2 -> f1;"));
        Assert.Contains(lines, l => l.StartsWith("  f2 [label=\"y = TanhBackward\\n[2] Float64\\ngrad norm ", StringComparison.Ordinal));
        Assert.Contains("  f3 [label=\"AddBackward\\n[2] Float64\\ngrad norm 0.754\"];", lines);
        // w @ x with a 1-D x is a matrix product between reshapes, as the tape really records it.
        Assert.Contains("  f5 [label=\"MmBackward\\n[2,1] Float64\\ngrad norm 0.754\"];", lines);
        Assert.Equal(2, lines.Count(l => l.Contains("ReshapeBackward")));
        // Leaves: the Parameter is a "parameter", the user's tensors are "input"s; unnamed ones keep the kind alone.
        Assert.Contains(lines, l => l.StartsWith("  t1 [label=\"w (parameter)\\n[2,3] Float64\\ngrad norm ", StringComparison.Ordinal) && l.EndsWith("fillcolor=\"#cfe2f3\"];", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  t2 [label=\"x (input)\\n[3] Float64\\ngrad norm ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  t0 [label=\"input\\n[2] Float64\\ngrad norm 0.754\"", StringComparison.Ordinal)); // b: d loss / d b is what reached AddBackward
        Assert.Contains("  t1 -> f5;", lines);
        Assert.Equal(11, lines.Count(l => l.Contains("[label="))); // 7 ops, 3 leaves and the output
    }

    [Fact]
    public void GradNormsAreTheNormsOfTheGradientsThatReachedEachOp()
    {
        var (loss, _, w, x, b) = SmallGraph();
        var y = ((Tensor)w).MatMul(x) + b;
        using (Torch.RecordGradNorms()) loss.Backward();
        var mul = (Function)loss.GradFn!.NextFunctions.Single()!;
        var tanh = (Function)mul.NextFunctions.First()!;
        Assert.Equal(1.0, loss.GradFn!.GradNorm);
        Assert.Equal(Math.Sqrt(2), mul.GradNorm!.Value, 12); // d loss / d(y * y) is all ones
        // d loss / d y = 2 y.
        var yv = y.Tanh().ToArray<double>();
        Assert.Equal(Math.Sqrt(yv.Sum(v => 4 * v * v)), tanh.GradNorm!.Value, 12);
        Assert.Contains($"grad norm {Math.Sqrt(b.Grad!.ToArray<double>().Sum(v => v * v)).ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}", loss.ToDot());
    }

    [Fact]
    public void NormsAreNotRecordedByDefaultAndNotBeforeBackward()
    {
        var (loss, names, _, _, _) = SmallGraph();
        Assert.DoesNotContain("grad norm", loss.ToDot(names));
        Assert.False(Autograd.IsRecordingGradNorms);
        loss.Backward();
        Assert.Null(loss.GradFn!.GradNorm);
        var dot = loss.ToDot(names);
        // Leaves have a Grad now, so they show its norm; ops recorded nothing.
        Assert.Equal(3, dot.Split('\n').Count(l => l.Contains("grad norm")));
        Assert.DoesNotContain(dot.Split('\n'), l => l.Contains("Backward") && l.Contains("grad norm"));
    }

    [Fact]
    public void OpsRecordTheirOutputShapeAndDType()
    {
        var x = Torch.Ones([2, 3], DType.Float32, requiresGrad: true);
        var s = x.Sum(1);
        Assert.Equal([2], s.GradFn!.OutputShape);
        Assert.Equal(DType.Float32, s.GradFn.OutputDType);
        var d = x.To(DType.Float64);
        Assert.Equal([2, 3], d.GradFn!.OutputShape);
        Assert.Equal(DType.Float64, d.GradFn.OutputDType);
    }

    [Fact]
    public void MermaidMarksLeavesAndTheOutputWithClasses()
    {
        var (loss, names, _, _, _) = SmallGraph();
        var lines = loss.ToMermaid(names).Split('\n');
        Assert.Equal("flowchart TB", lines[0]);
        Assert.Contains("  out([\"loss<br/>[] Float64\"])", lines);
        Assert.Contains("  f0[\"SumBackward<br/>[] Float64\"]", lines);
        Assert.Contains("  t1(\"w (parameter)<br/>[2,3] Float64\")", lines);
        Assert.Contains("  f0 --> out", lines);
        Assert.Contains("  class t1 parameter", lines);
        Assert.Contains("  class t0,t2 input", lines);
        Assert.Contains("  class out output", lines);
    }

    [Fact]
    public void ALeafRootIsASingleNodeAndQuotesAreEscaped()
    {
        var x = Torch.Ones([2], requiresGrad: true);
        var names = new Dictionary<Tensor, string> { [x] = "say \"x\"" };
        Assert.Equal("digraph autograd {\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];\n"
            + "  t0 [label=\"say \\\"x\\\" (input)\\n[2] Float32\", fillcolor=\"#fff2cc\"];\n}\n", x.ToDot(names));
        Assert.Contains("  t0(\"say #quot;x#quot; (input)<br/>[2] Float32\")", x.ToMermaid(names).Split('\n'));
    }

    [Fact]
    public void ModuleParameterNamesLabelTheGraph()
    {
        var model = new Linear(3, 2, dtype: DType.Float64, generator: new Generator(1));
        var loss = model.Forward(Torch.Ones([4, 3], DType.Float64)).Sum();
        var dot = loss.ToDot(model.ParameterNames("fc."));
        Assert.Contains("fc.weight (parameter)\\n[2,3] Float64", dot);
        Assert.Contains("fc.bias (parameter)\\n[2] Float64", dot);
        Assert.DoesNotContain("(input)", dot); // the input does not require grad, so it is not on the tape
    }
}
