using PCam.MLNet.Featurization;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using Xunit;
using static PCam.MLNet.Tests.Cli.CliTests;

namespace PCam.MLNet.Tests.Export;

/// <summary>
/// Tiny models trained once per (trainer, precision, TTA) on the small official-layout cut of the real sample
/// (<see cref="OptionMatrixData"/>: train 64, valid 48, test 32 rows), each exported with `pcam export --format onnx`.
/// </summary>
public sealed class OnnxExportModels : IDisposable
{
    public OptionMatrixData Data { get; } = new();
    private readonly ConcurrentDictionary<string, Lazy<Trained>> _models = new();

    /// <summary>A trained zip, its exported .onnx, and what the trainer computed on the test split.</summary>
    public sealed record Trained(string Zip, string Onnx, string Folder, IReadOnlyList<ScoredPatch> TestRows, double TestAccuracy, string ExportErr);

    public Trained Get(string trainer, string precision, bool tta) =>
        _models.GetOrAdd($"{trainer}-{precision}-{tta}", key => new Lazy<Trained>(() => Train(key, trainer, precision, tta))).Value;

    private Trained Train(string key, string trainer, string precision, bool tta)
    {
        var dir = Data.Dir[key];
        var config = new PCamConfig();
        config.DataSource.Directory = Data.DataDirectory;
        config.DataSource.CacheDirectory = Path.Combine(dir, "cache");
        var t = config.TrainingOption;
        t.Trainer = trainer;
        t.Precision = precision;
        t.CalibrationRows = 32;
        t.Tta = tta;
        t.ImageSize = 96;
        t.ModelPath = Path.Combine(dir, "m.zip");
        t.Lbfgs.L2Regularization = [10];
        t.Sdca.L2Regularization = [1e-3];
        t.LightGbm = new TreeHeadConfig { NumberOfLeaves = [4], NumberOfTrees = 30, LearningRate = 0.2, MinimumExampleCountPerLeaf = 5 };
        t.FastTree = new TreeHeadConfig { NumberOfLeaves = [4], NumberOfTrees = 30, LearningRate = 0.2, MinimumExampleCountPerLeaf = 5 };
        using var result = new PCamTrainer(config, new SilentLog()).Train();
        RunArtifacts.Write(result, config);
        var export = Pcam("export", "--model", t.ModelPath, "--format", "onnx", "--output", Path.Combine(dir, "onnx"));
        Assert.True(export.Code == 0, export.Err);
        return new Trained(t.ModelPath, Path.Combine(dir, "onnx", "m.onnx"), dir, result.TestRows!.ToList(), result.Test!.Accuracy, export.Err);
    }

    public void Dispose() => Data.Dispose();
}

/// <summary>
/// `pcam export --format onnx`: one ONNX graph that gives the zip's calibrated probability (within 1e-4) in ONNX Runtime
/// from C#, in onnxruntime-node, and through `pcam predict` and `pcam heatmap` given the .onnx; NAME.json; bad input.
/// The rows cover every head once, and every (precision, TTA) pair once, so each precision and each TTA level is
/// exported under two different heads: the featurizer graph (where precision and TTA live) is copied into the export
/// unchanged, the head is converted, so these are the two factors that can break independently.
/// </summary>
public sealed class OnnxExportTests(OnnxExportModels models) : IClassFixture<OnnxExportModels>
{
    const double Tolerance = 1e-4;

    public static TheoryData<string, string, bool> Rows => new()
    {
        { "LbfgsLogisticRegression", "fp32", false },
        { "SdcaLogisticRegression", "int8", true },
        { "LightGbm", "fp32", true },
        { "FastTree", "int8", false },
    };

    static byte[] TestPixels(string xPath, out int rows)
    {
        using var source = PatchFiles.OpenImages(xPath);
        rows = (int)source.RowCount;
        var pixels = new byte[rows * PatchSchema.ImageBytes];
        source.ReadImages(0, rows, pixels);
        return pixels;
    }

