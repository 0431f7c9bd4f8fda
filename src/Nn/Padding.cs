namespace MiniGrad.Nn;

/// <summary>
/// A convolution's padding, as PyTorch takes it: a number of zeros on each side (an int converts implicitly), or the
/// strings "valid" (no padding) and "same" (output as long as the input; stride 1 only; when the total
/// dilation * (kernel - 1) is odd the extra zero goes on the right).
/// </summary>
public readonly struct Padding
{
    Padding(int amount, string? mode) { Amount = amount; Mode = mode; }

    /// <summary>Zeros on each side when <see cref="Mode"/> is null.</summary>
    public int Amount { get; }
    /// <summary>"same" or "valid" (or whatever string was given, rejected by the layer that reads it); null for a number.</summary>
    public string? Mode { get; }

    /// <summary>No padding.</summary>
    public static Padding Valid => new(0, "valid");
    /// <summary>Output length equal to the input length (stride 1).</summary>
    public static Padding Same => new(0, "same");

    /// <summary>amount zeros on each side.</summary>
    public static implicit operator Padding(int amount) => new(amount, null);
    /// <summary>"same" or "valid".</summary>
    public static implicit operator Padding(string mode) => new(0, mode ?? "null");

    /// <inheritdoc/>
    public override string ToString() => Mode is null ? Amount.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"'{Mode}'";

    /// <summary>The zeros on the left and on the right for a layer; throws ArgumentException naming op and padding for a bad value.</summary>
    internal (int Left, int Right) Resolve(string op, int kernel, int stride, int dilation)
    {
        switch (Mode)
        {
            case null:
                if (Amount < 0) throw new ArgumentException($"{op}: padding = {Amount} is invalid; expected a non-negative number of zeros, \"same\" or \"valid\"", "padding");
                return (Amount, Amount);
            case "valid": return (0, 0);
            case "same":
                if (stride != 1) throw new ArgumentException($"{op}: padding = 'same' is not supported for strided convolutions (stride = {stride}); expected stride 1 or a numeric padding", "padding");
                int total = dilation * (kernel - 1);
                return (total / 2, total - total / 2);
            default:
                throw new ArgumentException($"{op}: padding = '{Mode}' is invalid; expected \"same\", \"valid\" or a non-negative number", "padding");
        }
    }
}
