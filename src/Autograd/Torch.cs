namespace MiniGrad;

/// <summary>Factories, seeding and grad mode: the <c>torch.*</c> functions in .NET casing.</summary>
public static partial class Torch
{
    [ThreadStatic] static Generator? defaultGenerator;

    /// <summary>This thread's default generator (seeded with 0 until ManualSeed is called).</summary>
    public static Generator DefaultGenerator => defaultGenerator ??= new Generator(0);

    /// <summary>Seeds the default generator: the same seed gives the same numbers on every run.</summary>
    public static void ManualSeed(long seed) => DefaultGenerator.ManualSeed(seed);

    /// <summary>
    /// Sets how many threads the CPU kernels use, for the whole process (torch.set_num_threads); the default is every core
    /// (<see cref="Environment.ProcessorCount"/>). Results are bit-identical for any count: work is split so that each
    /// output element is computed by one thread in the same order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">n is less than 1.</exception>
    public static void SetNumThreads(int n) => CpuThreads.Set(n);

    /// <summary>How many threads the CPU kernels use (torch.get_num_threads).</summary>
    public static int GetNumThreads() => CpuThreads.Count;

    /// <summary>
    /// Opens a scope that disposes every tensor created inside it on this thread when it ends, returning their storage
    /// to the pool (TorchSharp's NewDisposeScope); see <see cref="TensorScope"/>. Wrap each training step in one.
    /// </summary>
    public static TensorScope NewScope() => new();

    /// <summary>Turns off recording on this thread until the scope is disposed.</summary>
    public static IDisposable NoGrad() => Autograd.NoGrad();

    /// <summary>
    /// Anomaly mode on this thread until disposed (torch.autograd.detect_anomaly): ops remember where they were
    /// created, and Backward() throws <see cref="AnomalyException"/> at the first op whose input gradient has a
    /// NaN or an infinity. Slow (a stack trace per op, a host check per gradient): for debugging only.
    /// </summary>
    public static IDisposable DetectAnomaly() => Autograd.DetectAnomaly();

    /// <summary>
    /// While active on this thread, Backward() stores on each op the L2 norm of the gradient flowing into it
    /// (<see cref="Function.GradNorm"/>, shown by graph exports). Off by default: each norm costs a reduction.
    /// </summary>
    public static IDisposable RecordGradNorms() => Autograd.RecordGradNorms();

    static IBackend B(Device? device) => (device ?? Device.Cpu).Backend;

