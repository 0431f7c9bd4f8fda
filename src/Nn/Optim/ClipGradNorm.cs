namespace MiniGrad.Nn;

public static partial class Functional
{
    /// <summary>
    /// Rescales gradients so that their total 2-norm is at most maxNorm (torch.nn.utils.clip_grad_norm_): returns the
    /// total norm before clipping, sqrt(sum of each gradient's squared 2-norm), and multiplies every gradient by
    /// maxNorm / (total + 1e-6) when that factor is below 1. Parameters without a gradient are skipped.
    /// </summary>
    /// <param name="parameters">The parameters whose Grad is clipped (e.g. model.Parameters()).</param>
    /// <param name="maxNorm">The largest allowed total norm (&gt;= 0).</param>
    /// <param name="errorIfNonfinite">Throw instead of scaling when the total norm is NaN or infinite (PyTorch's error_if_nonfinite).</param>
    public static double ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm, bool errorIfNonfinite = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"ClipGradNorm: maxNorm must be a number >= 0, but got {Optimizer.Format(maxNorm)}");
        var withGrad = new List<Parameter>();
        int i = 0;
        foreach (var p in parameters)
        {
            if (p is null) throw new ArgumentException($"ClipGradNorm: parameter {i} is null", nameof(parameters));
            if (p.Grad is not null) withGrad.Add(p);
            i++;
        }
        if (withGrad.Count == 0) return 0;

        double sumOfSquares = 0;
        using (Torch.NoGrad())
        using (Torch.NewScope()) // the float64 copies and the products go back to the pool at the end
        {
            foreach (var p in withGrad)
            {
                var g = p.Grad!.To(DType.Float64);
                double norm = Math.Sqrt((g * g).Sum().Item<double>());
                sumOfSquares += norm * norm;
            }
            double total = Math.Sqrt(sumOfSquares);
            if (errorIfNonfinite && !double.IsFinite(total))
                throw new InvalidOperationException($"ClipGradNorm: the total norm of order 2 for gradients is non-finite ({Optimizer.Format(total)}), so it cannot be clipped; pass errorIfNonfinite: false to scale by it anyway");
            double coef = maxNorm / (total + 1e-6);
            // PyTorch clamps the factor at 1 and multiplies always, in place; a NaN factor propagates, as there.
            if (!(coef >= 1))
                foreach (var p in withGrad) p.Grad!.ReplaceRaw((p.Grad * coef).Raw);
            return total;
        }
    }
}
