using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.Benchmarks;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Featurization.Passes;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Featurization;

/// <summary>The 96 px single-view ResNet18 graph, built once for the int8 tests.</summary>
public sealed class Fp32Graph96
{
    public FeaturizerGraph Graph { get; } = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = false });
}

public sealed class Int8Tests(Fp32Graph96 fp32) : IClassFixture<Fp32Graph96>
{
    static byte[] ReadRows(PatchDataView view, int count)
    {
        var images = new byte[count * PatchSchema.ImageBytes];
        view.Source.ReadImages(0, count, images);
        return images;
    }

    [Fact]
    public void OnnxRuntimeFusesEveryQuantisedConvolutionIntoQLinearConv()
    {
        var images = Patches.Random(8, seed: 3);
        var int8 = fp32.Graph.Quantize(fp32.Graph.Calibrate(images, 8, seed: 1, threads: 2).ToTable(CalibrationMethod.Percentile));
        var convs = ModelProto.Parser.ParseFrom(fp32.Graph.ModelBytes).Graph.Node.Count(n => n.OpType == "Conv");
        Assert.True(convs > 0);

        using var tmp = new TempDir();
        var dir = tmp.Path;
        var optimized = Path.Combine(dir, "int8.optimized.onnx");
        using (var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED, OptimizedModelFilePath = optimized })
        using (new InferenceSession(int8.ModelBytes, so)) { }
        var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized)).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        // Every Conv ran as an integer QLinearConv: no float Conv (nor its weight DequantizeLinear) is left.
        Assert.Equal(convs, ops.GetValueOrDefault("QLinearConv"));
        Assert.False(ops.ContainsKey("Conv"), $"float Conv left: {string.Join(", ", ops.Select(kv => $"{kv.Key}:{kv.Value}"))}");
        Assert.True(ops.GetValueOrDefault("QLinearAdd") > 0, "residual Adds should run as QLinearAdd");

        var model = ModelProto.Parser.ParseFrom(int8.ModelBytes);
        Assert.Contains(model.MetadataProps, p => p.Key == "pcam.precision" && p.Value == "int8");
        Assert.Equal(FeaturizerPrecision.Int8, int8.Precision);
        Assert.NotEqual(fp32.Graph.Fingerprint, int8.Fingerprint);
        Assert.Equal(fp32.Graph.FeatureDimension, int8.FeatureDimension);
    }

    [SkippableTheory]
    [InlineData(CalibrationMethod.Percentile)]
    [InlineData(CalibrationMethod.MinMax)]
    public void Int8FeaturesMatchFp32OnRealSampleRows(CalibrationMethod method)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var options = new PCamDataOptions { CacheDirectory = dir["h5"] };
        using var train = PCamData.Open(SharedSample.H5, PCamSplit.Train, options);
        using var test = PCamData.Open(SharedSample.H5, PCamSplit.Test, options);
        var calibration = Int8Calibration.ReadSample(train, 64, seed: 1, out int n);
        var int8 = fp32.Graph.Quantize(fp32.Graph.Calibrate(calibration, n, seed: 1, threads: 2).ToTable(method));

        const int rows = 48;
        var images = ReadRows(test, rows);
        using var a = new BatchFeaturizer(fp32.Graph, ExecutionDevice.Cpu, threads: 2);
        using var b = new BatchFeaturizer(int8, ExecutionDevice.Cpu, threads: 2);
        var (min, mean) = FeatureCosines.Of(a.Featurize(images, rows), b.Featurize(images, rows), rows, a.FeatureDimension);
        Assert.True(min >= 0.98, $"{method}: lowest row cosine int8 vs fp32 = {min:F4} (mean {mean:F4})");
    }

    [Fact]
    public void CalibrationIsSeededAndReproducible()
    {
        using var source = PatchDataView.Create(new ArraySource(Patches.Random(40, seed: 5), Enumerable.Range(0, 40).Select(i => i % 2 == 0).ToArray()));
        var first = Int8Calibration.ReadSample(source, 12, seed: 7, out int n1);
        var again = Int8Calibration.ReadSample(source, 12, seed: 7, out int n2);
        var other = Int8Calibration.ReadSample(source, 12, seed: 8, out _);
        Assert.Equal(12, n1);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);

        var t1 = fp32.Graph.Calibrate(first, n1, seed: 7, threads: 2);
        var t2 = fp32.Graph.Calibrate(again, n2, seed: 7, threads: 1); // another thread count: same statistics
        foreach (var method in new[] { CalibrationMethod.MinMax, CalibrationMethod.Percentile })
        {
            var (a, b) = (t1.ToTable(method), t2.ToTable(method));
            Assert.Equal(a.Hash(), b.Hash());
            Assert.Equal(fp32.Graph.Quantize(a).ModelBytes, fp32.Graph.Quantize(b).ModelBytes);
            Assert.Equal(12, a.Rows);
            Assert.Equal(7, a.Seed);
        }
        var minMax = t1.ToTable(CalibrationMethod.MinMax);
        var percentile = t1.ToTable(CalibrationMethod.Percentile);
        Assert.NotEqual(minMax.Hash(), percentile.Hash());
        Assert.NotEqual(minMax.Hash(), fp32.Graph.Calibrate(other, 12, seed: 8, threads: 2).ToTable(CalibrationMethod.MinMax).Hash());
        foreach (var (tensor, (lo, hi)) in minMax.Ranges)
        {
            var (plo, phi) = percentile.Ranges[tensor];
            Assert.True(lo <= 0 && hi >= 0 && lo < hi, $"{tensor}: [{lo}, {hi}] must hold 0");
            Assert.True(plo >= lo && phi <= hi, $"{tensor}: percentile [{plo}, {phi}] must lie inside min-max [{lo}, {hi}]");
        }
    }

    [Fact]
    public void ActivationParametersHoldZeroExactlyAndReluRangesGetZeroPointZero()
    {
        var (scale, zero) = QuantizePass.ActivationParams(0f, 6f);
        Assert.Equal(0, zero);
        Assert.Equal(6f / 255, scale, 6);
        (scale, zero) = QuantizePass.ActivationParams(-1f, 3f);
        Assert.Equal(4f / 255, scale, 6);
        Assert.Equal(64, zero); // round(1 / (4/255)) = round(63.75)
        (_, zero) = QuantizePass.ActivationParams(2f, 5f); // range widened to hold 0
        Assert.Equal(0, zero);
    }

    [Fact]
    public void PrecisionAndCalibrationSettingsAreValidatedByKey()
    {
        var c = new PCamConfig();
        c.TrainingOption.Precision = "int4";
        var e = Assert.Throws<PCamConfigException>(() => PCamConfigLoader.Validate(c, "test"));
        Assert.Contains("TrainingOption.Precision", e.Message);
        c.TrainingOption.Precision = "int8";
        c.TrainingOption.CalibrationRows = 0;
        e = Assert.Throws<PCamConfigException>(() => PCamConfigLoader.Validate(c, "test"));
        Assert.Contains("TrainingOption.CalibrationRows", e.Message);
    }
}

