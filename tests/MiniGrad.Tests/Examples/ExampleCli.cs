namespace MiniGrad.Tests.Examples;

/// <summary>An example program's command line run in-process: its exit code and what it wrote to stdout and stderr.</summary>
internal static class ExampleCli
{
    public static (int Code, string Output, string Error) Run(Func<string[], TextWriter, TextWriter, int> cli, string[] args)
    {
        var (err, outp) = (new StringWriter(), new StringWriter());
        int code = cli(args, err, outp);
        return (code, outp.ToString(), err.ToString());
    }

    /// <summary>A user's mistake: a non-zero exit and one "error: ..." message naming the fragments, no stack trace.</summary>
    public static void AssertUserError((int Code, string Output, string Error) r, params string[] fragments)
    {
        Assert.True(r.Code != 0, $"expected a non-zero exit code; stderr: {r.Error}");
        Assert.StartsWith("error: ", r.Error);
        Assert.DoesNotContain("   at ", r.Error); // no stack trace
        foreach (var f in fragments) Assert.Contains(f, r.Error);
    }
}
