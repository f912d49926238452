using System.Globalization;
using PCam.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using Xunit;

namespace PCam.MLNet.Tests.EndToEnd;

/// <summary>`pcam predict` on the official test file, row by row against the trainer's own test probabilities (the sample model).</summary>
[Collection(SampleModelCollection.Name)]
public sealed class PredictParityTests(SampleModelFixture f)
{
    [SkippableFact]
    public void PredictOnTheOfficialTestFileGivesTheTrainersProbabilitiesForEveryRow()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        using var dir = new TempDir();
        var o = new StringWriter();
        var e = new StringWriter();
        var code = PcamApp.Run(["predict", "--model", f.ModelPath, Path.Combine(SharedSample.H5, "camelyonpatch_level_2_split_test_x.h5.gz"),
                                "--cache-dir", dir["cache"]], o, e);
        Assert.True(code == 0, e.ToString());
        var lines = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("input,probability,predicted_label", lines[0]);
        var trainer = f.Result!.TestRows!;
        Assert.Equal(trainer.Count, lines.Length - 1);
        for (int i = 0; i < trainer.Count; i++)
        {
            var cells = lines[i + 1].Split(',');
            Assert.Equal(trainer[i].Index.ToString(CultureInfo.InvariantCulture), cells[0]);
            var p = double.Parse(cells[1], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(p - trainer[i].Probability) <= 1e-4, $"row {trainer[i].Index}: predict {p}, trainer {trainer[i].Probability}");
            Assert.Equal(trainer[i].PredictedLabel ? "1" : "0", cells[2]);
        }
    }
}
