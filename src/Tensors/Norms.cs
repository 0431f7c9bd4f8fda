namespace MiniGrad;

public partial interface IBackend
{
    // Layer normalization fused: one pass over each row for the statistics and the output, one for the gradient (a
    // composition of reductions and broadcasting ops costs a dozen passes and as many buffers). x is viewed as (rows,
    // cols), cols the product of the normalized dims.
    /// <summary>
    /// y = (x - mean) * rstd * weight + bias for each row of x viewed as (rows, cols), with the row's mean and rstd =
    /// 1 / sqrt(biased variance + eps); weight and bias (cols elements, x's dtype) are optional. Returns y (x's shape) and
    /// mean and rstd (rows elements, x's dtype) for the backward. Float32 and Float64.
    /// </summary>
    (RawTensor Y, RawTensor Mean, RawTensor Rstd) LayerNorm(RawTensor x, int cols, RawTensor? weight, RawTensor? bias, double eps);

    /// <summary>
    /// LayerNorm's gradient from the output gradient dy and the forward's x, mean and rstd: dx (x's shape), and when
    /// affineGrads, dweight = sum over rows of dy * xhat and dbias = sum over rows of dy (cols elements each), summed in
    /// row order (the same bits whatever the thread count).
    /// </summary>
    (RawTensor Dx, RawTensor? DWeight, RawTensor? DBias) LayerNormBackward(RawTensor dy, RawTensor x, RawTensor mean, RawTensor rstd, RawTensor? weight, int cols, bool affineGrads);
}
