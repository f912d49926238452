using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Vision;
using PCam.MLNet.Vision;
using Xunit;
using MbModel = PCam.MLNet.Tests.Export.ModelBuilderImage.MLModel1;

namespace PCam.MLNet.Tests.Export;

/// <summary>
/// `pcam export` on a zip saved from the ImageClassificationTrainer drop-in, shaped like ML.NET's sample (feature column
/// "Image", label "LabelAsKey", MapKeyToValue after the trainer): 3 classes fitted on generated images, default (int8) precision.
/// </summary>
public class ImageClassifierExportTests(ImageClassifierExportTests.IctModel m, Xunit.Abstractions.ITestOutputHelper log) : IClassFixture<ImageClassifierExportTests.IctModel>
{
    public static readonly string[] Classes = ["red", "green", "blue"];
    public const string Namespace = "PCam.MLNet.Tests.Export.ModelBuilderImage";

    /// <summary>Colour of each class (SolidPng's value), so that a solid image of it is that class.</summary>
    public static byte ClassValue(int c) => c switch { 0 => 230, 1 => 20, _ => 125 };

    /// <summary>The fitted zip and its Model Builder export (through the CLI), made once for the class.</summary>
    public sealed class IctModel : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Zip => Dir["ict.zip"];
        public string Export => Dir["mb"];
        public (int Code, string Out, string Err) Result { get; }
        /// <summary>What the trainer ran the featurizer at (int8, the default, unless its cosine check refused it).</summary>
        public string Precision { get; }

