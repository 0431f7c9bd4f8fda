using System.Text.Json;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Conformance with libtorch's nn.Conv1d, nn.LayerNorm and nn.BatchNorm1d (Golden/conv1d and Golden/norm, copied from
/// shared/golden; see their READMEs): parameters (and running statistics) are loaded by name, then the output, every
/// gradient of sum(output * w) and the updated statistics are compared in the case's dtype with its tolerance, one case
/// per file, on every device of <see cref="TestDevices"/>.
/// </summary>
[Collection("Ilgpu")]
public class ConvNormGoldenTests
{
    public static TheoryData<string, string> ConvCases() => Golden.Cases("conv1d");
    public static TheoryData<string, string> NormCases() => Golden.Cases("norm");

    [Fact]
    public void GoldenFoldersHaveCases()
    {
        Assert.True(Directory.GetFiles(GoldenDir.Of("conv1d"), "*.json").Length >= 17, $"expected the golden cases in {GoldenDir.Of("conv1d")}");
        Assert.True(Directory.GetFiles(GoldenDir.Of("norm"), "*.json").Length >= 16, $"expected the golden cases in {GoldenDir.Of("norm")}");
    }

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv1dMatchesLibtorch(string device, string file)
    {
        var (r, dtype, abs, rel) = Open("conv1d", file, out var doc);
        using var _ = doc;
        var dev = Device.Parse(device);
        var p = r.GetProperty("padding");
        var conv = new Conv1d(r.GetProperty("in_channels").GetInt32(), r.GetProperty("out_channels").GetInt32(), r.GetProperty("kernel_size").GetInt32(),
            r.GetProperty("stride").GetInt32(), p.ValueKind == JsonValueKind.String ? p.GetString()! : p.GetInt32(), r.GetProperty("dilation").GetInt32(),
            r.GetProperty("groups").GetInt32(), r.GetProperty("bias").GetBoolean(), dtype: dtype);
        Run(r, conv, dev, dtype, abs, rel, file);
    }

    [Theory]
    [MemberData(nameof(NormCases))]
    public void NormMatchesLibtorch(string device, string file)
    {
        var (r, dtype, abs, rel) = Open("norm", file, out var doc);
        using var _ = doc;
        var dev = Device.Parse(device);
        double eps = r.GetProperty("eps").GetDouble();
        if (r.GetProperty("module").GetString() == "LayerNorm")
        {
            var ln = new LayerNorm(r.GetProperty("normalized_shape").EnumerateArray().Select(d => d.GetInt32()).ToArray(), eps,
                r.GetProperty("elementwise_affine").GetBoolean(), r.GetProperty("bias").GetBoolean(), dtype);
            Run(r, ln, dev, dtype, abs, rel, file);
            return;
        }
        var bn = new BatchNorm1d(r.GetProperty("num_features").GetInt32(), eps, r.GetProperty("momentum").GetDouble(), r.GetProperty("affine").GetBoolean(),
            r.GetProperty("track_running_stats").GetBoolean(), dtype);
        using (Torch.NoGrad())
        {
            bn.RunningMean!.Copy_(Load(r.GetProperty("running_mean"), dtype));
            bn.RunningVar!.Copy_(Load(r.GetProperty("running_var"), dtype));
            bn.NumBatchesTracked!.Copy_(Torch.Full([], r.GetProperty("num_batches_tracked").GetProperty("value").GetInt64(), DType.Int64));
        }
        bn.Train(r.GetProperty("mode").GetString() == "train");
        Run(r, bn, dev, dtype, abs, rel, file);
        Expect(r.GetProperty("running_mean").GetProperty("expected"), bn.RunningMean!, abs, rel, $"{file}: running_mean");
        Expect(r.GetProperty("running_var").GetProperty("expected"), bn.RunningVar!, abs, rel, $"{file}: running_var");
        Assert.Equal(dev, bn.RunningMean!.Device);
        Assert.Equal(r.GetProperty("num_batches_tracked").GetProperty("expected").GetInt64(), bn.NumBatchesTracked!.Item<long>());
    }

    static (JsonElement Root, DType DType, double Abs, double Rel) Open(string folder, string file, out JsonDocument doc)
    {
        doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir.Of(folder), file)));
        var r = doc.RootElement;
        var tol = r.GetProperty("tolerance");
        return (r, r.GetProperty("dtype").GetString() == "float32" ? DType.Float32 : DType.Float64, tol.GetProperty("abs").GetDouble(), tol.GetProperty("rel").GetDouble());
    }

    // Loads the parameters by name, moves the module, runs it and checks the output and every gradient.
    static void Run(JsonElement r, Module m, Device dev, DType dtype, double abs, double rel, string file)
    {
        var ps = r.GetProperty("parameters");
        Assert.Equal(ps.EnumerateObject().Select(p => p.Name), m.NamedParameters().Select(p => p.Name));
        using (Torch.NoGrad())
            foreach (var (name, p) in m.NamedParameters()) p.Copy_(Load(ps.GetProperty(name), dtype));
        m.To(dev);
        var x = Load(r.GetProperty("input"), dtype).To(dev).RequiresGrad_();
        var y = ((ITensorModule)m).Forward(x);
        Assert.Equal(dev, y.Device);
        Assert.Equal(dtype, y.DType);
        Expect(r.GetProperty("expected_output"), y, abs, rel, $"{file}: output");
        var w = Torch.Tensor(Numbers(r.GetProperty("loss_weights").GetProperty("output")), y.Shape).To(dtype).To(dev);
        (y * w).Sum().Backward();
        foreach (var (name, p) in m.NamedParameters())
            Expect(ps.GetProperty(name), p.Grad, abs, rel, $"{file}: grad of {name}", grad: true);
        Expect(r.GetProperty("input"), x.Grad, abs, rel, $"{file}: grad of input", grad: true);
    }

    static Tensor Load(JsonElement e, DType dtype) => Golden.Load(e, dtype);
    static double[] Numbers(JsonElement e) => Golden.Numbers(e);
    static void Expect(JsonElement e, Tensor? actual, double abs, double rel, string what, bool grad = false) =>
        Golden.Expect(e, actual, (abs, rel), what, grad);
}
