using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Vision;
using Xunit;
using Xunit.Abstractions;

namespace PCam.MLNet.Tests.Vision;

/// <summary>The trainer driven by the code of ML.NET's image-classification sample, with only the using line changed.</summary>
public class ImageClassificationTrainerTests(ITestOutputHelper output)
{
    public sealed class ImageData
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class InMemoryImageData
    {
        public byte[] Image { get; set; } = [];
        public string Label { get; set; } = "";
        public string ImageFileName { get; set; } = "";
    }

    public sealed class ImagePrediction
    {
        public float[] Score { get; set; } = [];
        public string PredictedLabel { get; set; } = "";
    }

    private static string? Kather => SharedSample.Root is { } r ? Path.Combine(Path.GetDirectoryName(r)!, "kather2016-sample") : null;

    internal static IEnumerable<ImageData> LoadImagesFromDirectory(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".tif", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .Select(f => new ImageData { ImagePath = f, Label = Directory.GetParent(f)!.Name });

    [SkippableFact]
    public void KatherEightClassesTrainEvaluateSaveAndReload()
    {
        Skip.If(Kather is null, SharedSample.Missing);
        var ml = new MLContext(seed: 1);
        var images = ml.Data.LoadFromEnumerable(LoadImagesFromDirectory(Kather!));
        var shuffled = ml.Data.ShuffleRows(images, seed: 1);
        var prepared = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath"))
            .Fit(shuffled).Transform(shuffled);
        var split = ml.Data.TrainTestSplit(prepared, testFraction: 0.3, seed: 1);
        var epochs = new List<ImageClassificationTrainer.TrainMetrics>();
        int bottlenecks = 0;
        var options = new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "Image",
            LabelColumnName = "LabelAsKey",
            ValidationSet = split.TestSet,
            Arch = ImageClassificationTrainer.Architecture.ResNet18,
            MetricsCallback = m => { if (m.Train is { } t) epochs.Add(t); else bottlenecks++; },
            TestOnTrainSet = false,
            ReuseTrainSetBottleneckCachedValues = true,
            ReuseValidationSetBottleneckCachedValues = true,
        };
        var pipeline = ml.MulticlassClassification.Trainers.ImageClassification(options)
            .Append(ml.Transforms.Conversion.MapKeyToValue(outputColumnName: "PredictedLabel", inputColumnName: "PredictedLabel"));
        using var trained = pipeline.Fit(split.TrainSet);
        // As the sample: Evaluate reads the key column the trainer wrote (MapKeyToValue's string column hides it by name only).
        var metrics = ml.MulticlassClassification.Evaluate(trained.First().Transform(split.TestSet), labelColumnName: "LabelAsKey", predictedLabelColumnName: "PredictedLabel");
        var fitted = trained.First() as ImageClassificationModel;
        output.WriteLine($"kather2016-sample, 8 classes, seeded 70/30 split (seed 1): accuracy {metrics.MacroAccuracy:F3} macro, {metrics.MicroAccuracy:F3} micro; " +
                         $"epochs {epochs.Count(e => e.DatasetUsed == ImageClassificationTrainer.ImageClassificationMetrics.Dataset.Validation)}; {fitted?.Precision} ({fitted?.PrecisionReason})");
        Assert.True(bottlenecks > 0);
        Assert.NotEmpty(epochs);
        Assert.True(metrics.MicroAccuracy > 0.6, $"accuracy {metrics.MicroAccuracy}");

        using var dir = new TempDir();
        var zip = dir["model.zip"];
        ml.Model.Save(trained, split.TrainSet.Schema, zip);
        var fresh = new MLContext();
        var loaded = fresh.Model.Load(zip, out _);
        var a = Scores(ml, trained, split.TestSet);
        var b = Scores(fresh, loaded, split.TestSet);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(8, a[i].Length);
            Assert.InRange(a[i].Sum(), 0.999f, 1.001f);
            for (int c = 0; c < 8; c++) Assert.InRange(Math.Abs(a[i][c] - b[i][c]), 0, 1e-4);
        }

