using System.Runtime.CompilerServices;
using MiniGrad.Backends.Cpu;

namespace MiniGrad.Tests.Cpu;

/// <summary>The CPU kernels' fork-join team (<see cref="Team"/>): every item once, errors as thrown, context carried.</summary>
public class TeamTests
{
    static readonly int Cores = Math.Max(2, Environment.ProcessorCount);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(7, 2)]
    [InlineData(100, 3)]
    [InlineData(1000, 64)] // more threads than cores: capped, still every item once
    public void RunsEveryItemExactlyOnce(int count, int threads)
    {
        var hits = new int[count];
        Team.Run(count, threads, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void SplitsOverTwoThreadsWhenItemsWait()
    {
        Assert.SkipWhen(Environment.ProcessorCount < 2, "one core: nothing to split over");
        // Two items that each wait for the other to start can only finish on two threads at once.
        using var both = new CountdownEvent(2);
        var ids = new int[2];
        Team.Run(2, 2, i =>
        {
            ids[i] = Environment.CurrentManagedThreadId;
            both.Signal();
            Assert.True(both.Wait(TimeSpan.FromSeconds(30)), "the other item never started");
        });
        Assert.NotEqual(ids[0], ids[1]);
    }

    [Fact]
    public void HelpersThatFellAsleepWakeForTheNextJob()
    {
        Assert.SkipWhen(Environment.ProcessorCount < 2, "one core: no helpers");
        for (int round = 0; round < 3; round++)
        {
            Thread.Sleep(20); // far past the helpers' spin
            using var both = new CountdownEvent(2);
            Team.Run(2, 2, _ => { both.Signal(); Assert.True(both.Wait(TimeSpan.FromSeconds(30)), "no helper woke"); });
        }
    }

    [Fact]
    public void AnItemsExceptionComesBackAsThrownAndTheTeamStaysUsable()
    {
        var ran = 0;
        var e = Assert.Throws<InvalidOperationException>(() => Team.Run(50, Cores, i =>
        {
            Interlocked.Increment(ref ran);
            if (i == 3) throw new InvalidOperationException("item 3");
        }));
        Assert.Equal("item 3", e.Message);
        Assert.InRange(ran, 4, 50);

        var hits = new int[64];
        Team.Run(64, Cores, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void NestedAndConcurrentRunsAllFinish()
    {
        // An item that forks again finds the team busy (the pool runs the inner items); two callers at once likewise.
        var hits = new int[8 * 8];
        void Outer() => Team.Run(8, Cores, i => Team.Run(8, Cores, j => Interlocked.Increment(ref hits[i * 8 + j])));
        Parallel.Invoke(Outer, Outer, Outer);
        Assert.All(hits, h => Assert.Equal(3, h));
    }

    static readonly AsyncLocal<string?> s_local = new();

    [Fact]
    public void HelpersSeeTheCallersAsyncLocals()
    {
        // The kernels' ScratchRegion is an AsyncLocal: a helper that lost it would allocate fresh memory for its items.
        s_local.Value = "caller";
        try
        {
            var seen = new string?[32];
            using var all = new CountdownEvent(Math.Min(2, Environment.ProcessorCount));
            Team.Run(32, Cores, i =>
            {
                if (i < all.InitialCount) { all.Signal(); all.Wait(TimeSpan.FromSeconds(30)); } // make a helper take part
                seen[i] = s_local.Value;
            });
            Assert.All(seen, s => Assert.Equal("caller", s));
        }
        finally { s_local.Value = null; }
    }

    [Fact]
    public void AFinishedJobsClosureIsLeftToTheCollector()
    {
        // The team must not hold the last job (its closure: tensors, a ScratchRegion) until the next one comes.
        var weak = RunOnce();
        for (int i = 0; i < 50 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(10); // a helper still leaving the job, or descheduled on a busy machine
        }
        Assert.False(weak.IsAlive);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static WeakReference RunOnce()
    {
        var payload = new int[64];
        Team.Run(64, Cores, i => payload[i]++);
        Assert.All(payload, p => Assert.Equal(1, p));
        return new WeakReference(payload);
    }
}
