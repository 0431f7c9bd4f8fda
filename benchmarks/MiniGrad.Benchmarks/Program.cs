using BenchmarkDotNet.Running;
using MiniGrad.Benchmarks;

// dotnet run -c Release --project benchmarks/MiniGrad.Benchmarks -- --filter '*'
// At chosen SIMD widths, one job each: ... -- --filter '*Gemm*' --width avx2 (or avx512, sse128, scalar, a comma list, all).
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(Widths.TakeOption(args));