        public IctModel()
        {
            var ml = new MLContext(seed: 1);
            var rows = Enumerable.Range(0, 15).Select(i => new ImageClassificationTrainerTests.InMemoryImageData
            {
                Label = Classes[i % 3],
                Image = ImageClassificationTrainerTests.SolidPng(40 + 3 * i, 30 + i, (byte)(ClassValue(i % 3) + i / 3)),
            }).ToArray();
            var data = ml.Data.LoadFromEnumerable(rows);
            var pipeline = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label")
                .Append(ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                {
                    FeatureColumnName = "Image", LabelColumnName = "LabelAsKey", Epoch = 30, ImageSize = 96,
                    WorkspacePath = Dir["workspace"],
                }))
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));
            var model = pipeline.Fit(data);
            Precision = model.OfType<ImageClassificationModel>().Single().Precision;
            ml.Model.Save(model, data.Schema, Zip);
            ((IDisposable)model).Dispose();
            Result = CliTests.Pcam("export", "--model", Zip, "--format", "modelbuilder", "--name", "MLModel1", "--namespace", Namespace, "--output", Export);
        }

        public void Dispose() => Dir.Dispose();
    }

    /// <summary>Solid images of each class plus noisy ones of odd sizes (probabilities away from 0 and 1).</summary>
    static List<byte[]> Images()
    {
        var images = Enumerable.Range(0, 3).Select(c => ImageClassificationTrainerTests.SolidPng(70, 50, ClassValue(c))).ToList();
        var rng = new Random(3);
        foreach (var (w, h) in new[] { (33, 97), (128, 72), (96, 96) })
        {
            var rgb = new byte[w * h * 3];
            rng.NextBytes(rgb);
            images.Add(PCam.MLNet.Data.PatchImageEncoder.EncodePng(rgb, w, h));
        }
        return images;
    }

    [Fact]
    public void ExportWritesModelBuildersImageScenarioFiles()
    {
        Assert.True(m.Result.Code == 0, m.Result.Err);
        foreach (var ext in new[] { ".mlnet", ".mbconfig", ".consumption.cs", ".config.json" })
            Assert.True(File.Exists(Path.Combine(m.Export, "MLModel1" + ext)), ext);
        Assert.False(File.Exists(Path.Combine(m.Export, "MLModel1.metrics.json"))); // the zip records no training run
        Assert.Empty(Directory.GetFiles(m.Export, ".*"));
        Assert.Contains(Path.Combine(m.Export, "MLModel1.mlnet"), m.Result.Out);

        var mb = JsonNode.Parse(File.ReadAllText(Path.Combine(m.Export, "MLModel1.mbconfig")))!;
        var skeleton = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Export", "Fixtures",
            "mbconfig-v5-image-classification.skeleton.json")));
        Assert.Empty(MbConfigTests.Differences(skeleton, mb));
        Assert.Empty(MbConfigTests.PipelineDifferences(mb));
        Assert.Equal("ImageClassification", (string?)mb["Scenario"]);
        var history = mb["RunHistory"]!;
        Assert.Equal(["MapValueToKey", "ImageClassificationMulti", "MapKeyToValue"], history["Estimators"]!.AsObject().Select(kv => (string)kv.Value!));
        Assert.Equal("ImageClassificationMulti", (string?)history["Trials"]![0]!["TrainerName"]);
        Assert.Equal("ImageSource", (string?)history["Trials"]![0]!["Parameter"]!["e1"]!["FeatureColumnName"]);
        Assert.Equal(Path.Combine(m.Export, "MLModel1.mlnet"), (string?)history["ModelFilePath"]);

        var facts = JsonNode.Parse(File.ReadAllText(Path.Combine(m.Export, "MLModel1.config.json")))!;
        Assert.Equal(Classes, facts["classes"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(96, (int)facts["backbone"]!["imageSize"]!);
        Assert.Equal(m.Precision, (string?)facts["backbone"]!["precision"]);
        Assert.Contains("Epoch", facts["notRecorded"]!.AsArray().Select(c => (string)c!));

        // The .mlnet holds the trainer's steps, so pcam inspect describes it as it describes the zip.
        var inspect = CliTests.Pcam("inspect", Path.Combine(m.Export, "MLModel1.mlnet"));
        Assert.True(inspect.Code == 0, inspect.Err);
        Assert.Contains("Classes (3): red, green, blue", inspect.Out);
        Assert.Contains("ImageSource: Vector<Byte>[variable]", inspect.Out);
    }

    [Fact]
    public void TheConsumptionCodeIsTheCompiledFixture()
    {
        Assert.True(m.Result.Code == 0, m.Result.Err);
        // Fixtures/MLModel1.consumption.cs is compiled into this assembly; the test below scores through its classes.
        var committed = File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Export", "Fixtures", "MLModel1.consumption.cs"));
        Assert.Equal(committed.ReplaceLineEndings("\n"), File.ReadAllText(Path.Combine(m.Export, "MLModel1.consumption.cs")));
        Assert.Equal(ConsumptionCode.GenerateImageClassifier(Namespace, "MLModel1", Classes).TrimEnd() + "\n", committed.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void TheMlnetScoresEncodedBytesLikeTheZipThroughModelBuildersClasses()
    {
        Assert.True(m.Result.Code == 0, m.Result.Err);
        var zipContext = new MLContext(seed: 2);
        var zip = zipContext.Model.Load(m.Zip, out _);
        using var zipEngine = zipContext.Model.CreatePredictionEngine<ImageClassificationTrainerTests.InMemoryImageData, ImageClassificationTrainerTests.ImagePrediction>(zip);
        var fresh = new MLContext(seed: 3);
        var mlnet = fresh.Model.Load(Path.Combine(m.Export, "MLModel1.mlnet"), out var inputSchema);
        Assert.Equal(["Label", "ImageSource"], inputSchema.Select(c => c.Name));
        using var engine = fresh.Model.CreatePredictionEngine<MbModel.ModelInput, MbModel.ModelOutput>(mlnet);
        var keys = default(VBuffer<ReadOnlyMemory<char>>);
        engine.OutputSchema["Label"].GetKeyValues(ref keys);
        Assert.Equal(Classes, keys.DenseValues().Select(k => k.ToString()));

        var images = Images();
        for (var i = 0; i < images.Count; i++)
        {
            var expected = zipEngine.Predict(new ImageClassificationTrainerTests.InMemoryImageData { Image = images[i] });
            var actual = engine.Predict(new MbModel.ModelInput { ImageSource = images[i], Label = Classes[0] });
            Assert.Equal(3, actual.Score.Length);
            Assert.InRange(actual.Score.Sum(), 0.999f, 1.001f);
            for (var c = 0; c < 3; c++) Assert.InRange(Math.Abs(actual.Score[c] - expected.Score[c]), 0, 1e-4);
            Assert.Equal(expected.PredictedLabel, actual.PredictedLabel);
            Assert.Equal(1u, actual.Label); // "red": Model Builder's Label key, 1-based
            if (i < 3) Assert.Equal(Classes[i], actual.PredictedLabel);
        }
    }

    [Fact]
    public void TheOnnxGraphGivesTheZipsProbabilitiesOnDecodedPixels()
    {
        var output = m.Dir["onnx"];
        var (code, stdout, err) = CliTests.Pcam("export", "--model", m.Zip, "--format", "onnx", "--name", "ict", "--output", output);
        Assert.True(code == 0, err);
        Assert.Contains(Path.Combine(output, "ict.onnx"), stdout);
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "ict.json")))!;
        Assert.Equal(Classes, card["class_names"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(3, (int)card["num_classes"]!);
        Assert.Equal(["N", "96", "96", "3"], card["input"]!["shape"]!.AsArray().Select(d => d!.ToString()));
        Assert.Equal("image", (string?)card["input"]!["name"]);

        var ml = new MLContext(seed: 2);
        var zip = ml.Model.Load(m.Zip, out _);
        using var zipEngine = ml.Model.CreatePredictionEngine<ImageClassificationTrainerTests.InMemoryImageData, ImageClassificationTrainerTests.ImagePrediction>(zip);
        var images = Images();
        // The consumer's side: decode and stretch to 96x96 RGB (the rule NAME.json states), uint8 NHWC.
        var pixels = images.SelectMany(b => ImageDecoding.DecodeStretched(b, 96, null)).ToArray();
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(Path.Combine(output, "ict.onnx"));
        using var input = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(pixels, [images.Count, 96, 96, 3]);
        using var run = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var outputs = session.Run(run, ["image"], [input], ["scores"]);
        var scores = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(images.Count * 3, scores.Length);
        for (var i = 0; i < images.Count; i++)
        {
            var expected = zipEngine.Predict(new ImageClassificationTrainerTests.InMemoryImageData { Image = images[i] });
            var row = scores.AsSpan(i * 3, 3).ToArray();
            log.WriteLine($"image {i}: onnx [{string.Join(", ", row.Select(p => p.ToString("F6")))}], zip [{string.Join(", ", expected.Score.Select(p => p.ToString("F6")))}], max |d| {row.Select((p, c) => Math.Abs(p - expected.Score[c])).Max():G2}");
            Assert.InRange(row.Sum(), 0.999f, 1.001f);
            for (var c = 0; c < 3; c++) Assert.InRange(Math.Abs(row[c] - expected.Score[c]), 0, 1e-4);
            Assert.Equal(expected.PredictedLabel, Classes[Array.IndexOf(row, row.Max())]);
        }

        // pcam predict runs exported patch models only: this one is refused with one line, not an ONNX Runtime trace.
        var png = m.Dir["red.png"];
        File.WriteAllBytes(png, images[0]);
        var predict = CliTests.Pcam("predict", "--model", Path.Combine(output, "ict.onnx"), png);
        Assert.NotEqual(0, predict.Code);
        Assert.StartsWith("error:", predict.Err.Trim());
        Assert.Single(predict.Err.Trim().Split('\n'));
        Assert.Contains("'probability' output", predict.Err);
    }

    [Fact]
    public void ACorruptZipIsOneErrorLineAndNothingIsWritten()
    {
        var bytes = File.ReadAllBytes(m.Zip);
        var corrupt = m.Dir["corrupt.zip"];
        File.WriteAllBytes(corrupt, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        var output = m.Dir["corrupt-export"];
        var (code, _, err) = CliTests.Pcam("export", "--model", corrupt, "--format", "modelbuilder", "--output", output);
        Assert.NotEqual(0, code);
        Assert.StartsWith("error:", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains(corrupt, err);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
    }
}
