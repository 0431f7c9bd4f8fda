using System.Globalization;
using System.Text;

namespace MiniGrad.Nn;

/// <summary>
/// Records each named parameter's gradient norm once per training step, the table behind a "gradient flow" plot:
/// vanishing gradients show as norms that shrink towards the first layers, exploding ones as norms that blow up.
/// Call <see cref="Record"/> after Backward() (and before the optimizer clears the gradients).
/// </summary>
/// <example><code>
/// var flow = new GradFlowRecorder(model);
/// for (...) { loss.Backward(); flow.Record(); optimizer.Step(); optimizer.ZeroGrad(); }
/// flow.WriteCsv("gradflow.csv");
/// </code></example>
public sealed class GradFlowRecorder
{
    readonly (string Name, Parameter Parameter)[] parameters;
    readonly List<double[]> rows = new();

    /// <summary>Follows every parameter of module (dotted names, as NamedParameters gives them).</summary>
    public GradFlowRecorder(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        parameters = module.NamedParameters().ToArray();
        Names = parameters.Select(p => p.Name).ToArray();
    }

    /// <summary>The parameters' dotted names, the table's columns.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>One row per recorded step: the L2 norm of each parameter's gradient, NaN where it had none.</summary>
    public IReadOnlyList<double[]> Rows => rows;

    /// <summary>Number of recorded steps.</summary>
    public int Steps => rows.Count;

    /// <summary>Reads every parameter's current gradient norm as the next step's row, and returns that row.</summary>
    public double[] Record()
    {
        var row = new double[parameters.Length];
        using (Torch.NoGrad())
            for (int i = 0; i < row.Length; i++)
                row[i] = parameters[i].Parameter.Grad is { } g ? Autograd.Norm(g) : double.NaN;
        rows.Add(row);
        return row;
    }

    /// <summary>One parameter's norms over the recorded steps.</summary>
    public double[] Series(string name)
    {
        int i = Array.IndexOf(parameters.Select(p => p.Name).ToArray(), name);
        if (i < 0) throw new ArgumentException($"GradFlowRecorder: no parameter named '{name}'; expected one of {string.Join(", ", Names)}", nameof(name));
        return rows.Select(r => r[i]).ToArray();
    }

    /// <summary>The table as CSV: a header "step,name1,name2,...", then one line per step (empty where a parameter had no gradient).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder();
        sb.Append("step,").Append(string.Join(",", Names.Select(Quote))).Append('\n');
        return AppendRows(sb, 0).ToString();
    }

    /// <summary>The CSV lines of the steps from <paramref name="from"/> on.</summary>
    StringBuilder AppendRows(StringBuilder sb, int from)
    {
        for (int s = from; s < rows.Count; s++)
            sb.Append(s.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(string.Join(",", rows[s].Select(v => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        return sb;
    }

    /// <summary>
    /// Continues an earlier run: reads the first <paramref name="maxSteps"/> rows of a file written by
    /// <see cref="WriteCsv"/> for the same parameters as this recorder's first rows (steps recorded later follow
    /// them), and returns how many were read. Throws FormatException naming the file and line for a header with
    /// other parameters, a missing step or a value that is not a number; nothing is changed then.
    /// </summary>
    public int LoadCsv(string path, long maxSteps = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (maxSteps < 0) throw new ArgumentOutOfRangeException(nameof(maxSteps), maxSteps, "GradFlowRecorder.LoadCsv: expected maxSteps >= 0");
        if (rows.Count != 0) throw new InvalidOperationException($"GradFlowRecorder.LoadCsv: the recorder already holds {rows.Count} steps; load before recording");
        var loaded = new List<double[]>();
        int lineNo = 0;
        string expectedHeader = "step," + string.Join(",", Names.Select(Quote));
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (lineNo == 1)
            {
                if (line != expectedHeader) throw new FormatException($"GradFlowRecorder.LoadCsv: '{path}':1: the header \"{line}\" does not name this model's parameters (expected \"{expectedHeader}\")");
                continue;
            }
            if (loaded.Count >= maxSteps) break;
            if (line.Length == 0) continue;
            var p = line.Split(',');
            if (p.Length != Names.Count + 1 || p[0] != loaded.Count.ToString(CultureInfo.InvariantCulture))
                throw new FormatException($"GradFlowRecorder.LoadCsv: '{path}':{lineNo}: expected step {loaded.Count} with {Names.Count} values, got \"{line}\"");
            var row = new double[Names.Count];
            for (int i = 0; i < row.Length; i++)
                row[i] = p[i + 1].Length == 0 ? double.NaN
                    : double.TryParse(p[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                    : throw new FormatException($"GradFlowRecorder.LoadCsv: '{path}':{lineNo}: value {i + 1} '{p[i + 1]}' is not a number");
            loaded.Add(row);
        }
        rows.AddRange(loaded);
        return loaded.Count;
    }

    /// <summary>Writes <see cref="ToCsv"/> to a file.</summary>
    public void WriteCsv(string path) => File.WriteAllText(path, ToCsv());

    /// <summary>
    /// Adds the steps from <paramref name="fromStep"/> on to a file that holds the steps before it (written by
    /// <see cref="WriteCsv"/> or by this method), so that a training loop that saves after every epoch writes each step
    /// once instead of the whole table each time; with fromStep 0 it writes the whole file, as WriteCsv. Throws
    /// ArgumentOutOfRangeException for a fromStep outside 0..Steps and FileNotFoundException when there is no file to
    /// add to; nothing is written then.
    /// </summary>
    public void AppendCsv(string path, int fromStep)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (fromStep < 0 || fromStep > rows.Count)
            throw new ArgumentOutOfRangeException(nameof(fromStep), fromStep, $"GradFlowRecorder.AppendCsv: expected a step in 0..{rows.Count} (the steps recorded)");
        if (fromStep == 0) { WriteCsv(path); return; }
        if (!File.Exists(path))
            throw new FileNotFoundException($"GradFlowRecorder.AppendCsv: '{path}' does not exist; expected the file with steps 0..{fromStep - 1} (write it with WriteCsv, or pass fromStep 0)", path);
        File.AppendAllText(path, AppendRows(new StringBuilder(), fromStep).ToString());
    }

    /// <summary>The last step as a table: parameter, shape, gradient norm.</summary>
    public override string ToString()
    {
        if (rows.Count == 0) return "GradFlowRecorder: no step recorded yet; call Record() after Backward()";
        var last = rows[^1];
        int w = Math.Max(9, Names.Max(n => n.Length));
        var sb = new StringBuilder();
        sb.Append($"{"parameter".PadRight(w)}  {"shape",-12}  grad norm (step {rows.Count - 1})\n");
        for (int i = 0; i < parameters.Length; i++)
            sb.Append($"{Names[i].PadRight(w)}  {Shapes.Format(parameters[i].Parameter.Shape),-12}  {(double.IsNaN(last[i]) ? "-" : last[i].ToString("G4", CultureInfo.InvariantCulture))}\n");
        return sb.ToString();
    }

    static string Quote(string s) => s.Contains(',') || s.Contains('"') ? $"\"{s.Replace("\"", "\"\"")}\"" : s;
}

/// <summary>Helpers that connect modules to the graph exports.</summary>
public static class GradientFlow
{
    /// <summary>Each parameter's dotted name (prefixed, e.g. "lstm."), for Graph.ToDot/ToMermaid labels; add your own tensors to it.</summary>
    public static Dictionary<Tensor, string> ParameterNames(this Module module, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(module);
        var names = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        foreach (var (n, p) in module.NamedParameters()) names[p] = prefix + n;
        return names;
    }
}
