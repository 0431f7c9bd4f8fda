// Making gradient flow visible: (1) micrograd's scalar expression with every gradient printed, the leaves' checked
// against finite differences; (2) one LSTM + CTC training step whose graph goes to a DOT file and whose gradient
// norms are printed per op and per layer; (3) anomaly mode catching the op that makes a gradient infinite.
// Output files go to the folder given as the first argument (default: a folder in the system temp directory).
using System.Globalization;
using MiniGrad;
using MiniGrad.Nn;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
const string Usage = "usage: GradientFlow [OUT_DIR]   (output folder; default: minigrad-gradient-flow in the system temp folder)";
if (args.Length == 1 && args[0] is "--help" or "-h") { Console.WriteLine(Usage); return 0; }
if (args.Length > 1 || (args.Length == 1 && (args[0].StartsWith('-') || args[0].Trim().Length == 0)))
{
    Console.Error.WriteLine($"error: {(args.Length > 1 ? $"expected at most one argument, got {args.Length}" : $"unexpected argument '{args[0]}'")}\n{Usage}");
    return 2;
}
var outDir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "minigrad-gradient-flow");
try { Directory.CreateDirectory(outDir); }
catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
{
    Console.Error.WriteLine($"error: the output folder '{outDir}' cannot be created: {e.Message}");
    return 1;
}

// ---------------------------------------------------------------------------------------------------------------
Console.WriteLine("1. micrograd's expression, in Float64 scalars\n");
// The same expression as micrograd's README. F builds it from a and b and lists its intermediates by name; to check
// d g / d v by finite differences for an intermediate v, F can nudge v by a small amount as it computes it.
var intermediates = new List<(string Name, Tensor T)>();
Tensor F(Tensor a, Tensor b, string? nudge = null, double by = 0)
{
    intermediates.Clear();
    Tensor V(string name, Tensor t)
    {
        if (name == nudge) t += by;
        intermediates.Add((name, t));
        return t;
    }
    var c = V("c", a + b);
    var d = V("d", a * b + b.Pow(3));
    var c2 = V("c2", c + c + 1);              // micrograd: c += c + 1
    var c3 = V("c3", c2 + 1 + c2 + (-a));     // c += 1 + c + (-a)
    var d2 = V("d2", d + d * 2 + (b + a).Relu());  // d += d * 2 + (b + a).relu()
    var d3 = V("d3", d2 + 3 * d2 + (b - a).Relu()); // d += 3 * d + (b - a).relu()
    var e = V("e", c3 - d3);
    var f = V("f", e.Pow(2));
    var g1 = V("g1", f / 2.0);
    return V("g", g1 + 10.0 / f);               // g += 10.0 / f
}

var a = Torch.Scalar(-4.0, requiresGrad: true);
var b = Torch.Scalar(2.0, requiresGrad: true);
var g = F(a, b);
var nodes = intermediates.ToList();
// A hook on each intermediate sees d g / d v as Backward() passes it (what micrograd stores in v.grad).
var grads = new Dictionary<string, double>();
foreach (var (name, t) in nodes) t.RegisterHook(grad => grads[name] = grad.Item<double>());
using (Torch.RecordGradNorms()) g.Backward(); // and each op keeps |d g / d output| for the graph drawing
Console.WriteLine($"g = {g.Item<double>():F4}   (micrograd prints 24.7041)\n");

double Eval(double da = 0, double db = 0, string? nudge = null, double by = 0)
{
    using (Torch.NoGrad()) return F(Torch.Scalar(-4.0 + da), Torch.Scalar(2.0 + db), nudge, by).Item<double>();
}
const double eps = 1e-6;
var rows = nodes.Select(n => new Row(n.Name, n.T.GradFn!.Name, n.T.Item<double>(), grads[n.Name],
        (Eval(nudge: n.Name, by: eps) - Eval(nudge: n.Name, by: -eps)) / (2 * eps)))
    .Append(new Row("a", "leaf", -4.0, a.Grad!.Item<double>(), (Eval(da: eps) - Eval(da: -eps)) / (2 * eps)))
    .Append(new Row("b", "leaf", 2.0, b.Grad!.Item<double>(), (Eval(db: eps) - Eval(db: -eps)) / (2 * eps)));
Console.WriteLine($"  {"v",-3} {"made by",-18} {"value",9} {"d g / d v",12} {"finite diff.",12}");
int bad = 0;
foreach (var r in rows)
{
    bool ok = Math.Abs(r.Analytic - r.Numeric) <= 1e-5 * Math.Max(1, Math.Abs(r.Numeric));
    bad += ok ? 0 : 1;
    Console.WriteLine($"  {r.Name,-3} {r.Op,-18} {r.Value,9:F4} {r.Analytic,12:F4} {r.Numeric,12:F4}  {(ok ? "ok" : "MISMATCH")}");
}
Console.WriteLine(bad == 0 ? "  every gradient matches its finite difference" : $"  {bad} gradients do not match!");
var microDot = Path.Combine(outDir, "micrograd.dot");
File.WriteAllText(microDot, g.ToDot(nodes.Select(n => (n.T, n.Name)).Append((a, "a")).Append((b, "b")).ToDictionary(p => p.Item1, p => p.Item2)));
Console.WriteLine($"  graph: {microDot}  (render it: dot -Tsvg {microDot} -o micrograd.svg)");

