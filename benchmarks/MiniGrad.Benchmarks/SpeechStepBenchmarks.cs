using BenchmarkDotNet.Attributes;
using MiniGrad.Nn;

namespace MiniGrad.Benchmarks;

/// <summary>
/// One training step of a toy speech model, the shape `run.sh bench speech` times in libtorch: 2-layer bidirectional
/// LSTM (40 features, hidden 128) -> Linear(256, 29) -> LogSoftmax -> CTC (T=150, N=16, L=30), then
/// ClipGradNorm(5) and an Adam step. Scoped: inside Torch.NewScope(), as the examples train (every tensor of the step
/// returns to the pool); without it the forward's tensors are left to the GC. Both with MiniGrad's GC settings and with
/// the runtime's defaults (GcSettingsConfig), allocations and collections per step from the MemoryDiagnoser.
/// </summary>
[Config(typeof(GcSettingsConfig))]
public class SpeechStepBenchmarks
{
    [Params(false, true)]
    public bool Scoped { get; set; }

    Lstm lstm = null!;
    Linear proj = null!;
    Adam opt = null!;
    List<Parameter> ps = null!;
    Tensor x = null!, targets = null!;
    readonly int[] inputLengths = Enumerable.Repeat(150, 16).ToArray(), targetLengths = Enumerable.Repeat(30, 16).ToArray();

    [GlobalSetup]
    public void Setup()
    {
        Torch.ManualSeed(0);
        lstm = new Lstm(40, 128, 2, bidirectional: true);
        proj = new Linear(256, 29);
        ps = lstm.Parameters().Concat(proj.Parameters()).ToList();
        opt = new Adam(ps, 1e-3);
        x = Torch.Randn(150, 16, 40);
        targets = Torch.Randint(1, 29, [16, 30]);
        Warmup.Run(TrainingStep);
    }

    [Benchmark]
    public void TrainingStep()
    {
        using var scope = Scoped ? Torch.NewScope() : null;
        opt.ZeroGrad();
        var lp = proj.Forward(lstm.Forward(x).Output).LogSoftmax(2);
        Functional.CtcLoss(lp, targets, inputLengths, targetLengths).Backward();
        Functional.ClipGradNorm(ps, 5.0);
        opt.Step();
    }
}
