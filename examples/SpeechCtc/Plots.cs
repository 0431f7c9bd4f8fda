using ScottPlot;

namespace SpeechCtc;

/// <summary>PNG plots of a run (ScottPlot): training loss and validation CER over time, and CTC posteriors of one utterance.</summary>
static class Plots
{
    public static void Training(IReadOnlyList<Trainer.Row> rows, string dir)
    {
        var steps = rows.Where(r => r.ValCer is null).ToList();
        if (steps.Count > 0)
        {
            var plt = new Plot();
            plt.Add.Scatter(steps.Select(r => (double)r.GlobalStep).ToArray(), steps.Select(r => r.Loss).ToArray());
            plt.Title("Training loss (CTC, mean per target symbol)");
            plt.XLabel("step");
            plt.YLabel("loss");
            plt.SavePng(Path.Combine(dir, "loss.png"), 900, 500);
        }
        var epochs = rows.Where(r => r.ValCer is not null).ToList();
        if (epochs.Count > 0)
        {
            var plt = new Plot();
            plt.Add.Scatter(epochs.Select(r => (double)r.GlobalStep).ToArray(), epochs.Select(r => 100 * r.ValCer!.Value).ToArray());
            plt.Title("Validation CER (greedy decoding)");
            plt.XLabel("step");
            plt.YLabel("CER (%)");
            plt.SavePng(Path.Combine(dir, "val_cer.png"), 900, 500);
        }
    }

    /// <summary>One line per class: the posterior probability over the frames of one utterance (blank dashed).</summary>
    public static void Posteriors(float[] logProbs, int classes, string symbols, string title, string path)
    {
        int frames = logProbs.Length / classes;
        var plt = new Plot();
        var xs = Enumerable.Range(0, frames).Select(t => (double)t).ToArray();
        var names = MiniGrad.Nn.Data.Alphabet.SplitSymbols(symbols); // whole characters, so an emoji is one legend entry
        for (int c = 0; c < classes; c++)
        {
            var ys = Enumerable.Range(0, frames).Select(t => Math.Exp(logProbs[t * classes + c])).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.MarkerSize = 0;
            line.LineWidth = c == 0 ? 1 : 2;
            line.LegendText = c == 0 ? "blank" : names[c - 1].ToString();
            if (c == 0) { line.LinePattern = LinePattern.Dashed; line.Color = Colors.Black; }
        }
        plt.Title(title);
        plt.XLabel("model step (frame)");
        plt.YLabel("posterior probability");
        plt.ShowLegend(Alignment.UpperRight);
        plt.SavePng(path, 1200, 500);
    }

    /// <summary>
    /// Layers x steps heatmap of log10 gradient norms (issue: make gradient flow visible): vanishing gradients show as a
    /// dark band for the parameters far from the loss, exploding ones as a bright streak.
    /// </summary>
    public static void GradientFlow(MiniGrad.Nn.GradFlowRecorder flow, string path)
    {
        if (flow.Steps == 0) return;
        var names = flow.Names;
        var z = new double[names.Count, flow.Steps];
        for (int i = 0; i < names.Count; i++)
            for (int s = 0; s < flow.Steps; s++)
            {
                double v = flow.Rows[s][i];
                z[i, s] = double.IsFinite(v) && v > 0 ? Math.Log10(v) : double.NaN;
            }
        var plt = new Plot();
        if (!z.Cast<double>().Any(double.IsFinite))
        {
            // Every norm zero or not finite (e.g. no utterance could be aligned): nothing to colour.
            plt.Title("Gradient norm per parameter over training steps: no finite, nonzero norm recorded");
            plt.SavePng(path, 1200, 240);
            return;
        }
        var hm = plt.Add.Heatmap(z);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(hm).Label = "log10 |grad|";
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, names.Count).Select(i => (double)(names.Count - 1 - i)).ToArray(), names.ToArray());
        plt.Title("Gradient norm per parameter over training steps");
        plt.XLabel("step");
        plt.SavePng(path, 1200, 120 + 28 * names.Count);
    }
}
