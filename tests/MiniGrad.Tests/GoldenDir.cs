using System.Text.Json;

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

/// <summary>Readers for the golden folders written by <c>oracle golden-nn2</c> (non-finite numbers are strings there).</summary>
internal static class Golden
{
    /// <summary>One theory case per device of <see cref="TestDevices"/> and case file of the golden folder, in file-name order.</summary>
    public static TheoryData<string, string> Cases(string folder)
    {
        var data = new TheoryData<string, string>();
        foreach (var device in TestDevices.Names)
            foreach (var f in Directory.GetFiles(GoldenDir.Of(folder), "*.json").OrderBy(f => f, StringComparer.Ordinal))
                data.Add(device, Path.GetFileName(f));
        return data;
    }

    public static JsonElement Parse(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    public static DType DTypeOf(JsonElement r) => r.GetProperty("dtype").GetString() == "float32" ? DType.Float32 : DType.Float64;

    public static (double Abs, double Rel) Tolerance(JsonElement r) =>
        (r.GetProperty("tolerance").GetProperty("abs").GetDouble(), r.GetProperty("tolerance").GetProperty("rel").GetDouble());

    public static double Number(JsonElement v) => v.ValueKind == JsonValueKind.String
        ? v.GetString() switch { "NaN" => double.NaN, "Infinity" => double.PositiveInfinity, "-Infinity" => double.NegativeInfinity, var s => throw new FormatException($"not a number: {s}") }
        : v.GetDouble();

    public static double[] Numbers(JsonElement e) => e.EnumerateArray().Select(Number).ToArray();

    public static int[] ShapeOf(JsonElement e) => e.GetProperty("shape").EnumerateArray().Select(s => s.GetInt32()).ToArray();

    /// <summary>A {shape, value} object as a tensor of dtype (float32 values round from the double once, as the README says).</summary>
    public static Tensor Load(JsonElement e, DType dtype) => Torch.Tensor(Numbers(e.GetProperty("value")), ShapeOf(e)).To(dtype);

    /// <summary>actual against a golden entry: a {shape, value} object (the shape checked too), its expected_grad
    /// (grad), or a bare array of numbers.</summary>
    public static void Expect(JsonElement e, Tensor? actual, (double Abs, double Rel) tol, string what, bool grad = false)
    {
        if (e.ValueKind == JsonValueKind.Array) { ExpectValues(Numbers(e), actual, tol, what); return; }
        if (!grad && actual is not null) Assert.Equal(ShapeOf(e), actual.Shape);
        ExpectValues(Numbers(e.GetProperty(grad ? "expected_grad" : "value")), actual, tol, what);
    }

    public static void ExpectValues(double[] want, Tensor? actual, (double Abs, double Rel) tol, string what)
    {
        Assert.True(actual is not null, $"{what}: missing (no gradient)");
        var got = actual!.ToArray<double>();
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++) ExpectValue(want[i], got[i], tol, $"{what}[{i}]");
    }

    public static void ExpectValue(double want, double got, (double Abs, double Rel) tol, string what)
    {
        if (!double.IsFinite(want)) Assert.True(want.Equals(got), $"{what}: expected {want}, got {got:R}");
        else Assert.True(Math.Abs(got - want) <= tol.Abs + tol.Rel * Math.Abs(want), $"{what}: expected {want:R}, got {got:R} (abs {tol.Abs}, rel {tol.Rel})");
    }
}
