using System.Diagnostics;
using System.Globalization;
using MiniGrad;
using MiniGrad.Nn;
using MiniGrad.Nn.Decoding;
using Spectre.Console;

namespace SpeechCtc;

/// <summary>Decoded output of one utterance.</summary>
sealed record Decoded(string Reference, string Greedy, string Beam);

/// <summary>The training loop: Adam with gradient clipping and a warm-up/cosine learning rate, progress, checkpoints, metrics.</summary>
sealed class Trainer(Options o, SpeechModel model, Device device, Example[] train, Example[] validation)
{
    /// <summary>One row of metrics.csv.</summary>
    public sealed record Row(int Epoch, int Step, long GlobalStep, double Loss, double UttPerSec, double? ValCer, double ElapsedSec);

    public List<Row> Rows { get; } = new();

    /// <summary>Each parameter's gradient norm per step (before clipping), for the gradient-flow picture.</summary>
    public GradFlowRecorder Flow { get; } = new(model);
    public bool Interrupted { get; private set; }

    static string F(double v, string fmt = "G6") => v.ToString(fmt, CultureInfo.InvariantCulture);

    /// <summary>Trains from the state in the checkpoint metadata (or from scratch) and returns the optimizer.</summary>
    public Adam Run(IReadOnlyDictionary<string, string>? resumed, Adam optimizer, CancellationToken stop)
    {
        var alphabetSymbols = model.Config.Symbols;
        int startEpoch = resumed is not null && resumed.TryGetValue("epoch", out var e) ? int.Parse(e, CultureInfo.InvariantCulture) : 0;
        int skipSteps = resumed is not null && resumed.TryGetValue("step_in_epoch", out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : 0;
        long globalStep = resumed is not null && resumed.TryGetValue("global_step", out var g) ? long.Parse(g, CultureInfo.InvariantCulture) : 0;
        double elapsedBefore = resumed is not null && resumed.TryGetValue("elapsed_s", out var el) ? double.Parse(el, CultureInfo.InvariantCulture) : 0;
        int stepsPerEpoch = (train.Length + o.BatchSize - 1) / o.BatchSize;
        long totalSteps = (long)stepsPerEpoch * o.Epochs;
        int dim = model.Config.InputSize;
        Directory.CreateDirectory(o.Out);
        string csv = Path.Combine(o.Out, "metrics.csv");
        if (resumed is null || !File.Exists(csv)) File.WriteAllText(csv, "epoch,step,global_step,loss,utt_per_s,val_cer,elapsed_s\n");

        var clock = Stopwatch.StartNew();
        double Elapsed() => elapsedBefore + clock.Elapsed.TotalSeconds;
        bool interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

        var table = new Table().Border(TableBorder.Rounded).Title("[bold]training[/]")
            .AddColumns("epoch", "steps", "loss", "utt/s", "val CER", "lr", "time");
        string status = "";
        int shownRows = 0;

        void Body(Action refresh)
        {
            for (int epoch = startEpoch; epoch < o.Epochs && !Interrupted; epoch++)
            {
                var rng = new Generator(o.Seed * 1000003L + epoch);
                var batches = Corpus.EpochBatches(train, o.BatchSize, rng);
                double lossSum = 0, windowLoss = 0;
                int lossCount = 0, windowCount = 0, utts = 0;
                var epochClock = Stopwatch.StartNew();
                model.Train();
                for (int step = skipSteps; step < batches.Count; step++)
                {
                    // Learning rate: linear warm-up over the first 3% of steps, then cosine decay to 5%.
                    double progress = Math.Min(1, (double)globalStep / Math.Max(1, totalSteps));
                    optimizer.Lr = o.Lr * (progress < 0.03 ? (globalStep + 1) / (0.03 * totalSteps + 1) : 0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * (progress - 0.03) / 0.97)));

                    var batch = Corpus.MakeBatch(batches[step], dim, device);
                    optimizer.ZeroGrad();
                    var lp = model.Forward(batch.Features);
                    var loss = Functional.CtcLoss(lp, batch.Targets.To(device), batch.InputLengths, batch.TargetLengths, blank: 0,
                        reduction: Reduction.Mean, zeroInfinity: true);
                    loss.Backward();
                    Flow.Record();
                    Functional.ClipGradNorm(model.Parameters(), o.ClipNorm);
                    optimizer.Step();
                    double l = loss.Item<float>();
                    globalStep++;
                    lossSum += l; lossCount++; windowLoss += l; windowCount++; utts += batch.Items.Length;
                    double ups = utts / epochClock.Elapsed.TotalSeconds;

                    bool last = step == batches.Count - 1;
                    if (windowCount == 10 || last)
                    {
                        Log(new Row(epoch + 1, step + 1, globalStep, windowLoss / windowCount, ups, null, Elapsed()), csv);
                        windowLoss = 0; windowCount = 0;
                    }
                    status = ($"epoch {epoch + 1}/{o.Epochs}  {Bar((double)(step + 1) / batches.Count)} step {step + 1}/{batches.Count}  loss {lossSum / lossCount:F3}  {ups:F0} utt/s  {Elapsed():F0} s");
                    if (!interactive && (step + 1) % 20 == 0)
                        Console.WriteLine($"  epoch {epoch + 1} step {step + 1}/{batches.Count} loss {lossSum / lossCount:F3} {ups:F0} utt/s");
                    refresh();

                    bool outOfTime = Elapsed() > o.TimeBudget;
                    if (stop.IsCancellationRequested || outOfTime)
                    {
                        Interrupted = true;
                        int done = step + 1 == batches.Count ? 0 : step + 1;
                        Save(Path.Combine(o.Out, "last.safetensors"), optimizer, done == 0 ? epoch + 1 : epoch, done, globalStep, Elapsed());
                        string why = outOfTime ? $"time budget of {o.TimeBudget:F0} s reached" : "stopped by Ctrl+C";
                        status = ($"[yellow]{why}: checkpoint saved after epoch {epoch + 1} step {step + 1}; continue with --resume {Markup.Escape(Path.Combine(o.Out, "last.safetensors"))}[/]");
                        refresh();
                        if (!interactive) Console.WriteLine($"{why}: checkpoint saved after epoch {epoch + 1} step {step + 1}");
                        break;
                    }
                }
                skipSteps = 0;
                if (Interrupted) break;
                double valCer = Evaluate(model, validation, o.BatchSize, device, beamWidth: 0).Cer;
                var row = new Row(epoch + 1, batches.Count, globalStep, lossSum / Math.Max(1, lossCount), utts / epochClock.Elapsed.TotalSeconds, valCer, Elapsed());
                Log(row, csv);
                table.AddRow((epoch + 1).ToString(CultureInfo.InvariantCulture), globalStep.ToString(CultureInfo.InvariantCulture), row.Loss.ToString("F4", CultureInfo.InvariantCulture),
                    row.UttPerSec.ToString("F0", CultureInfo.InvariantCulture), $"{100 * valCer:F2}%", optimizer.Lr.ToString("G3", CultureInfo.InvariantCulture), $"{Elapsed():F0} s");
                if (!interactive) Console.WriteLine($"epoch {epoch + 1}: loss {row.Loss:F4}, {row.UttPerSec:F0} utt/s, validation CER {100 * valCer:F2}%, {Elapsed():F0} s");
                refresh();
                if (!Interrupted) Save(Path.Combine(o.Out, "last.safetensors"), optimizer, epoch + 1, 0, globalStep, Elapsed());
            }
        }

