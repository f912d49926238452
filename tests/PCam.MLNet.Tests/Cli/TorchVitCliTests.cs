using System.Text.Json.Nodes;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Featurization;
using Xunit;
using static PCam.MLNet.Tests.Cli.CliTests;

namespace PCam.MLNet.Tests.Cli;

/// <summary>A small image-folder copy of the real sample (links to its JPEGs): 96 train, 64 valid, 64 test rows.</summary>
public sealed class SmallSampleFolder : IDisposable
{
    public TempDir Dir { get; } = new();
    public string Data => Dir["data"];

    public SmallSampleFolder()
    {
        if (SharedSample.Root is null) return;
        foreach (var (split, perClass) in new[] { ("train", 48), ("valid", 32), ("test", 32) })
            foreach (var label in new[] { "0", "1" })
            {
                var target = Path.Combine(Data, split, label);
                Directory.CreateDirectory(target);
                foreach (var jpg in Directory.GetFiles(Path.Combine(SharedSample.Root, "folders", split, label)).Order().Take(perClass))
                    File.CreateSymbolicLink(Path.Combine(target, Path.GetFileName(jpg)), jpg);
            }
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// The real torch.onnx.export ViTs (Fixtures/vit) through `pcam train`, `evaluate` and `predict` at the default
/// precision (int8) and at fp32: the default quantises what it safely can, or falls back to fp32 with one warning.
/// </summary>
public sealed class TorchVitCliTests(SmallSampleFolder sample) : IClassFixture<SmallSampleFolder>
{
    const string Fallback = "Precision int8 is not applied";

    [SkippableTheory]
    [InlineData("tv-vit-pooled", null, 96, "int8")]
    [InlineData("tv-vit-pooled", "fp32", 96, "fp32")]
    [InlineData("tv-vit-tokens", null, 192, "int8")]  // cls+mean of [N,197,96]
    [InlineData("tv-vit-tokens", "fp32", 192, "fp32")]
    [InlineData("reg-vit-tokens", null, 128, "int8")] // cls+mean, 5 prefix tokens
    [InlineData("reg-vit-tokens", "fp32", 128, "fp32")]
    [InlineData("tv-vit-pooled-b1", null, 96, "fp32")] // fixed batch 1: wrapped in a Scan, stays fp32 with one warning
    [InlineData("tv-vit-pooled-b1", "fp32", 96, "fp32")]
    [InlineData("drift-vit", null, 32, "fp32")]        // int8 features drift: falls back with one warning
    public void Torch_vit_export_trains_evaluates_and_predicts(string name, string? precision, int features, string used)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var model = dir["models/vit.zip"];
        var args = new List<string> { "train", "--data", sample.Data, "--backbone", TorchVits.Json(name), "--model", model,
                                      "--cache-dir", dir["cache"], "--image-size", "224", "--tta", "false" };
        if (precision is not null) args.AddRange(["--precision", precision]);
        var train = Pcam([.. args]);
        Assert.True(train.Code == 0, train.Err);
        Assert.DoesNotContain("error:", train.Err);
        Assert.Contains($"Backbone {name} at 224x224, {precision ?? "int8"}: {features} features.", train.Err);
        int fallbacks = train.Err.Split('\n').Count(l => l.Contains(Fallback));
        Assert.Equal(precision is null && used == "fp32" ? 1 : 0, fallbacks);
        var metrics = JsonNode.Parse(File.ReadAllText(dir["models/vit.metrics.json"]))!;
        Assert.Equal(used, (string?)metrics["backbone"]!["precision"]);

        var inspect = Pcam("inspect", model);
        Assert.True(inspect.Code == 0, inspect.Err);
        var line = Assert.Single(inspect.Out.Split('\n'), l => l.StartsWith("Precision: ", StringComparison.Ordinal));
        Assert.StartsWith($"Precision: {used} (" + (used == "int8" ? "Conv/MatMul/Gemm weights int8 per channel" : precision is null ? "int8 not applied: " : "requested"), line);

        var eval = Pcam("evaluate", "--model", model, "--data", sample.Data, "--split", "test", "--json", "--cache-dir", dir["cache"], "--max-rows", "32");
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Equal(32, (long)JsonNode.Parse(eval.Out)!["rows"]!);
        var jpg = Directory.GetFiles(Path.Combine(sample.Data, "test", "1")).Order().First();
        var predict = Pcam("predict", "--model", model, jpg, "--json");
        Assert.True(predict.Code == 0, predict.Err);
        Assert.InRange((double)JsonNode.Parse(predict.Out)!.AsArray()[0]!["probability"]!, 0, 1);
    }
}
