using PCam.MLNet.Tests.Robustness;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.Cli;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Export;

/// <summary>
/// `pcam export --format modelbuilder` and src/PCam.ModelBuilderApp (a project shaped like Model Builder's generated code,
/// ML.NET packages only) run as a separate process in the export folder.
/// </summary>
[Collection(SampleModelCollection.Name)]
public class ModelBuilderAppTests(SampleModelFixture f, ModelBuilderAppTests.ExportFolder export) : IClassFixture<ModelBuilderAppTests.ExportFolder>
{
    /// <summary>This class's own folder for the export (not the shared model fixture's, which other tests read).</summary>
    public sealed class ExportFolder : IDisposable
    {
        public TempDir Dir { get; } = new();
        public readonly object Gate = new();
        public string? Exported;
        public void Dispose() => Dir.Dispose();
    }

    /// <summary>Exports the sample model once (through the CLI) and returns the folder.</summary>
    string ExportDir()
    {
        lock (export.Gate)
        {
            if (export.Exported is not null && File.Exists(Path.Combine(export.Exported, "MLModel1.mlnet"))) return export.Exported;
            var dir = export.Dir["mb-export"];
            var (code, _, err) = Pcam("export", "--model", f.ModelPath, "--format", "modelbuilder", "--name", "MLModel1",
                "--namespace", "PCam.ModelBuilderApp", "--output", dir);
            Assert.True(code == 0, err);
            return export.Exported = dir;
        }
    }

