using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.Benchmarks;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using Xunit;

namespace PCam.MLNet.Tests.Featurization;

/// <summary>ResNet18 graphs are built once per test class (each build reads and re-serialises the 45 MB model).</summary>
public sealed class ResNet18Graphs
{
    public FeaturizerGraph Plain { get; } = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = false });
    readonly Lazy<FeaturizerGraph> _tta = new(() => FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = true }));
    public FeaturizerGraph Tta => _tta.Value;
}

public sealed class ResNet18FeaturizationTests(ResNet18Graphs graphs) : IClassFixture<ResNet18Graphs>
{
    class PatchRow
    {
        [VectorType(PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels)]
        public byte[] Image { get; set; } = [];
    }

    static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, Math.Abs(expected[i])), $"index {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void GraphBuildsWithKnownDimensionAndStableFingerprint()
    {
        var g = graphs.Plain;
        Assert.True(g.FeatureDimension > 0);
        Assert.Equal(g.FeatureDimension, g.Layout.Sum(b => b.Length));
        Assert.Matches("^[0-9a-f]{64}$", g.Fingerprint);
        Assert.NotEqual(g.Fingerprint, graphs.Tta.Fingerprint);
        var again = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = false });
        Assert.Equal(g.Fingerprint, again.Fingerprint);
    }

    [Fact]
    public void BatchedFeaturesDoNotDependOnBatchSize()
    {
        var images = Patches.Random(5, seed: 1);
        using var f = new BatchFeaturizer(graphs.Plain, ExecutionDevice.Cpu, threads: 2) { MaxBatch = 3 }; // 3 forces a split 3 + 2
        var five = f.Featurize(images, 5);
        int d = f.FeatureDimension;
        for (int i = 0; i < 5; i++)
        {
            var one = f.Featurize(images.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes), 1);
            AssertClose(one, five.AsSpan(i * d, d), 1e-4);
        }
        Assert.Contains(five, v => v != 0);
        Assert.NotEqual(five[0..d], five[d..(2 * d)]);
    }

    [Fact]
    public void MLNetApplyOnnxModelMatchesBatchedFeatures()
    {
        const int n = 3;
        var images = Patches.Random(n, seed: 2);
        using var f = new BatchFeaturizer(graphs.Plain, ExecutionDevice.Cpu, threads: 2);
        var batched = f.Featurize(images, n);

        using var tmp = new TempDir();
        var path = tmp["featurizer.onnx"];
        graphs.Plain.Save(path);
        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, n).Select(i => new PatchRow { Image = images[(i * PatchSchema.ImageBytes)..((i + 1) * PatchSchema.ImageBytes)] });
        var data = ml.Data.LoadFromEnumerable(rows);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Byte, 96, 96, 3), data.Schema[FeaturizerGraph.InputName].Type);

        var model = ml.Transforms.ApplyOnnxModel(FeaturizerGraph.OutputName, FeaturizerGraph.InputName, path).Fit(data);
        var scored = model.Transform(data);
        // Cached features for the head must have exactly this type: known-size float vector.
        var type = Assert.IsType<VectorDataViewType>(scored.Schema[FeaturizerGraph.OutputName].Type);
        Assert.Equal(NumberDataViewType.Single, type.ItemType);
        Assert.Equal(graphs.Plain.FeatureDimension, type.Size);

        var inModel = scored.GetColumn<float[]>(FeaturizerGraph.OutputName).ToArray();
        for (int i = 0; i < n; i++)
            AssertClose(batched.AsSpan(i * type.Size, type.Size), inModel[i], 1e-4);
    }

    [Fact]
    public void TtaFeaturesAreInvariantToRotationsAndFlips()
    {
        var p = Patches.Random(1, seed: 3);
        var views = new[] { p, Patches.Rot90(p), Patches.FlipH(p), Patches.Transpose(Patches.Rot90(Patches.Rot90(p))) };
        using var f = new BatchFeaturizer(graphs.Tta, ExecutionDevice.Cpu, threads: 2);
        var all = f.Featurize(views.SelectMany(v => v).ToArray(), views.Length);
        int d = f.FeatureDimension;
        for (int i = 1; i < views.Length; i++) AssertClose(all.AsSpan(0, d), all.AsSpan(i * d, d), 1e-3);

        // Without TTA the rotated patch gives different features (the test is not vacuous).
        using var plain = new BatchFeaturizer(graphs.Plain, ExecutionDevice.Cpu, threads: 2);
        var pf = plain.Featurize(views[0].Concat(views[1]).ToArray(), 2);
        int pd = plain.FeatureDimension;
        Assert.Contains(Enumerable.Range(0, pd), i => Math.Abs(pf[i] - pf[pd + i]) > 1e-2 * Math.Max(1, Math.Abs(pf[i])));
    }
}

