using System.Text.Json;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Conformance with libtorch's nn.GRU and nn.RNN (Golden/gru and Golden/rnn, copied from shared/golden; see their
/// READMEs): parameters are loaded by name, then output, h_n and every gradient of the case's weighted scalar are
/// compared in the case's dtype and tolerance, on every device of <see cref="TestDevices"/>. Packed cases run through
/// <c>Forward(input, lengths, h0)</c> on every device and on the CPU also through <c>PackPaddedSequence</c>,
/// <c>Forward(PackedSequence)</c> and <c>PadPackedSequence</c>. Every case is small (T &lt;= 12, H &lt;= 8), so all of
/// them run on ilgpu-cpu too.
/// </summary>
[Collection("Ilgpu")]
public class GruRnnGoldenTests
{
    static Tensor Load(JsonElement e, DType dtype) => LstmGoldenTests.Load(e, dtype);
    static double[] Numbers(JsonElement e) => LstmGoldenTests.Numbers(e);
    static void Expect(JsonElement e, Tensor? actual, double abs, double rel, string what, bool grad = false) =>
        LstmGoldenTests.Expect(e, actual, abs, rel, what, grad);

    public static TheoryData<string, string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, string, bool>();
        foreach (var device in TestDevices.Names)
            foreach (var folder in new[] { "gru", "rnn" })
                foreach (var f in Directory.GetFiles(GoldenDir.Of(folder), "*.json").OrderBy(f => f, StringComparer.Ordinal))
                {
                    string file = Path.GetFileName(f);
                    bool packed = file.StartsWith("packed_", StringComparison.Ordinal);
                    foreach (var viaPackedSequence in packed && device == "cpu" ? new[] { false, true } : [false]) data.Add(device, folder, file, viaPackedSequence);
                }
        return data;
    }

    [Theory]
    [InlineData("gru", 12)]
    [InlineData("rnn", 9)]
    public void GoldenFolderHasCases(string folder, int atLeast) =>
        Assert.True(Directory.GetFiles(GoldenDir.Of(folder), "*.json").Length >= atLeast, $"expected the golden cases in {GoldenDir.Of(folder)}");

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLibtorch(string device, string folder, string file, bool throughPackedSequence)
    {
        var dev = Device.Parse(device);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir.Of(folder), file)));
        var r = doc.RootElement;
        var dtype = r.GetProperty("dtype").GetString() == "float64" ? DType.Float64 : DType.Float32;
        var tol = r.GetProperty("tolerance");
        double abs = tol.GetProperty("abs").GetDouble(), rel = tol.GetProperty("rel").GetDouble();
        int inputSize = r.GetProperty("input_size").GetInt32(), hidden = r.GetProperty("hidden_size").GetInt32(), layers = r.GetProperty("num_layers").GetInt32();
        bool bias = r.GetProperty("bias").GetBoolean(), batchFirst = r.GetProperty("batch_first").GetBoolean(), bidirectional = r.GetProperty("bidirectional").GetBoolean();
        RnnBase module = folder == "gru"
            ? new Gru(inputSize, hidden, layers, bias, batchFirst, 0, bidirectional, dtype)
            : new Rnn(inputSize, hidden, layers, r.GetProperty("nonlinearity").GetString() == "relu" ? Nonlinearity.Relu : Nonlinearity.Tanh,
                bias, batchFirst, 0, bidirectional, dtype);

        var ps = r.GetProperty("parameters");
        Assert.Equal(ps.EnumerateObject().Select(p => p.Name), module.NamedParameters().Select(p => p.Name));
        using (Torch.NoGrad())
            foreach (var (name, p) in module.NamedParameters()) p.Copy_(Load(ps.GetProperty(name), dtype));
        module.To(dev);

        var x = Load(r.GetProperty("input"), dtype).To(dev).RequiresGrad_();
        Tensor? h0 = r.GetProperty("h0").ValueKind == JsonValueKind.Null ? null : Load(r.GetProperty("h0"), dtype).To(dev).RequiresGrad_();
        int[]? lengths = r.GetProperty("packed").GetBoolean() ? r.GetProperty("lengths").EnumerateArray().Select(v => v.GetInt32()).ToArray() : null;

        Tensor y, hn;
        if (throughPackedSequence)
        {
            var packed = Functional.PackPaddedSequence(x, Torch.Tensor(lengths!, lengths!.Length), batchFirst, enforceSorted: false);
            var (py, h) = module is Gru g ? g.Forward(packed, h0) : ((Rnn)module).Forward(packed, h0);
            (y, hn) = (Functional.PadPackedSequence(py, batchFirst, totalLength: r.GetProperty("total_length").GetInt32()).Padded, h);
        }
        else if (lengths is not null) (y, hn) = module is Gru g ? g.Forward(x, lengths, h0) : ((Rnn)module).Forward(x, lengths, h0);
        else (y, hn) = module is Gru g ? g.Forward(x, h0) : ((Rnn)module).Forward(x, h0);
        Assert.Equal(dev, y.Device);

        Expect(r.GetProperty("expected_output"), y, abs, rel, $"{file}: output");
        Expect(r.GetProperty("expected_h_n"), hn, abs, rel, $"{file}: h_n");

        var w = r.GetProperty("loss_weights");
        Tensor W(string name, Tensor like) => Torch.Tensor(Numbers(w.GetProperty(name)), like.Shape).To(dtype).To(dev);
        ((y * W("output", y)).Sum() + (hn * W("h_n", hn)).Sum()).Backward();

        Assert.All(module.Parameters(), p => Assert.Equal(dev, p.Grad?.Device));
        foreach (var (name, p) in module.NamedParameters())
            Expect(ps.GetProperty(name), p.Grad, abs, rel, $"{file}: grad of {name}", grad: true);
        Expect(r.GetProperty("input"), x.Grad, abs, rel, $"{file}: grad of input", grad: true);
        if (h0 is not null) Expect(r.GetProperty("h0"), h0.Grad, abs, rel, $"{file}: grad of h0", grad: true);
        if (lengths is null) return;
        // Nothing reaches the padding: the input's gradient is exactly zero past each length.
        var gx = (batchFirst ? x.Grad!.Transpose(0, 1) : x.Grad!).ToArray<double>();
        int n = lengths.Length, features = x.Size(-1), T = r.GetProperty("total_length").GetInt32();
        for (int t = 0; t < T; t++)
            for (int b = 0; b < n; b++)
                if (t >= lengths[b])
                    for (int k = 0; k < features; k++) Assert.Equal(0.0, gx[(t * n + b) * features + k]);
    }
}
