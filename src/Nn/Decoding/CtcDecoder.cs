namespace MiniGrad.Nn.Decoding;

/// <summary>A decoded label sequence (blanks removed, repeats collapsed) and its log-probability under the model.</summary>
/// <param name="Labels">The labels, e.g. indices into an <see cref="Data.Alphabet"/>.</param>
/// <param name="LogProb">Greedy: the log-probability of the best path; beam search: the log of the summed probability of every path that collapses to Labels (as far as the beam kept them).</param>
public sealed record CtcHypothesis(int[] Labels, double LogProb);

/// <summary>
/// CTC decoders over per-frame log-probabilities (T, C): greedy (best path) decoding and prefix beam search
/// (Hannun et al., 2014, "First-pass large vocabulary continuous speech recognition using bi-directional recurrent
/// DNNs", without a language model), both in log space.
/// </summary>
public static class CtcDecoder
{
    /// <summary>
    /// Best-path decoding: the most likely class in each frame, then repeats collapsed and blanks dropped (so
    /// "a a _ a" gives "a a": a blank between two equal labels keeps both).
    /// </summary>
    /// <param name="logProbs">Row-major (frames, classes) log-probabilities.</param>
    /// <param name="classes">Classes per frame, blank included.</param>
    /// <param name="blank">The blank's index.</param>
    public static CtcHypothesis Greedy(ReadOnlySpan<float> logProbs, int classes, int blank = 0)
    {
        int frames = CheckShape("Greedy", logProbs.Length, classes, blank);
        var labels = new List<int>();
        int prev = -1;
        double score = 0;
        for (int t = 0; t < frames; t++)
        {
            var row = logProbs.Slice(t * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            score += row[best];
            if (best != blank && best != prev) labels.Add(best);
            prev = best;
        }
        return new CtcHypothesis(labels.ToArray(), score);
    }

    /// <summary>Greedy decoding of a (T, C) tensor, or its first <paramref name="length"/> frames.</summary>
    public static CtcHypothesis Greedy(Tensor logProbs, int? length = null, int blank = 0)
    {
        var (data, c) = Rows("Greedy", logProbs, length);
        return Greedy(data, c, blank);
    }

    /// <summary>Greedy decoding of each sequence of a batch (T, N, C), the n-th using its first lengths[n] frames.</summary>
    public static CtcHypothesis[] Greedy(Tensor logProbs, int[] lengths, int blank = 0) =>
        Batch("Greedy", logProbs, lengths, (d, c) => Greedy(d, c, blank));

    /// <summary>
    /// Prefix beam search: keeps the <paramref name="beamWidth"/> most probable label prefixes, each with the
    /// probability of ending in a blank and of ending in its last label, so that every path collapsing to a prefix
    /// counts towards it (greedy decoding only follows the single best path). Returns hypotheses best first.
    /// </summary>
    /// <param name="logProbs">Row-major (frames, classes) log-probabilities.</param>
    /// <param name="classes">Classes per frame, blank included.</param>
    /// <param name="beamWidth">Prefixes kept after each frame (1 or more).</param>
    /// <param name="blank">The blank's index.</param>
    /// <param name="pruneLogProb">Classes whose log-probability in a frame is below this are not tried as extensions in that frame (the default tries all).</param>
    public static CtcHypothesis[] BeamSearch(ReadOnlySpan<float> logProbs, int classes, int beamWidth = 8, int blank = 0,
        double pruneLogProb = double.NegativeInfinity)
    {
        int frames = CheckShape("BeamSearch", logProbs.Length, classes, blank);
        if (beamWidth < 1) throw new ArgumentOutOfRangeException(nameof(beamWidth), beamWidth, "BeamSearch: beamWidth must be at least 1");

        // Prefixes live in a trie: node 0 is the empty prefix; a node's id identifies its whole label sequence.
        var parent = new List<int> { -1 };
        var last = new List<int> { -1 };
        var children = new List<Dictionary<int, int>?> { null };
        int Child(int node, int label)
        {
            var map = children[node] ??= new Dictionary<int, int>();
            if (map.TryGetValue(label, out int id)) return id;
            id = parent.Count;
            parent.Add(node); last.Add(label); children.Add(null);
            map[label] = id;
            return id;
        }

        var beam = new Dictionary<int, (double Pb, double Pnb)> { [0] = (0, double.NegativeInfinity) };
        var next = new Dictionary<int, (double Pb, double Pnb)>();
        void Add(int node, double pb, double pnb)
        {
            if (double.IsNegativeInfinity(pb) && double.IsNegativeInfinity(pnb)) return; // impossible: never listed
            if (next.TryGetValue(node, out var s)) next[node] = (LogAdd(s.Pb, pb), LogAdd(s.Pnb, pnb));
            else next[node] = (pb, pnb);
        }

        for (int t = 0; t < frames; t++)
        {
            var row = logProbs.Slice(t * classes, classes);
            next.Clear();
            foreach (var (node, (pb, pnb)) in beam)
            {
                double total = LogAdd(pb, pnb);
                int end = last[node];
                for (int c = 0; c < classes; c++)
                {
                    double p = row[c];
                    if (p < pruneLogProb && c != blank) continue;
                    if (c == blank) { Add(node, total + p, double.NegativeInfinity); continue; }
                    int ext = Child(node, c);
                    if (c == end)
                    {
                        // A repeat only extends the prefix after a blank; without one it merges into the same label.
                        Add(ext, double.NegativeInfinity, pb + p);
                        Add(node, double.NegativeInfinity, pnb + p);
                    }
                    else Add(ext, double.NegativeInfinity, total + p);
                }
            }
            // Keep the best beamWidth prefixes (ties broken by node id, so results do not depend on hashing order).
            var kept = next.OrderByDescending(kv => LogAdd(kv.Value.Pb, kv.Value.Pnb)).ThenBy(kv => kv.Key).Take(beamWidth).ToList();
            beam.Clear();
            foreach (var kv in kept) beam[kv.Key] = kv.Value;
        }

        return beam.Select(kv => (Node: kv.Key, Score: LogAdd(kv.Value.Pb, kv.Value.Pnb)))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Node)
            .Select(x => new CtcHypothesis(Labels(x.Node), x.Score)).ToArray();

        int[] Labels(int node)
        {
            var l = new List<int>();
            for (; node > 0; node = parent[node]) l.Add(last[node]);
            l.Reverse();
            return l.ToArray();
        }
    }