    [SkippableTheory]
    [MemberData(nameof(Rows))]
    public void TheExportedGraphGivesTheZipsProbabilityEverywhere(string trainer, string precision, bool tta)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = models.Get(trainer, precision, tta);
        var expected = m.TestRows;
        Assert.Equal(32, expected.Count);
        Assert.Contains("Self-check: 8 patches", m.ExportErr);
        var folder = Path.GetDirectoryName(m.Onnx)!;
        Assert.Equal(["m.json", "m.onnx"], Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // ONNX Runtime from C#, the graph alone: uint8 [N,96,96,3] 'image' in, 'probability' [N] and 'features' [N,D] out.
        var pixels = TestPixels(models.Data.TestX, out var n);
        using (var session = new InferenceSession(m.Onnx))
        {
            Assert.Equal(["image"], session.InputMetadata.Keys);
            Assert.Equal(new[] { -1, 96, 96, 3 }, session.InputMetadata["image"].Dimensions);
            Assert.Equal(typeof(byte), session.InputMetadata["image"].ElementType);
            Assert.Equal(["features", "probability"], session.OutputMetadata.Keys.Order(StringComparer.Ordinal));
            using var input = OrtValue.CreateTensorValueFromMemory(pixels, [n, 96, 96, 3]);
            using var outputs = session.Run(new RunOptions(), ["image"], [input], ["probability", "features"]);
            var probability = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            Assert.Equal([(long)n], outputs[0].GetTensorTypeAndShape().Shape);
            for (var i = 0; i < n; i++) Assert.Equal(expected[i].Probability, probability[i], Tolerance);
            var shape = outputs[1].GetTensorTypeAndShape().Shape;
            Assert.Equal(n, shape[0]);

            // 'features' is the zip's own feature column (what its head reads).
            var ml = new MLContext(seed: 1);
            var zip = PCamModel.Load(ml, m.Zip, out _);
            using var release = PCamModel.Owner(zip);
            var view = zip.Transform(ml.Data.LoadFromEnumerable(Enumerable.Range(0, 2).Select(i => new PatchInput { Image = pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes).ToArray() })));
            var zipFeatures = view.GetColumn<float[]>(view.Schema.Where(c => c.Name == "Features").First()).ToList();
            Assert.Equal(zipFeatures[0].Length, shape[1]);
            var features = outputs[1].GetTensorDataAsSpan<float>();
            for (var j = 0; j < zipFeatures[0].Length; j++) Assert.Equal(zipFeatures[1][j], features[(int)shape[1] + j], 1e-4);
        }

