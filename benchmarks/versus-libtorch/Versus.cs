// libtorch and MiniGrad timed side by side in one process, alternating call by call, so that both see the same load
// (the development machine is shared and noisy; two separate runs minutes apart are not comparable there).
// Compiled into a copy of the oracle (../shared/oracle) by run.sh; the project never depends on it.
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using M = MiniGrad;

static class Versus
{
    record Workload(string Name, Action Torch, Action MiniGrad);

    static double Median(List<double> xs) { var s = xs.OrderBy(v => v).ToList(); return s[s.Count / 2]; }

    /// <summary>versus [reps] [rounds] [workloads,comma-separated|all]</summary>
    public static void Run(string[] a)
    {
        int reps = a.Length > 1 ? int.Parse(a[1]) : 15, rounds = a.Length > 2 ? int.Parse(a[2]) : 3;
        // A pause after each timed call, so that neither side's worker threads (OpenMP's, the .NET thread pool's) are still
        // spinning on the cores when the other side's call starts.
        int pause = int.TryParse(Environment.GetEnvironmentVariable("VERSUS_PAUSE_MS"), out var ms0) ? ms0 : 20;
        var only = a.Length > 3 && a[3] != "all" ? a[3].Split(',') : null;
        // VERSUS_BLOCKS=1: each round times reps calls of libtorch back to back, then reps of MiniGrad. Call by call with
        // pauses measures every call from idle worker threads; on the development VM waking them costs MiniGrad ~1 ms per
        // call (Conv1d: 5.9 ms back to back, 7.1 ms after a 20 ms pause; one thread: no difference).
        bool blocks = Environment.GetEnvironmentVariable("VERSUS_BLOCKS") == "1";
        Console.WriteLine($"libtorch {torch.__version__} threads={torch.get_num_threads()} (ATEN_CPU_CAPABILITY={Environment.GetEnvironmentVariable("ATEN_CPU_CAPABILITY") ?? "default"}); " +
                          $"MiniGrad cores={Environment.ProcessorCount}, widest accelerated vector: {Widest()}");
        Console.WriteLine(blocks ? $"{reps} calls each per round, back to back, the sides taking turns ({pause} ms apart); {rounds} rounds. ratio = libtorch / MiniGrad (above 1: MiniGrad faster)"
                                 : $"{reps} calls each per round, alternating, {pause} ms apart; {rounds} rounds. ratio = libtorch / MiniGrad (above 1: MiniGrad faster)");
        foreach (var w in Workloads().Where(w => only is null || only.Any(o => w.Name.StartsWith(o, StringComparison.OrdinalIgnoreCase))))
        {
            // Warm-up: enough calls for .NET's tiered JIT to reach its optimized code: 30 calls of a method, then a background
            // compile that waits until no new method has been compiled for 100 ms, and loops moved over on the fly (OSR). The
            // Conv1d backward ran at its first tier for about 90 calls (1 s), so: at least 40 calls and 3 s, at most 1,000 calls.
            var warm = Stopwatch.StartNew();
            for (int i = 0; i < 3 || (i < 1000 && (i < 40 || warm.Elapsed.TotalSeconds < 3)); i++) { w.Torch(); Mini(w); }
            var ratios = new List<double>();
            var (allT, allM) = (new List<double>(), new List<double>());
            for (int r = 0; r < rounds; r++)
            {
                var (ts, ms) = (new List<double>(), new List<double>());
                if (blocks)
                {
                    // Each side's calls back to back, as in a training loop (one untimed call first), the sides taking turns.
                    ts.AddRange(Block(w.Torch, reps));
                    Thread.Sleep(pause);
                    ms.AddRange(Block(() => Mini(w), reps));
                    Thread.Sleep(pause);
                }
                else
                    for (int i = 0; i < reps; i++)
                    {
                        var sw = Stopwatch.StartNew(); w.Torch(); ts.Add(sw.Elapsed.TotalMilliseconds);
                        Thread.Sleep(pause);
                        sw.Restart(); Mini(w); ms.Add(sw.Elapsed.TotalMilliseconds);
                        Thread.Sleep(pause);
                    }
                ratios.Add(Median(ts) / Median(ms));
                allT.AddRange(ts); allM.AddRange(ms);
            }
            double t = Median(allT), m = Median(allM);
            Console.WriteLine($"{w.Name}: libtorch {Fmt(t)}, MiniGrad {Fmt(m)}, ratio {t / m:F2}x (rounds {ratios.Min():F2}-{ratios.Max():F2}x)");
        }
    }

    static List<double> Block(Action call, int reps)
    {
        call();
        var times = new List<double>(reps);
        for (int i = 0; i < reps; i++) { var sw = Stopwatch.StartNew(); call(); times.Add(sw.Elapsed.TotalMilliseconds); }
        return times;
    }

