namespace MiniGrad.Tests;

/// <summary>
/// Where a golden folder's cases (libtorch's, copied from shared/golden) are read: <c>$MINIGRAD_GOLDEN_DIR/FOLDER</c>
/// when that variable is set, so cases written by <c>shared/oracle/run.sh</c> run without a rebuild; else the copy in
/// Golden/FOLDER built in beside the tests.
/// </summary>
public static class GoldenDir
{
    /// <summary>The folder's path; a further variable (e.g. MINIGRAD_CTC_GOLDEN_DIR) naming the folder itself wins when set.</summary>
    public static string Of(string folder, string? ownVariable = null) =>
        ownVariable is not null && Environment.GetEnvironmentVariable(ownVariable) is { Length: > 0 } own ? own
        : Environment.GetEnvironmentVariable("MINIGRAD_GOLDEN_DIR") is { Length: > 0 } root ? Path.Combine(root, folder)
        : Path.Combine(AppContext.BaseDirectory, "Golden", folder);
}
