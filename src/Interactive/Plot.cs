using System.Globalization;
using System.Text;

namespace MiniGrad.Interactive;

/// <summary>
/// Small SVG figures for the notebooks: line charts, heat maps and the CTC lattice. Written in managed code with no
/// native dependency (a plotting library such as ScottPlot draws through SkiaSharp's native library, which a
/// notebook loading a build folder with #r does not find).
/// </summary>
public static class Plot
{
    static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>A line chart of one series against its index (x = 0, 1, ...).</summary>
    public static SvgImage Line(IReadOnlyList<double> ys, string title = "", string xLabel = "", string yLabel = "", bool logY = false)
        => Lines(new Dictionary<string, IReadOnlyList<double>> { [yLabel] = ys }, title, xLabel, yLabel, logY, legend: false);

    /// <summary>A line chart of several named series against their index, with a legend.</summary>
    public static SvgImage Lines(IReadOnlyDictionary<string, IReadOnlyList<double>> series, string title = "", string xLabel = "",
        string yLabel = "", bool logY = false, bool legend = true)
    {
        const double W = 560, H = 300, L = 60, R = 16, T = 28, B = 40;
        double Tr(double v) => logY ? Math.Log10(v) : v;
        var finite = series.Values.SelectMany(s => s).Where(v => double.IsFinite(v) && (!logY || v > 0)).Select(Tr).ToList();
        double lo = finite.DefaultIfEmpty(0).Min(), hi = finite.DefaultIfEmpty(1).Max();
        if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
        int n = Math.Max(2, series.Values.Max(s => s.Count));
        double X(double i) => L + i / (n - 1) * (W - L - R);
        double Y(double v) => T + (hi - Tr(v)) / (hi - lo) * (H - T - B);
        var sb = Open(W, H, title);
        sb.Append($"<rect x=\"{F(L)}\" y=\"{F(T)}\" width=\"{F(W - L - R)}\" height=\"{F(H - T - B)}\" fill=\"none\" stroke=\"#999999\"/>\n");
        foreach (var v in Ticks(lo, hi, 5))
        {
            double y = T + (hi - v) / (hi - lo) * (H - T - B);
            string label = logY ? Num(Math.Pow(10, v)) : Num(v);
            sb.Append($"<line x1=\"{F(L)}\" x2=\"{F(W - R)}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#eeeeee\"/><text x=\"{F(L - 4)}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{label}</text>\n");
        }
        foreach (var v in Ticks(0, n - 1, 6).Where(v => v == Math.Floor(v)))
            sb.Append($"<text x=\"{F(X(v))}\" y=\"{F(H - B + 14)}\" text-anchor=\"middle\">{Num(v)}</text>\n");
        sb.Append($"<text x=\"{F((L + W - R) / 2)}\" y=\"{F(H - 6)}\" text-anchor=\"middle\">{Xml(xLabel)}</text>\n");
        sb.Append($"<text x=\"12\" y=\"{F((T + H - B) / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {F((T + H - B) / 2)})\">{Xml(yLabel)}</text>\n");
        int k = 0;
        double legendW = series.Keys.Select(n => n.Length).DefaultIfEmpty(0).Max() * 6.2 + 26, legendX = W - R - legendW - 4;
        if (legend) sb.Append($"<rect x=\"{F(legendX)}\" y=\"{F(T + 2)}\" width=\"{F(legendW)}\" height=\"{F(14 * series.Count + 6)}\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#dddddd\"/>\n");
        foreach (var (name, ys) in series)
        {
            string color = Colors[k % Colors.Length];
            var pts = new StringBuilder();
            for (int i = 0; i < ys.Count; i++)
                if (double.IsFinite(ys[i]) && (!logY || ys[i] > 0)) pts.Append(pts.Length > 0 ? " " : "").Append(F(X(i))).Append(',').Append(F(Y(ys[i])));
            sb.Append($"<polyline points=\"{pts}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"><title>{Xml(name)}</title></polyline>\n");
            if (legend)
                sb.Append($"<rect x=\"{F(legendX + 6)}\" y=\"{F(T + 11 + 14 * k)}\" width=\"10\" height=\"3\" fill=\"{color}\"/><text x=\"{F(legendX + 20)}\" y=\"{F(T + 16 + 14 * k)}\">{Xml(name)}</text>\n");
            k++;
        }
        return Close(sb);
    }

    /// <summary>
    /// A heat map of a matrix (rows top to bottom), white at its minimum and dark at its maximum, with a scale;
    /// rowLabels and colLabels, when given, name rows and columns (columns thinned to fit).
    /// </summary>
    public static SvgImage HeatMap(double[,] values, IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? colLabels = null,
        string title = "", string xLabel = "", double cell = 0)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        double cw = cell > 0 ? cell : Math.Clamp(560.0 / Math.Max(cols, 1), 3, 24), ch = cell > 0 ? cell : Math.Clamp(280.0 / Math.Max(rows, 1), 8, 20);
        int labelChars = rowLabels?.Select(l => l.Length).DefaultIfEmpty(0).Max() ?? 0;
        double L = 8 + labelChars * 6.2, T = 28, W = L + cols * cw + 70, H = T + rows * ch + 36;
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (var v in values) if (double.IsFinite(v)) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        if (!double.IsFinite(lo)) { lo = 0; hi = 1; }
        if (hi - lo < 1e-300) hi = lo + 1;
        var sb = Open(W, H, title);
        for (int r = 0; r < rows; r++)
        {
            if (rowLabels is not null && r < rowLabels.Count)
                sb.Append($"<text x=\"{F(L - 4)}\" y=\"{F(T + r * ch + ch / 2 + 4)}\" text-anchor=\"end\">{Xml(rowLabels[r])}</text>\n");
            for (int c = 0; c < cols; c++)
            {
                double v = values[r, c];
                string fill = double.IsFinite(v) ? Shade((v - lo) / (hi - lo)) : "#ff00ff";
                sb.Append($"<rect x=\"{F(L + c * cw)}\" y=\"{F(T + r * ch)}\" width=\"{F(cw)}\" height=\"{F(ch)}\" fill=\"{fill}\"><title>{Num(v)}</title></rect>");
            }
            sb.Append('\n');
        }
        int every = Math.Max(1, (int)Math.Ceiling(30 / cw));
        for (int c = 0; c < cols; c += every)
            sb.Append($"<text x=\"{F(L + c * cw + cw / 2)}\" y=\"{F(T + rows * ch + 14)}\" text-anchor=\"middle\">{Xml(colLabels is not null && c < colLabels.Count ? colLabels[c] : c.ToString(CultureInfo.InvariantCulture))}</text>\n");
        sb.Append($"<text x=\"{F(L + cols * cw / 2)}\" y=\"{F(H - 4)}\" text-anchor=\"middle\">{Xml(xLabel)}</text>\n");
        double sx = L + cols * cw + 14, sh = rows * ch;
        for (int i = 0; i < 20; i++)
            sb.Append($"<rect x=\"{F(sx)}\" y=\"{F(T + sh * i / 20)}\" width=\"10\" height=\"{F(sh / 20 + 0.5)}\" fill=\"{Shade(1 - (i + 0.5) / 20)}\"/>");
        sb.Append($"\n<text x=\"{F(sx + 14)}\" y=\"{F(T + 8)}\">{Num(hi)}</text><text x=\"{F(sx + 14)}\" y=\"{F(T + sh)}\">{Num(lo)}</text>\n");
        return Close(sb);
    }