    /// <summary>Prefix beam search over a (T, C) tensor, or its first <paramref name="length"/> frames; hypotheses best first.</summary>
    public static CtcHypothesis[] BeamSearch(Tensor logProbs, int beamWidth = 8, int? length = null, int blank = 0)
    {
        var (data, c) = Rows("BeamSearch", logProbs, length);
        return BeamSearch(data, c, beamWidth, blank);
    }

    /// <summary>The best beam-search hypothesis of each sequence of a batch (T, N, C), the n-th using its first lengths[n] frames.</summary>
    public static CtcHypothesis[] BeamSearch(Tensor logProbs, int[] lengths, int beamWidth = 8, int blank = 0) =>
        Batch("BeamSearch", logProbs, lengths, (d, c) =>
            BeamSearch(d, c, beamWidth, blank) is { Length: > 0 } h ? h[0] : new CtcHypothesis([], double.NegativeInfinity));

    /// <summary>log(exp(a) + exp(b)) without overflow; -inf is the identity.</summary>
    public static double LogAdd(double a, double b)
    {
        if (double.IsNegativeInfinity(a)) return b;
        if (double.IsNegativeInfinity(b)) return a;
        return a > b ? a + Math.Log(1 + Math.Exp(b - a)) : b + Math.Log(1 + Math.Exp(a - b));
    }

    static int CheckShape(string op, int length, int classes, int blank)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"{op}: classes must be at least 1");
        if (length % classes != 0)
            throw new ArgumentException($"{op}: {length} log-probabilities do not form whole frames of {classes} classes", "logProbs");
        if (blank < 0 || blank >= classes)
            throw new ArgumentOutOfRangeException(nameof(blank), blank, $"{op}: blank = {blank} is outside [0, {classes})");
        return length / classes;
    }

    static (float[] Data, int Classes) Rows(string op, Tensor logProbs, int? length)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        if (logProbs.Rank != 2)
            throw new ArgumentException($"{op}: log-probs have shape {Shapes.Format(logProbs.Shape)}; expected 2-D (T, C) (use the lengths overload for a batch (T, N, C))", nameof(logProbs));
        int t = logProbs.Size(0), c = logProbs.Size(1), n = length ?? t;
        if (n < 0 || n > t) throw new ArgumentOutOfRangeException(nameof(length), length, $"{op}: length must be in [0, T = {t}]");
        var data = logProbs.ToArray<float>();
        return (n == t ? data : data[..(n * c)], c);
    }

    static CtcHypothesis[] Batch(string op, Tensor logProbs, int[] lengths, Func<float[], int, CtcHypothesis> decode)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        ArgumentNullException.ThrowIfNull(lengths);
        if (logProbs.Rank != 3)
            throw new ArgumentException($"{op}: log-probs have shape {Shapes.Format(logProbs.Shape)}; expected 3-D (T, N, C)", nameof(logProbs));
        int t = logProbs.Size(0), n = logProbs.Size(1), c = logProbs.Size(2);
        if (lengths.Length != n) throw new ArgumentException($"{op}: {lengths.Length} lengths for a batch of {n}", nameof(lengths));
        var all = logProbs.ToArray<float>();
        var result = new CtcHypothesis[n];
        for (int b = 0; b < n; b++)
        {
            int len = lengths[b];
            if (len < 0 || len > t) throw new ArgumentOutOfRangeException(nameof(lengths), len, $"{op}: lengths[{b}] = {len} is outside [0, T = {t}]");
            var seq = new float[len * c];
            for (int i = 0; i < len; i++) Array.Copy(all, (i * n + b) * c, seq, i * c, c);
            result[b] = decode(seq, c);
        }
        return result;
    }
}