    static int[] CheckShape(string op, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] < 0) throw new ArgumentException($"{op}: size must be non-negative, but size[{i}] = {shape[i]} (shape {Shapes.Format(shape)})", nameof(shape));
        return (int[])shape.Clone();
    }

    static Tensor Make(RawTensor raw, bool requiresGrad) => new(raw, requiresGrad);

    /// <summary>Standard normal samples of the given shape (Float32).</summary>
    public static Tensor Randn(params int[] shape) => Randn(shape, DType.Float32);

    /// <summary>Standard normal samples.</summary>
    public static Tensor Randn(int[] shape, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false, Generator? generator = null)
    {
        shape = CheckShape("Randn", shape);
        RequireFloat("Randn", dtype);
        var v = new double[Shapes.Numel(shape)];
        (generator ?? DefaultGenerator).FillNormal(v);
        return Make(B(device).FromArray(Convert(v, dtype), shape), requiresGrad);
    }

    /// <summary>Uniform samples in [0, 1) of the given shape (Float32, CPU), as Randn(2, 3).</summary>
    public static Tensor Rand(params int[] shape) => Rand(shape, DType.Float32);

    /// <summary>Uniform samples in [0, 1).</summary>
    public static Tensor Rand(int[] shape, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false, Generator? generator = null)
    {
        shape = CheckShape("Rand", shape);
        RequireFloat("Rand", dtype);
        var g = generator ?? DefaultGenerator;
        var v = new double[Shapes.Numel(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = g.NextDouble();
        return Make(B(device).FromArray(Convert(v, dtype), shape), requiresGrad);
    }

    /// <summary>Uniform integers in [low, high) (high is exclusive, as in PyTorch).</summary>
    public static Tensor Randint(long low, long high, int[] shape, DType dtype = DType.Int64, Device? device = null, Generator? generator = null)
    {
        shape = CheckShape("Randint", shape);
        if (high <= low) throw new ArgumentException($"Randint: expected low < high, but got low = {low}, high = {high}", nameof(high));
        if (dtype == DType.Bool) throw new ArgumentException("Randint: dtype Bool is not supported; expected Int32, Int64, Float32 or Float64", nameof(dtype));
        if (dtype == DType.Int32 && (low < int.MinValue || high - 1 > int.MaxValue))
            throw new ArgumentException($"Randint: [{low}, {high}) does not fit dtype Int32", nameof(dtype));
        var g = generator ?? DefaultGenerator;
        var v = new long[Shapes.Numel(shape)];
        ulong range = (ulong)(high - low);
        for (int i = 0; i < v.Length; i++) v[i] = low + (long)g.NextBelow(range);
        return Make(B(device).Cast(B(device).FromArray(v, shape), dtype), false);
    }

    /// <summary>A tensor filled with one value.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false) =>
        Fill("Full", shape, value, dtype, device, requiresGrad);

    // Zeros and Ones are Full under their own name, so that errors name the factory the caller used.
    static Tensor Fill(string op, int[] shape, double value, DType dtype, Device? device, bool requiresGrad)
    {
        CheckFillValue(op, value, dtype);
        return Make(B(device).Full(CheckShape(op, shape), dtype, value), requiresGrad);
    }

    /// <summary>
    /// As libtorch's "value cannot be converted to type ... without overflow": an integer dtype takes a finite value whose
    /// whole part it can hold (the fraction is dropped, as PyTorch drops it), Float32 a value within its range (or an
    /// infinity, or NaN); Float64 and Bool take any.
    /// </summary>
    static void CheckFillValue(string op, double value, DType dtype, string arg = "value")
    {
        bool fits = dtype switch
        {
            DType.Int32 or DType.Int64 => HoldsWholePart(dtype, value),
            DType.Float32 => !double.IsFinite(value) || Math.Abs(value) <= float.MaxValue,
            _ => true,
        };
        if (!fits)
            throw new ArgumentException($"{op}: value {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} cannot be converted to {dtype} without overflow", arg);
    }

    /// <summary>Whether an Int32 or Int64 holds value's whole part (false for NaN and the infinities); 2^63 itself does not fit Int64.</summary>
    internal static bool HoldsWholePart(DType dtype, double value)
    {
        double whole = Math.Truncate(value);
        return dtype == DType.Int32 ? whole >= int.MinValue && whole <= int.MaxValue : whole >= -9223372036854775808.0 && whole < 9223372036854775808.0;
    }

    /// <summary>Zeros.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false) => Fill("Zeros", shape, 0, dtype, device, requiresGrad);
    /// <summary>Zeros of the given shape (Float32).</summary>
    public static Tensor Zeros(params int[] shape) => Fill("Zeros", shape, 0, DType.Float32, null, false);
    /// <summary>Ones.</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false) => Fill("Ones", shape, 1, dtype, device, requiresGrad);
    /// <summary>Ones of the given shape (Float32).</summary>
    public static Tensor Ones(params int[] shape) => Fill("Ones", shape, 1, DType.Float32, null, false);
    /// <summary>Zeros with x's shape, dtype and device.</summary>
    public static Tensor ZerosLike(Tensor x) => Full(x.Raw.Shape, 0, x.DType, x.Device);
    /// <summary>Ones with x's shape, dtype and device.</summary>
    public static Tensor OnesLike(Tensor x) => Full(x.Raw.Shape, 1, x.DType, x.Device);
    /// <summary>A tensor filled with value, with x's shape, dtype and device.</summary>
    public static Tensor FullLike(Tensor x, double value) => Full(x.Raw.Shape, value, x.DType, x.Device);

    /// <summary>0, 1, ..., end - 1 (Int64).</summary>
    public static Tensor Arange(long end, DType dtype = DType.Int64, Device? device = null) => Arange(0, end, 1, dtype, device);

    /// <summary>start, start + 1, ..., end - 1 (Int64). Two whole-number literals land here: without it, Arange(-5, 0) would
    /// read the 0 as a DType and call Arange(end, dtype).</summary>
    public static Tensor Arange(int start, int end) => Arange((double)start, end, 1, DType.Int64);

    /// <summary>start, start + step, ... up to but excluding end.</summary>
    /// <remarks>Without a dtype, as in PyTorch: Int64 when start, end and step are whole numbers, else Float32.</remarks>
    public static Tensor Arange(double start, double end, double step = 1, DType? dtype = null, Device? device = null)
    {
        dtype ??= start % 1 == 0 && end % 1 == 0 && step % 1 == 0 ? DType.Int64 : DType.Float32;
        if (step == 0 || double.IsNaN(step)) throw new ArgumentException($"Arange: step must be non-zero, but got {step}", nameof(step));
        if (!double.IsFinite(start) || !double.IsFinite(end))
            throw new ArgumentException($"Arange: unsupported range {start} -> {end}; expected finite start and end", double.IsFinite(start) ? nameof(end) : nameof(start));
        if ((end - start) / step < 0) throw new ArgumentException($"Arange: the range [{start}, {end}) is empty or runs against step {step}", nameof(end));
        if (dtype == DType.Bool) throw new ArgumentException("Arange: dtype Bool is not supported; expected a number type", nameof(dtype));
        // An integer result from a fractional start or step would be values cut to whole numbers (libtorch's int64 and
        // int32 results even disagree there, and a step below 1 crashes it).
        if (!dtype.Value.IsFloating() && (start % 1 != 0 || step % 1 != 0))
            throw new ArgumentException($"Arange: start {start} and step {step} must be whole numbers for a {dtype} result; give a floating-point dtype", start % 1 != 0 ? nameof(start) : nameof(step));
        double count = Math.Ceiling((end - start) / step);
        if (count > int.MaxValue) throw new ArgumentException($"Arange: [{start}, {end}) by {step} has {count} elements, more than a tensor holds ({int.MaxValue})", nameof(step));
        int n = (int)count;
        if (n > 0)
        {
            CheckFillValue("Arange", start, dtype.Value, nameof(start)); // both ends in the dtype's range: the values lie between them
            CheckFillValue("Arange", start + (n - 1) * step, dtype.Value, nameof(end));
        }
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = start + i * step;
        return Make(B(device).Cast(B(device).FromArray(v, [n]), dtype.Value), false);
    }

    /// <summary>A Float32 tensor from values; shape defaults to 1-D.</summary>
    public static Tensor Tensor(float[] data, params int[] shape) => FromData(data, shape);
    /// <summary>A Float64 tensor from values; shape defaults to 1-D.</summary>
    public static Tensor Tensor(double[] data, params int[] shape) => FromData(data, shape);
    /// <summary>An Int32 tensor from values; shape defaults to 1-D.</summary>
    public static Tensor Tensor(int[] data, params int[] shape) => FromData(data, shape);
    /// <summary>An Int64 tensor from values; shape defaults to 1-D.</summary>
    public static Tensor Tensor(long[] data, params int[] shape) => FromData(data, shape);
    /// <summary>A Bool tensor from values; shape defaults to 1-D.</summary>
    public static Tensor Tensor(bool[] data, params int[] shape) => FromData(data, shape);
    /// <summary>A 0-d Float32 tensor.</summary>
    public static Tensor Scalar(float value, bool requiresGrad = false) => Make(Device.Cpu.Backend.FromArray(new[] { value }, []), requiresGrad);
    /// <summary>A 0-d Float64 tensor.</summary>
    public static Tensor Scalar(double value, bool requiresGrad = false) => Make(Device.Cpu.Backend.FromArray(new[] { value }, []), requiresGrad);

    /// <summary>A tensor from a host array with explicit dtype, device and grad flag.</summary>
    /// <remarks>Here the shape is taken as given: an empty shape makes a 0-d tensor.</remarks>
    public static Tensor Tensor(Array data, int[] shape, Device? device = null, bool requiresGrad = false) => FromData(data, shape ?? [data.Length], device, requiresGrad);

    static Tensor FromData(Array data, int[] shape) => FromData(data, shape is null || shape.Length == 0 ? [data.Length] : shape, null, false);

    static Tensor FromData(Array data, int[] shape, Device? device, bool requiresGrad)
    {
        ArgumentNullException.ThrowIfNull(data);
        shape = CheckShape("Tensor", shape);
        if (Shapes.Numel(shape) != data.Length)
            throw new ArgumentException($"Tensor: {data.Length} values cannot fill shape {Shapes.Format(shape)} ({Shapes.Numel(shape)} elements)", nameof(shape));
        return Make(B(device).FromArray(data, shape), requiresGrad);
    }

    static void RequireFloat(string op, DType dtype)
    {
        if (!dtype.IsFloating()) throw new ArgumentException($"{op}: dtype {dtype} is not supported; expected Float32 or Float64", nameof(dtype));
    }

    static Array Convert(double[] v, DType dtype) => dtype == DType.Float64 ? v : Array.ConvertAll(v, x => (float)x);
}
