namespace MiniGrad.Nn;

/// <summary>
/// Checks CTC arguments before any work (DESIGN.md's error list) and turns targets into the concatenated host
/// form the kernels read. Padding positions past a target's length are never read.
/// </summary>
static class CtcArgs
{
    const string Op = "CtcLoss";

    public static (Tensor LogProbs, CtcTargets Targets, bool Unbatched) Validate(
        Tensor logProbs, Tensor targets, Tensor inputLengths, Tensor targetLengths, int blank)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(inputLengths);
        ArgumentNullException.ThrowIfNull(targetLengths);
        if (logProbs.Rank is not (2 or 3))
            throw new ArgumentException($"{Op}: log_probs must be 3-D (T, N, C) or 2-D (T, C) for an unbatched input, but has shape {Shapes.Format(logProbs.Shape)}", nameof(logProbs));
        if (!logProbs.DType.IsFloating())
            throw new ArgumentException($"{Op}: log_probs must be Float32 or Float64, but dtype is {logProbs.DType}", nameof(logProbs));
        bool unbatched = logProbs.Rank == 2;
        int T = logProbs.Size(0), N = unbatched ? 1 : logProbs.Size(1), C = logProbs.Size(-1);
        if (logProbs.Numel == 0) // as PyTorch: no frames, no sequences or no classes
            throw new ArgumentException($"{Op}: log_probs has shape {Shapes.Format(logProbs.Shape)}; expected a non-empty tensor (T, N, C >= 1)", nameof(logProbs));
        if (blank < 0 || blank >= C)
            throw new ArgumentOutOfRangeException(nameof(blank), blank, $"{Op}: blank = {blank} must be in [0, C) = [0, {C})");

        var il = Lengths(inputLengths, "input_lengths", N, unbatched);
        var tl = Lengths(targetLengths, "target_lengths", N, unbatched);
        for (int n = 0; n < N; n++)
            if (il[n] > T) throw new ArgumentException($"{Op}: input_lengths[{n}] = {il[n]} exceeds T = {T}", nameof(inputLengths));

        if (targets.DType is not (DType.Int32 or DType.Int64))
            throw new ArgumentException($"{Op}: targets must be Int32 or Int64 (integral class indices), but dtype is {targets.DType}", nameof(targets));
        var raw = targets.ToArray<long>();
        var offsets = new int[N];
        int stride;
        if (unbatched ? targets.Rank == 1 && raw.Length >= tl[0] : targets.Rank == 2)
        {
            // Padded (N, S), or the unbatched 1-D target: sample n starts at n * S.
            if (!unbatched && targets.Size(0) != N)
                throw new ArgumentException($"{Op}: padded targets must have N = {N} rows, but have shape {Shapes.Format(targets.Shape)}", nameof(targets));
            stride = unbatched ? 0 : targets.Size(1);
            int longest = tl.Max();
            int width = unbatched ? raw.Length : stride;
            if (width < longest)
                throw new ArgumentException($"{Op}: padded targets of shape {Shapes.Format(targets.Shape)} are narrower than the longest target (target_lengths max = {longest})", nameof(targets));
            for (int n = 0; n < N; n++) offsets[n] = n * stride;
        }
        else if (!unbatched && targets.Rank == 1)
        {
            long sum = tl.Sum(x => (long)x);
            if (raw.Length != sum)
                throw new ArgumentException($"{Op}: concatenated targets have length {raw.Length}, but sum(target_lengths) = {sum}", nameof(targets));
            for (int n = 1; n < N; n++) offsets[n] = offsets[n - 1] + tl[n - 1];
        }
        else
            throw new ArgumentException(unbatched
                ? $"{Op}: unbatched targets must be 1-D with at least target_length = {tl[0]} entries, but have shape {Shapes.Format(targets.Shape)}"
                : $"{Op}: targets must be 2-D padded (N, S) or 1-D concatenated, but have shape {Shapes.Format(targets.Shape)}", nameof(targets));

        var labels = new int[tl.Sum()];
        for (int n = 0, at = 0; n < N; n++)
            for (int s = 0; s < tl[n]; s++, at++)
            {
                long v = raw[offsets[n] + s];
                if (v < 0 || v >= C || v == blank)
                    throw new ArgumentException($"{Op}: targets[{n}][{s}] = {v} must be a class in [0, {C}) other than blank = {blank}", nameof(targets));
                labels[at] = (int)v;
            }
        var concatOffsets = new int[N];
        for (int n = 1; n < N; n++) concatOffsets[n] = concatOffsets[n - 1] + tl[n - 1];
        var lp = unbatched ? logProbs.Unsqueeze(1) : logProbs;
        return (lp, new CtcTargets(labels, concatOffsets, tl, il), unbatched);
    }

    static int[] Lengths(Tensor t, string name, int n, bool unbatched)
    {
        if (t.DType is not (DType.Int32 or DType.Int64))
            throw new ArgumentException($"{Op}: {name} must be integral (Int32 or Int64), but dtype is {t.DType}", name);
        if (t.Numel != n || (!unbatched && t.Rank != 1) || (unbatched && t.Rank > 1))
            throw new ArgumentException($"{Op}: {name} must have {n} entr{(n == 1 ? "y" : "ies")} (one per batch item), but has shape {Shapes.Format(t.Shape)}", name);
        var v = t.ToArray<long>();
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (v[i] < 0) throw new ArgumentException($"{Op}: {name}[{i}] = {v[i]} must be non-negative", name);
            if (v[i] > int.MaxValue) throw new ArgumentException($"{Op}: {name}[{i}] = {v[i]} is too large", name);
            r[i] = (int)v[i];
        }
        return r;
    }
}
