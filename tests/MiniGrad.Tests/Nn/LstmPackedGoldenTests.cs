using System.Text.Json;
using MiniGrad.Nn;
using Xunit;

namespace MiniGrad.Tests.Nn;

/// <summary>
/// Conformance with libtorch's packed nn.LSTM (Golden/lstm_packed, copied from shared/golden/lstm_packed; see its
/// README): pad_packed_sequence(lstm(pack_padded_sequence(x, lengths, batch_first, enforce_sorted=False)),
/// total_length=T). Each case runs through <c>Lstm.Forward(input, lengths)</c> on every device, and on the CPU also
/// through <c>PackPaddedSequence</c>, <c>Forward(PackedSequence)</c> and <c>PadPackedSequence</c>; output, h_n, c_n and
/// every gradient of the case's weighted scalar are compared in the case's dtype and tolerance.
/// </summary>
[Collection("Ilgpu")]
public class LstmPackedGoldenTests
{
    // The JSON readers and the comparison are LstmGoldenTests': the two folders share their fields.
    static Tensor Load(JsonElement e, DType dtype) => LstmGoldenTests.Load(e, dtype);
    static double[] Numbers(JsonElement e) => LstmGoldenTests.Numbers(e);
    static void Expect(JsonElement e, Tensor? actual, double abs, double rel, string what, bool grad = false) =>
        LstmGoldenTests.Expect(e, actual, abs, rel, what, grad);

    static string Dir => GoldenDir.Of("lstm_packed");

    // speech_sized_float32 (T = 80, N = 8, 120 -> 96, bidirectional) takes most of a minute on ILGPU's CPU accelerator
    // (see LstmGoldenTests); the other cases cover the same paths there.
    static readonly HashSet<string> ExcludedOnIlgpuCpu = ["speech_sized_float32.json"];

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var device in TestDevices.Names)
            foreach (var f in Directory.GetFiles(Dir, "*.json").OrderBy(f => f, StringComparer.Ordinal))
                if (device != "ilgpu-cpu" || !ExcludedOnIlgpuCpu.Contains(Path.GetFileName(f)))
                    foreach (var packed in device == "cpu" ? new[] { false, true } : [false]) data.Add(device, Path.GetFileName(f), packed);
        return data;
    }

    [Fact]
    public void GoldenFolderHasCases() => Assert.True(Directory.GetFiles(Dir, "*.json").Length >= 10, $"expected the golden cases in {Dir}");

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLibtorch(string device, string file, bool throughPackedSequence)
    {
        var dev = Device.Parse(device);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, file)));
        var r = doc.RootElement;
        var dtype = r.GetProperty("dtype").GetString() == "float64" ? DType.Float64 : DType.Float32;
        var tol = r.GetProperty("tolerance");
        double abs = tol.GetProperty("abs").GetDouble(), rel = tol.GetProperty("rel").GetDouble();
        bool batchFirst = r.GetProperty("batch_first").GetBoolean();
        var lstm = new Lstm(r.GetProperty("input_size").GetInt32(), r.GetProperty("hidden_size").GetInt32(), r.GetProperty("num_layers").GetInt32(),
            r.GetProperty("bias").GetBoolean(), batchFirst, 0, r.GetProperty("bidirectional").GetBoolean(), dtype);
        var ps = r.GetProperty("parameters");
        Assert.Equal(ps.EnumerateObject().Select(p => p.Name), lstm.NamedParameters().Select(p => p.Name));
        using (Torch.NoGrad())
            foreach (var (name, p) in lstm.NamedParameters()) p.Copy_(Load(ps.GetProperty(name), dtype));
        lstm.To(dev);

        var x = Load(r.GetProperty("input"), dtype).To(dev).RequiresGrad_();
        int[] lengths = r.GetProperty("lengths").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        int T = r.GetProperty("total_length").GetInt32();
        (Tensor, Tensor)? state = null;
        if (r.GetProperty("h0").ValueKind != JsonValueKind.Null)
            state = (Load(r.GetProperty("h0"), dtype).To(dev).RequiresGrad_(), Load(r.GetProperty("c0"), dtype).To(dev).RequiresGrad_());

        Tensor y, hn, cn;
        if (throughPackedSequence)
        {
            var packed = Functional.PackPaddedSequence(x, Torch.Tensor(lengths, lengths.Length), batchFirst, enforceSorted: false);
            var (py, st) = lstm.Forward(packed, state);
            (y, (hn, cn)) = (Functional.PadPackedSequence(py, batchFirst, totalLength: T).Padded, st);
        }
        else (y, (hn, cn)) = lstm.Forward(x, lengths, state);
        Assert.Equal(dev, y.Device);

        Expect(r.GetProperty("expected_output"), y, abs, rel, $"{file}: output");
        Expect(r.GetProperty("expected_h_n"), hn, abs, rel, $"{file}: h_n");
        Expect(r.GetProperty("expected_c_n"), cn, abs, rel, $"{file}: c_n");

        var w = r.GetProperty("loss_weights");
        Tensor W(string name, Tensor like) => Torch.Tensor(Numbers(w.GetProperty(name)), like.Shape).To(dtype).To(dev);
        ((y * W("output", y)).Sum() + (hn * W("h_n", hn)).Sum() + (cn * W("c_n", cn)).Sum()).Backward();

        foreach (var (name, p) in lstm.NamedParameters())
            Expect(ps.GetProperty(name), p.Grad, abs, rel, $"{file}: grad of {name}", grad: true);
        Expect(r.GetProperty("input"), x.Grad, abs, rel, $"{file}: grad of input", grad: true);
        if (state is var (h0, c0))
        {
            Expect(r.GetProperty("h0"), h0.Grad, abs, rel, $"{file}: grad of h0", grad: true);
            Expect(r.GetProperty("c0"), c0.Grad, abs, rel, $"{file}: grad of c0", grad: true);
        }
        // Nothing reaches the padding: the input's gradient is exactly zero past each length.
        var gx = (batchFirst ? x.Grad!.Transpose(0, 1) : x.Grad!).ToArray<double>();
        int n = lengths.Length, features = x.Size(-1);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < n; b++)
                if (t >= lengths[b])
                    for (int k = 0; k < features; k++) Assert.Equal(0.0, gx[(t * n + b) * features + k]);
    }
}
