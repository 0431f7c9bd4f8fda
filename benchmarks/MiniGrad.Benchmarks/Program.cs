using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/MiniGrad.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
