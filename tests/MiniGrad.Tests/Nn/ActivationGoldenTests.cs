using System.Text.Json;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Conformance with libtorch's activations (Golden/activations, copied from shared/golden/activations; see its README):
/// the output and the gradient of sum(w * output), through the module (so Sequential's path is the one tested), at
/// the case's dtype and tolerance, on every device of <see cref="TestDevices"/>. The inputs include each function's
/// kinks and thresholds, so PyTorch's choice of derivative there is pinned.
/// </summary>
[Collection("Ilgpu")]
public class ActivationGoldenTests
{
    static string Dir => GoldenDir.Of("activations");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var device in TestDevices.Names)
            foreach (var f in Directory.GetFiles(Dir, "*.json").OrderBy(f => f, StringComparer.Ordinal))
                data.Add(device, Path.GetFileName(f));
        return data;
    }

    [Fact]
    public void GoldenFolderHasEveryFunction()
    {
        var functions = Directory.GetFiles(Dir, "*.json").Select(f => Golden.Parse(f).GetProperty("function").GetString()).ToHashSet();
        Assert.Equal(["elu", "gelu", "hardtanh", "leaky_relu", "log_sigmoid", "silu", "softmax", "softplus"], functions.Order());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLibtorch(string device, string file)
    {
        var dev = Device.Parse(device);
        var r = Golden.Parse(Path.Combine(Dir, file));
        var dtype = Golden.DTypeOf(r);
        var tol = Golden.Tolerance(r);
        var o = r.GetProperty("options");
        double Opt(string name) => o.GetProperty(name).GetDouble();
        ITensorModule m = r.GetProperty("function").GetString() switch
        {
            "gelu" => new Gelu(o.GetProperty("approximate").GetString() == "tanh" ? GeluApproximate.Tanh : GeluApproximate.None),
            "silu" => new Silu(),
            "leaky_relu" => new LeakyRelu(Opt("negative_slope")),
            "elu" => new Elu(Opt("alpha")),
            "softplus" => new Softplus(Opt("beta"), Opt("threshold")),
            "hardtanh" => new Hardtanh(Opt("min_val"), Opt("max_val")),
            "log_sigmoid" => new LogSigmoid(),
            "softmax" => new MiniGrad.Nn.Softmax(o.GetProperty("dim").GetInt32()),
            var f => throw new InvalidOperationException($"{file}: unknown function {f}"),
        };

        var x = Golden.Load(r.GetProperty("input"), dtype).To(dev).RequiresGrad_();
        var y = m.Forward(x);
        Assert.Equal(dev, y.Device);
        Assert.Equal(dtype, y.DType);
        Golden.Expect(r.GetProperty("expected_output"), y, tol, $"{file}: output");
        var w = Torch.Tensor(Golden.Numbers(r.GetProperty("grad_output")), x.Shape).To(dtype).To(dev);
        (y * w).Sum().Backward();
        Golden.ExpectValues(Golden.Numbers(r.GetProperty("input").GetProperty("expected_grad")), x.Grad, tol, $"{file}: grad of input");
    }
}

/// <summary>Readers for the golden folders written by <c>oracle golden-nn2</c> (non-finite numbers are strings there).</summary>
internal static class Golden
{
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

    public static void Expect(JsonElement e, Tensor actual, (double Abs, double Rel) tol, string what)
    {
        Assert.Equal(ShapeOf(e), actual.Shape);
        ExpectValues(Numbers(e.GetProperty("value")), actual, tol, what);
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