        if (interactive)
            AnsiConsole.Live(new Rows(table, new Markup(""))).AutoClear(false)
                .Start(ctx =>
                {
                    var shown = Stopwatch.StartNew();
                    Body(() =>
                    {
                        if (shown.ElapsedMilliseconds < 100 && table.Rows.Count == shownRows) return; // redraw at most 10 times a second
                        shown.Restart();
                        shownRows = table.Rows.Count;
                        ctx.UpdateTarget(new Rows(table, new Markup(status)));
                        ctx.Refresh();
                    });
                    ctx.UpdateTarget(new Rows(table, new Markup(status)));
                    ctx.Refresh();
                });
        else Body(() => { });
        return optimizer;
    }

    static string Bar(double fraction, int width = 24)
    {
        int full = (int)Math.Round(fraction * width);
        return $"[green]{new string('━', full)}[/][grey]{new string('━', width - full)}[/] {100 * fraction,3:F0}%";
    }

    void Log(Row r, string csv)
    {
        Rows.Add(r);
        File.AppendAllText(csv, string.Join(',', r.Epoch, r.Step, r.GlobalStep, F(r.Loss), F(r.UttPerSec, "F1"),
            r.ValCer is { } v ? F(v) : "", F(r.ElapsedSec, "F2")) + "\n");
    }

    public void Save(string path, Optimizer optimizer, int epochsDone, int stepInEpoch, long globalStep, double elapsed)
    {
        var meta = model.Config.ToMetadata();
        meta["epoch"] = epochsDone.ToString(CultureInfo.InvariantCulture);
        meta["step_in_epoch"] = stepInEpoch.ToString(CultureInfo.InvariantCulture);
        meta["global_step"] = globalStep.ToString(CultureInfo.InvariantCulture);
        meta["elapsed_s"] = F(elapsed, "R");
        meta["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture);
        Checkpoint.Save(model, path, optimizer, meta);
    }

    /// <summary>Greedy CER/WER (and beam-search CER/WER when beamWidth &gt; 0) over a set, with every decoded utterance.</summary>
    public static (double Cer, double Wer, double BeamCer, double BeamWer, List<Decoded> Outputs) Evaluate(
        SpeechModel model, Example[] data, int batchSize, Device device, int beamWidth)
    {
        model.Eval();
        var outputs = new List<Decoded>();
        var alphabet = new MiniGrad.Nn.Data.Alphabet(model.Config.Symbols);
        using (Torch.NoGrad())
            foreach (var items in Corpus.EvalBatches(data, batchSize))
            {
                var batch = Corpus.MakeBatch(items, model.Config.InputSize, device);
                var lp = model.Forward(batch.Features).To(MiniGrad.Device.Cpu);
                var greedy = CtcDecoder.Greedy(lp, batch.InputLengths);
                var beam = beamWidth > 0 ? CtcDecoder.BeamSearch(lp, batch.InputLengths, beamWidth) : null;
                for (int i = 0; i < items.Length; i++)
                    outputs.Add(new Decoded(items[i].Transcript, alphabet.Decode(greedy[i].Labels), beam is null ? "" : alphabet.Decode(beam[i].Labels)));
            }
        model.Train();
        var refs = outputs.Select(d => d.Reference).ToList();
        double cer = ErrorRates.Cer(refs, outputs.Select(d => d.Greedy)), wer = ErrorRates.Wer(refs, outputs.Select(d => d.Greedy));
        double bcer = beamWidth > 0 ? ErrorRates.Cer(refs, outputs.Select(d => d.Beam)) : double.NaN;
        double bwer = beamWidth > 0 ? ErrorRates.Wer(refs, outputs.Select(d => d.Beam)) : double.NaN;
        return (cer, wer, bcer, bwer, outputs);
    }
}
