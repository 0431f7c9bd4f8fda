namespace MiniGrad.Nn;

/// <summary>Constructor argument checks shared by the modules; messages name the module, the argument and the value.</summary>
internal static class Check
{
    public static void Positive(string module, string arg, int value)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(arg, value, $"{module}: {arg} must be positive, but got {value}");
    }

    public static void Probability(string module, string arg, double value)
    {
        if (!(value >= 0 && value <= 1)) throw new ArgumentOutOfRangeException(arg, value, $"{module}: {arg} must be a probability in [0, 1], but got {value}");
    }

    public static void Floating(string module, DType dtype)
    {
        if (!dtype.IsFloating()) throw new ArgumentException($"{module}: dtype {dtype} is not supported for parameters; expected Float32 or Float64", nameof(dtype));
    }
}
