using MiniGrad.Nn.Decoding;
using MiniGrad.Tests.Ctc;

namespace MiniGrad.Tests.Speech;

public class CtcDecoderTests
{
    // Rows of probabilities -> row-major log-probabilities.
    static float[] Log(params double[][] rows) => rows.SelectMany(r => r.Select(p => (float)Math.Log(p))).ToArray();

    [Fact]
    public void GreedyCollapsesRepeatsAndDropsBlanks()
    {
        // Classes: blank, a, b. Best path a a _ a b b -> "a a b": the blank keeps the two a's apart.
        var lp = Log([0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.1, 0.2, 0.7], [0.3, 0.1, 0.6]);
        var h = CtcDecoder.Greedy(lp, 3);
        Assert.Equal([1, 1, 2], h.Labels);
        Assert.Equal(Math.Log(0.8 * 0.7 * 0.6 * 0.5 * 0.7 * 0.6), h.LogProb, 5);
    }

    [Fact]
    public void GreedyEdgeCases()
    {
        Assert.Empty(CtcDecoder.Greedy(Log([0.9, 0.1], [0.8, 0.2]), 2).Labels);  // all blank
        Assert.Empty(CtcDecoder.Greedy(ReadOnlySpan<float>.Empty, 3).Labels);    // no frames
        Assert.Equal([1], CtcDecoder.Greedy(Log([0.1, 0.9], [0.1, 0.9], [0.1, 0.9]), 2).Labels); // a a a -> a
        // The blank need not be class 0: with blank = 2, path 0 2 0 1 -> 0 0 1.
        Assert.Equal([0, 0, 1], CtcDecoder.Greedy(Log([0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]), 3, blank: 2).Labels);
    }

    [Fact]
    public void BeamSearchBeatsGreedyWhenManyPathsShareALabeling()
    {
        // Two frames, P(blank) = 0.6, P(a) = 0.4. Best path "_ _" gives "" with 0.36, but "a" collects
        // a a + a _ + _ a = 0.16 + 0.24 + 0.24 = 0.64.
        var lp = Log([0.6, 0.4], [0.6, 0.4]);
        Assert.Empty(CtcDecoder.Greedy(lp, 2).Labels);
        var beam = CtcDecoder.BeamSearch(lp, 2, beamWidth: 4);
        Assert.Equal([1], beam[0].Labels);
        Assert.Equal(Math.Log(0.64), beam[0].LogProb, 5);
        Assert.Empty(beam[1].Labels);
        Assert.Equal(Math.Log(0.36), beam[1].LogProb, 5);
        Assert.Equal(2, beam.Length); // "a a" would need a blank between: impossible in 2 frames, so not listed
    }

    [Fact]
    public void BeamSearchKeepsRepeatsSeparatedByBlank()
    {
        // Frames favour a, _, a. "a a" has one path, a _ a; "a" has six: a a a, a a _, a _ _, _ a a, _ _ a, _ a _.
        var lp = Log([0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.9, 0.05]);
        var beam = CtcDecoder.BeamSearch(lp, 3, beamWidth: 16);
        Assert.Equal([1, 1], beam[0].Labels);
        Assert.Equal(Math.Log(0.9 * 0.9 * 0.9), beam[0].LogProb, 5); // the only path for "a a" in 3 frames is a _ a
        double pa = 0.9 * 0.05 * 0.9 + 0.9 * 0.05 * 0.05 + 0.9 * 0.9 * 0.05 + 0.05 * 0.05 * 0.9 + 0.05 * 0.9 * 0.9 + 0.05 * 0.05 * 0.05;
        var a = beam.Single(h => h.Labels.SequenceEqual([1]));
        Assert.Equal(Math.Log(pa), a.LogProb, 5);
        Assert.Equal([1, 1], CtcDecoder.Greedy(lp, 3).Labels);
    }

    [Fact]
    public void WideBeamGivesExactCtcProbabilities()
    {
        // With a beam wide enough to keep every prefix, each hypothesis's score is log P(labels | x), which is
        // exactly the negated CTC loss (here from the tests' independent reference); and all labelings sum to 1.
        int T = 4, C = 3;
        var logits = Torch.Randn([T, C], DType.Float64, generator: new Generator(21));
        var lp = logits.LogSoftmax(1).ToArray<float>();
        var beam = CtcDecoder.BeamSearch(lp, C, beamWidth: 1000);
        // Labelings over {a, b} that fit in 4 frames (length + adjacent repeats <= 4): 1 + 2 + 4 + 6 + 2.
        Assert.Equal(15, beam.Length);
        Assert.Equal(1.0, beam.Sum(h => Math.Exp(h.LogProb)), 4);
        foreach (var h in beam.Where(h => h.LogProb > -30))
        {
            var (nll, _) = CtcReference.Sample(lp.Select(v => (double)v).ToArray(), T, C, h.Labels, T, blank: 0);
            Assert.Equal(-nll, h.LogProb, 4);
        }
        // The best-first order holds.
        for (int i = 1; i < beam.Length; i++) Assert.True(beam[i - 1].LogProb >= beam[i].LogProb);
    }

