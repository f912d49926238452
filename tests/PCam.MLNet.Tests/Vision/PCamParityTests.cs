using Microsoft.ML;
using PCam.MLNet.Configuration;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using PCam.MLNet.Vision;
using Xunit;
using Xunit.Abstractions;

namespace PCam.MLNet.Tests.Vision;

/// <summary>
/// The PCam sample's image folders as a 2-class folder set: the image-classification trainer against `pcam train` (the
/// same <see cref="PCamTrainer"/> run, its default head selection) on the same train, valid and test files, backbone
/// (ResNet18), size (96 px, so neither path resizes) and precision (fp32). Only the heads differ: the trainer's softmax
/// layer (early stopping on valid) and pcam train's logistic regression (L2 chosen on valid).
/// </summary>
public class PCamParityTests(ITestOutputHelper output)
{
    private const int TrainPerClass = 1000, ValidPerClass = 250, TestPerClass = 700;

    private sealed class Encoded { public byte[] Image { get; set; } = []; public string Label { get; set; } = ""; }

    /// <summary>The first files of each split and class (ordinal order), linked into a folder set of the same layout.</summary>
    private static Dictionary<string, List<(string File, int Label)>> LinkSubset(string root)
    {
        var splits = new Dictionary<string, List<(string, int)>>();
        foreach (var (split, count) in new[] { ("train", TrainPerClass), ("valid", ValidPerClass), ("test", TestPerClass) })
        {
            var rows = new List<(string, int)>();
            for (int c = 0; c < 2; c++)
            {
                var target = Directory.CreateDirectory(Path.Combine(root, split, c.ToString())).FullName;
                foreach (var file in Directory.GetFiles(Path.Combine(SharedSample.Root!, "folders", split, c.ToString())).Order(StringComparer.Ordinal).Take(count))
                {
                    var link = Path.Combine(target, Path.GetFileName(file));
                    File.CreateSymbolicLink(link, file);
                    rows.Add((link, c));
                }
            }
            splits[split] = rows;
        }
        return splits;
    }

    [SkippableFact]
    public void TwoClassFolderAccuracyIsWithinOnePointOfPCamTrain()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var splits = LinkSubset(dir["folders"]);

        // `pcam train --data folders --image-size 96 --tta false --precision fp32`.
        var config = new PCamConfig();
        config.DataSource.Directory = dir["folders"];
        config.DataSource.CacheDirectory = dir["cache"];
        config.TrainingOption.ModelPath = dir["pcam.zip"];
        config.TrainingOption.ImageSize = 96;
        config.TrainingOption.Tta = false;
        config.TrainingOption.Precision = "fp32";
        double pcamAccuracy;
        using (var result = new PCamTrainer(config, new SilentLog()).Train())
        {
            Assert.Equal(2 * TestPerClass, result.Rows["test"]);
            pcamAccuracy = result.Test!.Accuracy;
        }

        // The image-classification trainer on the same files as encoded bytes, validation set for early stopping.
        var ml = new MLContext(seed: 1);
        IDataView Encodeds(string split) =>
            ml.Data.LoadFromEnumerable(splits[split].Select(r => new Encoded { Image = File.ReadAllBytes(r.File), Label = r.Label.ToString() }));
        var key = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label").Fit(Encodeds("train"));
        var ict = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "Image", LabelColumnName = "LabelAsKey", ImageSize = 96, Precision = FeaturizerPrecision.Fp32,
            ValidationSet = key.Transform(Encodeds("valid")),
        });
        using var ictModel = ict.Fit(key.Transform(Encodeds("train")));
        var ictAccuracy = ml.MulticlassClassification.Evaluate(ictModel.Transform(key.Transform(Encodeds("test"))), labelColumnName: "LabelAsKey").MicroAccuracy;

        output.WriteLine($"PCam sample folders, {2 * TrainPerClass} train / {2 * ValidPerClass} valid / {2 * TestPerClass} test rows, ResNet18 96 px fp32: " +
                         $"pcam train {100 * pcamAccuracy:F2}%, image-classification trainer {100 * ictAccuracy:F2}% (epochs run: {ictModel.EpochsRun})");
        Assert.True(Math.Abs(ictAccuracy - pcamAccuracy) <= 0.01,
            $"image-classification trainer {ictAccuracy:P2} vs pcam train {pcamAccuracy:P2}: more than a point apart");
    }
}
