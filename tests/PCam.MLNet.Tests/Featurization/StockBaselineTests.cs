using PCam.Benchmarks;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using Xunit;

namespace PCam.MLNet.Tests.Featurization;

/// <summary>`bench featurize`'s stock baseline runs ML.NET's own image pipeline from files, and compares in views/s.</summary>
public sealed class StockBaselineTests
{
    [Fact]
    public void StockPipelineRunsFromImageFilesAndTheSpeedupCountsBackboneViews()
    {
        using var tmp = new TempDir();
        var dir = tmp.Path;
        TinyBackbones.IdentityConv(Path.Combine(dir, "tiny.onnx"));
        var cfg = new BackboneConfig { Name = "tiny", OnnxPath = Path.Combine(dir, "tiny.onnx"), FeatureOutputs = ["maps"] };
        var graph = FeaturizerGraph.Build(cfg, new FeaturizerOptions { ImageSize = 96, Tta = true });
        // LoadImages/ResizeImages/ExtractPixels need SkiaSharp 2.88 (ImageAnalytics 5.0.1): this threw MissingMethodException
        // while the solution pinned SkiaSharp 3 for ScottPlot.
        var r = FeaturizerBenchmark.Run(graph, Patches.Random(4, seed: 3), 4, ExecutionDevice.Cpu, batchSize: 4, threads: 1, stockRows: 2, repeats: 1);
        Assert.Equal(8, r.Views);
        Assert.Equal(2, r.StockRows);
        var stock = Assert.IsType<double>(r.StockDnnRowsPerSecond);
        Assert.True(stock > 0);
        Assert.Equal(r.FeaturizerRowsPerSecond * 8, r.FeaturizerViewsPerSecond, 9);
        Assert.Equal(r.FeaturizerViewsPerSecond / stock, r.SpeedupVsStock!.Value, 9);
        Assert.Equal(r.FeaturizerRowsPerSecond / stock, r.PatchSpeedupVsStock!.Value, 9);
    }
}
