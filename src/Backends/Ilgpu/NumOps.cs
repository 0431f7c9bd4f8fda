using ILGPU.Algorithms;

namespace MiniGrad.Backends.Ilgpu;

// Kernels are generic over the element type T and a struct TOps that supplies its arithmetic: ILGPU specializes
// constrained calls on struct type arguments at compile time, so there is no virtual call in any kernel.
// Integer and byte ops implement only what the host lets through (the float-only ops are rejected before launch).
internal interface INumOps<T> where T : unmanaged
{
    T Zero();
    T NegInf();
    T FromDouble(double v);
    double ToDouble(T v);
    T FromLong(long v);
    long ToLong(T v);
    T Add(T a, T b);
    T Sub(T a, T b);
    T Mul(T a, T b);
    T Div(T a, T b);
    T Pow(T a, T b);
    T Max(T a, T b);
    T Min(T a, T b);
    bool Lt(T a, T b);
    bool Eq(T a, T b);
    bool IsNaN(T a);
    T Neg(T a);
    T Exp(T a);
    T Log(T a);
    T Sqrt(T a);
    T Abs(T a);
    T Tanh(T a);
}

internal struct F32 : INumOps<float>
{
    public float Zero() => 0f;
    public float NegInf() => float.NegativeInfinity;
    public float FromDouble(double v) => (float)v;
    public double ToDouble(float v) => v;
    public float FromLong(long v) => v;
    public long ToLong(float v) => (long)v;
    public float Add(float a, float b) => a + b;
    public float Sub(float a, float b) => a - b;
    public float Mul(float a, float b) => a * b;
    public float Div(float a, float b) => a / b;
    public float Pow(float a, float b) => XMath.Pow(a, b);
    public float Max(float a, float b) => float.IsNaN(a) ? a : float.IsNaN(b) ? b : a > b ? a : b;
    public float Min(float a, float b) => float.IsNaN(a) ? a : float.IsNaN(b) ? b : a < b ? a : b;
    public bool Lt(float a, float b) => a < b;
    public bool Eq(float a, float b) => a == b;
    public bool IsNaN(float a) => float.IsNaN(a);
    public float Neg(float a) => -a;
    public float Exp(float a) => XMath.Exp(a);
    public float Log(float a) => XMath.Log(a);
    public float Sqrt(float a) => XMath.Sqrt(a);
    public float Abs(float a) => XMath.Abs(a);
    public float Tanh(float a) => XMath.Tanh(a);
}

internal struct F64 : INumOps<double>
{
    public double Zero() => 0.0;
    public double NegInf() => double.NegativeInfinity;
    public double FromDouble(double v) => v;
    public double ToDouble(double v) => v;
    public double FromLong(long v) => v;
    public long ToLong(double v) => (long)v;
    public double Add(double a, double b) => a + b;
    public double Sub(double a, double b) => a - b;
    public double Mul(double a, double b) => a * b;
    public double Div(double a, double b) => a / b;
    public double Pow(double a, double b) => XMath.Pow(a, b);
    public double Max(double a, double b) => double.IsNaN(a) ? a : double.IsNaN(b) ? b : a > b ? a : b;
    public double Min(double a, double b) => double.IsNaN(a) ? a : double.IsNaN(b) ? b : a < b ? a : b;
    public bool Lt(double a, double b) => a < b;
    public bool Eq(double a, double b) => a == b;
    public bool IsNaN(double a) => double.IsNaN(a);
    public double Neg(double a) => -a;
    public double Exp(double a) => XMath.Exp(a);
    public double Log(double a) => XMath.Log(a);
    public double Sqrt(double a) => XMath.Sqrt(a);
    public double Abs(double a) => XMath.Abs(a);
    public double Tanh(double a) => XMath.Tanh(a);
}

internal struct I32 : INumOps<int>
{
    public int Zero() => 0;
    public int NegInf() => int.MinValue;
    public int FromDouble(double v) => (int)v;
    public double ToDouble(int v) => v;
    public int FromLong(long v) => (int)v;
    public long ToLong(int v) => v;
    public int Add(int a, int b) => a + b;
    public int Sub(int a, int b) => a - b;
    public int Mul(int a, int b) => a * b;
    public int Div(int a, int b) => b == 0 ? 0 : a / b;
    public int Pow(int a, int b) => 0;
    public int Max(int a, int b) => a > b ? a : b;
    public int Min(int a, int b) => a < b ? a : b;
    public bool Lt(int a, int b) => a < b;
    public bool Eq(int a, int b) => a == b;
    public bool IsNaN(int a) => false;
    public int Neg(int a) => -a;
    public int Exp(int a) => 0;
    public int Log(int a) => 0;
    public int Sqrt(int a) => 0;
    public int Abs(int a) => a < 0 ? -a : a;
    public int Tanh(int a) => 0;
}

internal struct I64 : INumOps<long>
{
    public long Zero() => 0;
    public long NegInf() => long.MinValue;
    public long FromDouble(double v) => (long)v;
    public double ToDouble(long v) => v;
    public long FromLong(long v) => v;
    public long ToLong(long v) => v;
    public long Add(long a, long b) => a + b;
    public long Sub(long a, long b) => a - b;
    public long Mul(long a, long b) => a * b;
    public long Div(long a, long b) => b == 0 ? 0 : a / b;
    public long Pow(long a, long b) => 0;
    public long Max(long a, long b) => a > b ? a : b;
    public long Min(long a, long b) => a < b ? a : b;
    public bool Lt(long a, long b) => a < b;
    public bool Eq(long a, long b) => a == b;
    public bool IsNaN(long a) => false;
    public long Neg(long a) => -a;
    public long Exp(long a) => 0;
    public long Log(long a) => 0;
    public long Sqrt(long a) => 0;
    public long Abs(long a) => a < 0 ? -a : a;
    public long Tanh(long a) => 0;
}

/// <summary>Bool stored as one byte (0 or 1): only comparisons, casts and copies reach it.</summary>
internal struct U8 : INumOps<byte>
{
    public byte Zero() => 0;
    public byte NegInf() => 0;
    public byte FromDouble(double v) => v != 0 ? (byte)1 : (byte)0;
    public double ToDouble(byte v) => v != 0 ? 1 : 0;
    public byte FromLong(long v) => v != 0 ? (byte)1 : (byte)0;
    public long ToLong(byte v) => v != 0 ? 1 : 0;
    public byte Add(byte a, byte b) => (byte)(a | b);
    public byte Sub(byte a, byte b) => 0;
    public byte Mul(byte a, byte b) => (byte)(a & b);
    public byte Div(byte a, byte b) => 0;
    public byte Pow(byte a, byte b) => 0;
    public byte Max(byte a, byte b) => a > b ? a : b;
    public byte Min(byte a, byte b) => a < b ? a : b;
    public bool Lt(byte a, byte b) => a < b;
    public bool Eq(byte a, byte b) => (a != 0) == (b != 0);
    public bool IsNaN(byte a) => false;
    public byte Neg(byte a) => a;
    public byte Exp(byte a) => 0;
    public byte Log(byte a) => 0;
    public byte Sqrt(byte a) => 0;
    public byte Abs(byte a) => a;
    public byte Tanh(byte a) => 0;
}
