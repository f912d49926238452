using PCam.MLNet.Tests.Reporting;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

public class CurvesTests
{
    static ScoredPatch R(bool label, float p) => new(0, label, p, p >= 0.5f);

    [Theory]
    [InlineData(1, 30)]
    [InlineData(2, 57)]
    [InlineData(3, 200)]
    public void RocAuc_EqualsBruteForcePairwiseAuc_WithTies(int seed, int n)
    {
        // Rounding to one decimal makes many ties, which must count half as in the pairwise definition.
        var rows = ReportFixtures.Rows(n, seed).Select(r => r with { Probability = MathF.Round(r.Probability, 1) }).ToList();
        Assert.Contains(rows, r => r.Label);
        Assert.Contains(rows, r => !r.Label);
        Assert.Equal(Curves.PairwiseAuc(rows), Curves.Roc(rows).Auc, 12);
    }

    [Fact]
    public void RocAucEqualsPairwiseAucWithoutTies()
    {
        var rows = ReportFixtures.Rows(300, 11);
        var auc = Curves.Roc(rows).Auc;
        Assert.Equal(Curves.PairwiseAuc(rows), auc, 12);
        Assert.InRange(auc, 0.7, 0.99); // the fixture is informative but not perfect
    }

    [Fact]
    public void PerfectClassifierHasAucAndApOfOneAndInvertedHasAucZero()
    {
        var rows = Enumerable.Range(0, 50).Select(i => R(i >= 20, i / 50f)).ToList();
        Assert.Equal(1.0, Curves.Roc(rows).Auc, 12);
        Assert.Equal(1.0, Curves.PrecisionRecall(rows).AveragePrecision, 12);
        var inverted = rows.Select(r => r with { Probability = 1 - r.Probability }).ToList();
        Assert.Equal(0.0, Curves.Roc(inverted).Auc, 12);
    }

    [Fact]
    public void HandWorkedExample()
    {
        // Scores 0.9(+) 0.8(-) 0.7(+) 0.6(-): 3 of 4 positive-negative pairs ordered right.
        ScoredPatch[] rows = [R(true, 0.9f), R(false, 0.8f), R(true, 0.7f), R(false, 0.6f)];
        var roc = Curves.Roc(rows);
        Assert.Equal(0.75, roc.Auc, 12);
        Assert.Equal([0, 0, 0.5, 0.5, 1], roc.FalsePositiveRate);
        Assert.Equal([0, 0.5, 0.5, 1, 1], roc.TruePositiveRate);

        var pr = Curves.PrecisionRecall(rows);
        Assert.Equal([0, 0.5, 0.5, 1, 1], pr.Recall);
        Assert.Equal(1.0, pr.Precision[1], 12);
        Assert.Equal(0.5, pr.Precision[2], 12);
        Assert.Equal(2.0 / 3, pr.Precision[3], 12);
        Assert.Equal(0.5, pr.Precision[4], 12);
        // AP = 0.5*1 + 0*0.5 + 0.5*(2/3) + 0*0.5
        Assert.Equal(0.5 + 1.0 / 3, pr.AveragePrecision, 12);
        Assert.Equal(0.5, pr.Prevalence, 12);
    }

    [Fact]
    public void AllTiedScoresAreOneThresholdStep()
    {
        var rows = Enumerable.Range(0, 10).Select(i => R(i % 3 == 0, 0.5f)).ToList();
        var roc = Curves.Roc(rows);
        Assert.Equal([0, 1], roc.FalsePositiveRate);
        Assert.Equal([0, 1], roc.TruePositiveRate);
        Assert.Equal(0.5, roc.Auc, 12);
        var pr = Curves.PrecisionRecall(rows);
        Assert.Equal(2, pr.Recall.Length);
        Assert.Equal(0.4, pr.AveragePrecision, 6); // one step to recall 1 at precision = prevalence 4/10
    }

    [Fact]
    public void OneClassGivesNaNAuc()
    {
        var rows = Enumerable.Range(0, 5).Select(i => R(false, i / 5f)).ToList();
        Assert.True(double.IsNaN(Curves.Roc(rows).Auc));
        Assert.True(double.IsNaN(Curves.PrecisionRecall(rows).AveragePrecision));
    }

    [Fact]
    public void ReliabilityBinsAndEce()
    {
        // Bin [0.2,0.3): two rows at 0.25, one positive -> |0.5-0.25| ; bin [0.9,1]: 1.0 lands in the last bin.
        ScoredPatch[] rows = [R(true, 0.25f), R(false, 0.25f), R(true, 1.0f), R(true, 0.9f)];
        var cal = Curves.Reliability(rows, 10);
        Assert.Equal(10, cal.Bins.Length);
        Assert.Equal(2, cal.Bins[2].Count);
        Assert.Equal(0.5, cal.Bins[2].FractionPositive, 12);
        Assert.Equal(0.25, cal.Bins[2].MeanProbability, 6);
        Assert.Equal(2, cal.Bins[9].Count);
        Assert.Equal(0.95, cal.Bins[9].MeanProbability, 6);
        Assert.Equal(0, cal.Bins.Where((_, i) => i is not (2 or 9)).Sum(b => b.Count));
        Assert.Equal(0.5 * 0.25 + 0.5 * 0.05, cal.Ece, 6);
    }
}