    // Each call's tensors are disposed at its end on both sides: TorchSharp's DisposeScope, MiniGrad's Torch.NewScope().
    static void Mini(Workload w)
    {
        using var scope = M.Torch.NewScope();
        w.MiniGrad();
    }

    static string Widest() =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "512-bit" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "256-bit"
        : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "128-bit" : "none (scalar)";

    static string Fmt(double ms) => ms < 1 ? $"{ms * 1000:F1} us" : $"{ms:F2} ms";

    static IEnumerable<Workload> Workloads()
    {
        foreach (var (T, N, C, L) in new[] { (150, 32, 29, 40), (500, 32, 29, 100), (1000, 16, 29, 200), (200, 16, 1000, 50) })
            yield return Ctc(T, N, C, L);
        foreach (var n in new[] { 64, 256, 512, 1024 })
            yield return Gemm(n);
        foreach (var (I, H, T, N, Ly, B) in new[] { (40, 128, 100, 16, 1, false), (40, 128, 100, 16, 2, true), (80, 256, 200, 32, 1, false) })
            yield return Recurrent("lstm", I, H, T, N, Ly, B);
        foreach (var (I, H, T, N, Ly, B) in new[] { (40, 128, 100, 16, 1, false), (40, 128, 100, 16, 2, true) })
            yield return Recurrent("gru", I, H, T, N, Ly, B);
        foreach (var (r, c) in new[] { (4800, 29), (1024, 32000) })
            yield return LogSoftmax(r, c);
        yield return Conv1d(16, 40, 128, 300, 5);
        yield return Conv1d(9600, 1, 8, 40, 5, 2); // many short rows: a convolution over each frame's 40 mel bands
        yield return LayerNorm(4800, 256);
        yield return CrossEntropy(4800, 1000);
        yield return SpeechStep();
    }

    static Workload Ctc(int T, int N, int C, int L)
    {
        var x = torch.randn(T, N, C).log_softmax(2).detach().requires_grad_();
        var tg = torch.randint(1, C, new long[] { N, L }, dtype: ScalarType.Int64);
        var il = torch.full(new long[] { N }, T, dtype: ScalarType.Int64);
        var tl = torch.full(new long[] { N }, L, dtype: ScalarType.Int64);
        M.Torch.ManualSeed(0);
        var mx = M.Torch.Randn(T, N, C).LogSoftmax(2).Detach().RequiresGrad_();
        var mt = M.Torch.Randint(1, C, [N, L]);
        int[] mil = Enumerable.Repeat(T, N).ToArray(), mtl = Enumerable.Repeat(L, N).ToArray();
        return new($"ctc T={T} N={N} C={C} L={L}",
            () => { using var d = torch.NewDisposeScope(); nn.functional.ctc_loss(x, tg, il, tl).backward(); x.grad!.zero_(); },
            () => { M.Nn.Functional.CtcLoss(mx, mt, mil, mtl).Backward(); mx.Grad = null; });
    }

    static Workload Gemm(int n)
    {
        var (a, b) = (torch.randn(n, n), torch.randn(n, n));
        var (ma, mb) = (M.Torch.Randn(n, n), M.Torch.Randn(n, n));
        return new($"gemm n={n}", () => { using var d = torch.NewDisposeScope(); a.matmul(b); }, () => ma.MatMul(mb));
    }

    static Workload Recurrent(string kind, int I, int H, int T, int N, int layers, bool bidi)
    {
        var tx = torch.randn(T, N, I);
        M.Torch.ManualSeed(0);
        var mx = M.Torch.Randn(T, N, I);
        string name = $"{kind} I={I} H={H} T={T} N={N} layers={layers} bidirectional={bidi}";
        if (kind == "gru")
        {
            var tg = nn.GRU(I, H, layers, bidirectional: bidi);
            var mg = new M.Nn.Gru(I, H, layers, bidirectional: bidi);
            return new(name, () => { using var d = torch.NewDisposeScope(); var (y, _) = tg.forward(tx); y.sum().backward(); tg.zero_grad(); },
                () => { mg.Forward(mx).Output.Sum().Backward(); mg.ZeroGrad(); });
        }
        var tl = nn.LSTM(I, H, layers, bidirectional: bidi);
        var ml = new M.Nn.Lstm(I, H, layers, bidirectional: bidi);
        return new(name, () => { using var d = torch.NewDisposeScope(); var (y, _, _) = tl.forward(tx); y.sum().backward(); tl.zero_grad(); },
            () => { ml.Forward(mx).Output.Sum().Backward(); ml.ZeroGrad(); });
    }

