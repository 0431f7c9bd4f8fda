using ScottPlot;

namespace DigitClassifier;

/// <summary>The confusion matrix as a PNG heatmap (ScottPlot), with the count written in each cell.</summary>
static class Plots
{
    public static void Confusion(int[,] m, string title, string path)
    {
        // Each row as a fraction of its digit's utterances, so that the colours compare digits with different counts.
        var z = new double[10, 10];
        for (int r = 0; r < 10; r++)
        {
            double total = Enumerable.Range(0, 10).Sum(c => m[r, c]);
            for (int c = 0; c < 10; c++) z[r, c] = total > 0 ? m[r, c] / total : 0;
        }
        var plt = new Plot();
        var hm = plt.Add.Heatmap(z);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(hm); // colour: the fraction of the row (the spoken digit's utterances)
        // Row 0 of the array is drawn at the top, at y = 9.
        for (int r = 0; r < 10; r++)
            for (int c = 0; c < 10; c++)
            {
                if (m[r, c] == 0) continue;
                var t = plt.Add.Text(m[r, c].ToString(System.Globalization.CultureInfo.InvariantCulture), c, 9 - r);
                t.LabelAlignment = Alignment.MiddleCenter;
                t.LabelFontSize = 14;
                t.LabelFontColor = z[r, c] > 0.5 ? Colors.Black : Colors.White;
            }
        var ticks = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, ticks.Select(i => i.ToString("0")).ToArray());
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, ticks.Select(i => (9 - i).ToString("0")).ToArray());
        plt.Axes.SetLimits(-0.5, 9.5, -0.5, 9.5);
        plt.Title(title + "\n(colour: fraction of the spoken digit's utterances)");
        plt.XLabel("predicted digit");
        plt.YLabel("spoken digit");
        plt.SavePng(path, 760, 640);
    }
}