        // NAME.json: what a consumer needs, and the file it describes.
        var card = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(m.Onnx, ".json")))!;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(m.Onnx))), (string?)card["onnx"]!["sha256"]);
        Assert.Equal(96, (int)card["patch_size_pixels"]!);
        Assert.Equal(0.972, (double)card["spacing_um_px"]!);
        Assert.Equal("RGB", (string?)card["input"]!["channel_order"]);
        Assert.Equal("uint8", (string?)card["input"]!["dtype"]);
        Assert.Equal(["notumor", "tumor"], card["class_names"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(m.Onnx)).OpsetImport.Single(o => o.Domain == "").Version, (long)card["onnx"]!["opset"]!);
        Assert.Equal(m.TestAccuracy, (double)card["metrics"]!["test"]!["accuracy"]!, 9);
        Assert.Equal(trainer, (string?)card["pcam"]!["head"]!["trainer"]);
        Assert.Equal(precision, (string?)card["pcam"]!["backbone"]!["precision"]);
        Assert.Equal(tta, (bool)card["pcam"]!["backbone"]!["tta"]!);
        Assert.False(string.IsNullOrEmpty((string?)card["pcam"]!["version"]));

        // pcam predict --model NAME.onnx gives the zip's rows.
        var predict = Pcam("predict", "--model", m.Onnx, models.Data.TestX, "--json");
        Assert.True(predict.Code == 0, predict.Err);
        var predicted = JsonNode.Parse(predict.Out)!.AsArray();
        Assert.Equal(expected.Count, predicted.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Probability, (double)predicted[i]!["probability"]!, Tolerance);
            Assert.Equal(expected[i].PredictedLabel ? 1 : 0, (int)predicted[i]!["predictedLabel"]!);
        }

        // pcam heatmap --model NAME.onnx on one patch-sized image: its single window is that patch (tiles.csv has 6 decimals).
        var heatmapDir = Path.Combine(m.Folder, "heatmap");
        var heatmap = Pcam("heatmap", "--model", m.Onnx, "--output", heatmapDir, "--no-tissue-mask", "--mpp", "0.972", models.Data.Pngs[0]);
        Assert.True(heatmap.Code == 0, heatmap.Err);
        var tile = File.ReadAllLines(Path.Combine(heatmapDir, "slides", "test00", "test00.tiles.csv"));
        Assert.Equal(2, tile.Length);
        Assert.Equal(expected[0].Probability, double.Parse(tile[1].Split(',')[8], CultureInfo.InvariantCulture), Tolerance + 1e-6);
    }

    /// <summary>The exported file in onnxruntime-node (tests/PCam.MLNet.Tests/Node/predict.js, the snippet docs/model-zip.md shows).</summary>
    [SkippableFact]
    public void TheExportedGraphRunsInOnnxRuntimeNode()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var script = NodeRuntime.Require();
        var m = models.Get("SdcaLogisticRegression", "int8", true);
        var pixels = TestPixels(models.Data.TestX, out var n);
        var patches = Path.Combine(m.Folder, "patches.u8");
        File.WriteAllBytes(patches, pixels);
        var run = ChildProcess.RunProgram("node", [script, m.Onnx, patches]);
        Assert.True(run.Code == 0, run.Err);
        var probability = JsonNode.Parse(run.Out)!.AsArray().Select(p => (double)p!).ToList();
        Assert.Equal(n, probability.Count);
        for (var i = 0; i < n; i++) Assert.Equal(m.TestRows[i].Probability, probability[i], Tolerance);
    }

    /// <summary>A backbone with external weights: the export writes NAME.onnx.data beside NAME.onnx (recorded in NAME.json),
    /// and the pair, moved to another folder, gives the zip's probability.</summary>
    [SkippableFact]
    public void ExternalWeightsAreWrittenAsNameOnnxData()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var zip = VitCliTests.TrainVit(dir, "external");
        var export = Pcam("export", "--model", zip, "--format", "onnx", "--name", "vit", "--output", dir["out"]);
        Assert.True(export.Code == 0, export.Err);
        Assert.Equal(["vit.json", "vit.onnx", "vit.onnx.data"], Directory.GetFiles(dir["out"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var card = JsonNode.Parse(File.ReadAllText(dir["out/vit.json"]))!;
        Assert.Equal("vit.onnx.data", (string?)card["onnx"]!["external_data"]!["file"]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dir["out/vit.onnx.data"]))), (string?)card["onnx"]!["external_data"]!["sha256"]);
        var moved = Directory.CreateDirectory(dir["moved"]).FullName;
        foreach (var f in Directory.GetFiles(dir["out"])) File.Move(f, Path.Combine(moved, Path.GetFileName(f)));
        double Probability(string model)
        {
            var predict = Pcam("predict", "--model", model, VitCliTests.Jpg, "--json");
            Assert.True(predict.Code == 0, predict.Err);
            return (double)JsonNode.Parse(predict.Out)!.AsArray()[0]!["probability"]!;
        }
        Assert.Equal(Probability(zip), Probability(Path.Combine(moved, "vit.onnx")), Tolerance);
    }

    [SkippableFact]
    public void BadInputIsOneErrorLineAndNothingIsWritten()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = models.Get("LbfgsLogisticRegression", "fp32", false);
        using var dir = new TempDir();

        // An unknown format.
        var unknown = Pcam("export", "--model", m.Zip, "--format", "tflite", "--output", dir["x"]);
        Assert.Equal(1, unknown.Code);
        AssertOneError(unknown.Err, "--format 'tflite': unknown export format");
        Assert.False(Directory.Exists(dir["x"]));

        // An output "folder" that is a file: the file is left as it was.
        File.WriteAllText(dir["file"], "mine");
        var toFile = Pcam("export", "--model", m.Zip, "--format", "onnx", "--output", dir["file"]);
        Assert.Equal(1, toFile.Code);
        AssertOneError(toFile.Err, "is a file, not a folder");
        Assert.Equal("mine", File.ReadAllText(dir["file"]));

        // A head ML.NET's converter cannot write (a GAM, which has no ONNX form): nothing in the output folder.
        var gamZip = GamHeadZip(m.Zip, dir["gam.zip"]);
        var gam = Pcam("export", "--model", gamZip, "--format", "onnx", "--output", dir["gam-out"]);
        Assert.Equal(1, gam.Code);
        AssertOneError(gam.Err, "cannot be written as ONNX");
        Assert.Contains("GamBinaryModelParameters", gam.Err);
        Assert.False(Directory.Exists(dir["gam-out"]) && Directory.EnumerateFileSystemEntries(dir["gam-out"]).Any());

        // The exported file without its NAME.json, or altered after export, is refused by predict and heatmap.
        var lone = Directory.CreateDirectory(dir["lone"]).FullName;
        File.Copy(m.Onnx, Path.Combine(lone, "m.onnx"));
        var noCard = Pcam("predict", "--model", Path.Combine(lone, "m.onnx"), models.Data.TestX);
        Assert.Equal(1, noCard.Code);
        AssertOneError(noCard.Err, "m.json is missing");
        File.Copy(Path.ChangeExtension(m.Onnx, ".json"), Path.Combine(lone, "m.json"));
        using (var f = File.OpenWrite(Path.Combine(lone, "m.onnx"))) { f.Seek(-1, SeekOrigin.End); f.WriteByte(0x7f); }
        var altered = Pcam("heatmap", "--model", Path.Combine(lone, "m.onnx"), "--output", dir["h"], "--no-tissue-mask", "--mpp", "0.972", models.Data.Pngs[0]);
        Assert.Equal(1, altered.Code);
        AssertOneError(altered.Err, "SHA-256");
    }

    static void AssertOneError(string err, string contains)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal), err);
        Assert.Contains(contains, lines[0]);
    }

    sealed class FeatureRow
    {
        public bool Label { get; set; }
        public float[] Features { get; set; } = [];
    }

    /// <summary>The zip's featurizer (and its feature-shape step) with a GAM head trained on random features.</summary>
    static string GamHeadZip(string zipPath, string path)
    {
        var ml = new MLContext(seed: 1);
        var zip = (TransformerChain<ITransformer>)PCamModel.Load(ml, zipPath, out var schema);
        var dim = ((VectorDataViewType)zip.GetOutputSchema(schema)["Features"].Type).Size;
        var rng = new Random(3);
        var rows = Enumerable.Range(0, 40).Select(i => new FeatureRow { Label = i % 2 == 0, Features = Enumerable.Range(0, dim).Select(_ => (float)rng.NextDouble() + (i % 2)).ToArray() }).ToList();
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dim);
        var gam = ml.BinaryClassification.Trainers.Gam(numberOfIterations: 5).Fit(ml.Data.LoadFromEnumerable(rows, definition));
        PCamModel.Save(ml, new TransformerChain<ITransformer>(zip.First(), zip.Skip(1).First(), gam), path);
        ((IDisposable)zip).Dispose();
        return path;
    }
}

