namespace MiniGrad;

/// <summary>Shape arithmetic shared by every layer: element counts, strides, broadcasting, dim checks.</summary>
public static class Shapes
{
    /// <summary>Number of elements of a shape (1 for a scalar).</summary>
    public static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n > int.MaxValue) throw new ArgumentException($"Shape {Format(shape)} has {n} elements; at most {int.MaxValue} are supported.", nameof(shape));
        return (int)n;
    }

    /// <summary>Row-major strides of a contiguous tensor of this shape.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Formats a shape the way error messages show it: [3,4].</summary>
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(",", shape.ToArray()) + "]";

    /// <summary>NumPy broadcasting of two shapes; throws naming the op and the first mismatching dimension.</summary>
    public static int[] Broadcast(string op, ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast: dimension {i} is {da} vs {db}");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Turns a possibly negative dim into [0, rank); throws naming the op when out of range.</summary>
    public static int NormalizeDim(string op, int dim, int rank, string arg = "dim")
    {
        int r = Math.Max(rank, 1);
        if (dim < -r || dim >= r)
            throw new ArgumentOutOfRangeException(arg, dim, $"{op}: {arg} = {dim} is out of range for a tensor of rank {rank} (expected {-r} <= {arg} < {r})");
        return dim < 0 ? dim + r : dim;
    }

    /// <summary>True when both shapes have the same dims.</summary>
    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>Views a shape as (outer, size of dim, inner): the layout every per-axis kernel walks.</summary>
    public static (int Outer, int D, int Inner) Split(ReadOnlySpan<int> shape, int dim)
    {
        if (shape.Length == 0) return (1, 1, 1);
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[dim], inner);
    }
}
