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

    public static TheoryData<string, string> Cases() => Golden.Cases("activations");

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
