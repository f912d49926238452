using Microsoft.ML;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

public class MetricsTests
{
    private static List<ScoredRow> Rows(int n, int seed)
    {
        var r = new Random(seed);
        var rows = new List<ScoredRow>();
        for (var i = 0; i < n; i++)
        {
            var label = r.NextDouble() < 0.5;
            var score = (float)((label ? 1.0 : -1.0) + r.NextDouble() * 2.5 - 1.25);
            var p = 1f / (1f + MathF.Exp(-2 * score));
            rows.Add(new ScoredRow(i, label, score, p, score > 0));
        }
        return rows;
    }

    [Fact]
    public void NllIsNatsAndMatchesTheDefinition()
    {
        var rows = Rows(400, 1);
        var m = PCamMetrics.Compute(new MLContext(1), rows, "test");
        var nats = rows.Average(r => -Math.Log(Math.Clamp(r.Label ? r.Probability : 1 - r.Probability, 1e-15, 1)));
        Assert.Equal(nats, m.Nll, 4);
    }

    [Fact]
    public void NllEqualsMlNetLogLossTimesLn2AndStaysFiniteForAnOverconfidentMistake()
    {
        var ml = new MLContext(1);
        var rows = Rows(300, 4);
        var view = ml.Data.LoadFromEnumerable(rows.Select(r => new { r.Label, r.Score, r.Probability, r.PredictedLabel }));
        var bits = ml.BinaryClassification.Evaluate(view).LogLoss;
        Assert.Equal(bits * Math.Log(2), PCamMetrics.Compute(ml, rows, "test").Nll, 6);

        rows[0] = rows[0] with { Label = true, Probability = 0f, Score = -40f, PredictedLabel = false };
        var nll = PCamMetrics.Compute(ml, rows, "test").Nll;
        Assert.True(double.IsFinite(nll));
        Assert.True(nll > -Math.Log(PCamMetrics.NllEpsilon) / rows.Count);
    }

    [Fact]
    public void AccuracyAucAndConfusionMatchBruteForce()
    {
        var rows = Rows(300, 2);
        var m = PCamMetrics.Compute(new MLContext(1), rows, "test");
        Assert.Equal(rows.Count(r => r.Label == r.PredictedLabel) / (double)rows.Count, m.Accuracy, 6);
        Assert.Equal(rows.Count(r => r.Label && r.PredictedLabel), m.TruePositives);
        Assert.Equal(rows.Count(r => !r.Label && r.PredictedLabel), m.FalsePositives);
        Assert.Equal(rows.Count(r => !r.Label && !r.PredictedLabel), m.TrueNegatives);
        Assert.Equal(rows.Count(r => r.Label && !r.PredictedLabel), m.FalseNegatives);
        var pos = rows.Where(r => r.Label).ToList();
        var neg = rows.Where(r => !r.Label).ToList();
        double wins = 0;
        foreach (var p in pos) foreach (var q in neg) wins += p.Score > q.Score ? 1 : p.Score == q.Score ? 0.5 : 0;
        Assert.Equal(wins / (pos.Count * (double)neg.Count), m.Auc, 4);
        Assert.Equal(300, m.Rows);
    }

    [Fact]
    public void EceIsZeroForPerfectCalibrationAndLargeForOverconfidence()
    {
        // 1000 rows at p = 0.3 with exactly 30% positives: calibrated.
        var calibrated = Enumerable.Range(0, 1000).Select(i => (i % 10 < 3, 0.3f));
        Assert.Equal(0, PCamMetrics.ExpectedCalibrationError(calibrated), 6);
        // Says 0.99 but is right half the time: ECE ~0.49.
        var overconfident = Enumerable.Range(0, 1000).Select(i => (i % 2 == 0, 0.99f));
        Assert.Equal(0.49, PCamMetrics.ExpectedCalibrationError(overconfident), 3);
    }

    [Fact]
    public void BenchmarkRowHasPCamColumns()
    {
        var m = PCamMetrics.Compute(new MLContext(1), Rows(100, 3), "test");
        var row = PCamMetrics.BenchmarkRow("x", m);
        Assert.Matches(@"^\| x \| \d+\.\d\d \| \d+\.\d\d \| \d\.\d{3} \|$", row);
    }
}
