using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

[Collection(SampleModelCollection.Name)]
public class TrainerTests(SampleModelFixture f)
{
    [SkippableFact]
    public void TrainsFarAboveChanceOnHeldApartTestRows()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var r = f.Result!;
        Assert.Equal(512, r.Rows["train"]);
        Assert.Equal(256, r.Test!.Rows);
        // Chance is Acc 0.5, AUC 0.5, NLL 0.693; the sample's test rows come from other slides than train.
        Assert.True(r.Test.Accuracy > 0.70, $"test accuracy {r.Test.Accuracy}");
        Assert.True(r.Test.Auc > 0.80, $"test AUC {r.Test.Auc}");
        Assert.True(r.Test.Nll < 0.55, $"test NLL {r.Test.Nll}");
        Assert.Equal(r.Test.TruePositives + r.Test.FalsePositives + r.Test.TrueNegatives + r.Test.FalseNegatives, r.Test.Rows);
    }

    [SkippableFact]
    public void SavedZipInAFreshContextGivesTheSameProbabilitiesAsTheInMemoryModel()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var test = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = f.Dir["cache/h5"] }).Take(40);
        var inMemory = Probabilities(f.Result!.Model.Transform(test));
        var fresh = new MLContext(seed: 123);
        var loaded = fresh.Model.Load(f.ModelPath, out var schema);
        using var release = PCamModel.Owner(loaded);
        Assert.Equal(PatchSchema.ImageColumn, Assert.Single(schema).Name);
        var fromZip = Probabilities(loaded.Transform(test));
        Assert.Equal(inMemory.Length, fromZip.Length);
        for (var i = 0; i < inMemory.Length; i++) Assert.Equal(inMemory[i], fromZip[i], 1e-5);
        // And the per-row in-model path equals the batched, cached path used for the metrics.
        var cached = f.Result.TestRows!.Take(40).Select(p => p.Probability).ToArray();
        for (var i = 0; i < cached.Length; i++) Assert.Equal(cached[i], fromZip[i], 1e-4);
    }

    [SkippableFact]
    public void SecondRunReusesTheFeatureCacheAndGivesTheSameModel()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        // train, valid and test: no other test writes into the fixture's cache.
        Assert.Equal(3, Directory.GetFiles(Path.Combine(f.CacheDir, "features"), "*.idv").Length);
        using var dir = new TempDir();
        var log = new SilentLog();
        var config = PCam.MLNet.Configuration.PCamConfigLoader.Clone(f.Config!);
        config.TrainingOption.ModelPath = dir["models/again.zip"];
        using var again = new PCamTrainer(config, log).Train();
        foreach (var split in new[] { "train", "valid", "test" })
            Assert.Contains(log.Messages, m => m.Contains($"Features {split}") && m.Contains("reused from the cache"));
        Assert.Empty(Directory.GetFiles(Path.Combine(f.CacheDir, "features"), "*.tmp"));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(f.CacheDir, "features"), "*.idv").Length); // reused, nothing added
        Assert.Equal(f.Result!.Test!.Nll, again.Test!.Nll, 10);
        Assert.Equal(f.Result.TestRows!.Select(r => r.Probability), again.TestRows!.Select(r => r.Probability));
    }

    [SkippableFact]
    public void WritesMetricsConfigMbconfigAndReportBesideTheModel()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var stem = RunArtifacts.Stem(f.ModelPath);
        var metrics = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(stem + ".metrics.json"))!;
        Assert.Equal(f.Result!.Test!.Nll, (double)metrics["test"]!["nll"]!, 10);
        Assert.Equal("nats", (string)metrics["nllUnit"]!);
        var mb = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(stem + ".mbconfig"))!;
        Assert.Equal("TrainingConfig", (string)mb["Type"]!);
        Assert.Equal(5, (int)mb["Version"]!);
        Assert.Equal(2, mb["RunHistory"]!["Trials"]!.AsArray().Count);
        Assert.Equal(Path.GetFullPath(f.ModelPath), (string)mb["RunHistory"]!["ModelFilePath"]!);
        var config = PCam.MLNet.Configuration.PCamConfigLoader.Load(stem + ".config.json");
        Assert.Equal(f.Config!.TrainingOption.Lbfgs.L2Regularization, config.TrainingOption.Lbfgs.L2Regularization);
        var report = File.ReadAllText(stem + ".report.md");
        Assert.Contains(PCamMetricsRowPrefix(), report);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(f.ModelPath)!, "*.tmp"));
    }

    private static string PCamMetricsRowPrefix() => "| sample (test) |";

    [SkippableFact]
    public void TruncatedOrForeignZipIsAClearError()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        using var dir = new TempDir();
        var ml = new MLContext(1);
        var truncated = dir["truncated.zip"];
        var bytes = File.ReadAllBytes(f.ModelPath);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<PCamModelException>(() => PCamModel.Load(ml, truncated, out _));
        Assert.Contains("truncated.zip", e.Message);

        var garbage = dir["garbage.zip"];
        File.WriteAllText(garbage, "not a zip at all");
        Assert.Contains("not a model zip", Assert.Throws<PCamModelException>(() => PCamModel.Load(ml, garbage, out _)).Message);
        Assert.Contains("not found", Assert.Throws<PCamModelException>(() => PCamModel.Load(ml, dir["missing.zip"], out _)).Message);
    }

    private sealed class Small { [VectorType(10)] public float[] Features { get; set; } = new float[10]; }

    [Fact]
    public void ModelWithAnotherInputSizeIsAClearError()
    {
        using var dir = new TempDir();
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new Small() });
        var model = ml.Transforms.NormalizeMinMax("Features").Fit(data);
        ml.Model.Save(model, data.Schema, dir["other.zip"]);
        var e = Assert.Throws<PCamModelException>(() => PCamModel.Load(ml, dir["other.zip"], out _));
        Assert.Contains("not a PCam model", e.Message);
    }

    [Fact]
    public void MissingBackboneFileIsAClearError()
    {
        using var dir = new TempDir();
        var json = dir["backbone.json"];
        var b = BackboneConfig.ResNet18();
        b.Name = "nowhere";
        b.OnnxPath = dir["nowhere.onnx"];
        b.Save(json);
        var e = Assert.ThrowsAny<Exception>(() => FeaturizerGraph.Build(BackboneResolver.Resolve(json), new FeaturizerOptions()));
        Assert.Contains("nowhere.onnx", e.Message);
    }

    private static float[] Probabilities(IDataView scored) =>
        scored.GetColumn<float>("Probability").ToArray();
}
