using System.Numerics;
using System.Runtime.CompilerServices;

namespace MiniGrad.Backends.Cpu;

/// <summary>
/// The array behind one or more <see cref="CpuTensor"/> headers (a reshape shares it), with the count of its owners.
/// Owners are the autograd tensors that wrap a header and the ops that saved one for their backward; when the last of
/// them lets go the array returns to <see cref="StoragePool"/> for the next tensor of the same type and length. Storage
/// that never gets an owner (a kernel's scratch, a tensor nobody disposes) is simply left to the garbage collector.
/// </summary>
internal sealed class CpuStorage(Array data)
{
    Array? data = data;
    int owners;

    /// <summary>The elements; throws once the storage went back to the pool (a header used after its last owner let go).</summary>
    public Array Data => data ?? throw Returned();

    public void Retain()
    {
        if (data is null) throw Returned();
        Interlocked.Increment(ref owners);
    }

    public void Release()
    {
        int left = Interlocked.Decrement(ref owners);
        if (left > 0) return;
        if (left < 0) throw new InvalidOperationException("CPU storage released more often than it was retained (a MiniGrad bug)");
        if (Interlocked.Exchange(ref data, null) is { } d) StoragePool.Return(d);
    }

    /// <summary>Returns the array to the pool if no owner holds it (and it is still here).</summary>
    public void Recycle()
    {
        if (data is null || Volatile.Read(ref owners) > 0) return;
        var d = Interlocked.Exchange(ref data, null);
        if (d is not null) StoragePool.Return(d);
    }

    static InvalidOperationException Returned() =>
        new("CPU storage used after its last owner released it (a tensor was disposed while an op or another tensor still used its data)");
}

/// <summary>
/// Arrays kept for reuse, by element type and size class, up to a budget of bytes; past it the pool forgets what it
/// holds and starts over. A request is rounded up to its class, eight per power of two (at most 12.5% more elements),
/// so that a tensor whose length changes a little from step to step (a batch of utterances bucketed by length) still
/// finds the array of an earlier step, as a training loop with fixed shapes always does. Tensors use the first Numel
/// elements of their array. MINIGRAD_POOL_CHECK=1 makes it a checker instead: new arrays (of the class's length too)
/// come filled with NaN (or a marker in integer arrays), returned ones are filled so too and never handed out again, so
/// a kernel that reads what it did not write, past its tensor's end, or data used after its storage returned, shows up.
/// </summary>
internal static class StoragePool
{
    static readonly Lock gate = new();
    static readonly Dictionary<(Type, int), Stack<Array>> free = new();
    static long bytes;
    static readonly long budget = Math.Clamp(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8, 64L << 20, 2L << 30);
    internal static readonly bool Check = Environment.GetEnvironmentVariable("MINIGRAD_POOL_CHECK") == "1";

    /// <summary>Arrays below this many bytes are left to the GC's nursery, which serves them about as fast.</summary>
    const int MinBytes = 1024;

    /// <summary>An array of at least n elements of T (n rounded up to its size class) with undefined contents.</summary>
    public static T[] Rent<T>(int n)
    {
        if ((long)n * Unsafe.SizeOf<T>() < MinBytes) return Check ? Poisoned(new T[n]) : GC.AllocateUninitializedArray<T>(n);
        int length = SizeClass(n);
        if (Check) return Poisoned(new T[length]);
        lock (gate)
            if (free.TryGetValue((typeof(T), length), out var stack) && stack.Count > 0)
            {
                bytes -= (long)length * Unsafe.SizeOf<T>();
                return (T[])stack.Pop();
            }
        Interlocked.Increment(ref misses);
        return GC.AllocateUninitializedArray<T>(length);
    }

    /// <summary>n rounded up to a multiple of an eighth of its power of two: 1024, 1152, 1280, ..., 1920, 2048, 2304, ...</summary>
    internal static int SizeClass(int n)
    {
        if (n <= 8) return n;
        int step = 1 << (BitOperations.Log2((uint)n) - 3);
        return (int)Math.Min(((long)n + step - 1) & ~(long)(step - 1), Array.MaxLength);
    }

    public static void Return(Array a)
    {
        if (Check) { Poison(a); return; }
        long size = (long)a.Length * (a switch { float[] or int[] => 4, double[] or long[] => 8, _ => 0 });
        if (size < MinBytes || size > budget) return; // bool storage (size 0) is not pooled: kernels may count on new bool[] being false
        lock (gate)
        {
            if (bytes + size > budget) { free.Clear(); bytes = 0; }
            var key = (a.GetType().GetElementType()!, a.Length);
            if (!free.TryGetValue(key, out var stack)) free[key] = stack = new Stack<Array>();
            stack.Push(a);
            bytes += size;
        }
    }

    /// <summary>Drops every pooled array (PyTorch's empty_cache): the memory goes back to the GC.</summary>
    public static void Clear()
    {
        lock (gate) { free.Clear(); bytes = 0; }
    }

    static long misses;

    /// <summary>How many arrays of at least MinBytes the pool could not serve and the GC allocated (tests watch it).</summary>
    public static long Misses => Interlocked.Read(ref misses);

    /// <summary>Bytes held for reuse now.</summary>
    public static long PooledBytes { get { lock (gate) return bytes; } }

    static T[] Poisoned<T>(T[] a) { Poison(a); return a; }

    static void Poison(Array a)
    {
        switch (a)
        {
            case float[] f: f.AsSpan().Fill(float.NaN); break;
            case double[] d: d.AsSpan().Fill(double.NaN); break;
            case int[] i: i.AsSpan().Fill(int.MinValue + 7); break;
            case long[] l: l.AsSpan().Fill(long.MinValue + 7); break;
        }
    }
}
