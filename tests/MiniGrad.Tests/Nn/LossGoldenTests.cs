using System.Text.Json;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Conformance with libtorch's losses (Golden/losses, copied from shared/golden/losses; see its README): the loss and
/// the gradient with respect to the input, through the loss modules, at each case's dtype and tolerance, on every
/// device of <see cref="TestDevices"/>. The cases cover class weights, ignoreIndex (including every target ignored),
/// label smoothing, probability targets, (N, C, d) inputs, posWeight and large logits.
/// </summary>
[Collection("Ilgpu")]
public class LossGoldenTests
{
    static string Dir => GoldenDir.Of("losses");

    public static TheoryData<string, string> Cases() => Golden.Cases("losses");

    [Fact]
    public void GoldenFolderHasEveryLoss()
    {
        var losses = Directory.GetFiles(Dir, "*.json").Select(f => Golden.Parse(f).GetProperty("loss").GetString()).ToHashSet();
        Assert.Equal(["binary_cross_entropy_with_logits", "cross_entropy", "mse_loss", "nll_loss"], losses.Order());
        Assert.True(Directory.GetFiles(Dir, "*.json").Length >= 40, $"expected the golden cases in {Dir}");
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
        var reduction = r.GetProperty("reduction").GetString() switch { "none" => Reduction.None, "sum" => Reduction.Sum, _ => Reduction.Mean };
        Tensor? ClassWeight() => o.GetProperty("weight") is { ValueKind: JsonValueKind.Array } w ? Torch.Tensor(Golden.Numbers(w), w.GetArrayLength()).To(dtype).To(dev) : null;
        Tensor? Shaped(string name) => o.GetProperty(name) is { ValueKind: JsonValueKind.Object } w ? Golden.Load(w, dtype).To(dev) : null;

        var x = Golden.Load(r.GetProperty("input"), dtype).To(dev).RequiresGrad_();
        var te = r.GetProperty("target");
        var target = r.GetProperty("target_kind").GetString() == "class_indices"
            ? Torch.Tensor(Golden.Numbers(te.GetProperty("value")).Select(v => (long)v).ToArray(), Golden.ShapeOf(te)).To(dev)
            : Golden.Load(te, dtype).To(dev);

        var loss = r.GetProperty("loss").GetString() switch
        {
            "cross_entropy" => new CrossEntropyLoss(ClassWeight(), o.GetProperty("ignore_index").GetInt64(), reduction, o.GetProperty("label_smoothing").GetDouble()).Forward(x, target),
            "nll_loss" => new NllLoss(ClassWeight(), o.GetProperty("ignore_index").GetInt64(), reduction).Forward(x, target),
            "mse_loss" => new MseLoss(reduction).Forward(x, target),
            "binary_cross_entropy_with_logits" => new BceWithLogitsLoss(Shaped("weight"), reduction, Shaped("pos_weight")).Forward(x, target),
            var l => throw new InvalidOperationException($"{file}: unknown loss {l}"),
        };
        Assert.Equal(dev, loss.Device);
        Assert.Equal(dtype, loss.DType);

        var expected = r.GetProperty("expected_loss");
        if (expected.ValueKind == JsonValueKind.Object) Golden.Expect(expected, loss, tol, $"{file}: loss");
        else
        {
            Assert.Empty(loss.Shape);
            Golden.ExpectValue(Golden.Number(expected), loss.Item<double>(), tol, $"{file}: loss");
        }

        if (r.GetProperty("grad_output") is { ValueKind: JsonValueKind.Array } go)
            (loss * Torch.Tensor(Golden.Numbers(go), loss.Shape).To(dtype).To(dev)).Sum().Backward();
        else loss.Backward();
        Golden.ExpectValues(Golden.Numbers(r.GetProperty("input").GetProperty("expected_grad")), x.Grad, tol, $"{file}: grad of input");
    }
}
