// The seed's two CTC examples (PyTorch's nn.CTCLoss documentation, via R torch's nn_ctc_loss), ported to C#.
// See README.md here for the two slips in the R version that this port fixes.
using MiniGrad;
using MiniGrad.Nn;

if (args.Length > 0) // no options: a user who gives one learns so instead of seeing it ignored
{
    bool help = args is ["--help" or "-h"];
    (help ? Console.Out : Console.Error).WriteLine(help ? "usage: CtcLoss   (no arguments; runs PyTorch's two nn.CTCLoss examples)"
        : $"error: CtcLoss takes no arguments, got '{args[0]}'\nusage: CtcLoss");
    Environment.Exit(help ? 0 : 2);
}

Torch.ManualSeed(0);
var ctcLoss = new CtcLoss(blank: 0, reduction: Reduction.Mean, zeroInfinity: false);

// 1. Targets padded to (N, S).
{
    int T = 50, C = 20, N = 16, S = 30, SMin = 10; // input length, classes (with blank), batch, padded and shortest target
    var input = Torch.Randn(T, N, C).LogSoftmax(2).Detach().RequiresGrad_();
    var target = Torch.Randint(1, C, [N, S], DType.Int64);
    var inputLengths = Torch.Full([N], T, DType.Int64);
    var targetLengths = Torch.Randint(SMin, S, [N], DType.Int64);
    var loss = ctcLoss.Forward(input, target, inputLengths, targetLengths);
    loss.Backward();
    Report("padded targets", loss, input);
}

// 2. Targets un-padded: one 1-D tensor of length sum(target_lengths).
{
    int T = 50, C = 20, N = 16;
    var input = Torch.Randn(T, N, C).LogSoftmax(2).Detach().RequiresGrad_();
    var inputLengths = Torch.Full([N], T, DType.Int64);
    var targetLengths = Torch.Randint(1, T, [N], DType.Int64);
    var target = Torch.Randint(1, C, [(int)targetLengths.Sum().Item<long>()], DType.Int64);
    var loss = ctcLoss.Forward(input, target, inputLengths, targetLengths);
    loss.Backward();
    Report("un-padded targets", loss, input);
    // A target longer than the input can align to is infeasible: its loss is +inf and the mean is +inf, exactly as
    // in PyTorch; zeroInfinity: true drops it. (With seed 0 every target here fits: both lines print the same loss.)
    var dropped = new CtcLoss(zeroInfinity: true).Forward(input, target, inputLengths, targetLengths);
    Console.WriteLine($"  same batch with zeroInfinity: loss = {dropped.Item<float>():F4}");
}

static void Report(string name, Tensor loss, Tensor input)
{
    var g = input.Grad!;
    double norm = Math.Sqrt(g.To(DType.Float64).Pow(2).Sum().Item<double>());
    Console.WriteLine($"{name}: loss = {loss.Item<float>():F4}, |grad| = {norm:F6}, grad shape {Shapes.Format(g.Shape)}");
}
