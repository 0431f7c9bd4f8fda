namespace MiniGrad.Tests.Ctc;

/// <summary>
/// Independent CTC reference for small cases, written for clarity rather than speed: Graves et al. (2006),
/// "Connectionist Temporal Classification", in probability space and float64, with the paper's per-frame
/// rescaling of alpha and beta (section 4.1) as the only numerical device. It returns the gradient in PyTorch's
/// form, which is the gradient with respect to the pre-softmax activations when the inputs are log-softmax
/// outputs: grad[t][k] = y[t][k] - sum_{s: l'[s] = k} alpha[t][s] beta[t][s] / (P * y[t][k]).
/// </summary>
public static class CtcReference
{
    /// <summary>
    /// Negative log-likelihood of <paramref name="target"/> and PyTorch's gradient (gradOut = 1) for one sample.
    /// <paramref name="logProbs"/> is (T, C) row-major; frames at or past <paramref name="inputLength"/> are
    /// ignored and get gradient 0. An impossible alignment gives +inf and NaN gradients (as PyTorch does);
    /// inputLength 0 gives 0 (empty target) or +inf, with a zero gradient.
    /// </summary>
    public static (double Nll, double[] Grad) Sample(double[] logProbs, int T, int C, int[] target, int inputLength, int blank)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        ArgumentNullException.ThrowIfNull(target);
        if (logProbs.Length != T * C) throw new ArgumentException($"logProbs has {logProbs.Length} values, expected T*C = {T * C}.");
        if (inputLength < 0 || inputLength > T) throw new ArgumentOutOfRangeException(nameof(inputLength), inputLength, $"must lie in [0, {T}].");

        int L = target.Length;
        var grad = new double[T * C];
        if (inputLength == 0) return (L == 0 ? 0.0 : double.PositiveInfinity, grad);

        int tn = inputLength;
        // Extended target l': a blank before, between and after the labels.
        int S = 2 * L + 1;
        var lp = new int[S];
        for (int s = 0; s < S; s++) lp[s] = s % 2 == 0 ? blank : target[s / 2];

        // y[t][k]: the emission probabilities (PyTorch does not renormalize them, neither do we).
        var y = new double[tn, C];
        for (int t = 0; t < tn; t++)
            for (int k = 0; k < C; k++) y[t, k] = Math.Exp(logProbs[t * C + k]);

        // Forward variables, eq. (5)-(7), each frame rescaled to sum 1; log P = sum_t log c_t + log(final states).
        var alpha = new double[tn, S];
        double logP = 0;
        alpha[0, 0] = y[0, blank];
        if (S > 1) alpha[0, 1] = y[0, lp[1]];
        for (int t = 0; t < tn; t++)
        {
            if (t > 0)
            {
                for (int s = 0; s < S; s++)
                {
                    double sum = alpha[t - 1, s];
                    if (s >= 1) sum += alpha[t - 1, s - 1];
                    if (s >= 2 && lp[s] != blank && lp[s] != lp[s - 2]) sum += alpha[t - 1, s - 2];
                    alpha[t, s] = sum * y[t, lp[s]];
                }
            }
            double c = 0;
            for (int s = 0; s < S; s++) c += alpha[t, s];
            if (!(c > 0)) return Impossible(grad, tn, C);
            for (int s = 0; s < S; s++) alpha[t, s] /= c;
            logP += Math.Log(c);
        }
        // Eq. (8): a valid path ends in the last blank or the last label.
        double end = alpha[tn - 1, S - 1] + (S > 1 ? alpha[tn - 1, S - 2] : 0.0);
        if (!(end > 0)) return Impossible(grad, tn, C);
        logP += Math.Log(end);

        // Backward variables, eq. (10)-(12), including the emission of frame t, rescaled likewise.
        var beta = new double[tn, S];
        beta[tn - 1, S - 1] = y[tn - 1, blank];
        if (S > 1) beta[tn - 1, S - 2] = y[tn - 1, lp[S - 2]];
        for (int t = tn - 1; t >= 0; t--)
        {
            if (t < tn - 1)
            {
                for (int s = 0; s < S; s++)
                {
                    double sum = beta[t + 1, s];
                    if (s + 1 < S) sum += beta[t + 1, s + 1];
                    if (s + 2 < S && lp[s] != blank && lp[s + 2] != lp[s]) sum += beta[t + 1, s + 2];
                    beta[t, s] = sum * y[t, lp[s]];
                }
            }
            double d = 0;
            for (int s = 0; s < S; s++) d += beta[t, s];
            for (int s = 0; s < S; s++) beta[t, s] /= d;
        }

        // Eq. (14)-(16): alpha_t(s) beta_t(s) / y_t(l'_s) summed over s is P at every t, so the unknown scale
        // factors cancel once the products are divided by that frame's sum Z_t.
        for (int t = 0; t < tn; t++)
        {
            double z = 0;
            var perClass = new double[C];
            for (int s = 0; s < S; s++)
            {
                double ab = alpha[t, s] * beta[t, s];
                if (ab == 0) continue;
                z += ab / y[t, lp[s]];
                perClass[lp[s]] += ab;
            }
            for (int k = 0; k < C; k++)
            {
                // For y = 0 this is 0/0 = NaN, as in PyTorch (exp(-inf - -inf)).
                grad[t * C + k] = y[t, k] - perClass[k] / (y[t, k] * z);
            }
        }
        return (-logP, grad);
    }

    private static (double, double[]) Impossible(double[] grad, int inputLength, int C)
    {
        Array.Fill(grad, double.NaN, 0, inputLength * C);
        return (double.PositiveInfinity, grad);
    }
}
