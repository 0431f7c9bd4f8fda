using ILGPU;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

/// <summary>
/// A pooled device buffer. Tensor headers (and reshaped views of them) share one. Its owners (the autograd tensors over
/// it, the ops that saved it) are counted: when the last one releases it, or when the last header is collected, the
/// buffer goes back to its backend's pool (no device call, so it is safe on the finalizer thread; kernels run in
/// stream order, so a reused buffer is only written after earlier kernels have read it).
/// </summary>
internal sealed class DeviceStorage
{
    MemoryBuffer1D<byte, Stride1D.Dense>? buffer;
    int owners;

    internal DeviceStorage(IlgpuBackend owner, MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        Owner = owner;
        this.buffer = buffer;
    }

    internal IlgpuBackend Owner { get; }

    /// <summary>The device buffer; throws once it went back to the pool (a header used after its last owner let go).</summary>
    internal MemoryBuffer1D<byte, Stride1D.Dense> Buffer => buffer
        ?? throw new InvalidOperationException("device storage used after its last owner released it (a tensor was disposed while an op or another tensor still used its data)");

    internal void Retain()
    {
        _ = Buffer;
        Interlocked.Increment(ref owners);
    }

    internal void Release()
    {
        int left = Interlocked.Decrement(ref owners);
        if (left < 0) throw new InvalidOperationException("device storage released more often than it was retained (a MiniGrad bug)");
        if (left == 0) GiveBack();
    }

    internal void Recycle()
    {
        if (Volatile.Read(ref owners) == 0) GiveBack();
    }

    void GiveBack()
    {
        if (Interlocked.Exchange(ref buffer, null) is not { } b) return;
        GC.SuppressFinalize(this);
        Owner.Return(b);
    }

    ~DeviceStorage()
    {
        if (buffer is { } b) Owner.Return(b);
    }
}

/// <summary>A raw tensor in ILGPU device memory: a pooled byte buffer viewed as float, double, int, long or (for Bool) byte.</summary>
public sealed class IlgpuTensor : RawTensor
{
    internal IlgpuTensor(IlgpuBackend owner, DeviceStorage storage, int[] shape, DType dtype) : base(shape, dtype)
    {
        Owner = owner;
        Storage = storage;
    }

    internal IlgpuBackend Owner { get; }
    internal DeviceStorage Storage { get; }

    /// <inheritdoc/>
    public override IBackend Backend => Owner;

    /// <inheritdoc/>
    public override RawTensor Reshape(int[] shape) => new IlgpuTensor(Owner, Storage, shape, DType);

    /// <inheritdoc/>
    public override void Retain() => Storage.Retain();

    /// <inheritdoc/>
    public override void Release() => Storage.Release();

    /// <inheritdoc/>
    public override void Recycle() => Storage.Recycle();

    /// <summary>The elements as a device view of T (T is the dtype's storage type; byte for Bool).</summary>
    internal ArrayView<T> View<T>() where T : unmanaged => Storage.Buffer.View.AsContiguous().Cast<T>().SubView(0, Math.Max(Numel, 1));
}