/// <summary>
/// Node.js and onnxruntime-node for the export's JavaScript check: tests/PCam.MLNet.Tests/Node (package.json and
/// package-lock.json committed; .ci/run installs it with `npm ci`, and so does this helper when node_modules is missing).
/// Without node or the package the test skips, except with CI=true, where it fails.
/// </summary>
internal static class NodeRuntime
{
    public static string Folder => Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Node");

    /// <summary>The path of predict.js, once node and onnxruntime-node are there.</summary>
    public static string Require()
    {
        var ci = SharedSample.IsCi(Environment.GetEnvironmentVariable("CI"));
        string? problem = null;
        if (!OnPath("node") || !OnPath("npm")) problem = "node and npm are not on PATH";
        else if (!Directory.Exists(Path.Combine(Folder, "node_modules", "onnxruntime-node")))
        {
            var install = ChildProcess.RunProgram("npm", ["ci", "--no-audit", "--no-fund"], Folder, timeout: TimeSpan.FromMinutes(5));
            if (install.Code != 0) problem = $"`npm ci` in {Folder} failed: {install.Err.Trim().Split('\n').LastOrDefault()}";
        }
        if (problem is not null)
        {
            if (ci) Assert.Fail($"{problem}; CI=true, so the onnxruntime-node check fails instead of skipping.");
            Skip.If(true, problem);
        }
        return Path.Combine(Folder, "predict.js");
    }

    static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, program)));
}