    static Workload LogSoftmax(int rows, int cols)
    {
        var x = torch.randn(rows, cols);
        var mx = M.Torch.Randn(rows, cols);
        return new($"log_softmax {rows}x{cols}", () => { using var d = torch.NewDisposeScope(); x.log_softmax(1); }, () => mx.LogSoftmax(1));
    }

    static Workload Conv1d(int N, int cin, int cout, int L, int k, int pad = 0)
    {
        var conv = nn.Conv1d(cin, cout, k, padding: pad);
        var x = torch.randn(N, cin, L).requires_grad_();
        var mconv = new M.Nn.Conv1d(cin, cout, k, padding: pad);
        var mx = M.Torch.Randn(N, cin, L).RequiresGrad_();
        return new($"conv1d N={N} C={cin}->{cout} L={L} k={k}" + (pad > 0 ? $" padding={pad}" : ""),
            () => { using var d = torch.NewDisposeScope(); conv.forward(x).sum().backward(); conv.zero_grad(); x.grad!.zero_(); },
            () => { mconv.Forward(mx).Sum().Backward(); mconv.ZeroGrad(); mx.ZeroGrad(); });
    }

    static Workload LayerNorm(int rows, int cols)
    {
        var ln = nn.LayerNorm(cols);
        var x = torch.randn(rows, cols).requires_grad_();
        var mln = new M.Nn.LayerNorm(cols);
        var mx = M.Torch.Randn(rows, cols).RequiresGrad_();
        return new($"layer_norm {rows}x{cols}",
            () => { using var d = torch.NewDisposeScope(); ln.forward(x).sum().backward(); ln.zero_grad(); x.grad!.zero_(); },
            () => { mln.Forward(mx).Sum().Backward(); mln.ZeroGrad(); mx.ZeroGrad(); });
    }

    static Workload CrossEntropy(int n, int c)
    {
        var x = torch.randn(n, c).requires_grad_();
        var t = torch.randint(0, c, new long[] { n }, dtype: ScalarType.Int64);
        var mx = M.Torch.Randn([n, c], requiresGrad: true);
        var mt = M.Torch.Randint(0, c, [n]);
        return new($"cross_entropy {n}x{c}",
            () => { using var d = torch.NewDisposeScope(); nn.functional.cross_entropy(x, t).backward(); x.grad!.zero_(); },
            () => { M.Nn.Functional.CrossEntropy(mx, mt).Backward(); mx.ZeroGrad(); });
    }

    // One training step of the toy speech model: BiLSTM stack -> Linear -> log_softmax -> CTC, clip, Adam.
    static Workload SpeechStep()
    {
        const int feats = 40, H = 128, layers = 2, classes = 29, T = 150, N = 16, L = 30;
        var lstm = nn.LSTM(feats, H, layers, bidirectional: true);
        var proj = nn.Linear(2 * H, classes);
        var ps = lstm.parameters().Concat(proj.parameters()).ToList();
        var opt = optim.Adam(ps, 1e-3);
        var x = torch.randn(T, N, feats);
        var tg = torch.randint(1, classes, new long[] { N, L }, dtype: ScalarType.Int64);
        var il = torch.full(new long[] { N }, T, dtype: ScalarType.Int64);
        var tl = torch.full(new long[] { N }, L, dtype: ScalarType.Int64);
        M.Torch.ManualSeed(0);
        var mlstm = new M.Nn.Lstm(feats, H, layers, bidirectional: true);
        var mproj = new M.Nn.Linear(2 * H, classes);
        var mps = mlstm.Parameters().Concat(mproj.Parameters()).ToList();
        var mopt = new M.Nn.Adam(mps, 1e-3);
        var mx = M.Torch.Randn(T, N, feats);
        var mt = M.Torch.Randint(1, classes, [N, L]);
        int[] mil = Enumerable.Repeat(T, N).ToArray(), mtl = Enumerable.Repeat(L, N).ToArray();
        return new("speech training step",
            () =>
            {
                using var d = torch.NewDisposeScope();
                opt.zero_grad();
                var (y, _, _) = lstm.forward(x);
                nn.functional.ctc_loss(proj.forward(y).log_softmax(2), tg, il, tl).backward();
                nn.utils.clip_grad_norm_(ps, 5.0);
                opt.step();
            },
            () =>
            {
                mopt.ZeroGrad();
                var lp = mproj.Forward(mlstm.Forward(mx).Output).LogSoftmax(2);
                M.Nn.Functional.CtcLoss(lp, mt, mil, mtl).Backward();
                M.Nn.Functional.ClipGradNorm(mps, 5.0);
                mopt.Step();
            });
    }
}