        // The sample's Predict project: a PredictionEngine on in-memory bytes.
        var engine = fresh.Model.CreatePredictionEngine<InMemoryImageData, ImagePrediction>(loaded);
        var file = LoadImagesFromDirectory(Kather!).First(f => f.Label == "07_ADIPOSE");
        var p = engine.Predict(new InMemoryImageData { Image = File.ReadAllBytes(file.ImagePath), ImageFileName = Path.GetFileName(file.ImagePath) });
        Assert.Equal(8, p.Score.Length);
        output.WriteLine($"{Path.GetFileName(file.ImagePath)}: predicted {p.PredictedLabel} ({p.Score.Max():F3})");
    }

    private static List<float[]> Scores(MLContext ml, ITransformer model, IDataView data) =>
        ml.Data.CreateEnumerable<ScoreRow>(model.Transform(data), reuseRowObject: false).Select(r => r.Score).ToList();

    private sealed class ScoreRow { public float[] Score { get; set; } = []; }

    [Fact]
    public void AnUndecodableImageNamesItsRow()
    {
        var ml = new MLContext(seed: 1);
        var rows = new[]
        {
            new InMemoryImageData { Image = SolidPng(40, 30, 200), Label = "a" },
            new InMemoryImageData { Image = SolidPng(50, 20, 20), Label = "b" },
            new InMemoryImageData { Image = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3], Label = "a" },
        };
        var data = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        var trainer = ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "LabelAsKey", featureColumnName: "Image");
        var e = Assert.Throws<PCamDataException>(() => trainer.Fit(data));
        Assert.Contains("train row 2", e.Message);
        Assert.Contains("cannot decode", e.Message);
    }

    [Fact]
    public void MlNetsOtherArchitecturesFailNamingWhatIsAvailable()
    {
        var ml = new MLContext(seed: 1);
        var rows = new[] { new InMemoryImageData { Image = SolidPng(8, 8, 1), Label = "a" }, new InMemoryImageData { Image = SolidPng(8, 8, 2), Label = "b" } };
        var data = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        var trainer = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "Image", LabelColumnName = "LabelAsKey", Arch = ImageClassificationTrainer.Architecture.InceptionV3,
        });
        var e = Assert.Throws<PCamBackboneException>(() => trainer.Fit(data));
        Assert.Contains("InceptionV3", e.Message);
        Assert.Contains("ResNet18", e.Message);
        Assert.Contains("export_backbone.py", e.Message);
    }

    [Fact]
    public void StretchIsTheGraphsHalfPixelBilinearResize()
    {
        // 2x2 -> 4x4 with half-pixel centres: the corners keep their values, the inner samples interpolate 1/4 and 3/4.
        byte[] src = [0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40];
        var dst = new byte[4 * 4 * 3];
        ImageDecoding.Stretch(src, 2, 2, dst, 4);
        Assert.Equal(0, dst[0]);
        Assert.Equal(25, dst[3]);
        Assert.Equal(75, dst[6]);
        Assert.Equal(100, dst[9]);
    }

    internal static byte[] SolidPng(int w, int h, byte value)
    {
        using var bitmap = new SkiaSharp.SKBitmap(w, h);
        bitmap.Erase(new SkiaSharp.SKColor(value, (byte)(255 - value), (byte)(value / 2)));
        using var image = SkiaSharp.SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}

/// <summary>The training code Model Builder generates for its image scenario, with only the using line changed.</summary>
public class ModelBuilderImageScenarioTests
{
    public sealed class ModelInput
    {
        public string Label { get; set; } = "";
        public byte[] ImageSource { get; set; } = [];
    }

    [Fact]
    public void GeneratedPipelineTrainsAndReusesCachedBottlenecks()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 12).Select(i => new ModelInput
        {
            Label = i % 2 == 0 ? "red" : "green",
            ImageSource = ImageClassificationTrainerTests.SolidPng(60 + i, 45, (byte)(i % 2 == 0 ? 230 - i : 20 + i)),
        }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var dir = new TempDir();
        int bottlenecks = 0;
        // Model Builder's BuildPipeline, plus options this engine reads (fp32 and a workspace for the cache).
        IEstimator<ITransformer> Pipeline(bool reuse) => ml.Transforms.Conversion.MapValueToKey(outputColumnName: "Label", inputColumnName: "Label")
            .Append(ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "ImageSource", Epoch = 20, Precision = PCam.MLNet.Featurization.FeaturizerPrecision.Fp32,
                ImageSize = 96, WorkspacePath = dir.Path, ReuseTrainSetBottleneckCachedValues = reuse,
                MetricsCallback = m => { if (m.Bottleneck is not null) bottlenecks++; },
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue(outputColumnName: "PredictedLabel", inputColumnName: "PredictedLabel"));
        using (var first = (IDisposable)Pipeline(reuse: false).Fit(data)) { }
        Assert.Equal(12, bottlenecks);
        Assert.True(File.Exists(Path.Combine(dir.Path, "trainSetBottleneckFile.csv")));
        bottlenecks = 0;
        var model = Pipeline(reuse: true).Fit(data);
        Assert.Equal(0, bottlenecks);
        var engine = ml.Model.CreatePredictionEngine<ModelInput, ImageClassificationTrainerTests.ImagePrediction>(model);
        Assert.Equal("red", engine.Predict(new ModelInput { ImageSource = ImageClassificationTrainerTests.SolidPng(80, 80, 225) }).PredictedLabel);
        Assert.Equal("green", engine.Predict(new ModelInput { ImageSource = ImageClassificationTrainerTests.SolidPng(80, 80, 25) }).PredictedLabel);
        ((IDisposable)model).Dispose();

        // The simple overload Model Builder calls compiles with ML.NET's parameter names.
        _ = ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource");
    }
}