public sealed class BackboneConfigTests
{
    [Fact]
    public void MissingBackboneFileNamesThePath()
    {
        var cfg = BackboneConfig.ResNet18();
        cfg.OnnxPath = "/nonexistent/dir/model.onnx";
        var e = Assert.Throws<PCamBackboneException>(() => FeaturizerGraph.Build(cfg, new FeaturizerOptions()));
        Assert.Contains("/nonexistent/dir/model.onnx", e.Message);
    }

    [Fact]
    public void NonImageBackboneIsRejectedClearly()
    {
        using var tmp = new TempDir();
        var dir = tmp.Path;
        TinyBackbones.Tabular(Path.Combine(dir, "tab.onnx"));
        var cfg = new BackboneConfig { Name = "tab", OnnxPath = Path.Combine(dir, "tab.onnx") };
        var e = Assert.Throws<PCamBackboneException>(() => FeaturizerGraph.Build(cfg, new FeaturizerOptions()));
        Assert.Contains("4-D NCHW float", e.Message);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void GarbageFileIsNotAnOnnxModel()
    {
        using var tmp = new TempDir();
        var dir = tmp.Path;
        File.WriteAllText(Path.Combine(dir, "bad.onnx"), "this is not protobuf \u00ff\u00fe");
        var cfg = new BackboneConfig { Name = "bad", OnnxPath = Path.Combine(dir, "bad.onnx") };
        Assert.Contains(Path.Combine(dir, "bad.onnx"), Assert.Throws<PCamBackboneException>(() => FeaturizerGraph.Build(cfg, new FeaturizerOptions())).Message);
    }

    [Fact]
    public void UnknownFeatureOutputIsNamed()
    {
        var cfg = BackboneConfig.ResNet18();
        cfg.FeatureOutputs = ["no_such_tensor"];
        var e = Assert.Throws<PCamBackboneException>(() => FeaturizerGraph.Build(cfg, new FeaturizerOptions()));
        Assert.Contains("no_such_tensor", e.Message);
    }

    [Fact]
    public void JsonRoundTrips()
    {
        var cfg = BackboneConfig.ResNet18();
        var back = BackboneConfig.FromJson(cfg.ToJson());
        Assert.Equal(cfg.ToJson(), back.ToJson());
        Assert.Equal(cfg.FeatureOutputs, back.FeatureOutputs);
        Assert.Contains("\"BGR\"", cfg.ToJson());
    }

    /// <summary>Any ONNX image backbone works from JSON alone: the pooled identity-conv features are the normalised channel means.</summary>
    [Theory]
    [InlineData(ChannelOrder.RGB)]
    [InlineData(ChannelOrder.BGR)]
    public void TinyBackboneFromJsonWorksWithoutCodeChanges(ChannelOrder order)
    {
        using var tmp = new TempDir();
        var dir = tmp.Path;
        TinyBackbones.IdentityConv(Path.Combine(dir, "tiny.onnx"));
        var json = $$"""
            { "name": "tiny", "onnxPath": "tiny.onnx", "channelOrder": "{{order}}", "scale": 0.00392156863,
              "mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 1.0], "inputSize": 64, "featureOutputs": ["maps"] }
            """;
        File.WriteAllText(Path.Combine(dir, "tiny.json"), json);
        var cfg = BackboneConfig.Load(Path.Combine(dir, "tiny.json"));
        var graph = FeaturizerGraph.Build(cfg, new FeaturizerOptions { ImageSize = 96, CenterPool = true, ColorStats = true });
        Assert.Equal(3 + 3 + 12, graph.FeatureDimension);

        var images = Patches.Random(2, seed: 4);
        using var f = new BatchFeaturizer(graph, ExecutionDevice.Cpu, threads: 1);
        var feats = f.Featurize(images, 2);
        for (int n = 0; n < 2; n++)
        {
            var img = images.AsSpan(n * PatchSchema.ImageBytes, PatchSchema.ImageBytes);
            for (int c = 0; c < 3; c++)
            {
                int src = order == ChannelOrder.BGR ? 2 - c : c;
                double sum = 0, centre = 0, rawSum = 0;
                for (int y = 0; y < 96; y++)
                    for (int x = 0; x < 96; x++)
                    {
                        // Relu(normalised value) is what the identity conv + relu produces per pixel.
                        double v = Math.Max(0, (img[(y * 96 + x) * 3 + src] / 255.0 - cfg.Mean[c]) / cfg.Std[c]);
                        sum += v;
                        if (y is >= 32 and < 64 && x is >= 32 and < 64) centre += v;
                        rawSum += img[(y * 96 + x) * 3 + c] / 255.0;
                    }
                Assert.Equal(sum / (96 * 96), feats[n * 18 + c], 4);
                Assert.Equal(centre / (32 * 32), feats[n * 18 + 3 + c], 4);
                Assert.Equal(rawSum / (96 * 96), feats[n * 18 + 6 + c], 4); // colour stats are always RGB
            }
        }
    }
}

public sealed class ExecutionDeviceTests
{
    [Theory]
    [InlineData("cpu", false, 0)]
    [InlineData("CUDA", true, 0)]
    [InlineData("cuda:1", true, 1)]
    [InlineData(" cuda:0 ", true, 0)]
    public void Parse_accepts_known_devices(string text, bool cuda, int id)
    {
        Assert.Equal(new ExecutionDevice(cuda, id), ExecutionDevice.Parse(text));
        Assert.Equal(cuda ? $"cuda:{id}" : "cpu", ExecutionDevice.Parse(text).ToString());
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("")]
    public void Parse_rejects_unknown_devices_naming_the_value(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => ExecutionDevice.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
    }