// ---------------------------------------------------------------------------------------------------------------
Console.WriteLine("\n2. one LSTM + CTC training step\n");
Torch.ManualSeed(0);
int T = 20, N = 2, features = 8, hidden = 16, classes = 6; // frames, batch, input features, LSTM width, labels with blank 0
var model = new TinySpeechModel(features, hidden, classes);
var x = Torch.Randn(T, N, features);
var targets = Torch.Tensor(new long[] { 1, 2, 3, 2, /**/ 5, 4, 0, 0 }, N, 4); // padded (N, S): "1 2 3 2" and "5 4"
int[] inputLengths = [T, T], targetLengths = [4, 2];

// A forward hook prints what goes through each layer; a backward hook prints the gradient arriving at the LSTM.
var hooks = new List<HookHandle>();
foreach (var (name, m) in model.NamedChildren())
    hooks.Add(m.RegisterForwardHook((_, input, output) => Console.WriteLine($"  forward  {name,-5} {Shapes.Format(input.Shape)} -> {Shapes.Format(output.Shape)}")));
hooks.Add(model.Lstm.RegisterFullBackwardHook((_, gradOutput) =>
    Console.WriteLine($"  backward lstm receives d loss / d output {Shapes.Format(gradOutput.Shape)}, norm {Norm(gradOutput):G4}")));

var logProbs = model.Forward(x);
var loss = Functional.CtcLoss(logProbs, targets, inputLengths, targetLengths);
Console.WriteLine($"  loss = {loss.Item<float>():F4}");
using (Torch.RecordGradNorms()) loss.Backward(); // each op keeps the norm of the gradient that reached it

var names = model.ParameterNames();
names[logProbs] = "logProbs";
names[loss] = "loss";
var lstmDot = Path.Combine(outDir, "lstm_ctc.dot");
File.WriteAllText(lstmDot, loss.ToDot(names));
Console.WriteLine($"  graph: {lstmDot}");

Console.WriteLine("\n  gradient norm reaching each op, from the loss back to the input:");
var seen = new HashSet<Function>();
var queue = new Queue<Function>([loss.GradFn!]);
while (queue.Count > 0)
{
    var fn = queue.Dequeue();
    if (!seen.Add(fn)) continue;
    Console.WriteLine($"    {fn.Name,-22} {Shapes.Format(fn.OutputShape),-12} {fn.GradNorm:G4}");
    foreach (var next in fn.NextFunctions) if (next is Function f) queue.Enqueue(f);
}

var flow = new GradFlowRecorder(model);
flow.Record();
Console.WriteLine("\n  gradient norm per parameter:");
Console.Write(Indent(flow.ToString()));

// A few more steps (hooks removed), so that the CSV shows how each layer's gradient norm moves while the loss falls.
foreach (var h in hooks) h.Remove();
var optimizer = new Adam(model.Parameters(), lr: 0.01);
for (int step = 1; step <= 20; step++)
{
    optimizer.Step();
    optimizer.ZeroGrad();
    loss = Functional.CtcLoss(model.Forward(x), targets, inputLengths, targetLengths);
    loss.Backward();
    flow.Record();
}
var csv = Path.Combine(outDir, "gradient_flow.csv");
flow.WriteCsv(csv);
Console.WriteLine($"  after 20 more Adam steps: loss = {loss.Item<float>():F4}; per-step norms in {csv}");

// ---------------------------------------------------------------------------------------------------------------
Console.WriteLine("\n3. anomaly mode\n");
using (Torch.DetectAnomaly())
{
    var v = Torch.Tensor(new[] { 4.0, 0.0 }).RequiresGrad_();
    try { v.Sqrt().Sum().Backward(); }
    catch (AnomalyException e) { Console.WriteLine($"  {e.Message}"); }
}
return 0;

static double Norm(Tensor t) => Math.Sqrt(t.ToArray<double>().Sum(v => v * v));
static string Indent(string s) => string.Join("\n", s.TrimEnd('\n').Split('\n').Select(l => "    " + l)) + "\n";

/// <summary>One line of the gradient table: a value, the op that made it, and d g / d value both ways.</summary>
record Row(string Name, string Op, double Value, double Analytic, double Numeric);

/// <summary>LSTM -> Linear -> LogSoftmax over the classes: log-probabilities (T, N, C) for the CTC loss.</summary>
sealed class TinySpeechModel : Module
{
    public TinySpeechModel(int features, int hidden, int classes)
    {
        Lstm = RegisterModule("lstm", new Lstm(features, hidden));
        Fc = RegisterModule("fc", new Linear(hidden, classes));
    }

    public Lstm Lstm { get; }
    public Linear Fc { get; }

    public Tensor Forward(Tensor x) => Fc.Forward(Lstm.Forward(x).Output).LogSoftmax(2);
}
