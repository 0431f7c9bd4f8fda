namespace MiniGrad.Interactive;

/// <summary>An SVG picture; notebooks show it inline once <see cref="MiniGradFormatters.Register"/> has run.</summary>
public sealed record SvgImage(string Svg)
{
    /// <summary>Writes the picture to a file (open it in a browser, or put it in a README).</summary>
    public void Save(string path) => File.WriteAllText(path, Svg);

    /// <summary>The SVG text.</summary>
    public override string ToString() => Svg;
}

/// <summary>Pictures of tensors' graphs for notebooks.</summary>
public static class GraphPictures
{
    /// <summary>The autograd graph of a tensor as a picture (Graph.ToSvg), with gradient norms after a recorded backward.</summary>
    public static SvgImage DrawGraph(this Tensor root, IReadOnlyDictionary<Tensor, string>? names = null) => new(root.ToSvg(names));
}
