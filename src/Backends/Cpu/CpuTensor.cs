namespace MiniGrad.Backends.Cpu;

/// <summary>A raw tensor in a managed array (float[], double[], int[], long[] or bool[]), shared by its reshapes.</summary>
public sealed class CpuTensor : RawTensor
{
    readonly CpuStorage storage;

    CpuTensor(CpuStorage storage, int[] shape, DType dtype) : base(shape, dtype) { this.storage = storage; }

    /// <summary>The storage; its length is at least Numel. Throws once the storage returned to the pool.</summary>
    public Array Data => storage.Data;

    /// <inheritdoc/>
    public override IBackend Backend => CpuBackend.Instance;

    /// <summary>The elements as a span of T (T must be the dtype's CLR type).</summary>
    public Span<T> Span<T>() => new((T[])Data, 0, Numel);

    /// <inheritdoc/>
    public override RawTensor Reshape(int[] shape) => new CpuTensor(storage, shape, DType);

    /// <inheritdoc/>
    public override void Retain() => storage.Retain();

    /// <inheritdoc/>
    public override void Release() => storage.Release();

    /// <inheritdoc/>
    public override void Recycle() => storage.Recycle();

    internal static CpuTensor Alloc(int[] shape, DType dtype)
    {
        int n = Shapes.Numel(shape);
        Array data = dtype switch
        {
            DType.Float32 => StoragePool.Rent<float>(n),
            DType.Float64 => StoragePool.Rent<double>(n),
            DType.Int32 => StoragePool.Rent<int>(n),
            DType.Int64 => StoragePool.Rent<long>(n),
            _ => new bool[n],
        };
        var t = new CpuTensor(new CpuStorage(data), shape, dtype);
        ScratchRegion.Track(t);
        return t;
    }

    internal static CpuTensor Zeros(int[] shape, DType dtype)
    {
        var t = Alloc(shape, dtype);
        Array.Clear(t.Data, 0, t.Numel);
        return t;
    }
}
/// <summary>Serves the "cpu" device. The <c>MiniGrad</c> package registers it; without that package call <see cref="Register"/>.</summary>
public sealed class CpuBackendProvider : IBackendProvider
{
    /// <summary>Registers the CPU backend with <see cref="BackendRegistry"/> (idempotent, no reflection: trimming and NativeAOT keep it).</summary>
    public static void Register() => BackendRegistry.Register(new CpuBackendProvider());

    // Whatever touches this assembly first (a CPU kernel, Register itself) registers the backend, so code that already
    // names a CPU-backend type never sees an empty registry.
#pragma warning disable CA2255 // a library's module initializer: registering is all it does, and it is idempotent
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void RegisterOnLoad() => Register();
#pragma warning restore CA2255

    /// <inheritdoc/>
    public IReadOnlyList<string> DeviceTypes => ["cpu"];
    /// <inheritdoc/>
    public bool IsAvailable(string deviceType) => deviceType == "cpu";
    /// <inheritdoc/>
    public IBackend Create(Device device) => CpuBackend.Instance;
}
