using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Tests.Featurization;

/// <summary>The real torch.onnx.export ViTs in Fixtures/vit (scripts/export_vit_fixtures.py).</summary>
public static class TorchVits
{
    public static string Folder => Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Fixtures", "vit");
    public static string Json(string name) => Path.Combine(Folder, name + ".json");
    public static FeaturizerGraph Graph(string name) =>
        FeaturizerGraph.Build(BackboneConfig.Load(Json(name)), new FeaturizerOptions { ImageSize = 224, Tta = false });
    public static FeaturizerGraph Int8(FeaturizerGraph fp32, byte[] images, int count) =>
        fp32.Quantize(fp32.Calibrate(images, count, seed: 1, threads: 2).ToTable(CalibrationMethod.MinMax));
}

/// <summary>int8 on real torch ViT exports: only float tensors are quantised, weight MatMuls run in integer kernels,
/// features stay close to fp32, and a drifting graph falls back to fp32 with one warning.</summary>
public sealed class TorchVitFixtureTests
{
    [Theory]
    [InlineData("tv-vit-pooled")]
    [InlineData("tv-vit-tokens")]
    [InlineData("reg-vit-tokens")]
    public void Quantisation_touches_float_tensors_only_and_leaves_attention_matmuls_float(string name)
    {
        var fp32 = TorchVits.Graph(name);
        var source = ModelProto.Parser.ParseFrom(fp32.ModelBytes).Graph;
        var sourceTypes = QuantizePass.ElementTypes(source);
        var init = source.Initializer.Select(t => t.Name).ToHashSet();
        Assert.Contains(source.Node, n => n.OpType == "Shape"); // the export's int64 shape arithmetic is there
        int weightMatMuls = source.Node.Count(n => n.OpType is "MatMul" or "Gemm" && init.Contains(n.Input[1]));
        int attentionMatMuls = source.Node.Count(n => n.OpType == "MatMul" && !init.Contains(n.Input[1]));
        Assert.True(weightMatMuls >= 8 && attentionMatMuls == 4, $"{weightMatMuls} weight MatMul/Gemm, {attentionMatMuls} attention MatMuls");

        var int8 = TorchVits.Int8(fp32, Patches.Random(4, seed: 2), 4);
        var g = ModelProto.Parser.ParseFrom(int8.ModelBytes).Graph;
        var quantised = g.Node.Where(n => n.OpType == "QuantizeLinear").Select(n => n.Input[0]).ToList();
        Assert.NotEmpty(quantised);
        var types = QuantizePass.ElementTypes(g);
        foreach (var t in quantised)
        {
            Assert.True(types.TryGetValue(t, out var e) && e == (int)DataType.Float, $"'{t}' quantised but its type is {(types.TryGetValue(t, out var x) ? (DataType)x : "unknown")}");
            Assert.False(sourceTypes.TryGetValue(t, out var s) && s != (int)DataType.Float, $"'{t}' is {(DataType)s} in the export");
        }
        Assert.True(sourceTypes.Count(kv => kv.Value == (int)DataType.Int64) > 10, "the export's int64 shape tensors");
        var producer = g.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        bool FromDq(string t) => producer.TryGetValue(t, out var p) && p.OpType == "DequantizeLinear";
        var matMuls = g.Node.Where(n => n.OpType == "MatMul").ToList();
        // Every weight MatMul (Gemm rewritten as MatMul) has both inputs dequantised; attention's stay float x float.
        Assert.Equal(weightMatMuls, matMuls.Count(n => FromDq(n.Input[0]) && FromDq(n.Input[1])));
        Assert.Equal(attentionMatMuls, matMuls.Count(n => !FromDq(n.Input[0]) && !FromDq(n.Input[1])));
        Assert.Equal(matMuls.Count, weightMatMuls + attentionMatMuls);
    }

