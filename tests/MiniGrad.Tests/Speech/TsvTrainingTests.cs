using MiniGrad.Nn;
using MiniGrad.Nn.Audio;
using MiniGrad.Nn.Data;
using MiniGrad.Nn.Decoding;

namespace MiniGrad.Tests.Speech;

public class TsvTrainingTests
{
    [Fact]
    public void TinyWavDatasetTrainsTwoSteps()
    {
        // A tiny dataset on disk: 4 clips of synthetic digits written at 8 kHz (the test list reuses two of them).
        using var dir = new TempDir();
        var utts = new SyntheticSpeech(31, minSymbols: 3, maxSymbols: 4).GenerateRange(0, 4);
        var lines = new List<string>();
        for (int i = 0; i < utts.Length; i++)
        {
            Wav.Write(dir[$"u{i}.wav"], Resampler.Resample(utts[i].Wave, 16000, 8000), 8000);
            lines.Add($"u{i}.wav\t{utts[i].Transcript}");
        }
        File.WriteAllLines(dir["train.tsv"], lines);
        File.WriteAllLines(dir["test.tsv"], lines.Take(2));

        var data = TsvDataset.Load(dir.Path);
        Assert.Equal(4, data.Train.Count);

        // Features -> padded batch (T, N, 40) -> BiLSTM -> Linear -> LogSoftmax -> CTC, two Adam steps.
        var lm = new LogMel();
        var feats = data.Train.Select(e => lm.Compute(e.Wave)).ToArray();
        int n = feats.Length, T = feats.Max(f => f.Length / 40);
        var x = new float[T * n * 40];
        for (int b = 0; b < n; b++)
            for (int t = 0; t < feats[b].Length / 40; t++) Array.Copy(feats[b], t * 40, x, (t * n + b) * 40, 40);
        var labels = data.Train.Select(e => data.Alphabet.Encode(e.Transcript)).ToArray();
        int S = labels.Max(l => l.Length);
        var y = new long[n * S];
        for (int b = 0; b < n; b++) for (int s = 0; s < labels[b].Length; s++) y[b * S + s] = labels[b][s];
        var input = Torch.Tensor(x, T, n, 40);
        var targets = Torch.Tensor(y, n, S);
        int[] inputLengths = feats.Select(f => f.Length / 40).ToArray(), targetLengths = labels.Select(l => l.Length).ToArray();

        var g = new Generator(1);
        var lstm = new Lstm(40, 16, bidirectional: true, generator: g);
        var fc = new Linear(32, data.Alphabet.Count, generator: g);
        var parameters = lstm.Parameters().Concat(fc.Parameters()).ToList();
        var adam = new Adam(parameters, lr: 0.01);
        var losses = new List<double>();
        Tensor? lp = null;
        for (int step = 0; step < 2; step++)
        {
            adam.ZeroGrad();
            lp = fc.Forward(lstm.Forward(input).Output).LogSoftmax(2);
            var loss = Functional.CtcLoss(lp, targets, inputLengths, targetLengths);
            loss.Backward();
            Functional.ClipGradNorm(parameters, 5);
            adam.Step();
            losses.Add(loss.Item<float>());
        }
        Assert.All(losses, l => Assert.True(double.IsFinite(l) && l > 0, $"loss {l}"));
        Assert.True(losses[1] < losses[0], $"loss did not fall on the same batch: {losses[0]} -> {losses[1]}");
        var decoded = CtcDecoder.Greedy(lp!.Detach(), inputLengths);
        Assert.Equal(n, decoded.Length);
        Assert.All(decoded, h => Assert.All(h.Labels, l => Assert.InRange(l, 1, data.Alphabet.Count - 1)));
    }
}
