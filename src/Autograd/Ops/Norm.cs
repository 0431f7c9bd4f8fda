namespace MiniGrad;

/// <summary>
/// Layer normalization as one node: the backend's fused kernel each way (IBackend.LayerNorm), where a composition of
/// means, differences and products would make a dozen passes over the input and as many buffers. x is normalized over
/// its last elements in groups of cols; weight and bias (cols elements) are optional.
/// </summary>
sealed class LayerNormFn(int[] normalizedShape, bool hasWeight, bool hasBias) : Function
{
    public override string Name => "NativeLayerNormBackward";

    /// <summary>x normalized over its last dims, normalizedShape; weight and bias have that shape.</summary>
    internal static Tensor Apply(Tensor x, int[] normalizedShape, Tensor? weight, Tensor? bias, double eps)
    {
        int cols = Shapes.Numel(normalizedShape);
        var (y, mean, rstd) = x.Backend.LayerNorm(x.Raw, cols, weight?.Raw, bias?.Raw, eps);
        Tensor[] inputs = [x, .. weight is null ? [] : new[] { weight }, .. bias is null ? [] : new[] { bias }];
        return Record(y, () =>
        {
            var f = new LayerNormFn(normalizedShape, weight is not null, bias is not null);
            f.Save([x.Detach(), new Tensor(mean), new Tensor(rstd), .. weight is null ? [] : new[] { weight.Detach() }]);
            return f;
        }, inputs);
    }

    protected internal override Tensor?[] Backward(Tensor g)
    {
        var weight = hasWeight ? Saved(3).Raw : null;
        bool affine = (hasWeight && NeedsInputGrad(1)) || (hasBias && NeedsInputGrad(hasWeight ? 2 : 1));
        var (dx, dw, db) = g.Backend.LayerNormBackward(g.Raw, Saved(0).Raw, Saved(1).Raw, Saved(2).Raw, weight, Shapes.Numel(normalizedShape), affine);
        Tensor? Affine(RawTensor? d) => d is null ? null : new Tensor(d.Reshape(normalizedShape));
        return [NeedsInputGrad(0) ? new Tensor(dx) : null, .. hasWeight ? [Affine(dw)] : Array.Empty<Tensor?>(), .. hasBias ? [Affine(db)] : Array.Empty<Tensor?>()];
    }
}