    [SkippableFact]
    public void CudaRequestWithoutCudaFallsBackToCpuWithAMessage()
    {
        using var tmp = new TempDir();
        var dir = tmp.Path;
        TinyBackbones.IdentityConv(Path.Combine(dir, "tiny.onnx"));
        var cfg = new BackboneConfig { Name = "tiny", OnnxPath = Path.Combine(dir, "tiny.onnx"), FeatureOutputs = ["maps"] };
        var graph = FeaturizerGraph.Build(cfg, new FeaturizerOptions());
        using var f = new BatchFeaturizer(graph, ExecutionDevice.Parse("cuda:0"), threads: 1);
        Skip.If(f.DeviceDescription == "cuda:0", "CUDA is available here; the fallback cannot be observed.");
        Assert.StartsWith("cpu (CUDA unavailable:", f.DeviceDescription);
        Assert.Equal(3, f.Featurize(Patches.Random(1, seed: 5), 1).Length);
    }
}

public sealed class ResNet18InputSizeTests
{
    [Fact]
    public void UnsupportedInputSizeGivesAClearError()
    {
        // 144 px leaves a 9x9 map before layer4, where the CNTK export's begin-only padding mismatches the shortcut.
        var e = Assert.Throws<PCamBackboneException>(() => FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 144 }));
        Assert.Contains("144x144", e.Message);
    }
}

public sealed class FeaturizerBenchmarkTests
{
    [Fact]
    public void BenchmarkReportsAllFigures()
    {
        using var tmp = new TempDir();
        var dir = tmp.Path;
        TinyBackbones.IdentityConv(Path.Combine(dir, "tiny.onnx"));
        var cfg = new BackboneConfig { Name = "tiny", OnnxPath = Path.Combine(dir, "tiny.onnx"), FeatureOutputs = ["maps"] };
        var graph = FeaturizerGraph.Build(cfg, new FeaturizerOptions { ImageSize = 96 });
        var r = FeaturizerBenchmark.Run(graph, Patches.Random(8, seed: 6), 8, ExecutionDevice.Cpu, batchSize: 4, threads: 1, stockRows: 1, repeats: 1);
        Assert.Equal(8, r.Rows);
        Assert.Equal(1, r.StockRows);
        Assert.True(r.FeaturizerRowsPerSecond > 0 && r.BareSessionRowsPerSecond > 0);
        Assert.NotNull(r.StockDnnRowsPerSecond);
        Assert.True(r.RatioToBare > 0 && r.SpeedupVsStock > 0);
    }
}
