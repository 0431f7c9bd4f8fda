namespace MiniGrad;

/// <summary>
/// Compares analytic gradients with central finite differences in float64, as torch.autograd.gradcheck does.
/// A non-scalar output is reduced with fixed random weights so one backward checks the whole Jacobian product.
/// </summary>
public static class GradCheck
{
    /// <summary>
    /// Checks every input that requires grad; returns true or throws <see cref="InvalidOperationException"/>
    /// naming the input, the element, and both values.
    /// </summary>
    public static bool Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i].RequiresGrad && inputs[i].DType != DType.Float64)
                throw new ArgumentException($"GradCheck: input {i} has dtype {inputs[i].DType}; finite differences need Float64 inputs", nameof(inputs));

        // Analytic: one backward of sum(w * f(x)).
        var leaves = inputs.Select(x => x.RequiresGrad ? x.Detach().RequiresGrad_() : x).ToArray();
        var y = f(leaves);
        if (y.DType != DType.Float64) throw new InvalidOperationException($"GradCheck: the function returned dtype {y.DType}; expected Float64");
        var w = Torch.Randn(y.Raw.Shape, DType.Float64, y.Device, generator: new Generator(1234));
        (y * w).Sum().Backward();

        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].RequiresGrad) continue;
            var analytic = leaves[i].Grad?.ToArray<double>() ?? new double[inputs[i].Numel];
            var x0 = inputs[i].ToArray<double>();
            for (int j = 0; j < x0.Length; j++)
            {
                double numeric = (Eval(f, inputs, i, x0, j, +eps, w) - Eval(f, inputs, i, x0, j, -eps, w)) / (2 * eps);
                if (!(Math.Abs(numeric - analytic[j]) <= atol + rtol * Math.Abs(numeric)))
                    throw new InvalidOperationException(
                        $"GradCheck: gradient mismatch for input {i} at flat index {j}: analytic {analytic[j]:R}, numeric {numeric:R} (atol {atol}, rtol {rtol})");
            }
        }
        return true;
    }

    static double Eval(Func<Tensor[], Tensor> f, Tensor[] inputs, int which, double[] x0, int j, double delta, Tensor w)
    {
        var x = (double[])x0.Clone();
        x[j] += delta;
        var args = (Tensor[])inputs.Clone();
        args[which] = Torch.Tensor(x, inputs[which].Shape, inputs[which].Device);
        using (Torch.NoGrad()) return (f(args) * w).Sum().Item<double>();
    }
}
