using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace MiniGrad.Backends.Ilgpu;

/// <summary>
/// The ILGPU backend: the whole contract as ILGPU kernels, on CUDA, OpenCL or ILGPU's CPU accelerator (which runs the
/// same kernels without a GPU, so the suite runs everywhere). Kernels are compiled once per accelerator and element
/// type; buffers come from a pool bucketed by power-of-two size; every launch goes on the accelerator's default stream
/// and the host waits only in <see cref="ToArray"/>. Disposing it frees every device buffer, the accelerator and the context.
/// </summary>
public sealed partial class IlgpuBackend : IBackend, IDisposable
{
    readonly Context context;
    readonly Accelerator acc;
    readonly Lock pool = new();
    readonly Dictionary<long, Stack<MemoryBuffer1D<byte, Stride1D.Dense>>> free = [];
    readonly HashSet<MemoryBuffer1D<byte, Stride1D.Dense>> all = [];
    readonly Dictionary<Type, object> caches = [];
    int live;
    long allocatedBytes, liveBytes, highWater;
    bool disposed;

    internal IlgpuBackend(Device device)
    {
        Device = device;
        switch (device.Type)
        {
            case "cuda":
                context = Context.Create(b => b.Cuda().EnableAlgorithms());
                acc = context.CreateCudaAccelerator(device.Index);
                break;
            case "opencl":
                context = Context.Create(b => b.OpenCL().EnableAlgorithms());
                acc = context.CreateCLAccelerator(device.Index);
                break;
            case "ilgpu-cpu":
                // The default CPU device (groups of up to 16 threads): kernels size their groups from the accelerator.
                context = Context.Create(b => b.CPU().EnableAlgorithms());
                acc = context.CreateCPUAccelerator(0);
                break;
            default:
                throw new ArgumentException($"ILGPU backend: device type '{device.Type}' is not served; expected cuda, opencl or ilgpu-cpu", nameof(device));
        }
        MaxGroup = (int)Math.Min(acc.MaxNumThreadsPerGroup, K.MaxGroup);
    }

    /// <inheritdoc/>
    public Device Device { get; }

    /// <summary>The accelerator's name, for logs (for example the GPU model).</summary>
    public string AcceleratorName => acc.Name;

    /// <summary>Device buffers handed out to tensors and not yet returned to the pool (the leak test watches this).</summary>
    public int LiveBuffers { get { lock (pool) return live; } }

    /// <summary>Device buffers allocated in all, pooled or live.</summary>
    public int AllocatedBuffers { get { lock (pool) return all.Count; } }

    /// <summary>Device bytes allocated in all, pooled or live.</summary>
    public long AllocatedBytes { get { lock (pool) return allocatedBytes; } }

    internal int MaxGroup { get; }

    /// <summary>
    /// Device memory the pool may reach before a pool miss first runs a GC (tensors free their buffers from finalizers
    /// and the GC cannot see device memory). After each such collection the limit becomes the larger of this and twice
    /// the bytes still live, so device memory stays within about twice the working set.
    /// </summary>
    public long CollectThresholdBytes { get; set; } = 256L << 20;

    /// <summary>Frees every device buffer, then the accelerator and its context; tensors of this backend become unusable.</summary>
    public void Dispose()
    {
        lock (pool)
        {
            if (disposed) return;
            disposed = true;
            foreach (var b in all) b.Dispose();
            all.Clear();
            free.Clear();
            live = 0;
            allocatedBytes = liveBytes = 0;
        }
        acc.Dispose();
        context.Dispose();
    }

    static long Bucket(long bytes)
    {
        long b = 64;
        while (b < bytes) b <<= 1;
        return b;
    }

