using System.Globalization;
using System.Text.Json.Nodes;
using PCam.MLNet.Export;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using Xunit;
using static PCam.MLNet.Tests.Cli.CliTests;

namespace PCam.MLNet.Tests.Cli;

/// <summary>
/// Small official-layout files cut from the real sample (train 64, valid 48, test 32 class-balanced rows) and the first
/// <see cref="Pngs"/> test rows as lossless PNG files (exactly the pixels the trainer scored), shared by the matrix rows.
/// </summary>
public sealed class OptionMatrixData : IDisposable
{
    public const int PngCount = 6;
    public TempDir Dir { get; } = new();
    public string DataDirectory => Dir["data"];
    public string TestX => Path.Combine(DataDirectory, PCamChecksums.FileStem(PCamSplit.Test, 'x') + ".h5");
    public List<string> Pngs { get; } = [];

    public OptionMatrixData()
    {
        if (SharedSample.Root is null) return;
        Directory.CreateDirectory(DataDirectory);
        var options = new PCamDataOptions { CacheDirectory = Dir["h5"] };
        foreach (var (split, n) in new[] { (PCamSplit.Train, 64), (PCamSplit.Valid, 48), (PCamSplit.Test, 32) })
        {
            using var all = PCamData.Open(SharedSample.H5, split, options);
            var rows = all.SampleBalanced(n, seed: 19).Rows!;
            var pixels = new byte[rows.Count * PatchSchema.ImageBytes];
            var labels = new bool[rows.Count];
            for (var i = 0; i < rows.Count; i++)
            {
                all.Source.ReadImages(rows[i], 1, pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
                labels[i] = all.Source.GetLabel(rows[i]);
            }
            PCamImporter.Write(new ArraySource(pixels, labels), Path.Combine(DataDirectory, PCamChecksums.FileStem(split, 'x') + ".h5"),
                Path.Combine(DataDirectory, PCamChecksums.FileStem(split, 'y') + ".h5"));
            if (split != PCamSplit.Test) continue;
            for (var i = 0; i < PngCount; i++)
            {
                var png = Dir[$"test{i:D2}.png"];
                ConsumingAppTests.WritePng(pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes).ToArray(), png);
                Pngs.Add(png);
            }
        }
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// Issue 19, item 3: every documented option combination gives a model zip that every consumer loads and that gives the
/// trainer's probabilities. Factors: trainer (LbfgsLogisticRegression, SdcaLogisticRegression, LightGbm, FastTree) x
/// precision (fp32, int8) x TTA (off, on) x backbone kind (ResNet18 CNN maps at 96 px; a real torch-exported ViT with
/// token output pooled cls+mean, tests/PCam.MLNet.Tests/Fixtures/vit/tv-vit-tokens.onnx, at its 224 px).
/// The full product is 32 trainings; <see cref="Rows"/> is an all-pairs covering set of 8 (the minimum: the 4
/// trainers x 2 levels of any other factor already need 8 rows): every pair of levels of every two factors occurs in
/// at least one row, and each (precision, TTA, backbone) triple occurs exactly once.
/// Each trained model goes through `pcam evaluate`, `pcam predict`, `pcam inspect`, `pcam export --format
/// modelbuilder` with the exported files run by src/PCam.ModelBuilderApp, `pcam heatmap`, and src/PCam.Predict, the
/// last two as separate processes; probabilities are compared row by row with the ones the trainer computed.
/// The heads are trained with small hyper-parameter grids (one candidate each, 30 trees) to keep the matrix cheap:
/// the options under test are the trainers, not their grids.
/// </summary>
public sealed class OptionMatrixTests(OptionMatrixData data) : IClassFixture<OptionMatrixData>
{
    /// <summary>The probability agreement every consumer must reach with the trainer.</summary>
    const double Tolerance = 1e-4;
    static string VitTokens => Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Fixtures", "vit", "tv-vit-tokens.json");

    public static TheoryData<string, string, bool, string> Rows => new()
    {
        // trainer                    precision  TTA    backbone
        { "LbfgsLogisticRegression", "fp32", false, "resnet18" },
        { "LbfgsLogisticRegression", "int8", true, "vit" },
        { "SdcaLogisticRegression", "fp32", true, "vit" },
        { "SdcaLogisticRegression", "int8", false, "resnet18" },
        { "LightGbm", "fp32", false, "vit" },
        { "LightGbm", "int8", true, "resnet18" },
        { "FastTree", "fp32", true, "resnet18" },
        { "FastTree", "int8", false, "vit" },
    };

    [Fact]
    public void RowsCoverEveryPairOfLevels()
    {
        var rows = Rows.ToList(); // xunit v2: each row is an object[]
        object[][] levels =
        [
            ["LbfgsLogisticRegression", "SdcaLogisticRegression", "LightGbm", "FastTree"],
            ["fp32", "int8"], [false, true], ["resnet18", "vit"],
        ];
        for (var a = 0; a < levels.Length; a++)
            for (var b = a + 1; b < levels.Length; b++)
                foreach (var x in levels[a])
                    foreach (var y in levels[b])
                        Assert.True(rows.Any(r => r[a].Equals(x) && r[b].Equals(y)), $"no row with factor {a} = {x} and factor {b} = {y}");
    }

    [SkippableTheory]
    [MemberData(nameof(Rows))]
    public void EveryConsumerLoadsTheModelAndGivesTheTrainersProbabilities(string trainer, string precision, bool tta, string backbone)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var config = new PCamConfig();
        config.DataSource.Directory = data.DataDirectory;
        config.DataSource.CacheDirectory = dir["cache"];
        var t = config.TrainingOption;
        t.Trainer = trainer;
        t.Precision = precision;
        t.CalibrationRows = 32;
        t.Tta = tta;
        t.Backbone = backbone == "vit" ? VitTokens : "resnet18";
        t.ImageSize = backbone == "vit" ? 0 : 96; // the ViT export accepts only its 224 px
        t.ModelPath = dir["models/m.zip"];
        t.Lbfgs.L2Regularization = [10];
        t.Sdca.L2Regularization = [1e-3];
        t.LightGbm = new TreeHeadConfig { NumberOfLeaves = [4], NumberOfTrees = 30, LearningRate = 0.2, MinimumExampleCountPerLeaf = 5 };
        t.FastTree = new TreeHeadConfig { NumberOfLeaves = [4], NumberOfTrees = 30, LearningRate = 0.2, MinimumExampleCountPerLeaf = 5 };

        // What `pcam train` runs (TrainCommand): the trainer, whose self-check already reloaded the zip, then the side files.
        var log = new SilentLog();
        using var result = new PCamTrainer(config, log).Train();
        RunArtifacts.Write(result, config);
        var model = t.ModelPath;
        var expected = result.TestRows!;
        Assert.Equal(32, expected.Count);
        Assert.Equal(2, expected.Select(r => r.Label).Distinct().Count());

        // The metrics written are those the trainer reported.
        var metrics = JsonNode.Parse(File.ReadAllText(RunArtifacts.MetricsPath(model)))!;
        Assert.Equal(result.Test!.Accuracy, (double)metrics["test"]!["accuracy"]!, 9);

        // pcam predict on the official-layout test file: every row, from raw pixels through the zip.
        var predict = Pcam("predict", "--model", model, data.TestX, "--json");
        Assert.True(predict.Code == 0, predict.Err);
        var predicted = JsonNode.Parse(predict.Out)!.AsArray();
        Assert.Equal(expected.Count, predicted.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.Equal(expected[i].Probability, (double)predicted[i]!["probability"]!, Tolerance);

        // pcam evaluate: the same rows give the metrics the trainer reported (probabilities within 1e-4 cannot move the NLL
        // by more than ~1e-3 here, and no test probability of these models lies that close to 0.5).
        var evaluate = Pcam("evaluate", "--model", model, "--data", data.DataDirectory, "--split", "Test", "--json");
        Assert.True(evaluate.Code == 0, evaluate.Err);
        var evaluated = JsonNode.Parse(evaluate.Out)!;
        Assert.Equal(expected.Count, (int)evaluated["rows"]!);
        Assert.Equal(result.Test.Nll, (double)evaluated["nll"]!, 1e-3);
        Assert.Equal(result.Test.Accuracy, (double)evaluated["accuracy"]!, 9);

        // pcam inspect: the whole chain, down to the head and its feature column.
        var inspect = Pcam("inspect", model);
        Assert.True(inspect.Code == 0, inspect.Err);
        Assert.Contains("features 'Features'", inspect.Out);

        // pcam heatmap on one patch-sized image: its single window is that patch (tiles.csv has 6 decimals), scored with
        // the trainer's views (slides are scored with one view by default).
        var heatmap = Pcam("heatmap", "--model", model, "--output", dir["heatmap"], "--no-tissue-mask", "--mpp", "0.972", "--views", tta ? "8" : "1", data.Pngs[0]);
        Assert.True(heatmap.Code == 0, heatmap.Err);
        var tile = File.ReadAllLines(Path.Combine(dir["heatmap"], "slides", "test00", "test00.tiles.csv"));
        Assert.Equal("minx,miny,width,height,level,x,y,size,probability", tile[0]);
        Assert.Equal(2, tile.Length);
        Assert.Equal(expected[0].Probability, double.Parse(tile[1].Split(',')[8], CultureInfo.InvariantCulture), Tolerance + 1e-6);

        // src/PCam.Predict (ML.NET packages only) as its own process, on the PNG files of the first test rows.
        var app = ChildProcess.Run(ConsumingAppTests.AppDll, [model, .. data.Pngs]);
        Assert.True(app.Code == 0, app.Err);
        var lines = app.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(data.Pngs.Count + 1, lines.Length);
        for (var i = 0; i < data.Pngs.Count; i++)
            Assert.Equal(expected[i].Probability, double.Parse(lines[i + 1].Split(',')[1], CultureInfo.InvariantCulture), Tolerance);

        // pcam export --format modelbuilder, then the exported .mlnet run by the Model Builder-shaped app (its own process).
        var mb = dir["mb"];
        var export = Pcam("export", "--model", model, "--format", "modelbuilder", "--name", "MLModel1", "--namespace", "PCam.ModelBuilderApp", "--output", mb);
        Assert.True(export.Code == 0, export.Err);
        var generated = ChildProcess.Run(ConsumingAppErrorTests.ModelBuilderAppDll, data.Pngs, mb);
        Assert.True(generated.Code == 0, generated.Err);
        lines = generated.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("path,score_0,score_1,predicted_label", lines[0].Trim());
        for (var i = 0; i < data.Pngs.Count; i++)
        {
            var cells = lines[i + 1].Trim().Split(',');
            Assert.Equal(data.Pngs[i], cells[0]);
            Assert.Equal(expected[i].Probability, double.Parse(cells[2], CultureInfo.InvariantCulture), Tolerance);
            Assert.Equal(expected[i].PredictedLabel ? "1" : "0", cells[3]);
        }
    }
}
