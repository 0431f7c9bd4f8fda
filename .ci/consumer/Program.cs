// A fresh application that references only the MiniGrad package (built outside the solution by .ci/run's package leg):
// the README's short tour, a few training steps, and what the package promises an application (the CPU backend
// registered, the GC options, the thread setting, no ILGPU). Prints results rounded so that the JIT and NativeAOT
// builds print the same text, and exits non-zero on a failed check.
using System.Globalization;
using System.Runtime;
using MiniGrad;
using MiniGrad.Nn;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
int failures = 0;
void Check(bool ok, string what)
{
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
    if (!ok) failures++;
}

// ---- The README's short tour ----
Torch.ManualSeed(0);
int T = 50, C = 20, N = 16, S = 30;
var input = Torch.Randn(T, N, C).LogSoftmax(2).Detach().RequiresGrad_();   // torch.randn(T, N, C).log_softmax(2)...
var target = Torch.Randint(1, C, [N, S], DType.Int64);                     // torch.randint(1, C, (N, S))
var inputLengths = Torch.Full([N], T, DType.Int64);                        // torch.full((N,), T)
var targetLengths = Torch.Randint(10, S, [N], DType.Int64);
var loss = new CtcLoss().Forward(input, target, inputLengths, targetLengths);
loss.Backward();                                                           // loss.backward()
Console.WriteLine(input.Grad);                                             // print(input.grad)

float tourLoss = loss.Item<float>();
Console.WriteLine($"tour loss {tourLoss:F4}");
var grad = input.Grad!.ToArray<float>();
Check(float.IsFinite(tourLoss) && tourLoss > 0, "the tour's CTC loss is finite and positive");
Check(input.Grad!.Shape.SequenceEqual([T, N, C]) && grad.All(float.IsFinite), "its gradient is (T, N, C) and finite");
// Each frame's gradient sums to ~0 (PyTorch's formula with log-softmax inputs: softmax minus the posteriors).
double frameSum = 0;
for (int i = 0; i < C; i++) frameSum += grad[i];
Check(Math.Abs(frameSum) < 1e-4, $"a frame's gradient sums to 0 ({frameSum:E1})");

// ---- A few training steps: LSTM + Linear + CTC with Adam on one fixed batch ----
List<float> Train(int steps, bool scoped = false)
{
    Torch.ManualSeed(1);
    int t = 24, n = 8, f = 12, h = 32, classes = 6, s = 5;
    var lstm = new Lstm(f, h, bidirectional: true);
    var head = new Linear(2 * h, classes);
    var x = Torch.Randn(t, n, f);
    var y = Torch.Randint(1, classes, [n, s], DType.Int64);
    var xl = Torch.Full([n], t, DType.Int64);
    var yl = Torch.Full([n], s, DType.Int64);
    var opt = new Adam(lstm.Parameters().Concat(head.Parameters()), lr: 0.02);
    var ctc = new CtcLoss();
    var losses = new List<float>();
    for (int step = 0; step < steps; step++)
    {
        using (scoped ? Torch.NewScope() : null) // the step's tensors go back to MiniGrad's storage pool at its end
        {
            opt.ZeroGrad();
            var (o, _) = lstm.Forward(x);
            var l = ctc.Forward(head.Forward(o).LogSoftmax(2), y, xl, yl);
            l.Backward();
            opt.Step();
            losses.Add(l.Item<float>());
        }
    }
    return losses;
}
var losses = Train(30);
for (int i = 0; i < losses.Count; i += 5) Console.WriteLine($"step {i,2} loss {losses[i]:F3}");
Console.WriteLine($"step {losses.Count - 1,2} loss {losses[^1]:F3}");
Check(losses.All(float.IsFinite) && losses[^1] < 0.5f * losses[0], "training: the loss falls below half its first value");

// The same steps inside Torch.NewScope() (each step's tensors go back to MiniGrad's storage pool at its end; the
// allocation figures are BenchmarkDotNet's, see the README): the same losses, and what a scope made is disposed.
Check(Train(30, scoped: true).SequenceEqual(losses), "training in scopes gives the same losses");
Tensor made;
using (Torch.NewScope()) made = Torch.Ones(4) * 2;
Check(made.IsDisposed, "a tensor made in a scope is disposed when it ends");

// ---- What the package promises the application ----
Check(BackendRegistry.DeviceTypes.SequenceEqual(["cpu"]), $"only the CPU backend is registered ({string.Join(", ", BackendRegistry.DeviceTypes)})");
Check(!AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name!.StartsWith("ILGPU", StringComparison.Ordinal)), "ILGPU is not loaded");
try { Torch.Zeros([1], device: Device.Parse("cuda")); Check(false, "cuda without MiniGrad.Backends.Ilgpu fails"); }
catch (ArgumentException e) { Check(e.Message.Contains("MiniGrad.Backends.Ilgpu"), "cuda without MiniGrad.Backends.Ilgpu fails, naming that package"); }
Check(AppContext.GetData("System.GC.LOHThreshold")?.ToString() == "33554432", "the package's GC option System.GC.LOHThreshold is set");
Check(AppContext.GetData("System.GC.RegionSize")?.ToString() == "33554432", "the package's GC option System.GC.RegionSize is set");
Check(GCSettings.LatencyMode == GCLatencyMode.Batch, $"concurrent GC is off (latency mode {GCSettings.LatencyMode})");

Check(Torch.GetNumThreads() == Environment.ProcessorCount, "Torch.GetNumThreads() defaults to every core");
var many = Train(3);
Torch.SetNumThreads(1);
var one = Train(3);
Check(many.SequenceEqual(one), "1 thread gives the same losses as every core");
try { Torch.SetNumThreads(0); Check(false, "Torch.SetNumThreads(0) throws"); }
catch (ArgumentOutOfRangeException e) { Check(e.Message.Contains("got 0"), "Torch.SetNumThreads(0) throws ArgumentOutOfRangeException naming 0"); }

Console.WriteLine(failures == 0 ? "consumer: all checks passed" : $"consumer: {failures} check(s) failed");
return failures == 0 ? 0 : 1;
