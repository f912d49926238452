using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using PCam.MLNet.Vision;
using Xunit;
using Xunit.Abstractions;

namespace PCam.MLNet.Tests.Vision;

/// <summary>
/// The PCam sample's image folders as a 2-class folder set: the image-classification trainer against the PCam estimator
/// (FeaturizePatches + logistic regression) on the same rows, backbone (ResNet18), size (96 px) and precision (fp32):
/// the decode + stretch path gives the same features (a 96 px patch is not resized), so only the heads differ.
/// </summary>
public class PCamParityTests(ITestOutputHelper output)
{
    private const int PerClass = 150, TestPerClass = 150;

    private sealed class Encoded { public byte[] Image { get; set; } = []; public string Label { get; set; } = ""; }

    private sealed class Patch
    {
        [VectorType(PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels)] public byte[] Image { get; set; } = [];
        public bool Label { get; set; }
    }

    private static List<string> Files(string split, int label, int count) =>
        Directory.GetFiles(Path.Combine(SharedSample.Root!, "folders", split, label.ToString())).Order(StringComparer.Ordinal).Take(count).ToList();

    [SkippableFact]
    public void TwoClassFolderAccuracyIsWithinOnePointOfThePCamEstimator()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var train = Enumerable.Range(0, 2).SelectMany(c => Files("train", c, PerClass).Select(f => (f, c))).ToList();
        var test = Enumerable.Range(0, 2).SelectMany(c => Files("test", c, TestPerClass).Select(f => (f, c))).ToList();
        var ml = new MLContext(seed: 1);

        // The PCam estimator path.
        IDataView Patches(List<(string File, int Label)> rows) =>
            ml.Data.LoadFromEnumerable(rows.Select(r => new Patch { Image = PatchImageDecoder.DecodeFile(r.File), Label = r.Label == 1 }));
        var pcam = ml.Transforms.FeaturizePatches(new PatchFeaturizerOptions { ImageSize = 96, Tta = false, Precision = FeaturizerPrecision.Fp32 })
            .Append(ml.Transforms.NormalizeMeanVariance("Features"))
            .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(featureColumnName: "Features"));
        using var pcamModel = pcam.Fit(Patches(train));
        var pcamAccuracy = ml.BinaryClassification.Evaluate(pcamModel.Transform(Patches(test))).Accuracy;

        // The image-classification trainer on the same files as encoded bytes.
        IDataView Encodeds(List<(string File, int Label)> rows) =>
            ml.Data.LoadFromEnumerable(rows.Select(r => new Encoded { Image = File.ReadAllBytes(r.File), Label = r.Label.ToString() }));
        var key = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label").Fit(Encodeds(train));
        var ict = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "Image", LabelColumnName = "LabelAsKey", ImageSize = 96, Precision = FeaturizerPrecision.Fp32,
            ValidationSetFraction = null, EarlyStoppingCriteria = null, Epoch = 100,
        });
        using var ictModel = ict.Fit(key.Transform(Encodeds(train)));
        var ictAccuracy = ml.MulticlassClassification.Evaluate(ictModel.Transform(key.Transform(Encodeds(test))), labelColumnName: "LabelAsKey").MicroAccuracy;

        output.WriteLine($"PCam sample folders, {2 * PerClass} train / {2 * TestPerClass} test rows, ResNet18 96 px fp32: " +
                         $"PCam estimator {100 * pcamAccuracy:F2}%, image-classification trainer {100 * ictAccuracy:F2}%");
        // Measured: estimator 76.67%, trainer 80.33% (its softmax layer trains on standardised features; the estimator's
        // logistic regression keeps ML.NET's default L2 on 300 rows). The trainer must not be worse by more than a point.
        Assert.True(ictAccuracy >= pcamAccuracy - 0.01, $"trainer {ictAccuracy:P2} is more than a point below the PCam estimator {pcamAccuracy:P2}");
    }
}