    /// <summary>
    /// The CTC alignment lattice: one row per symbol of the extended label sequence (blanks between and around the
    /// labels), one column per frame, an arrow for every allowed step (stay, advance by one, or skip a blank between
    /// two different labels), and each node shaded by weight[s, t] when given (e.g. the posterior
    /// alpha * beta / p, the share of all alignments that pass through it).
    /// </summary>
    public static SvgImage CtcLattice(IReadOnlyList<string> extendedLabels, int frames, double[,]? weight = null, string title = "")
    {
        int S = extendedLabels.Count;
        const double dx = 44, dy = 30, L = 56, T = 52, r = 8;
        double W = Math.Max(L + (frames - 1) * dx + 30, title.Length * 7.5 + 20), H = T + (S - 1) * dy + 40;
        double X(int t) => L + t * dx;
        double Y(int s) => T + s * dy;
        var sb = Open(W, H, title);
        sb.Append("<defs><marker id=\"minigrad-lattice-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#888888\"/></marker></defs>\n");
        for (int t = 0; t + 1 < frames; t++)
            for (int s = 0; s < S; s++)
                for (int step = 0; step <= 2; step++)
                {
                    int s2 = s + step;
                    if (s2 >= S) continue;
                    if (step == 2 && (extendedLabels[s2] == extendedLabels[s] || extendedLabels[s + 1] != extendedLabels[0])) continue;
                    double x1 = X(t), y1 = Y(s), x2 = X(t + 1), y2 = Y(s2), len = Math.Sqrt((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1));
                    double ux = (x2 - x1) / len, uy = (y2 - y1) / len;
                    sb.Append($"<line x1=\"{F(x1 + ux * r)}\" y1=\"{F(y1 + uy * r)}\" x2=\"{F(x2 - ux * r)}\" y2=\"{F(y2 - uy * r)}\" stroke=\"#bbbbbb\" marker-end=\"url(#minigrad-lattice-arrow)\"/>\n");
                }
        for (int s = 0; s < S; s++)
            sb.Append($"<text x=\"{F(L - 16)}\" y=\"{F(Y(s) + 4)}\" text-anchor=\"end\" font-weight=\"bold\">{Xml(extendedLabels[s])}</text>\n");
        for (int t = 0; t < frames; t++)
            sb.Append($"<text x=\"{F(X(t))}\" y=\"{F(T - 18)}\" text-anchor=\"middle\">t={t}</text>\n");
        for (int t = 0; t < frames; t++)
            for (int s = 0; s < S; s++)
            {
                double w = weight is null ? 0 : weight[s, t];
                string fill = weight is null ? "#ffffff" : double.IsFinite(w) ? Shade(Math.Clamp(w, 0, 1)) : "#ffffff";
                sb.Append($"<circle cx=\"{F(X(t))}\" cy=\"{F(Y(s))}\" r=\"{F(r)}\" fill=\"{fill}\" stroke=\"#444444\"><title>s={s} ({Xml(extendedLabels[s])}), t={t}{(weight is null ? "" : ": " + Num(w))}</title></circle>\n");
            }
        // The two start and the two end nodes: alignments begin at the first blank or label and end at the last ones.
        sb.Append($"<text x=\"{F(X(0))}\" y=\"{F(H - 12)}\" text-anchor=\"start\" fill=\"#555555\">starts: s=0,1 at t=0; ends: s={S - 1}{(S > 1 ? $",{S - 2}" : "")} at t={frames - 1}</text>\n");
        return Close(sb);
    }

