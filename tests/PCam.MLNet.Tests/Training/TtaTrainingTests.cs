using Microsoft.ML;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Featurization;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Training;

public class TtaTrainingTests
{
    /// <summary>Writes a tiny official-layout split whose label is a brighter centre (as in the demo set).</summary>
    private static void WriteSplit(string dir, PCamSplit split, int rows, int seed)
    {
        var pixels = Patches.Random(rows, seed);
        var labels = new bool[rows];
        for (var i = 0; i < rows; i++)
        {
            labels[i] = i % 2 == 0;
            if (!labels[i]) continue;
            for (var y = 32; y < 64; y++)
            for (var x = 32; x < 64; x++)
                pixels[i * PatchSchema.ImageBytes + (y * 96 + x) * 3 + 1] = 255;
        }
        using var source = new ArraySource(pixels, labels);
        PCamImporter.Write(source, Path.Combine(dir, PCamChecksums.FileStem(split, 'x') + ".h5"),
            Path.Combine(dir, PCamChecksums.FileStem(split, 'y') + ".h5"));
    }

    [Fact]
    public void TestTimeAugmentationTrainsOnOneViewAndTheModelIsRotationInvariant()
    {
        using var dir = new TempDir();
        var data = Directory.CreateDirectory(dir["data"]).FullName;
        WriteSplit(data, PCamSplit.Train, 48, 1);
        WriteSplit(data, PCamSplit.Valid, 16, 2);
        WriteSplit(data, PCamSplit.Test, 8, 3);
        var config = new PCamConfig();
        config.DataSource.Directory = data;
        config.DataSource.CacheDirectory = dir["cache"];
        config.TrainingOption.ImageSize = 96;
        config.TrainingOption.Tta = true;
        config.TrainingOption.Precision = "fp32"; // the fp32 graphs' cache keys are checked below
        config.TrainingOption.Lbfgs.L2Regularization = [10];
        config.TrainingOption.ModelPath = dir["tta.zip"];
        var log = new SilentLog();
        using var result = new PCamTrainer(config, log).Train();
        Assert.Contains(log.Messages, m => m.Contains("8-view TTA (valid, test, model; train single view)"));

        // The train features came from the single-view graph, valid/test from the 8-view graph.
        var single = FeaturizerGraphFor(config, tta: false);
        var train = PCamData.Open(data, PCamSplit.Train);
        var cache = new FeatureCache(new MLContext(1), Path.Combine(dir["cache"], "features"));
        Assert.True(File.Exists(cache.PathFor(train, single, "train")));
        Assert.NotEqual(single.Fingerprint, result.Graph.Fingerprint);

        // The saved model averages the 8 views: a patch and its rotation/flip get the same probability.
        var ml = new MLContext(1);
        var model = PCamModel.Load(ml, config.TrainingOption.ModelPath, out _);
        using var release = PCamModel.Owner(model);
        var engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(model);
        var patch = Patches.Random(1, 9);
        var p = engine.Predict(new PatchInput { Image = patch }).Probability;
        Assert.Equal(p, engine.Predict(new PatchInput { Image = Patches.Rot90(patch) }).Probability, 1e-4);
        Assert.Equal(p, engine.Predict(new PatchInput { Image = Patches.FlipH(patch) }).Probability, 1e-4);
    }

    private static PCam.MLNet.Featurization.FeaturizerGraph FeaturizerGraphFor(PCamConfig c, bool tta) =>
        PCam.MLNet.Featurization.FeaturizerGraph.Build(PCam.MLNet.Featurization.BackboneResolver.Resolve(c.TrainingOption.Backbone),
            c.TrainingOption.ToFeaturizerOptions(tta));
}
