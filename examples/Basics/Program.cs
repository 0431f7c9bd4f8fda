// The first program a student runs: build a small expression, call Backward(), print every gradient,
// and check each one against a finite difference.
using MiniGrad;

if (args.Length > 0) // no options: a user who gives one learns so instead of seeing it ignored
{
    bool help = args is ["--help" or "-h"];
    (help ? Console.Out : Console.Error).WriteLine(help ? "usage: Basics   (no arguments; builds a small expression, prints every gradient and checks it against a finite difference)"
        : $"error: Basics takes no arguments, got '{args[0]}'\nusage: Basics");
    Environment.Exit(help ? 0 : 2);
}

Torch.ManualSeed(0);
var a = Torch.Tensor(new[] { 2.0, -3.0 }).RequiresGrad_();
var b = Torch.Tensor(new[] { 0.5, 4.0 }).RequiresGrad_();
var w = Torch.Randn([2, 2], DType.Float64, requiresGrad: true);

// loss = sum(tanh(W @ (a * b) / 4) + exp(a / 4)) / 2
Tensor F(Tensor a, Tensor b, Tensor w) => ((w.MatMul(a * b) / 4).Tanh() + (a / 4).Exp()).Sum() / 2;

var loss = F(a, b, w);
Console.WriteLine($"loss = {loss}");
loss.Backward();

foreach (var (name, x) in new[] { ("a", a), ("b", b), ("w", w) })
{
    Console.WriteLine($"\nd loss / d {name} = {x.Grad}");
    // Central difference on each element, to show the gradient is what it claims to be.
    var v = x.ToArray<double>();
    for (int i = 0; i < v.Length; i++)
    {
        double Eval(double d)
        {
            var p = (double[])v.Clone(); p[i] += d;
            var xp = Torch.Tensor(p, x.Shape);
            using (Torch.NoGrad())
                return F(name == "a" ? xp : a, name == "b" ? xp : b, name == "w" ? xp : w).Item<double>();
        }
        double numeric = (Eval(1e-6) - Eval(-1e-6)) / 2e-6;
        Console.WriteLine($"  [{i}] autograd {x.Grad!.ToArray<double>()[i],12:F8}   finite difference {numeric,12:F8}");
    }
}
