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
        for (int c = 0; c < classes; c++)
        {
            var ys = Enumerable.Range(0, frames).Select(t => Math.Exp(logProbs[t * classes + c])).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.MarkerSize = 0;
            line.LineWidth = c == 0 ? 1 : 2;
            line.LegendText = c == 0 ? "blank" : symbols[c - 1].ToString();
            if (c == 0) { line.LinePattern = LinePattern.Dashed; line.Color = Colors.Black; }
        }
        plt.Title(title);
        plt.XLabel("model step (frame)");
        plt.YLabel("posterior probability");
        plt.ShowLegend(Alignment.UpperRight);
        plt.SavePng(path, 1200, 500);
    }
}
