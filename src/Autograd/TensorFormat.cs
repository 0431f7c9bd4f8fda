using System.Globalization;
using System.Text;

namespace MiniGrad;

/// <summary>Prints tensors the way PyTorch does: nested brackets, aligned columns, long dims elided with "...".</summary>
internal static class TensorFormat
{
    internal const int Threshold = 1000, EdgeItems = 3, LineWidth = 80;

    public static string Format(Tensor t)
    {
        var sb = new StringBuilder("tensor(");
        bool summarize = t.Numel > Threshold;
        var (cells, width) = Cells(t, summarize);
        if (t.Rank == 0) sb.Append(cells[0]);
        else if (t.Numel == 0) sb.Append("[]");
        else Append(sb, t.Raw.Shape, 0, 0, cells, width, summarize, indent: 7);
        sb.Append(", shape=").Append(Shapes.Format(t.Raw.Shape)).Append(", dtype=").Append(t.DType);
        if (t.Device != Device.Cpu) sb.Append(", device=").Append(t.Device);
        if (t.GradFn is { } fn) sb.Append(", grad_fn=<").Append(fn.Name).Append('>');
        else if (t.RequiresGrad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }

    static void Append(StringBuilder sb, int[] shape, int dim, int offset, string?[] cells, int width, bool summarize, int indent)
    {
        int n = shape[dim], stride = 1;
        for (int i = dim + 1; i < shape.Length; i++) stride *= shape[i];
        bool elide = summarize && n > 2 * EdgeItems;
        sb.Append('[');
        if (dim == shape.Length - 1)
        {
            // PyTorch's _vector_str: " ..." stands for the elided middle, and a row wraps to stay within LineWidth.
            var items = new List<string>();
            for (int i = 0; i < n; i++)
            {
                if (elide && i == EdgeItems) { items.Add(" ..."); i = n - EdgeItems; }
                items.Add(cells[offset + i]!.PadLeft(width));
            }
            int perLine = Math.Max(1, (LineWidth - indent - dim) / (width + 2));
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0) sb.Append(i % perLine == 0 ? ",\n" + new string(' ', indent + dim + 1) : ", ");
                sb.Append(items[i]);
            }
            sb.Append(']');
            return;
        }
        string sep = "," + new string('\n', shape.Length - 1 - dim) + new string(' ', indent + dim + 1);
        for (int i = 0; i < n; i++)
        {
            if (i > 0) sb.Append(sep);
            if (elide && i == EdgeItems) { sb.Append("...").Append(sep); i = n - EdgeItems; }
            Append(sb, shape, dim + 1, offset + i * stride, cells, width, summarize, indent);
        }
        sb.Append(']');
    }

    // Formats the elements that will be shown (all, unless summarizing) and returns the column width.
    // MiniGrad.Interactive's HTML tables use it too, so both displays print numbers alike.
    internal static (string?[] Cells, int Width) Cells(Tensor t, bool summarize)
    {
        var ic = CultureInfo.InvariantCulture;
        var shape = t.Raw.Shape;
        var shown = Enumerable.Range(0, t.Numel).Where(i => !summarize || Shown(i, shape)).ToArray();
        var cells = new string?[t.Numel];
        if (!t.DType.IsFloating())
        {
            var all = t.DType == DType.Bool ? t.ToArray<bool>().Select(b => b ? "True" : "False").ToArray()
                : t.ToArray<long>().Select(v => v.ToString(ic)).ToArray();
            foreach (var i in shown) cells[i] = all[i];
            return (cells, shown.Select(i => all[i].Length).DefaultIfEmpty(0).Max());
        }
        // PyTorch's _Formatter: the mode is chosen from the shown finite non-zero magnitudes (a spread over 1000x
        // or huge values go scientific, tiny ones too unless all are integral), and nan/inf do not widen columns.
        var v = t.ToArray<double>();
        var nz = shown.Select(i => Math.Abs(v[i])).Where(x => double.IsFinite(x) && x != 0).ToArray();
        bool ints = nz.All(x => x == Math.Floor(x));
        double max = nz.DefaultIfEmpty(0).Max(), min = nz.DefaultIfEmpty(1).Min();
        bool sci = nz.Length > 0 && (max / min > 1e3 || max > 1e8 || (!ints && min < 1e-4));
        int width = 0;
        foreach (var i in shown)
        {
            double x = v[i];
            cells[i] = double.IsNaN(x) ? "nan" : double.IsPositiveInfinity(x) ? "inf" : double.IsNegativeInfinity(x) ? "-inf"
                : sci ? x.ToString("0.0000e+00", ic)
                : ints ? x.ToString("0", ic) + "."
                : x.ToString("0.0000", ic);
            if (double.IsFinite(x)) width = Math.Max(width, cells[i]!.Length);
        }
        return (cells, width);
    }

    // Whether an element survives summarization: in every long dim it is among the first or last EdgeItems.
    static bool Shown(int flat, int[] shape)
    {
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            int n = shape[d], i = flat % n;
            flat /= n;
            if (n > 2 * EdgeItems && i >= EdgeItems && i < n - EdgeItems) return false;
        }
        return true;
    }
}
