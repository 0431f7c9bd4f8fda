using System.Globalization;
using System.Text;

namespace MiniGrad;

/// <summary>Prints tensors the way PyTorch does: nested brackets, aligned columns, long dims elided with "...".</summary>
internal static class TensorFormat
{
    const int Threshold = 1000, EdgeItems = 3;

    public static string Format(Tensor t)
    {
        var sb = new StringBuilder("tensor(");
        bool summarize = t.Numel > Threshold;
        var cells = Cells(t);
        int width = cells.Length == 0 ? 0 : cells.Max(c => c.Length);
        if (t.Rank == 0) sb.Append(cells[0]);
        else if (t.Numel == 0) sb.Append("[]");
        else Append(sb, t.Raw.Shape, 0, 0, cells, width, summarize, indent: 7);
        sb.Append(", shape=").Append(Shapes.Format(t.Raw.Shape)).Append(", dtype=").Append(t.DType);
        if (t.Device != Device.Cpu) sb.Append(", device=").Append(t.Device);
        if (t.GradFn is { } fn) sb.Append(", grad_fn=<").Append(fn.Name).Append('>');
        else if (t.RequiresGrad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }

    static void Append(StringBuilder sb, int[] shape, int dim, int offset, string[] cells, int width, bool summarize, int indent)
    {
        int n = shape[dim], stride = 1;
        for (int i = dim + 1; i < shape.Length; i++) stride *= shape[i];
        sb.Append('[');
        for (int i = 0; i < n; i++)
        {
            if (summarize && n > 2 * EdgeItems && i == EdgeItems)
            {
                sb.Append(dim == shape.Length - 1 ? "..., " : "...,\n" + new string(' ', indent + dim + 1));
                i = n - EdgeItems;
            }
            if (dim == shape.Length - 1) sb.Append(cells[offset + i].PadLeft(width));
            else Append(sb, shape, dim + 1, offset + i * stride, cells, width, summarize, indent);
            if (i < n - 1)
                sb.Append(dim == shape.Length - 1 ? ", " : "," + new string('\n', shape.Length - 1 - dim) + new string(' ', indent + dim + 1));
        }
        sb.Append(']');
    }

    static string[] Cells(Tensor t)
    {
        var ic = CultureInfo.InvariantCulture;
        switch (t.DType)
        {
            case DType.Bool: return t.ToArray<bool>().Select(b => b ? "True" : "False").ToArray();
            case DType.Int32:
            case DType.Int64: return t.ToArray<long>().Select(v => v.ToString(ic)).ToArray();
        }
        var v = t.ToArray<double>();
        var finite = v.Where(double.IsFinite).Select(Math.Abs).ToArray();
        bool ints = finite.All(x => x == Math.Floor(x)) && (finite.Length == 0 || finite.Max() < 1e8);
        double max = finite.Length > 0 ? finite.Max() : 0, minNz = finite.Where(x => x > 0).DefaultIfEmpty(1).Min();
        bool sci = !ints && (max >= 1e8 || minNz < 1e-4 || max / minNz > 1e3 && minNz < 1e-2);
        return v.Select(x =>
            double.IsNaN(x) ? "nan" : double.IsPositiveInfinity(x) ? "inf" : double.IsNegativeInfinity(x) ? "-inf"
            : ints ? x.ToString("0", ic) + "."
            : sci ? x.ToString("0.0000e+00", ic)
            : x.ToString("0.0000", ic)).ToArray();
    }
}