    [Fact]
    public void OnnxRuntimeRunsEveryWeightMatmulOfATorchVitInAnIntegerKernel()
    {
        var fp32 = TorchVits.Graph("tv-vit-pooled");
        var int8 = TorchVits.Int8(fp32, Patches.Random(4, seed: 2), 4);
        using var tmp = new TempDir();
        var optimized = tmp["int8.optimized.onnx"];
        using (var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimized })
        using (new InferenceSession(int8.ModelBytes, so)) { }
        var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized)).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        string all = string.Join(", ", ops.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{kv.Value}"));
        var source = ModelProto.Parser.ParseFrom(fp32.ModelBytes).Graph;
        var init = source.Initializer.Select(t => t.Name).ToHashSet();
        int weightMatMuls = source.Node.Count(n => n.OpType is "MatMul" or "Gemm" && init.Contains(n.Input[1]));
        int integer = ops.GetValueOrDefault("MatMulIntegerToFloat") + ops.GetValueOrDefault("QLinearMatMul") + ops.GetValueOrDefault("QGemm");
        Assert.True(integer == weightMatMuls, $"{integer} integer MatMul kernels for {weightMatMuls} weight MatMuls; optimized graph: {all}");
        Assert.True(ops.GetValueOrDefault("QLinearConv") == 1, $"patch embedding should be QLinearConv; optimized graph: {all}");
    }

    [SkippableTheory]
    [InlineData("tv-vit-pooled")]
    [InlineData("tv-vit-tokens")]
    [InlineData("reg-vit-tokens")]
    public void Int8_features_of_torch_vits_match_fp32_on_real_sample_rows(string name)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var options = new PCamDataOptions { CacheDirectory = dir["h5"] };
        using var train = PCamData.Open(SharedSample.H5, PCamSplit.Train, options);
        using var test = PCamData.Open(SharedSample.H5, PCamSplit.Test, options);
        var calibration = Int8Calibration.ReadSample(train, 32, seed: 1, out int n);
        var fp32 = TorchVits.Graph(name);
        var int8 = TorchVits.Int8(fp32, calibration, n);
        const int rows = 32;
        var images = new byte[rows * PatchSchema.ImageBytes];
        test.Source.ReadImages(0, rows, images);
        using var a = new BatchFeaturizer(fp32, ExecutionDevice.Cpu, threads: 2);
        using var b = new BatchFeaturizer(int8, ExecutionDevice.Cpu, threads: 2);
        var (min, mean) = FeatureCosines.Of(a.Featurize(images, rows), b.Featurize(images, rows), rows, a.FeatureDimension);
        Assert.True(min >= Int8Calibration.MinMeanCosine, $"{name}: lowest row cosine int8 vs fp32 on test rows = {min:F4} (mean {mean:F4})");
    }

    [SkippableFact]
    public void AGraphWhoseInt8FeaturesDriftFallsBackToFp32WithOneWarningAndAGoodOneDoesNot()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        using var train = PCamData.Open(SharedSample.H5, PCamSplit.Train, new PCamDataOptions { CacheDirectory = dir["h5"] });
        var t = new TrainingOptionConfig { CalibrationRows = 16, Precision = "int8" };

        var drift = TorchVits.Graph("drift-vit");
        Assert.Null(drift.Int8Unsupported()); // quantisable in form: only its features betray it
        var log = new SilentLog();
        Assert.Null(Int8Calibration.TryCalibrate(train, drift, t.CalibrationRows, t.Seed, t.CalibrationMethod, threads: 2, log, out _));
        var warning = Assert.Single(log.Messages, m => m.StartsWith("warning:", StringComparison.Ordinal));
        Assert.Contains("backbone 'drift-vit': its int8 features drift from fp32 (mean cosine", warning);
        Assert.Contains("floor 0.98", warning);
        Assert.Contains("recorded as fp32", warning);
        // Direct evidence of the drift the warning names.
        var images = Int8Calibration.ReadSample(train, 16, t.Seed, out int n);
        var check = Int8Calibration.Check(drift, drift.Calibrate(images, n, t.Seed, threads: 2).ToTable(t.CalibrationMethod), images, n, threads: 2);
        Assert.Null(check.Error);
        Assert.True(check.MeanCosine < 0.5, $"drift-vit int8 mean cosine {check.MeanCosine}");

        var good = new SilentLog();
        Assert.NotNull(Int8Calibration.TryCalibrate(train, TorchVits.Graph("tv-vit-pooled"), t.CalibrationRows, t.Seed, t.CalibrationMethod, threads: 2, good, out _));
        Assert.DoesNotContain(good.Messages, m => m.StartsWith("warning:", StringComparison.Ordinal));
        Assert.Contains(good.Messages, m => m.StartsWith("INT8 check: feature cosine vs fp32 mean 0.99", StringComparison.Ordinal));
    }
}