    static (int Code, string Out, string Err) Pcam(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = PcamApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    static string AppDll
    {
        get
        {
            var bin = new DirectoryInfo(AppContext.BaseDirectory);
            return Path.Combine(RepoPaths.Root, "src", "PCam.ModelBuilderApp", "bin", bin.Parent!.Name, bin.Name, "PCam.ModelBuilderApp.dll");
        }
    }

    static (int Code, string Out, string Err) RunApp(string workingDirectory, IEnumerable<string> images)
    {
        Assert.True(File.Exists(AppDll), $"Model Builder app not built at {AppDll}");
        return ChildProcess.Run(AppDll, images, workingDirectory);
    }

    /// <summary>path -> (P("0"), P("1"), PredictedLabel) from the app's CSV.</summary>
    static Dictionary<string, (float P0, float P1, string Predicted)> Parse(string csv)
    {
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("path,score_0,score_1,predicted_label", lines[0].Trim());
        return lines.Skip(1).Select(l => l.Trim().Split(',')).ToDictionary(c => c[0],
            c => (float.Parse(c[1], CultureInfo.InvariantCulture), float.Parse(c[2], CultureInfo.InvariantCulture), c[3]));
    }

    [Fact]
    public void TheAppsConsumptionCodeIsWhatTheExporterGenerates()
    {
        var committed = File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "PCam.ModelBuilderApp", "MLModel1.consumption.cs"));
        Assert.Equal(ConsumptionCode.Generate("PCam.ModelBuilderApp", "MLModel1").TrimEnd() + "\n", committed.ReplaceLineEndings("\n"));
    }

    [SkippableFact]
    public void ExportWritesModelBuilderFilesInTheRealShape()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var dir = ExportDir();
        foreach (var ext in new[] { ".mlnet", ".mbconfig", ".consumption.cs", ".config.json", ".metrics.json" })
            Assert.True(File.Exists(Path.Combine(dir, "MLModel1" + ext)), ext);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        var mb = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "MLModel1.mbconfig")))!;
        var skeleton = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Export", "Fixtures",
            "mbconfig-v5-image-classification.skeleton.json")));
        Assert.Empty(MbConfigTests.Differences(skeleton, mb));
        Assert.Empty(MbConfigTests.PipelineDifferences(mb));
        Assert.Equal(Path.Combine(dir, "MLModel1.mlnet"), (string)mb["RunHistory"]!["ModelFilePath"]!);
        Assert.Equal(Math.Round(f.Result!.Valid.Accuracy, 6), (double)mb["RunHistory"]!["Trials"]![0]!["Score"]!);
        var estimators = mb["RunHistory"]!["Estimators"]!.AsObject().Select(kv => (string)kv.Value!).ToList();
        Assert.Equal(["MapValueToKey", "ResizeImages", "ExtractPixels", "ApplyOnnxModel"], estimators.Take(4));
        Assert.Contains("LbfgsLogisticRegressionBinary", estimators);
        Assert.Contains("namespace PCam.ModelBuilderApp", File.ReadAllText(Path.Combine(dir, "MLModel1.consumption.cs")));

        // The .mlnet has Model Builder's output contract: Label a key with the names "0", "1", Score a vector of 2.
        var ml = new MLContext(1);
        var model = ml.Model.Load(Path.Combine(dir, "MLModel1.mlnet"), out var saved);
        using var release = PCamModel.Owner(model);
        Assert.NotNull(saved.GetColumnOrNull("ImageSource"));
        // ML.NET stores no image-typed column in a model's input schema: the DecodedImage column comes from ModelInput.
        var output = model.GetOutputSchema(ModelBuilderModel.InputView(ml).Schema);
        Assert.Equal(2, ((VectorDataViewType)output["Score"].Type).Size);
        var keys = default(VBuffer<ReadOnlyMemory<char>>);
        output["Label"].GetKeyValues(ref keys);
        Assert.Equal(ModelBuilderModel.LabelNames, keys.DenseValues().Select(k => k.ToString()));
    }

    [SkippableFact]
    public void AppClassifiesTheSampleTestJpegsLikeEvaluateAndTheZip()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var dir = ExportDir();
        var folders = Path.Combine(SharedSample.Root!, "folders");
        // The first 300 test patches by PCam index (both classes; `evaluate --max-rows` takes the same rows): a
        // quarter of the 1,473, to keep this test under a minute on two shared cores.
        const int n = 300;
        var jpegs = Directory.GetFiles(Path.Combine(folders, "test"), "*.jpg", SearchOption.AllDirectories)
            .OrderBy(Index).ThenBy(j => j, StringComparer.Ordinal).Take(n).ToList();
        Assert.Equal(n, jpegs.Count);
        Assert.Equal(2, jpegs.Select(j => Path.GetFileName(Path.GetDirectoryName(j))).Distinct().Count());

        var (code, stdout, stderr) = RunApp(dir, jpegs);
        Assert.True(code == 0, stderr);
        var app = Parse(stdout);
        Assert.Equal(jpegs.Count, app.Count);

        // `pcam evaluate` on the same images.
        using var cache = new TempDir();
        var (ecode, eout, eerr) = Pcam("evaluate", "--model", f.ModelPath, "--data", folders, "--split", "Test", "--json",
            "--max-rows", n.ToString(CultureInfo.InvariantCulture), "--cache-dir", cache.Path);
        Assert.True(ecode == 0, eerr);
        var evaluated = JsonNode.Parse(eout)!;
        Assert.Equal(jpegs.Count, (int)evaluated["rows"]!);
        var correct = jpegs.Count(j => app[j].Predicted == Path.GetFileName(Path.GetDirectoryName(j)));
        Assert.InRange(100.0 * correct / jpegs.Count - 100 * (double)evaluated["accuracy"]!, -0.5, 0.5);

        // The zip's probabilities on the same decoded files, row by row.
        var ml = new MLContext(1);
        var zip = PCamModel.Load(ml, f.ModelPath, out _);
        using var release = PCamModel.Owner(zip);
        var rows = PCamMetrics.ReadScored(zip.Transform(PCamData.Open(folders, PCamSplit.Test).Take(n)));
        var byIndex = rows.ToDictionary(r => r.Index);
        foreach (var j in jpegs)
        {
            var index = Index(j);
            var (p0, p1, predicted) = app[j];
            Assert.Equal(byIndex[index].Probability, p1, 1e-4);
            Assert.Equal(1, p0 + p1, 1e-5);
            Assert.Equal(byIndex[index].PredictedLabel ? "1" : "0", predicted);
        }
    }

    [SkippableFact]
    public void ExportProblemsAreOneClearErrorAndWriteNothing()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        using var tmp = new TempDir();
        var lone = tmp["lone.zip"];
        File.Copy(f.ModelPath, lone);
        var (code, _, err) = Pcam("export", "--model", lone, "--output", tmp["out"]);
        Assert.Equal(1, code);
        Assert.Equal($"error: {Path.Combine(tmp.Path, "lone.metrics.json")}: not found; the export needs the metrics and config `pcam train` writes beside {lone}.", err.Trim());
        Assert.False(Directory.Exists(tmp["out"]) && Directory.EnumerateFileSystemEntries(tmp["out"]).Any());

        (code, _, err) = Pcam("export", "--model", f.ModelPath, "--name", "My-Model", "--output", tmp["out"]);
        Assert.Equal(1, code);
        Assert.Contains("--name 'My-Model': not a C# identifier", err);

        (code, _, err) = Pcam("export", "--model", tmp["missing.zip"], "--output", tmp["out"]);
        Assert.Equal(1, code);
        Assert.Contains("missing.zip", err); // PCamModel.Load's message names the file
    }

    [SkippableFact]
    public void PngAndBmpOfTheSamePixelsAgreeAndNonImagesFailClearly()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var dir = ExportDir();
        using var tmp = new TempDir();
        var rgb = new byte[PatchSchema.ImageBytes];
        f.Result!.TestData!.Source.ReadImages(3, 1, rgb);
        File.WriteAllBytes(tmp["a.png"], PatchImageEncoder.EncodePng(rgb));
        File.WriteAllBytes(tmp["a.bmp"], TestImages.Bmp(rgb));
        var (code, stdout, stderr) = RunApp(dir, [tmp["a.png"], tmp["a.bmp"]]);
        Assert.True(code == 0, stderr);
        var app = Parse(stdout);
        Assert.Equal(app[tmp["a.png"]].P1, app[tmp["a.bmp"]].P1, 1e-6);
        Assert.Equal(f.Result.TestRows![3].Probability, app[tmp["a.png"]].P1, 1e-4);

        File.WriteAllText(tmp["notes.png"], "this is not an image");
        (code, _, stderr) = RunApp(dir, [tmp["notes.png"]]);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {tmp["notes.png"]}: ImageSource (20 bytes) is not an image ML.NET can decode", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // ML.NET's decoder (SkiaSharp) has no TIFF codec: a clear error too, not a wrong answer.
        File.WriteAllBytes(tmp["a.tif"], TestImages.Tiff(rgb));
        (code, _, stderr) = RunApp(dir, [tmp["a.tif"]]);
        Assert.Equal(1, code);
        Assert.Contains("TIFF is not supported", stderr);
    }

    static long Index(string patchFile) => long.Parse(Path.GetFileNameWithoutExtension(patchFile)["patch".Length..], CultureInfo.InvariantCulture);
}
