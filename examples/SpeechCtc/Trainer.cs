using System.Diagnostics;
using System.Globalization;
using MiniGrad;
using MiniGrad.Nn;
using MiniGrad.Nn.Decoding;
using Spectre.Console;

namespace SpeechCtc;

/// <summary>Decoded output of one utterance.</summary>
sealed record Decoded(string Reference, string Greedy, string Beam);

/// <summary>
/// Where a run stands, saved in every checkpoint's metadata and read back by --resume: the epoch in progress and the
/// steps of it done, the global step, the time spent, the epoch's loss and speed so far (so that the epoch's row in
/// metrics.csv covers its steps before an interruption too), and the best validation CER.
/// </summary>
sealed class Progress
{
    public int Epoch;
    public int StepInEpoch;
    public long GlobalStep;
    public double ElapsedSec;
    public double EpochLossSum;
    public int EpochLossCount;
    public int EpochUtts;
    public double EpochSec;
    public double BestValCer = double.PositiveInfinity;

    public void WriteTo(Dictionary<string, string> meta)
    {
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        meta["epoch"] = I(Epoch);
        meta["step_in_epoch"] = I(StepInEpoch);
        meta["global_step"] = I(GlobalStep);
        meta["elapsed_s"] = R(ElapsedSec);
        meta["epoch_loss_sum"] = R(EpochLossSum);
        meta["epoch_loss_count"] = I(EpochLossCount);
        meta["epoch_utts"] = I(EpochUtts);
        meta["epoch_s"] = R(EpochSec);
        if (double.IsFinite(BestValCer)) meta["best_val_cer"] = R(BestValCer);
    }

    /// <summary>The progress in a checkpoint; the epoch accumulators and best CER are optional (older checkpoints lack them).</summary>
    public static Progress Read(Metadata m)
    {
        var p = new Progress
        {
            Epoch = m.Int("epoch", 0, 10_000_000),
            StepInEpoch = m.Int("step_in_epoch", 0, int.MaxValue),
            GlobalStep = m.Long("global_step", 0, long.MaxValue / 2),
            ElapsedSec = m.Has("elapsed_s") ? m.Double("elapsed_s", 0, 1e12) : 0,
        };
        if (m.Has("epoch_loss_count"))
        {
            p.EpochLossCount = m.Int("epoch_loss_count", 0, int.MaxValue);
            p.EpochLossSum = m.Double("epoch_loss_sum", 0, double.MaxValue);
            p.EpochUtts = m.Int("epoch_utts", 0, int.MaxValue);
            p.EpochSec = m.Double("epoch_s", 0, 1e12);
        }
        if (m.Has("best_val_cer")) p.BestValCer = m.Double("best_val_cer", 0, 1e6);
        return p;
    }
}

/// <summary>
/// The training loop: Adam with gradient clipping and a warm-up/cosine learning rate laid over the run's total steps,
/// progress, checkpoints (last and best by validation CER), metrics.
/// </summary>
sealed class Trainer(Options o, SpeechModel model, Device device, Example[] train, Example[] validation)
{
    /// <summary>One row of metrics.csv.</summary>
    public sealed record Row(int Epoch, int Step, long GlobalStep, double Loss, double UttPerSec, double? ValCer, double ElapsedSec);

    public const string CsvHeader = "epoch,step,global_step,loss,utt_per_s,val_cer,elapsed_s";

    public List<Row> Rows { get; } = new();

    /// <summary>Each parameter's gradient norm per step (before clipping), for the gradient-flow picture.</summary>
    public GradFlowRecorder Flow { get; } = new(model);
    public bool Interrupted { get; private set; }
    public bool OutOfTime { get; private set; }

    public string LastPath => Path.Combine(o.Out, "last.safetensors");
    public string BestPath => Path.Combine(o.Out, "best.safetensors");
    public string FlowCsv => Path.Combine(o.Out, "gradient_flow.csv");

    static string F(double v, string fmt = "G6") => v.ToString(fmt, CultureInfo.InvariantCulture);

