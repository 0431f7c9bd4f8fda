namespace MiniGrad;

/// <summary>Element type of a tensor.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float, the default.</summary>
    Float32,
    /// <summary>64-bit IEEE float, used for gradient checks.</summary>
    Float64,
    /// <summary>32-bit signed integer.</summary>
    Int32,
    /// <summary>64-bit signed integer (PyTorch's long), the default for indices.</summary>
    Int64,
    /// <summary>Boolean, the result of comparisons and the input of masks.</summary>
    Bool,
}

/// <summary>Facts about each <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>True for Float32 and Float64.</summary>
    public static bool IsFloating(this DType d) => d is DType.Float32 or DType.Float64;

    /// <summary>The CLR element type that stores this dtype.</summary>
    public static Type ClrType(this DType d) => d switch
    {
        DType.Float32 => typeof(float),
        DType.Float64 => typeof(double),
        DType.Int32 => typeof(int),
        DType.Int64 => typeof(long),
        _ => typeof(bool),
    };

    /// <summary>The dtype stored as CLR type <typeparamref name="T"/>.</summary>
    public static DType Of<T>() => typeof(T) == typeof(float) ? DType.Float32
        : typeof(T) == typeof(double) ? DType.Float64
        : typeof(T) == typeof(int) ? DType.Int32
        : typeof(T) == typeof(long) ? DType.Int64
        : typeof(T) == typeof(bool) ? DType.Bool
        : throw new ArgumentException($"No MiniGrad dtype stores {typeof(T).Name}; expected float, double, int, long or bool.", nameof(T));

    /// <summary>The dtype of a host array (float[], double[], int[], long[] or bool[]); throws for any other.</summary>
    public static DType OfArray(Array data) => data switch
    {
        float[] => DType.Float32, double[] => DType.Float64, int[] => DType.Int32, long[] => DType.Int64, bool[] => DType.Bool,
        _ => throw new ArgumentException($"FromArray: element type {data.GetType().GetElementType()?.Name} is not supported; expected float, double, int, long or bool", nameof(data)),
    };

    /// <summary>Bytes per element.</summary>
    public static int Size(this DType d) => d switch { DType.Float64 or DType.Int64 => 8, DType.Bool => 1, _ => 4 };
}
