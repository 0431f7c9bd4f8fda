namespace MiniGrad.Nn;

/// <summary>
/// The one exception that reading a safetensors file or loading a checkpoint throws for any failure: a file that
/// is truncated, forged or malformed, that does not match the module (missing or unexpected names, other shapes)
/// or the optimizer, or that cannot be read (the I/O error is the InnerException). Nothing is changed when it is thrown.
/// It derives from IOException (InvalidDataException, the natural parent, is sealed), so `catch (IOException)` sees it too.
/// </summary>
public sealed class CheckpointException : IOException
{
    /// <summary>Creates the exception with a message that names the file, the entry and what was expected.</summary>
    public CheckpointException(string message) : base(message) { }

    /// <summary>Creates the exception wrapping the error that caused it.</summary>
    public CheckpointException(string message, Exception innerException) : base(message, innerException) { }
}