    [Fact]
    public void NarrowBeamStillFindsTheClearWinner()
    {
        var lp = Log([0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]);
        var h = CtcDecoder.BeamSearch(lp, 3, beamWidth: 1);
        Assert.Single(h);
        Assert.Equal([1, 2], h[0].Labels);
    }

    [Fact]
    public void TensorOverloadsUseTheGivenLengths()
    {
        // Batch (T=3, N=2, C=2), rows in (t, n) order: sequence 0 is a _ a, sequence 1 is _ a _.
        var lp = Torch.Tensor(Log([0.1, 0.9], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.9, 0.1]), 3, 2, 2);
        var g = CtcDecoder.Greedy(lp, [3, 1]);
        Assert.Equal([1, 1], g[0].Labels);
        Assert.Empty(g[1].Labels);
        var b = CtcDecoder.BeamSearch(lp, [1, 2], beamWidth: 4);
        Assert.Equal([1], b[0].Labels);
        Assert.Equal([1], b[1].Labels);
        Assert.Equal(Math.Log(0.9 * 0.9 + 0.1 * 0.9 + 0.1 * 0.1), b[1].LogProb, 5); // _ a, a a, a _
        var single = Torch.Tensor(Log([0.1, 0.9], [0.9, 0.1], [0.1, 0.9]), 3, 2);
        Assert.Equal([1, 1], CtcDecoder.Greedy(single).Labels);
        Assert.Equal([1], CtcDecoder.Greedy(single, length: 2).Labels);
        Assert.Equal([1, 1], CtcDecoder.BeamSearch(single, beamWidth: 4)[0].Labels);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var lp = Log([0.5, 0.5]);
        Assert.Throws<ArgumentOutOfRangeException>(() => CtcDecoder.Greedy(lp, 2, blank: 2));
        Assert.Throws<ArgumentException>(() => CtcDecoder.Greedy(lp, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => CtcDecoder.BeamSearch(lp, 2, beamWidth: 0));
        Assert.Throws<ArgumentException>(() => CtcDecoder.Greedy(Torch.Zeros(2, 2, 2)));
        Assert.Throws<ArgumentException>(() => CtcDecoder.Greedy(Torch.Zeros(2, 2, 2), [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CtcDecoder.Greedy(Torch.Zeros(2, 2, 2), [1, 3]));
    }
}

public class ErrorRateTests
{
    [Theory]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("flaw", "lawn", 2)]
    [InlineData("", "abc", 3)]
    [InlineData("abc", "", 3)]
    [InlineData("abc", "abc", 0)]
    [InlineData("1123", "123", 1)]
    [InlineData("abcdef", "azced", 3)] // b -> z, delete d, f -> d
    public void EditDistanceHandWorked(string reference, string hypothesis, int expected)
    {
        Assert.Equal(expected, ErrorRates.EditDistance(reference, hypothesis));
        Assert.Equal(expected, ErrorRates.EditDistance(hypothesis, reference)); // symmetric
    }

    [Fact]
    public void CharacterErrorRate()
    {
        Assert.Equal(0.25, ErrorRates.Cer("1234", "1224"));     // one substitution in four
        Assert.Equal(1.0 / 3, ErrorRates.Cer("123", "1234"));    // one insertion over three
        Assert.Equal(3.0, ErrorRates.Cer("12", "345678"), 12);   // 2 substitutions + 4 insertions: CER can exceed 1
        Assert.Equal(0, ErrorRates.Cer("", ""));
        Assert.Equal(double.PositiveInfinity, ErrorRates.Cer("", "1"));
        // Corpus level: (1 + 0) edits over (2 + 4) characters, not the mean of 0.5 and 0.
        Assert.Equal(1.0 / 6, ErrorRates.Cer(["12", "3456"], ["1", "3456"]), 12);
    }

    [Fact]
    public void WordErrorRate()
    {
        Assert.Equal(1.0 / 3, ErrorRates.Wer("the cat sat", "the cat sat down"), 12);
        Assert.Equal(0.5, ErrorRates.Wer("a b c d", "a x c"), 12); // b -> x, d deleted
        Assert.Equal(0, ErrorRates.Wer("  one   two ", "one two"));  // whitespace runs split alike
        Assert.Equal(1, ErrorRates.Wer("one", "onetwo"));
        Assert.Equal(3.0 / 5, ErrorRates.Wer(["a b", "c d e"], ["a", "x y e"]), 12);
        Assert.Throws<ArgumentException>(() => ErrorRates.Wer(["a"], ["a", "b"]));
    }
}