    internal IlgpuTensor Alloc(int[] shape, DType dtype)
    {
        long bytes = Bucket((long)Math.Max(Shapes.Numel(shape), 1) * dtype.Size());
        MemoryBuffer1D<byte, Stride1D.Dense>? buf = TryPop(bytes, out bool collect);
        if (buf is null && collect)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            lock (pool) highWater = Math.Max(CollectThresholdBytes, 2 * liveBytes);
            buf = TryPop(bytes, out _);
        }
        lock (pool) { live++; liveBytes += bytes; }
        if (buf is null)
        {
            try { buf = acc.Allocate1D<byte>(bytes); }
            catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
            {
                // Unreachable tensors still hold buffers until their finalizers run: collect, then retry once.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                buf = acc.Allocate1D<byte>(bytes);
            }
            lock (pool) { all.Add(buf); allocatedBytes += bytes; }
        }
        var t = new IlgpuTensor(this, new DeviceStorage(this, buf), (int[])shape.Clone(), dtype);
        ScratchRegion.Track(t);
        return t;
    }

    MemoryBuffer1D<byte, Stride1D.Dense>? TryPop(long bytes, out bool collect)
    {
        lock (pool)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            collect = false;
            if (free.TryGetValue(bytes, out var s) && s.Count > 0) return s.Pop();
            collect = allocatedBytes + bytes > Math.Max(CollectThresholdBytes, highWater);
            return null;
        }
    }

    internal void Return(MemoryBuffer1D<byte, Stride1D.Dense> buf)
    {
        lock (pool)
        {
            if (disposed || !all.Contains(buf)) return;
            long bytes = buf.Length;
            if (!free.TryGetValue(bytes, out var s)) free[bytes] = s = new Stack<MemoryBuffer1D<byte, Stride1D.Dense>>();
            s.Push(buf);
            live--;
            liveBytes -= bytes;
        }
    }

    internal KernelCache<T, O> Ks<T, O>() where T : unmanaged where O : struct, INumOps<T>
    {
        lock (pool)
        {
            if (!caches.TryGetValue(typeof(T), out var c)) caches[typeof(T)] = c = new KernelCache<T, O>(acc);
            return (KernelCache<T, O>)c;
        }
    }

    /// <summary>The tensor as this backend's; a tensor of another device is an error naming both devices.</summary>
    internal IlgpuTensor In(RawTensor x, string op)
    {
        if (x is IlgpuTensor t && ReferenceEquals(t.Owner, this)) return t;
        throw new ArgumentException($"{op}: expected all tensors on device '{Device}', but found one on '{x.Backend.Device}'; move it with To(device)");
    }

    /// <inheritdoc/>
    public RawTensor FromArray(Array data, int[] shape)
    {
        var dtype = DTypes.OfArray(data);
        int n = Shapes.Numel(shape);
        if (data.Length != n) throw new ArgumentException($"FromArray: {data.Length} values do not fill shape {Shapes.Format(shape)} ({n} elements)", nameof(data));
        var t = Alloc(shape, dtype);
        if (n == 0) return t;
        switch (data)
        {
            case float[] f: Upload(t, f); break;
            case double[] f: Upload(t, f); break;
            case int[] f: Upload(t, f); break;
            case long[] f: Upload(t, f); break;
            case bool[] f: Upload(t, f.Select(b => b ? (byte)1 : (byte)0).ToArray()); break;
        }
        return t;
    }

    void Upload<T>(IlgpuTensor t, T[] data) where T : unmanaged => t.View<T>().SubView(0, data.Length).CopyFromCPU(acc.DefaultStream, data);

    /// <inheritdoc/>
    public Array ToArray(RawTensor x)
    {
        var t = In(x, "ToArray");
        int n = x.Numel;
        switch (x.DType)
        {
            case DType.Float32: return Download<float>(t, n);
            case DType.Float64: return Download<double>(t, n);
            case DType.Int32: return Download<int>(t, n);
            case DType.Int64: return Download<long>(t, n);
            default: return Download<byte>(t, n).Select(b => b != 0).ToArray();
        }
    }

    // The only place the host waits for the device.
    T[] Download<T>(IlgpuTensor t, int n) where T : unmanaged
    {
        var r = new T[n];
        if (n == 0) return r;
        t.View<T>().SubView(0, n).CopyToCPU(acc.DefaultStream, r);
        acc.DefaultStream.Synchronize();
        return r;
    }

    /// <inheritdoc/>
    public RawTensor Full(int[] shape, DType dtype, double value)
    {
        var t = Alloc(shape, dtype);
        int n = t.Numel;
        if (n == 0) return t;
        switch (dtype)
        {
            case DType.Float32: Ks<float, F32>().Fill(n, t.View<float>(), (float)value); break;
            case DType.Float64: Ks<double, F64>().Fill(n, t.View<double>(), value); break;
            case DType.Int32: Ks<int, I32>().Fill(n, t.View<int>(), (int)value); break;
            case DType.Int64: Ks<long, I64>().Fill(n, t.View<long>(), (long)value); break;
            default: Ks<byte, U8>().Fill(n, t.View<byte>(), value != 0 ? (byte)1 : (byte)0); break;
        }
        return t;
    }

    /// <inheritdoc/>
    public void RunParts(int count, Action<int> part)
    {
        for (int i = 0; i < count; i++) part(i); // one stream: kernels run in order anyway
    }

    /// <inheritdoc/>
    public RawTensor Cast(RawTensor x, DType dtype)
    {
        var s = In(x, "Cast");
        return x.DType switch
        {
            DType.Float32 => CastFrom<float, F32>(s, dtype),
            DType.Float64 => CastFrom<double, F64>(s, dtype),
            DType.Int32 => CastFrom<int, I32>(s, dtype),
            DType.Int64 => CastFrom<long, I64>(s, dtype),
            _ => CastFrom<byte, U8>(s, dtype),
        };
    }

    RawTensor CastFrom<TA, OA>(IlgpuTensor x, DType to) where TA : unmanaged where OA : struct, INumOps<TA> => to switch
    {
        DType.Float32 => CastK<TA, OA, float, F32>(x, to),
        DType.Float64 => CastK<TA, OA, double, F64>(x, to),
        DType.Int32 => CastK<TA, OA, int, I32>(x, to),
        DType.Int64 => CastK<TA, OA, long, I64>(x, to),
        _ => CastK<TA, OA, byte, U8>(x, to),
    };

    IlgpuTensor CastK<TA, OA, TB, OB>(IlgpuTensor x, DType to) where TA : unmanaged where OA : struct, INumOps<TA> where TB : unmanaged where OB : struct, INumOps<TB>
    {
        var d = Alloc(x.Shape, to);
        if (x.Numel > 0) Ks<TA, OA>().CastTo<TB, OB>(!x.DType.IsFloating() && !to.IsFloating())(x.Numel, x.View<TA>(), d.View<TB>());
        return d;
    }
}
