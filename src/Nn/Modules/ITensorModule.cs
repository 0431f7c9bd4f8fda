namespace MiniGrad.Nn;

/// <summary>A module that maps one tensor to one tensor, so that it can be chained in a <see cref="Sequential"/>.</summary>
public interface ITensorModule
{
    /// <summary>Applies the module.</summary>
    Tensor Forward(Tensor x);
}
