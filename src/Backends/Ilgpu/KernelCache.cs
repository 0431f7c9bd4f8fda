using ILGPU;
using ILGPU.Runtime;

namespace MiniGrad.Backends.Ilgpu;

/// <summary>
/// The kernels of one element type on one accelerator, each compiled on first use and kept for the accelerator's
/// life (ILGPU compiles at load time; launching a loaded kernel is cheap).
/// </summary>
internal sealed partial class KernelCache<T, O>(Accelerator acc) where T : unmanaged where O : struct, INumOps<T>
{
    readonly Lock gate = new();

    TK Get<TK>(ref TK? slot, Func<TK> load) where TK : class
    {
        if (slot is { } k) return k;
        lock (gate) return slot ??= load();
    }

    Action<Index1D, ArrayView<T>, T>? fill;
    public Action<Index1D, ArrayView<T>, T> Fill => Get(ref fill, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, T>(K.Fill));

    Action<Index1D, ArrayView<T>, ArrayView<T>, int>? unary;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, int> Unary => Get(ref unary, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int>(K.Unary<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, Strided, int>? binary;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, Strided, int> Binary => Get(ref binary, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, Strided, int>(K.Binary<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<byte>, Strided, int>? compare;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<byte>, Strided, int> Compare => Get(ref compare, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<byte>, Strided, int>(K.Compare<T, O>));

    Action<Index1D, ArrayView<byte>, ArrayView<T>, ArrayView<T>, ArrayView<T>, Strided>? where;
    public Action<Index1D, ArrayView<byte>, ArrayView<T>, ArrayView<T>, ArrayView<T>, Strided> Where => Get(ref where, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<T>, ArrayView<T>, ArrayView<T>, Strided>(K.Where));

    Action<Index1D, ArrayView<T>, ArrayView<T>, T, T, int, int>? clamp;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, T, T, int, int> Clamp => Get(ref clamp, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, T, T, int, int>(K.Clamp<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, Strided>? stridedCopy;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, Strided> StridedCopy => Get(ref stridedCopy, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, Strided>(K.StridedCopy));

    Action<Index1D, ArrayView<T>, ArrayView<T>, int, int, int>? reduce;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, int, int, int> Reduce => Get(ref reduce, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int, int, int>(K.Reduce<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<long>, int, int, int>? argReduce;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, int, int, int> ArgReduce => Get(ref argReduce, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, int, int, int>(K.ArgReduce<T, O>));

    Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, MatArgs>? matMul;
    public Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, MatArgs> MatMul => Get(ref matMul, () => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, MatArgs>(K.MatMul<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, int, int, int>? cat;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, int, int, int> Cat => Get(ref cat, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int, int, int>(K.CatBlock));

    Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, int, int, int>? indexSelect;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, int, int, int> IndexSelect => Get(ref indexSelect, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, int, int, int>(K.IndexSelect));

    Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, int, int, int>? indexAdd;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, int, int, int> IndexAdd => Get(ref indexAdd, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, int, int, int>(K.IndexAdd<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, Strided, int>? gather;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, Strided, int> Gather => Get(ref gather, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, Strided, int>(K.Gather));

    Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, Strided, int>? scatterAdd;
    public Action<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, Strided, int> ScatterAdd => Get(ref scatterAdd, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<long>, ArrayView<T>, Strided, int>(K.ScatterAdd<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, WindowArgs, T>? unfold1d;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, WindowArgs, T> Unfold1d => Get(ref unfold1d, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, WindowArgs, T>(K.Unfold1d));

    Action<Index1D, ArrayView<T>, ArrayView<T>, WindowArgs>? fold1d;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, WindowArgs> Fold1d => Get(ref fold1d, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, WindowArgs>(K.Fold1d<T, O>));

    Action<KernelConfig, ArrayView<T>, ArrayView<T>, int, int, int>? softmax;
    public Action<KernelConfig, ArrayView<T>, ArrayView<T>, int, int, int> Softmax => Get(ref softmax, () => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, int, int, int>(K.Softmax<T, O>));

    Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int>? softmaxBackward;
    public Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> SoftmaxBackward => Get(ref softmaxBackward, () => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int>(K.SoftmaxBackward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>? lstm;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs> Lstm => Get(ref lstm, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>(K.LstmCell<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>? lstmBackward;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs> LstmBackward => Get(ref lstmBackward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>(K.LstmCellBackward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>? gru;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs> Gru => Get(ref gru, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>(K.GruCell<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>? gruBackward;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs> GruBackward => Get(ref gruBackward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>(K.GruCellBackward<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>? rnn;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs> Rnn => Get(ref rnn, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>(K.RnnCell<T, O>));

    Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>? rnnBackward;
    public Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs> RnnBackward => Get(ref rnnBackward, () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, CellArgs>(K.RnnCellBackward<T, O>));

    Action<KernelConfig, ArrayView<T>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<T>, CtcArgs>? ctc;
    public Action<KernelConfig, ArrayView<T>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<T>, CtcArgs> Ctc => Get(ref ctc, () => acc.LoadStreamKernel<ArrayView<T>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<T>, CtcArgs>(K.CtcForward<T, O>));

    Action<KernelConfig, ArrayView<T>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<T>, ArrayView<T>, CtcArgs>? ctcBackward;
    public Action<KernelConfig, ArrayView<T>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<T>, ArrayView<T>, CtcArgs> CtcBackward => Get(ref ctcBackward, () => acc.LoadStreamKernel<ArrayView<T>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<T>, ArrayView<T>, CtcArgs>(K.CtcBackward<T, O>));

    readonly Dictionary<Type, Delegate> casts = [];

    /// <summary>Cast kernel from this type to TB (through long between integer types, through double otherwise).</summary>
    public Action<Index1D, ArrayView<T>, ArrayView<TB>> CastTo<TB, OB>(bool viaLong) where TB : unmanaged where OB : struct, INumOps<TB>
    {
        lock (gate)
        {
            if (!casts.TryGetValue(typeof(TB), out var d))
                casts[typeof(TB)] = d = viaLong
                    ? acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<TB>>(K.CastViaLong<T, O, TB, OB>)
                    : acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<TB>>(K.CastViaDouble<T, O, TB, OB>);
            return (Action<Index1D, ArrayView<T>, ArrayView<TB>>)d;
        }
    }
}