/// <summary>An int8 model trained on the real sample's official-layout files at 96 px, one view.</summary>
public sealed class Int8SampleModel : IDisposable
{
    public TempDir Dir { get; } = new();
    public PCamConfig? Config { get; }
    public TrainingResult? Result { get; }
    public string ModelPath => Dir["models/int8.zip"];

    public Int8SampleModel()
    {
        if (SharedSample.Root is null) return;
        Config = new PCamConfig();
        Config.DataSource.Directory = SharedSample.H5;
        Config.DataSource.CacheDirectory = Dir["cache"];
        var t = Config.TrainingOption;
        t.ModelPath = ModelPath;
        t.Lbfgs.L2Regularization = [10, 100];
        t.ImageSize = 96;
        t.Tta = false;
        t.Precision = "int8";
        t.CalibrationRows = 128;
        Result = new PCamTrainer(Config, new SilentLog()).Train();
        RunArtifacts.Write(Result, Config);
    }

    public void Dispose()
    {
        Result?.Dispose(); // the ONNX sessions and the graph file ML.NET unpacked into the temp folder
        Dir.Dispose();
    }
}

public sealed class Int8ModelTests(Int8SampleModel f) : IClassFixture<Int8SampleModel>
{
    static float[] Probabilities(IDataView scored) => scored.GetColumn<float>("Probability").ToArray();

    [SkippableFact]
    public void Int8ZipLoadsInAFreshContextAndReproducesTheTrainersProbabilities()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var r = f.Result!;
        Assert.Equal(FeaturizerPrecision.Int8, r.Graph.Precision);
        Assert.True(r.Test!.Accuracy > 0.70 && r.Test.Auc > 0.80, $"int8 test Acc {r.Test.Accuracy}, AUC {r.Test.Auc}");

        using var test = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = f.Dir["cache/h5"] });
        var rows = test.Take(32);
        var fresh = new MLContext(seed: 99);
        var loaded = fresh.Model.Load(f.ModelPath, out var schema);
        using var release = PCamModel.Owner(loaded);
        Assert.Equal(PatchSchema.ImageColumn, Assert.Single(schema).Name);
        var fromZip = Probabilities(loaded.Transform(rows));
        // The trainer's probabilities: batched int8 features from the cache, then the head and calibrator.
        var trainer = r.TestRows!.Take(32).Select(p => p.Probability).ToArray();
        Assert.Equal(trainer.Length, fromZip.Length);
        for (int i = 0; i < trainer.Length; i++) Assert.Equal(trainer[i], fromZip[i], 1e-4);
    }

    [SkippableFact]
    public void TheZipAndTheMetricsRecordThePrecision()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var metrics = JsonNode.Parse(File.ReadAllText(RunArtifacts.MetricsPath(f.ModelPath)))!;
        Assert.Equal("int8", (string?)metrics["backbone"]!["precision"]);
        Assert.Contains("128 train rows (seed 1)", (string?)metrics["backbone"]!["calibration"]);
        // Model Builder's .mbconfig holds only keys Model Builder knows; the resolved configuration beside it has ours.
        Assert.Equal("int8", (string?)JsonNode.Parse(File.ReadAllText(RunArtifacts.ConfigPath(f.ModelPath)))!["TrainingOption"]!["Precision"]);
        // The ONNX model stored in the zip carries its precision as model metadata.
        using var zip = ZipFile.OpenRead(f.ModelPath);
        bool found = false;
        foreach (var entry in zip.Entries)
        {
            using var s = entry.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            var text = Encoding.Latin1.GetString(m.ToArray());
            found |= text.Contains("pcam.precision") && text.Contains("QuantizeLinear");
        }
        Assert.True(found, "no entry of the zip holds the int8 ONNX model with its pcam.precision metadata");
    }
}