    /// <summary>The learning rate at a step: linear warm-up over the first 3% of the steps, then cosine decay to 5%.</summary>
    public static double LearningRate(double peak, long globalStep, long totalSteps)
    {
        double progress = Math.Min(1, (double)globalStep / Math.Max(1, totalSteps));
        return peak * (progress < 0.03 ? (globalStep + 1) / (0.03 * totalSteps + 1) : 0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * (progress - 0.03) / 0.97)));
    }

    /// <summary>
    /// Whether the checkpoint at a step may become best.safetensors: only from the second half of the schedule on. Before,
    /// the learning rate is above half its peak and the weights still move fast; a validation CER on one held-out voice
    /// then swings by 5-10 points from epoch to epoch, and on the mixed flite + festival corpus a lucky low picked
    /// checkpoints from steps 714 and 924 of 2,000 that did 2-3 times worse on the unseen test voices than the last one
    /// (14.99% against 5.54%, 22.25% against 10.35%); from the second half the best ones did 7.08% and 11.35%
    /// (benchmarks/speech-voices/README.md). A run stopped before the half (time budget) has no best and is evaluated
    /// with its last weights.
    /// </summary>
    public static bool IsBestCandidate(long globalStep, long totalSteps) => 2 * globalStep >= totalSteps;

    readonly Augmentation? augmentation = Augmentation.From(o);

    /// <summary>The step's utterances as the model sees them in training: augmented, from a generator of the seed, epoch
    /// and step, so that a resumed run sees what an uninterrupted one would.</summary>
    Example[] Augment(Example[] items, int epoch, int step)
    {
        if (augmentation is null) return items;
        var g = new Generator((o.Seed * 1000003L + epoch) * 100003L + step);
        return items.Select(e => augmentation.Apply(e, model.Config.Stack, g)).ToArray();
    }

    /// <summary>Trains for totalSteps optimizer steps in all, from the progress of a checkpoint (or from scratch).</summary>
    public Adam Run(Progress? resumed, Adam optimizer, long totalSteps, CancellationToken stop)
    {
        var p = resumed ?? new Progress();
        int dim = model.Config.InputSize;
        Directory.CreateDirectory(o.Out);
        string csv = Path.Combine(o.Out, "metrics.csv");
        if (resumed is null || !File.Exists(csv)) File.WriteAllText(csv, CsvHeader + "\n");
        if (resumed is not null && File.Exists(FlowCsv))
        {
            try { Flow.LoadCsv(FlowCsv, resumed.GlobalStep); }
            catch (Exception e) when (e is FormatException or IOException)
            {
                AnsiConsole.MarkupLine($"[yellow]note[/]: the earlier gradient flow is not continued: {Markup.Escape(e.Message)}");
            }
        }
        if (resumed is not null && Flow.Steps != resumed.GlobalStep)
            AnsiConsole.MarkupLine($"[yellow]note[/]: gradient_flow.csv held {Flow.Steps} of the checkpoint's {resumed.GlobalStep} steps; the picture starts there");

        var clock = Stopwatch.StartNew();
        double elapsedBefore = p.ElapsedSec;
        double Elapsed() => elapsedBefore + clock.Elapsed.TotalSeconds;
        bool interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

        var table = new Table().Border(TableBorder.Rounded).Title("[bold]training[/]")
            .AddColumns("epoch", "steps", "loss", "utt/s", "val CER", "lr", "time");
        string status = "";
        int shownRows = 0;

        void Body(Action refresh)
        {
            for (int epoch = p.Epoch; p.GlobalStep < totalSteps && !Interrupted; epoch++)
            {
                // The epoch's batches: each utterance in one of its augmented views (when augmenting), bucketed by
                // that length and shuffled, all from generators of the seed and epoch, so that a resumed run sees what
                // an uninterrupted one would; masking and padding run a couple of batches ahead on the loader's thread.
                int e = epoch;
                var data = augmentation is null ? train
                    : Augmentation.ChooseViews(train, model.Config.Stack, new Generator((o.Seed * 1000003L + epoch) * 100003L - 1));
                var loader = Corpus.TrainLoader(data, o.BatchSize, new Generator(o.Seed * 1000003L + epoch),
                    (items, b) => Corpus.MakeBatch(Augment(items, e, b), dim, MiniGrad.Device.Cpu));
                double windowLoss = 0;
                int windowCount = 0;
                var epochClock = Stopwatch.StartNew();
                double epochSecBefore = p.EpochSec;
                double EpochSec() => epochSecBefore + epochClock.Elapsed.TotalSeconds;
                p.Epoch = epoch;
                model.Train();
                int step = p.StepInEpoch - 1;
                foreach (var batch in loader.Batches(p.StepInEpoch))
                {
                    step++;
                    if (p.GlobalStep >= totalSteps) break;
                    optimizer.Lr = LearningRate(o.Lr, p.GlobalStep, totalSteps);
                    double l;
                    // The step's tensors (the batch's included) go back to MiniGrad's pool when it ends: the next step
                    // reuses their storage instead of leaving the garbage collector ~100 MB per step.
                    using (Torch.NewScope())
                    {
                        optimizer.ZeroGrad();
                        var lp = model.Forward(batch.Features.To(device), batch.InputLengths);
                        var loss = Functional.CtcLoss(lp, batch.Targets.To(device), batch.InputLengths, batch.TargetLengths, blank: 0,
                            reduction: Reduction.Mean, zeroInfinity: true);
                        loss.Backward();
                        Flow.Record();
                        Functional.ClipGradNorm(model.Parameters(), o.ClipNorm);
                        optimizer.Step();
                        l = loss.Item<float>();
                    }
                    p.GlobalStep++;
                    p.StepInEpoch = step + 1;
                    p.EpochLossSum += l; p.EpochLossCount++; windowLoss += l; windowCount++; p.EpochUtts += batch.Items.Length;
                    p.EpochSec = EpochSec();
                    double ups = p.EpochUtts / Math.Max(1e-9, p.EpochSec);

                    bool outOfTime = clock.Elapsed.TotalSeconds > o.TimeBudget, stopping = stop.IsCancellationRequested || outOfTime;
                    bool last = step == loader.Count - 1 || p.GlobalStep == totalSteps;
                    if (windowCount == 10 || last || stopping)
                    {
                        Log(new Row(epoch + 1, step + 1, p.GlobalStep, windowLoss / windowCount, ups, null, Elapsed()), csv);
                        windowLoss = 0; windowCount = 0;
                    }
                    status = ($"epoch {epoch + 1}  {Bar((double)p.GlobalStep / totalSteps)} step {p.GlobalStep}/{totalSteps}  loss {p.EpochLossSum / p.EpochLossCount:F3}  {ups:F0} utt/s  {Elapsed():F0} s");
                    if (!interactive && (step + 1) % 20 == 0)
                        Console.WriteLine($"  epoch {epoch + 1} step {step + 1}/{loader.Count} ({p.GlobalStep}/{totalSteps}) loss {p.EpochLossSum / p.EpochLossCount:F3} {ups:F0} utt/s");
                    refresh();

                    if (stopping)
                    {
                        Interrupted = true;
                        OutOfTime = outOfTime;
                        p.ElapsedSec = Elapsed();
                        Save(LastPath, optimizer, p, totalSteps);
                        string why = outOfTime ? $"time budget of {o.TimeBudget:F0} s reached" : "stopped by Ctrl+C";
                        status = ($"[yellow]{why}: checkpoint saved after epoch {epoch + 1} step {step + 1}; continue with --resume {Markup.Escape(LastPath)}[/]");
                        refresh();
                        if (!interactive) Console.WriteLine($"{why}: checkpoint saved after epoch {epoch + 1} step {step + 1}");
                        break;
                    }
                }
                if (Interrupted) break;
                // The epoch is complete, or the run's last step came within it: validate, log, keep last and best.
                double valCer = Evaluate(model, validation, o.BatchSize, device, beamWidth: 0).Cer;
                var row = new Row(epoch + 1, p.StepInEpoch, p.GlobalStep, p.EpochLossSum / Math.Max(1, p.EpochLossCount),
                    p.EpochUtts / Math.Max(1e-9, p.EpochSec), valCer, Elapsed());
                Log(row, csv);
                table.AddRow((epoch + 1).ToString(CultureInfo.InvariantCulture), p.GlobalStep.ToString(CultureInfo.InvariantCulture), row.Loss.ToString("F4", CultureInfo.InvariantCulture),
                    row.UttPerSec.ToString("F0", CultureInfo.InvariantCulture), $"{100 * valCer:F2}%", optimizer.Lr.ToString("G3", CultureInfo.InvariantCulture), $"{Elapsed():F0} s");
                if (!interactive) Console.WriteLine($"epoch {epoch + 1}: loss {row.Loss:F4}, {row.UttPerSec:F0} utt/s, validation CER {100 * valCer:F2}%, {Elapsed():F0} s");
                refresh();
                // Ties go to the later checkpoint: the same validation CER after more training (and a lower learning rate).
                bool better = IsBestCandidate(p.GlobalStep, totalSteps) && valCer <= p.BestValCer;
                if (better) p.BestValCer = valCer;
                if (p.StepInEpoch == loader.Count)
                {
                    p.Epoch = epoch + 1; p.StepInEpoch = 0;
                    p.EpochLossSum = 0; p.EpochLossCount = 0; p.EpochUtts = 0; p.EpochSec = 0;
                }
                p.ElapsedSec = Elapsed();
                Save(LastPath, optimizer, p, totalSteps);
                if (better) Save(BestPath, optimizer, p, totalSteps);
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

    /// <summary>
    /// A checkpoint with the model shape, the run's settings (checked on --resume) and its progress; the gradient
    /// flow so far goes to gradient_flow.csv with it, so that a resumed run continues the picture.
    /// </summary>
    public void Save(string path, Optimizer optimizer, Progress p, long totalSteps)
    {
        var meta = model.Config.ToMetadata();
        p.WriteTo(meta);
        meta["total_steps"] = totalSteps.ToString(CultureInfo.InvariantCulture);
        meta["batch_size"] = o.BatchSize.ToString(CultureInfo.InvariantCulture);
        meta["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture);
        meta["lr"] = F(o.Lr, "R");
        meta["clip"] = F(o.ClipNorm, "R");
        meta["dropout"] = F(o.Dropout, "R");
        if (o.Data is null)
        {
            meta["train_size"] = o.TrainSize.ToString(CultureInfo.InvariantCulture);
            meta["val_size"] = o.ValSize.ToString(CultureInfo.InvariantCulture);
        }
        Checkpoint.Save(model, path, optimizer, meta);
        // The steps since the last save only (the whole table after each epoch cost 3 s of a 6,000-step run, growing with
        // the square of the steps); the first save of a run writes the whole file, whatever an earlier run left there.
        Flow.AppendCsv(FlowCsv, flowWritten >= 0 && File.Exists(FlowCsv) ? flowWritten : 0);
        flowWritten = Flow.Steps;
    }

    int flowWritten = -1; // the steps of Flow in FlowCsv, once this run has written it

    /// <summary>Greedy CER/WER (and beam-search CER/WER when beamWidth &gt; 0) over a set, with every decoded utterance.</summary>
    public static (double Cer, double Wer, double BeamCer, double BeamWer, List<Decoded> Outputs) Evaluate(
        SpeechModel model, Example[] data, int batchSize, Device device, int beamWidth)
    {
        model.Eval();
        var outputs = new List<Decoded>();
        var alphabet = model.Config.Alphabet;
        using (Torch.NoGrad())
            foreach (var batch in Corpus.EvalLoader(data, batchSize, model.Config.InputSize, device))
            {
                using var scope = Torch.NewScope();
                var items = batch.Items;
                var lp = model.Forward(batch.Features, batch.InputLengths).To(MiniGrad.Device.Cpu);
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
