using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using Xunit;
using static PCam.MLNet.Tests.Cli.CliTests;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>
/// Every command, given a bad input, prints exactly
/// one `error:` line naming the input, no stack trace, and exits non-zero.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class CliBoundaryTests(TinyModelFixture f) : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static void AssertOneErrorLine((int Code, string Out, string Err) r, params string[] mentions)
    {
        Assert.True(r.Code != 0, $"exit 0; stderr: {r.Err}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var error = Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain("Exception:", r.Err); // a type name is only allowed inside the one line's text, not as a trace header
        Assert.DoesNotContain("unexpected", error); // every cause below is a known one, not a bug
        foreach (var m in mentions) Assert.Contains(m, error);
    }

    /// <summary>A folder with official file names holding bytes that are not HDF5.</summary>
    string GarbageData(PCamSplit split = PCamSplit.Train)
    {
        var d = Directory.CreateDirectory(_dir["garbage-" + split]).FullName;
        foreach (var c in new[] { 'x', 'y' }) File.WriteAllBytes(Path.Combine(d, PCamChecksums.FileStem(split, c) + ".h5"), new byte[4096]);
        return d;
    }

    string WithoutSchema()
    {
        var zip = _dir["no-schema.zip"];
        ModelZipTests.Rewrite(f.ModelPath, zip, (name, b) => name == "Schema" ? null : b);
        return zip;
    }

    [Fact]
    public void TrainWithImageSize100ForTheBuiltInBackboneNamesTheFileAndKey()
    {
        var config = _dir["size100.json"];
        File.WriteAllText(config, """{ "TrainingOption": { "ImageSize": 100 } }""");
        AssertOneErrorLine(Pcam("train", "--config", config), config, "TrainingOption.ImageSize");
    }

    [Fact]
    public void TrainWithABackboneJsonPointingAtANonOnnxFileNamesTheKeyBeforeTouchingData()
    {
        File.WriteAllText(_dir["notonnx.onnx"], "this is not an ONNX model\n");
        var backbone = _dir["bad-backbone.json"];
        File.WriteAllText(backbone, """{ "name": "bad", "onnxPath": "notonnx.onnx", "featureOutputs": ["maps"] }""");
        var cache = _dir["cache"];
        // Data that would fail if it were touched: the backbone must be refused first.
        AssertOneErrorLine(Pcam("train", "--data", GarbageData(), "--backbone", backbone, "--image-size", "96", "--cache-dir", cache),
            "TrainingOption.Backbone", "notonnx.onnx");
        Assert.False(Directory.Exists(cache));
    }

    [Fact]
    public void TrainWithAnUnknownBackboneNameNamesTheKey() =>
        AssertOneErrorLine(Pcam("train", "--backbone", "resnet99", "--data", GarbageData()), "TrainingOption.Backbone", "resnet99");

    [Fact]
    public void EvaluateOnDataThatIsNotHdf5NamesTheFile() =>
        AssertOneErrorLine(Pcam("evaluate", "--model", f.ModelPath, "--data", GarbageData(PCamSplit.Test), "--cache-dir", _dir["cache"]),
            "camelyonpatch_level_2_split_test_");

    [Fact]
    public void EvaluatePredictAndInspectOnAZipWithoutItsSchemaEntry()
    {
        var zip = WithoutSchema();
        var png = _dir["ok.png"];
        File.WriteAllBytes(png, TestImages.Png(TestImages.Pattern(1)));
        AssertOneErrorLine(Pcam("evaluate", "--model", zip, "--data", f.DataDir, "--cache-dir", _dir["cache"]), zip, "Schema");
        AssertOneErrorLine(Pcam("predict", "--model", zip, png), zip, "Schema");
        AssertOneErrorLine(Pcam("inspect", zip), zip, "Schema");
    }

    [Fact]
    public void PredictOnATruncatedTiffIsAnErrorNotAScore()
    {
        var tif = _dir["cut.tif"];
        var bytes = TestImages.Tiff(TestImages.Pattern(2));
        File.WriteAllBytes(tif, bytes[..(bytes.Length * 2 / 3)]);
        var r = Pcam("predict", "--model", f.ModelPath, tif);
        AssertOneErrorLine(r, tif);
        Assert.DoesNotContain("cut.tif,", r.Out);
    }

    [Fact]
    public void TheConsumingAppRefusesATruncatedTiffAndAGreyPngToo()
    {
        var tif = _dir["cut.tif"];
        var bytes = TestImages.Tiff(TestImages.Pattern(2));
        File.WriteAllBytes(tif, bytes[..(bytes.Length * 2 / 3)]);
        var grey = _dir["grey.png"];
        File.WriteAllBytes(grey, TestImages.RawPng(0, TestImages.Pattern(3)));
        var whole = _dir["whole.tif"];
        File.WriteAllBytes(whole, bytes);
        var ok = Cli.ConsumingAppTests.RunApp(f.ModelPath, whole);
        Assert.True(ok.Code == 0, ok.Err);
        foreach (var bad in new[] { tif, grey })
        {
            var r = Cli.ConsumingAppTests.RunApp(f.ModelPath, bad);
            AssertOneErrorLine(r, bad);
            Assert.DoesNotContain(bad + ",", r.Out);
        }
    }

    [Fact]
    public void PredictChecksItsInputsBeforeLoadingTheModel()
    {
        // The model is not even a zip: an input error that is found first proves the order.
        var notZip = _dir["not-a-model.zip"];
        File.WriteAllText(notZip, "text");
        AssertOneErrorLine(Pcam("predict", "--model", notZip, _dir["missing.png"]), "missing.png");
    }

    [Fact]
    public void InspectWithANullAccuracyAndWithBadMetricsJsonStillDescribesTheModel()
    {
        var model = _dir["m.zip"];
        File.Copy(f.ModelPath, model);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(f.ModelPath, ".metrics.json")))!;
        metrics["valid"]!["accuracy"] = null;
        metrics["test"]!["auc"] = "high";
        File.WriteAllText(_dir["m.metrics.json"], metrics.ToJsonString());
        var r = Pcam("inspect", model);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("Metrics valid: Acc n/a", r.Out);

        File.WriteAllText(_dir["m.metrics.json"], "{ \"valid\": ");
        r = Pcam("inspect", model);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("Image: Vector<Byte>[96x96x3]", r.Out);
        Assert.Contains($"warning: {_dir["m.metrics.json"]}: not valid JSON", r.Err);
    }

    [Fact]
    public void DownloadWithAnUnknownSplit() =>
        AssertOneErrorLine(Pcam("download", "--output", _dir["dl"], "--splits", "trian"), "trian");

    [Fact]
    public void VerifyOnDataThatIsNotHdf5NamesTheFile() =>
        AssertOneErrorLine(Pcam("verify", GarbageData()), "camelyonpatch_level_2_split_train_");

    [Fact]
    public void ImportFromDataThatIsNotHdf5NamesTheFile() =>
        AssertOneErrorLine(Pcam("import", "--from", GarbageData(), "--output", _dir["out"]), "camelyonpatch_level_2_split_train_");

    [Fact]
    public void BenchReadOnDataThatIsNotHdf5NamesTheFile() =>
        AssertOneErrorLine(Pcam("bench", "read", "--data", GarbageData(), "--cache-dir", _dir["cache"]), "camelyonpatch_level_2_split_train_");

    [Fact]
    public void BenchFeaturizeOnDataThatIsNotHdf5NamesTheFile() =>
        AssertOneErrorLine(Pcam("bench", "featurize", "--config", f.ConfigPath, "--data", GarbageData(PCamSplit.Test), "--cache-dir", _dir["cache"],
            "--stock-rows", "0"), "camelyonpatch_level_2_split_test_");

    [Fact]
    public void HeatmapOnAFileThatIsNotAnImageNamesTheFile()
    {
        var input = _dir["slide.tif"];
        File.WriteAllText(input, "this is not a TIFF\n");
        var run = Pcam("heatmap", "--model", f.ModelPath, input, "--output", _dir["maps"]);
        AssertOneErrorLine(run, input);
        Assert.Equal(3, run.Code); // a failed slide: recorded, documented exit code
        Assert.False(Directory.Exists(_dir["maps/slides/slide"]), "no outputs for a bad input");
        Assert.Contains(",failed,", File.ReadAllText(_dir["maps/slides.csv"]));
    }

    [Fact]
    public void HeatmapInputsThatShareAStemGetUniqueSlideIds()
    {
        Directory.CreateDirectory(_dir["a"]);
        Directory.CreateDirectory(_dir["b"]);
        File.WriteAllText(_dir["a/slide.png"], "x");
        File.WriteAllText(_dir["b/slide.tif"], "x");
        var run = Pcam("heatmap", "--model", f.ModelPath, _dir["a/slide.png"], _dir["b/slide.tif"], "--output", _dir["maps"]);
        Assert.Equal(3, run.Code);
        var rows = File.ReadAllLines(_dir["maps/slides.csv"]).Skip(1).Select(l => l.Split(',')[0]).Order().ToArray();
        Assert.Equal(["slide", "slide-2"], rows);
    }

    [Fact]
    public void HeatmapReportOnAFolderWithoutResultsNamesIt()
    {
        Directory.CreateDirectory(_dir["empty"]);
        AssertOneErrorLine(Pcam("heatmap-report", _dir["empty"]), _dir["empty"]);
    }

    [Fact]
    public void HeatmapWithAMissingModelNamesTheModel()
    {
        var model = _dir["absent.zip"];
        File.WriteAllText(_dir["slide.png"], "x");
        AssertOneErrorLine(Pcam("heatmap", "--model", model, _dir["slide.png"], "--output", _dir["maps"]), "absent.zip");
    }

    [Fact]
    public void SlidesTrainWithoutResultsOrWithBadLabelsNamesTheFile()
    {
        Directory.CreateDirectory(_dir["empty"]);
        AssertOneErrorLine(Pcam("slides", "train", "--results", _dir["empty"], "--labels", _dir["labels.csv"], "--model", _dir["slide.zip"]), _dir["empty"]);
        File.WriteAllText(_dir["empty/slides.csv"], "slide_id,path,label,status\n");
        File.WriteAllText(_dir["labels.csv"], "name,value\na,b\n");
        AssertOneErrorLine(Pcam("slides", "train", "--results", _dir["empty"], "--labels", _dir["labels.csv"], "--model", _dir["slide.zip"]), _dir["labels.csv"]);
        Assert.False(File.Exists(_dir["slide.zip"]), "no model for bad input");
    }

    [Fact]
    public void BenchRandomVitWithAnUnknownPresetNamesIt() =>
        AssertOneErrorLine(Pcam("bench", "random-vit", "--preset", "h99", "--out", _dir["vit"]), "h99");

    [Fact]
    public void ExportOfAZipWithoutSchemaNamesTheZip()
    {
        var zip = WithoutSchema();
        AssertOneErrorLine(Pcam("export", "--model", zip, "--format", "modelbuilder", "--name", "MLModel1", "--output", _dir["mb"]), zip);
        Assert.False(Directory.Exists(_dir["mb"]) && Directory.EnumerateFiles(_dir["mb"]).Any(), "nothing is written for a bad model");
    }

    [Fact]
    public void PatchesWithAMissingFolderAnUnreadableSlideOrABadSplitIsOneErrorLine()
    {
        AssertOneErrorLine(Pcam("patches", "--slides", _dir["nope"], "--output", _dir["set"]), _dir["nope"]);
        var slides = _dir["slides"];
        Directory.CreateDirectory(slides);
        var bad = Path.Combine(slides, "x.tif");
        File.WriteAllText(bad, "not a slide");
        AssertOneErrorLine(Pcam("patches", "--slides", slides, "--output", _dir["set"]), bad);
        AssertOneErrorLine(Pcam("patches", "--slides", slides, "--output", _dir["set"], "--split", "0.8,0.2"), "--split");
        Assert.False(Directory.Exists(_dir["set"]), "nothing is written");
    }

    [Fact]
    public void EveryCommandIsCovered()
    {
        // A new command must get a bad-input test above: this list is the one the tests cover.
        var covered = new[] { "train", "evaluate", "predict", "inspect", "download", "verify", "import", "bench", "heatmap", "heatmap-report", "export", "patches", "slides" };
        var help = Pcam("--help").Out;
        var commands = help[help.IndexOf("Commands:", StringComparison.Ordinal)..]
            .Split('\n').Skip(1).Select(l => l.Trim().Split(' ')[0]).Where(c => c.Length > 0).ToArray();
        Assert.NotEmpty(commands);
        Assert.All(commands, c => Assert.Contains(c, covered));
    }
}
