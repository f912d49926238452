using System.Globalization;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Featurization;
using Xunit;
using static PCam.MLNet.Tests.Cli.CliTests;

namespace PCam.MLNet.Tests.Cli;

/// <summary>
/// ViT backbone exports (C#-built, random weights, 32 px) through `pcam train`, `evaluate` and `predict` on the real
/// sample (128 train rows, the 256 valid and test rows), and the consuming app on the external-data form.
/// </summary>
public class VitCliTests
{
    internal static string Jpg => Directory.GetFiles(Path.Combine(SharedSample.Root!, "folders", "test", "1")).Order().First();

    internal static string TrainVit(TempDir dir, string form, string tta = "false")
    {
        var backbone = TinyVits.Write(dir.Path, "vit_" + form, o =>
        {
            o.Output = form == "pooled" ? PCam.Benchmarks.Synthetic.VitOutput.Pooled : PCam.Benchmarks.Synthetic.VitOutput.Tokens;
            o.FixedBatch = form is "fixed";
            o.Float16 = form.StartsWith("fp16", StringComparison.Ordinal);
            o.ExternalData = form.EndsWith("external", StringComparison.Ordinal);
        }, opaqueFixedBatch: form == "opaque");
        var config = dir["config.json"];
        File.WriteAllText(config, $$"""{ "TrainingOption": { "Backbone": "{{backbone}}", "Lbfgs": { "L2Regularization": [100] } } }""");
        var model = dir["models/vit.zip"];
        var train = Pcam("train", "--config", config, "--data", SharedSample.H5, "--model", model, "--cache-dir", dir["cache"],
                         "--max-train-rows", "128", "--image-size", "0", "--tta", tta);
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains($"Backbone vit_{form} at 32x32", train.Err);
        Assert.Contains(form == "pooled" ? ": 16 features" : ": 32 features", train.Err); // cls+mean: twice the token width
        Assert.Equal(form == "opaque" ? 1 : 0, train.Err.Split('\n').Count(l => l.Contains("one row at a time")));
        return model;
    }

    static double Predict(string model)
    {
        var predict = Pcam("predict", "--model", model, Jpg, "--json");
        Assert.True(predict.Code == 0, predict.Err);
        return (double)JsonNode.Parse(predict.Out)!.AsArray()[0]!["probability"]!;
    }

    [SkippableTheory]
    [InlineData("pooled")]
    [InlineData("tokens")]
    [InlineData("fixed")]
    [InlineData("opaque")]
    [InlineData("fp16")]
    [InlineData("fp16_external")]
    public void Vit_export_trains_evaluates_and_predicts(string form)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var model = TrainVit(dir, form, tta: form == "opaque" ? "true" : "false");
        var eval = Pcam("evaluate", "--model", model, "--data", SharedSample.H5, "--split", "test", "--json", "--cache-dir", dir["cache"], "--max-rows", "32");
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Equal(32, (long)JsonNode.Parse(eval.Out)!["rows"]!);
        Assert.InRange(Predict(model), 0, 1);
    }

    [SkippableFact]
    public void ExternalDataModelIsTheZipPlusItsWeightsFileAndSaysSoWhenItIsMissingOrAltered()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var model = TrainVit(dir, "external");
        var side = dir["models/vit_external.onnx.data"];
        Assert.True(File.Exists(side), "the weights file is staged beside the model");
        Assert.True(new FileInfo(model).Length < new FileInfo(side).Length, "the zip does not hold the weights");
        var eval = Pcam("evaluate", "--model", model, "--data", SharedSample.H5, "--split", "test", "--json", "--cache-dir", dir["cache"], "--max-rows", "32");
        Assert.True(eval.Code == 0, eval.Err);
        double p = Predict(model);

        // Moved elsewhere together, the pair still works, in pcam and in the consuming app (ML.NET packages only).
        var moved = dir["moved"];
        Directory.CreateDirectory(moved);
        File.Copy(model, Path.Combine(moved, "renamed.zip"));
        File.Copy(side, Path.Combine(moved, "vit_external.onnx.data"));
        var movedModel = Path.Combine(moved, "renamed.zip");
        Assert.Equal(p, Predict(movedModel), 6);
        var app = ConsumingAppTests.RunApp(movedModel, Jpg);
        Assert.True(app.Code == 0, app.Err);
        Assert.InRange(double.Parse(app.Out.Split('\n')[1].Split(',')[1], CultureInfo.InvariantCulture), 0, 1);
        Assert.Equal(["renamed.zip", "vit_external.onnx.data"], Directory.GetFiles(moved).Select(Path.GetFileName).Order());

        // Altered: one byte flipped.
        var bytes = File.ReadAllBytes(Path.Combine(moved, "vit_external.onnx.data"));
        bytes[bytes.Length / 2] ^= 0x55;
        File.WriteAllBytes(Path.Combine(moved, "vit_external.onnx.data"), bytes);
        var altered = Pcam("predict", "--model", movedModel, Jpg);
        Assert.Equal(1, altered.Code);
        Assert.Single(altered.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("vit_external.onnx.data was altered", altered.Err);
        var appAltered = ConsumingAppTests.RunApp(movedModel, Jpg);
        Assert.Equal(1, appAltered.Code);
        Assert.Contains("vit_external.onnx.data was altered", appAltered.Err);

        File.Delete(Path.Combine(moved, "vit_external.onnx.data"));
        var missing = Pcam("predict", "--model", movedModel, Jpg);
        Assert.Equal(1, missing.Code);
        Assert.StartsWith("error: ", missing.Err);
        Assert.Contains("vit_external.onnx.data is missing", missing.Err);
        var appMissing = ConsumingAppTests.RunApp(movedModel, Jpg);
        Assert.Equal(1, appMissing.Code);
        Assert.Contains("vit_external.onnx.data is missing", appMissing.Err);
    }

    [SkippableFact]
    public void BackboneProblemIsOneErrorLineNamingTheJsonFile()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var backbone = TinyVits.Write(dir.Path, "vit", o => o.ExternalData = true);
        File.Delete(dir["vit.onnx.data"]);
        var config = dir["config.json"];
        File.WriteAllText(config, $$"""{ "TrainingOption": { "Backbone": "{{backbone}}" } }""");
        var bench = Pcam("bench", "featurize", "--config", config, "--data", SharedSample.H5, "--cache-dir", dir["cache"], "--rows", "4", "--stock-rows", "0");
        var train = Pcam("train", "--config", config, "--data", SharedSample.H5, "--cache-dir", dir["cache"], "--image-size", "0");
        foreach (var (code, stdout, err) in new[] { bench, train })
        {
            Assert.Equal(1, code);
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: ", line);
            Assert.DoesNotContain("   at ", err);
        }
        Assert.Contains(backbone, train.Err);
        Assert.Contains("vit.onnx.data", train.Err);
    }
}
