using System.IO.Compression;
using Microsoft.ML;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Vision;
using PCam.MLNet.Vision;
using Xunit;

namespace PCam.MLNet.Tests.Cli;

/// <summary>`pcam inspect` on a zip saved from the ImageClassificationTrainer drop-in, and on a zip that is no model.</summary>
public class InspectImageClassifierTests
{
    [Fact]
    public void InspectDescribesAnImageClassificationZip()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 6).Select(i => new ModelBuilderImageScenarioTests.ModelInput
        {
            Label = i % 2 == 0 ? "red" : "green",
            ImageSource = ImageClassificationTrainerTests.SolidPng(40 + i, 30, (byte)(i % 2 == 0 ? 230 - i : 20 + i)),
        }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var dir = new TempDir();
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Label")
            .Append(ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "ImageSource", Epoch = 2, ImageSize = 96,
                Precision = PCam.MLNet.Featurization.FeaturizerPrecision.Fp32, WorkspacePath = dir.Path,
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));
        var zip = Path.Combine(dir.Path, "ict.zip");
        var model = pipeline.Fit(data);
        ml.Model.Save(model, data.Schema, zip);
        ((IDisposable)model).Dispose();

        var (code, stdout, stderr) = CliTests.Pcam("inspect", zip);
        Assert.True(code == 0, stderr);
        Assert.Contains("image classification", stdout);
        Assert.Contains("Backbone input: 96x96x3", stdout);
        Assert.Contains("Precision: fp32", stdout);
        Assert.Contains("Classes (2): red, green", stdout);
        Assert.Matches(@"Feature dimension: [1-9]\d*", stdout);
        Assert.Matches("SHA-256: [0-9a-f]{64}", stdout);
        Assert.Contains("ImageSource: Vector<Byte>[variable]", stdout);
        Assert.Contains("OnnxTransformer", stdout);
        Assert.Contains("PredictedLabel: String", stdout);

        // Model Builder's own shape (Label, ImageSource) exports as it is (ImageClassifierExportTests covers the export).
        var export = CliTests.Pcam("export", "--model", zip, "--format", "modelbuilder", "--output", Path.Combine(dir.Path, "mb"));
        Assert.True(export.Code == 0, export.Err);
        Assert.True(File.Exists(Path.Combine(dir.Path, "mb", "MLModel1.mlnet")));
    }

    [Fact]
    public void InspectRejectsAForeignZipWithOneError()
    {
        using var dir = new TempDir();
        var zip = Path.Combine(dir.Path, "foreign.zip");
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        using (var w = new StreamWriter(z.CreateEntry("readme.txt").Open())) w.Write("not a model");
        var (code, _, stderr) = CliTests.Pcam("inspect", zip);
        Assert.NotEqual(0, code);
        Assert.StartsWith("error:", stderr.Trim());
        Assert.Contains(zip, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
