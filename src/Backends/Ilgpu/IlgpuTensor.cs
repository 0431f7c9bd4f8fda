using ILGPU;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

/// <summary>
/// A pooled device buffer. Tensor headers (and reshaped views of them) share one; when the last header is collected
/// the finalizer hands the buffer back to its backend's pool (no device call, so it is safe on the finalizer thread;
/// kernels run in stream order, so a reused buffer is only written after earlier kernels have read it).
/// </summary>
internal sealed class DeviceStorage
{
    internal DeviceStorage(IlgpuBackend owner, MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        Owner = owner;
        Buffer = buffer;
    }

    internal IlgpuBackend Owner { get; }
    internal MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; }

    ~DeviceStorage() => Owner.Return(Buffer);
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

    /// <summary>The elements as a device view of T (T is the dtype's storage type; byte for Bool).</summary>
    internal ArrayView<T> View<T>() where T : unmanaged => Storage.Buffer.View.AsContiguous().Cast<T>().SubView(0, Math.Max(Numel, 1));
}
