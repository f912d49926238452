using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Configuration;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

public class HeadTrainerTests
{
    private sealed class Row
    {
        [VectorType(16)] public float[] Features { get; set; } = [];
        public bool Label { get; set; }
        public long Index { get; set; }
    }

    // Two Gaussian classes that differ in the first 4 of 16 dimensions.
    private static IDataView Data(MLContext ml, int n, int seed)
    {
        var r = new Random(seed);
        var rows = Enumerable.Range(0, n).Select(i =>
        {
            var label = i % 2 == 0;
            var f = new float[16];
            for (var j = 0; j < 16; j++) f[j] = (float)(Normal(r) + (j < 4 && label ? 0.8 : 0));
            return new Row { Features = f, Label = label, Index = i };
        }).ToList();
        return ml.Data.LoadFromEnumerable(rows);
    }

    private static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    [Theory]
    [InlineData("LbfgsLogisticRegression")]
    [InlineData("LightGbm")]
    [InlineData("FastTree")]
    [InlineData("SdcaLogisticRegression")]
    public void EveryHeadLearnsAndIsSelectedOnValid(string trainer)
    {
        var ml = new MLContext(seed: 1);
        var options = new TrainingOptionConfig { Trainer = trainer };
        var result = HeadTrainer.Train(ml, Data(ml, 800, 1), Data(ml, 400, 2), options);
        var expected = trainer switch
        {
            "LbfgsLogisticRegression" => options.Lbfgs.L2Regularization.Length,
            "SdcaLogisticRegression" => options.Sdca.L2Regularization.Length,
            "LightGbm" => options.LightGbm.NumberOfLeaves.Length,
            _ => options.FastTree.NumberOfLeaves.Length,
        };
        Assert.Equal(expected, result.Trials.Count);
        Assert.Equal(result.Trials.Min(t => t.ValidNll), result.Best.ValidNll);
        var (m, _) = PCamMetrics.Evaluate(ml, result.Model.Transform(Data(ml, 400, 3)), "test");
        Assert.True(m.Auc > 0.80, $"AUC {m.Auc}"); // Bayes-optimal AUC here is 0.87
        Assert.True(m.Nll < 0.55, $"NLL {m.Nll}");
    }

    [Fact]
    public void SameSeedAndDataGiveTheSamePredictions()
    {
        float[] Run()
        {
            var ml = new MLContext(seed: 7);
            var head = HeadTrainer.Train(ml, Data(ml, 400, 1), Data(ml, 200, 2), new TrainingOptionConfig());
            return ml.Data.CreateEnumerable<Prob>(head.Model.Transform(Data(ml, 50, 3)), false).Select(p => p.Probability).ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    private sealed class Prob { public float Probability { get; set; } }
}
