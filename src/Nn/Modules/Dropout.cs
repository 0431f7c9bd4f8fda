namespace MiniGrad.Nn;

/// <summary>Zeroes elements with probability p and scales the rest by 1/(1-p) in training mode; identity in eval mode.</summary>
public sealed class Dropout : Module, ITensorModule
{
    readonly Generator? generator;

    /// <summary>Creates the layer; the generator (default: Torch's) draws the masks.</summary>
    public Dropout(double p = 0.5, Generator? generator = null)
    {
        Check.Probability("Dropout", nameof(p), p);
        P = p;
        this.generator = generator;
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double P { get; }

    /// <summary>Applies dropout when Training is true.</summary>
    public Tensor Forward(Tensor x) => Call(x, x => Functional.Dropout(x, P, Training, generator));

    /// <inheritdoc/>
    protected override string Describe() => $"Dropout(p={P:R})";
}
