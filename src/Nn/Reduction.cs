namespace MiniGrad.Nn;

/// <summary>How a loss combines its per-sample values (PyTorch's reduction argument).</summary>
public enum Reduction
{
    /// <summary>One loss per sample.</summary>
    None,
    /// <summary>The mean (for CTC: of each loss divided by its target length).</summary>
    Mean,
    /// <summary>The sum.</summary>
    Sum,
}
