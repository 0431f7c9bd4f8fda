using Microsoft.DotNet.Interactive.Formatting;

namespace MiniGrad.Interactive;

/// <summary>
/// Registers MiniGrad's notebook displays with .NET Interactive: a tensor (and so a Parameter) as an HTML table, an
/// <see cref="SvgImage"/> (graphs, plots) as an inline picture. Call once, in the notebook's first cell.
/// </summary>
public static class MiniGradFormatters
{
    static int registered;

    /// <summary>Registers the formatters (a second call does nothing).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1) return;
        Formatter.Register<Tensor>((t, w) => w.Write(TensorHtml.ToHtml(t)), HtmlFormatter.MimeType);
        Formatter.Register<SvgImage>((s, w) => w.Write(s.Svg), HtmlFormatter.MimeType);
        Formatter.SetPreferredMimeTypesFor(typeof(Tensor), HtmlFormatter.MimeType);
        Formatter.SetPreferredMimeTypesFor(typeof(SvgImage), HtmlFormatter.MimeType);
    }
}
