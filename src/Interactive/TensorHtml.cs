using System.Net;
using System.Text;

namespace MiniGrad.Interactive;

/// <summary>
/// A tensor as an HTML table for notebooks: its values (numbers printed as ToString() prints them), then shape,
/// dtype, device and grad_fn. Large tensors are summarized as PyTorch prints them: beyond 1000 elements only the
/// first and last 3 entries of each long dimension are shown, with "..." between.
/// </summary>
public static class TensorHtml
{
    /// <summary>The HTML for a tensor (one table; a tensor of rank 3 or more as one table per 2-D slice).</summary>
    public static string ToHtml(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        var shape = t.Shape;
        bool summarize = t.Numel > TensorFormat.Threshold;
        var (cells, _) = TensorFormat.Cells(t, summarize);
        var sb = new StringBuilder("<div class=\"minigrad-tensor\">\n");
        if (t.Rank == 0) sb.Append("<table><tr><td>").Append(cells[0]).Append("</td></tr></table>\n");
        else if (t.Numel == 0) sb.Append("<table><tr><td>[]</td></tr></table>\n");
        else if (t.Rank <= 2) Table(sb, cells, shape, 0, rows: t.Rank == 2 ? shape[0] : 1, cols: shape[^1], summarize, t.Rank == 1);
        else
        {
            // Leading dims index 2-D slices; each long leading dim shows its edge items and one "..." line.
            int lead = t.Rank - 2, slice = shape[^2] * shape[^1];
            var index = new int?[lead];
            void Walk(int d, int offset)
            {
                if (d == lead)
                {
                    string name = string.Join(", ", index.Select(i => i!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    sb.Append("<div class=\"minigrad-slice\">[").Append(name).Append(", :, :]</div>\n");
                    Table(sb, cells, shape, offset, shape[^2], shape[^1], summarize, false);
                    return;
                }
                int stride = 1;
                for (int k = d + 1; k < lead; k++) stride *= shape[k];
                foreach (var i in Indices(shape[d], summarize))
                {
                    if (i is null) { sb.Append("<div class=\"minigrad-slice\">...</div>\n"); continue; }
                    index[d] = i;
                    Walk(d + 1, offset + i.Value * stride * slice);
                }
            }
            Walk(0, 0);
        }
        sb.Append("<div class=\"minigrad-meta\">").Append(Meta(t)).Append("</div>\n</div>\n");
        return sb.ToString();
    }

    /// <summary>The line under the values: shape, dtype, device, and grad_fn (or requires_grad) as in ToString().</summary>
    public static string Meta(Tensor t)
    {
        var sb = new StringBuilder();
        sb.Append("shape=").Append(Shapes.Format(t.Shape)).Append(", dtype=").Append(t.DType).Append(", device=").Append(t.Device);
        if (t.GradFn is { } fn) sb.Append(", grad_fn=").Append(WebUtility.HtmlEncode($"<{fn.Name}>"));
        else if (t.RequiresGrad) sb.Append(", requires_grad=True");
        return sb.ToString();
    }

    // Rows and columns with their indices as headers; null entries stand for the elided middle ("...").
    static void Table(StringBuilder sb, string?[] cells, int[] shape, int offset, int rows, int cols, bool summarize, bool vector)
    {
        var colIdx = Indices(cols, summarize).ToList();
        var rowIdx = vector ? [0] : Indices(rows, summarize).ToList();
        sb.Append("<table>\n<tr><th></th>");
        foreach (var c in colIdx) sb.Append("<th>").Append(c?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "...").Append("</th>");
        sb.Append("</tr>\n");
        foreach (var r in rowIdx)
        {
            sb.Append("<tr><th>").Append(vector ? "" : r?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "...").Append("</th>");
            foreach (var c in colIdx)
                sb.Append("<td>").Append(r is null || c is null ? "..." : cells[offset + r.Value * cols + c.Value]).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");
    }

    static IEnumerable<int?> Indices(int n, bool summarize)
    {
        int e = TensorFormat.EdgeItems;
        if (!summarize || n <= 2 * e) { for (int i = 0; i < n; i++) yield return i; yield break; }
        for (int i = 0; i < e; i++) yield return i;
        yield return null;
        for (int i = n - e; i < n; i++) yield return i;
    }
}