    // White -> blue -> dark blue, by a value in [0, 1].
    static string Shade(double v)
    {
        v = Math.Clamp(v, 0, 1);
        (double r, double g, double b) a = v < 0.5 ? (255, 255, 255) : (66, 133, 244), c = v < 0.5 ? (66, 133, 244) : (13, 35, 99);
        double u = v < 0.5 ? v * 2 : (v - 0.5) * 2;
        int R = (int)Math.Round(a.r + (c.r - a.r) * u), G = (int)Math.Round(a.g + (c.g - a.g) * u), B = (int)Math.Round(a.b + (c.b - a.b) * u);
        return $"#{R:x2}{G:x2}{B:x2}";
    }

    // About `count` round tick values between lo and hi (steps of 1, 2 or 5 times a power of ten).
    static IEnumerable<double> Ticks(double lo, double hi, int count)
    {
        double raw = (hi - lo) / count, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1.0, 2, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        for (double v = Math.Ceiling(lo / step) * step; v <= hi + step * 1e-9; v += step) yield return Math.Abs(v) < step * 1e-9 ? 0 : v;
    }

    static StringBuilder Open(double w, double h, string title)
    {
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(Math.Ceiling(w))}\" height=\"{F(Math.Ceiling(h))}\" viewBox=\"0 0 {F(Math.Ceiling(w))} {F(Math.Ceiling(h))}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        if (title.Length > 0) sb.Append($"<text x=\"{F(w / 2)}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{Xml(title)}</text>\n");
        return sb;
    }

    static SvgImage Close(StringBuilder sb) => new(sb.Append("</svg>\n").ToString());

    static string F(double v) => Math.Round(v, 1).ToString("0.#", CultureInfo.InvariantCulture);

    static string Num(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    static string Xml(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
