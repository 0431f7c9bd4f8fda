using MiniGrad.Nn;
using MiniGrad.Tests.Speech;

namespace MiniGrad.Tests.Teaching;

public class GradFlowRecorderTests
{
    static Sequential Model() => new(new Linear(3, 4, dtype: DType.Float64, generator: new Generator(1)), new Linear(4, 2, bias: false, dtype: DType.Float64, generator: new Generator(2)));

    static double Norm(Tensor t) => Math.Sqrt(t.ToArray<double>().Sum(v => v * v));

    [Fact]
    public void RecordsEachParametersGradientNormPerStep()
    {
        var model = Model();
        var flow = new GradFlowRecorder(model);
        Assert.Equal(["0.weight", "0.bias", "1.weight"], flow.Names);
        var x = Torch.Randn([5, 3], DType.Float64, generator: new Generator(3));

        var row0 = flow.Record(); // before any backward: no gradients
        Assert.All(row0, v => Assert.True(double.IsNaN(v)));

        model.Forward(x).Tanh().Sum().Backward();
        var row1 = flow.Record();
        var ps = model.Parameters().ToArray();
        for (int i = 0; i < ps.Length; i++) Assert.Equal(Norm(ps[i].Grad!), row1[i], 12);

        model.Forward(x * 10.0).Sum().Backward(); // gradients accumulate: the recorder reads Grad as it is
        flow.Record();
        Assert.Equal(3, flow.Steps);
        Assert.Equal(Norm(ps[2].Grad!), flow.Series("1.weight")[2], 12);
        Assert.Equal(3, flow.Rows.Count);
        Assert.NotEqual(flow.Rows[1][2], flow.Rows[2][2]);
    }

    [Fact]
    public void WritesCsvWithAHeaderAndOneLinePerStep()
    {
        var model = Model();
        var flow = new GradFlowRecorder(model);
        flow.Record();
        model.Forward(Torch.Ones([2, 3], DType.Float64)).Sum().Backward();
        flow.Record();
        var lines = flow.ToCsv().Split('\n');
        Assert.Equal("step,0.weight,0.bias,1.weight", lines[0]);
        Assert.Equal("0,,,", lines[1]);
        var cells = lines[2].Split(',');
        Assert.Equal("1", cells[0]);
        Assert.Equal(flow.Rows[1][1], double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("", lines[3]);
        Assert.Equal(4, lines.Length);

        var path = Path.Combine(Path.GetTempPath(), $"gradflow-{Guid.NewGuid():N}.csv");
        try
        {
            flow.WriteCsv(path);
            Assert.Equal(flow.ToCsv(), File.ReadAllText(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AppendCsvAddsTheNewStepsToTheFileOfTheEarlierOnes()
    {
        var model = Model();
        var flow = new GradFlowRecorder(model);
        var x = Torch.Randn([5, 3], DType.Float64, generator: new Generator(3));
        void Step(double scale) { model.ZeroGrad(); (model.Forward(x) * scale).Sum().Backward(); flow.Record(); }
        using var dir = new TempDir();
        string path = dir["g.csv"];
        Step(1);
        Step(2);
        flow.AppendCsv(path, 0); // the whole file, as WriteCsv
        Assert.Equal(flow.ToCsv(), File.ReadAllText(path));
        Step(3);
        Step(4);
        Step(5);
        flow.AppendCsv(path, 2);
        Assert.Equal(flow.ToCsv(), File.ReadAllText(path));
        flow.AppendCsv(path, 5); // nothing new
        Assert.Equal(flow.ToCsv(), File.ReadAllText(path));
        var again = new GradFlowRecorder(model);
        Assert.Equal(5, again.LoadCsv(path));
        Assert.Equal(flow.Rows, again.Rows);

        // A step outside 0..Steps, or no file to add to: an exception naming it, and the file as it was.
        string before = File.ReadAllText(path);
        Assert.Equal("fromStep", Assert.Throws<ArgumentOutOfRangeException>(() => flow.AppendCsv(path, 6)).ParamName);
        Assert.Equal("fromStep", Assert.Throws<ArgumentOutOfRangeException>(() => flow.AppendCsv(path, -1)).ParamName);
        Assert.Equal(before, File.ReadAllText(path));
        var missing = Assert.Throws<FileNotFoundException>(() => flow.AppendCsv(dir["none.csv"], 3));
        Assert.Contains("steps 0..2", missing.Message);
        Assert.False(File.Exists(dir["none.csv"]));
    }

    [Fact]
    public void PrintsTheLastStepAndRejectsUnknownNames()
    {
        var model = Model();
        var flow = new GradFlowRecorder(model);
        Assert.Contains("no step recorded yet", flow.ToString());
        model.Forward(Torch.Ones([2, 3], DType.Float64)).Sum().Backward();
        flow.Record();
        var text = flow.ToString();
        Assert.Contains("grad norm (step 0)", text);
        Assert.Contains("1.weight ", text);
        Assert.Contains("[2,4]", text);
        var e = Assert.Throws<ArgumentException>(() => flow.Series("2.weight"));
        Assert.Contains("2.weight", e.Message);
        Assert.Contains("0.bias", e.Message);
    }

    [Fact]
    public void RecordGradNormsScopeFillsEveryOpsNorm()
    {
        var x = Torch.Tensor(new[] { 1.0, 2.0, 3.0 }).RequiresGrad_();
        var y = x * 2.0;
        var loss = y.Sum();
        using (Torch.RecordGradNorms())
        {
            Assert.True(Autograd.IsRecordingGradNorms);
            loss.Backward();
        }
        Assert.False(Autograd.IsRecordingGradNorms);
        Assert.Equal(1.0, loss.GradFn!.GradNorm);
        Assert.Equal(Math.Sqrt(3), y.GradFn!.GradNorm!.Value, 12);
    }
}
