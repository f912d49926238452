using System.IO.Compression;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Featurization;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Tests.Slides;

/// <summary>
/// Views at scoring time: two models trained on the same generated rows with a tiny random ViT (not rotation invariant,
/// so its 8 views differ), one with 8-view TTA and one without. The 8-view zip scored with one view runs exactly the
/// one-view model's featurizer.
/// </summary>
public sealed class ScoringViewsTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    string Train(string backbone, string data, bool tta)
    {
        var config = new PCamConfig();
        config.DataSource.Directory = data;
        config.DataSource.CacheDirectory = _dir["cache"];
        config.TrainingOption.Backbone = backbone;
        config.TrainingOption.ImageSize = 32;
        config.TrainingOption.Tta = tta;
        config.TrainingOption.Lbfgs.L2Regularization = [10];
        config.TrainingOption.ModelPath = _dir[tta ? "models/eight.zip" : "models/one.zip"];
        using var result = new PCamTrainer(config, new SilentLog()).Train();
        return config.TrainingOption.ModelPath;
    }

    static float[] Features(WindowModel m, byte[] pixels, int n)
    {
        var features = new float[n * m.FeatureDimension];
        m.Featurizer.Featurize(pixels, n, features);
        return features;
    }

    [Fact]
    public void OneViewOfAnEightViewZipIsTheOneViewModelsFeaturizer()
    {
        var backbone = TinyVits.Write(_dir.Path, "vit");
        var data = _dir["data"];
        Directory.CreateDirectory(data);
        foreach (var (split, rows, seed) in new[] { (PCamSplit.Train, 64, 1), (PCamSplit.Valid, 32, 2), (PCamSplit.Test, 32, 3) })
            PCamImporter.Write(ArraySource.Generate(rows, seed), Path.Combine(data, PCamChecksums.FileStem(split, 'x') + ".h5"),
                Path.Combine(data, PCamChecksums.FileStem(split, 'y') + ".h5"));
        var eight = Train(backbone, data, tta: true);
        var one = Train(backbone, data, tta: false);
        Assert.Contains(PCamModel.SingleViewGraph, ModelZip.GraphNames(eight));
        Assert.DoesNotContain(PCamModel.SingleViewGraph, ModelZip.GraphNames(one)); // its own graph is the single view

        const int N = 12;
        var pixels = new byte[N * PatchSchema.ImageBytes];
        new Random(5).NextBytes(pixels);
        using var asOne = WindowModel.Load(eight, ExecutionDevice.Cpu, views: 1);
        using var asEight = WindowModel.Load(eight, ExecutionDevice.Cpu, views: 8);
        using var oneView = WindowModel.Load(one, ExecutionDevice.Cpu);
        using var scoringDefault = WindowModel.Load(eight, ExecutionDevice.Cpu);
        Assert.Equal((1, 8), (asOne.Views, asOne.TrainedViews));
        Assert.Equal((1, 8), (scoringDefault.Views, scoringDefault.TrainedViews)); // the slide-scoring default: its single-view graph
        Assert.Equal((8, 8), (asEight.Views, asEight.TrainedViews));
        Assert.Equal((1, 1), (oneView.Views, oneView.TrainedViews));

        var reference = Features(oneView, pixels, N);
        var single = Features(asOne, pixels, N);
        var averaged = Features(asEight, pixels, N);
        for (int k = 0; k < reference.Length; k++) Assert.True(Math.Abs(single[k] - reference[k]) <= 1e-6, $"feature {k}: {single[k]} vs one-view model {reference[k]}");
        Assert.True(averaged.Zip(reference).Max(p => Math.Abs(p.First - p.Second)) > 1e-3, "the 8 views should differ from one view on this backbone");

        // 8 views need a TTA model; a TTA zip from before the single-view entry cannot score one view: one clear error each.
        var e = Assert.Throws<PCamModelException>(() => WindowModel.Load(one, ExecutionDevice.Cpu, views: 8));
        Assert.Contains("one view", e.Message);
        Assert.Contains(one, e.Message);
        var old = _dir["models/old.zip"];
        File.Copy(eight, old);
        using (var zip = ZipFile.Open(old, ZipArchiveMode.Update))
        {
            zip.Entries.Single(e => e.FullName.Contains(PCamModel.SingleViewGraph, StringComparison.Ordinal)).Delete();
            zip.GetEntry(ModelZip.ManifestEntry)!.Delete();
        }
        e = Assert.Throws<PCamModelException>(() => WindowModel.Load(old, ExecutionDevice.Cpu, views: 1));
        Assert.Contains(PCamModel.SingleViewGraph, e.Message);
        Assert.Contains("HeatmapOptions.Views 8", e.Message);
        using var oldEight = WindowModel.Load(old, ExecutionDevice.Cpu);
        Assert.Equal(8, oldEight.Views); // without its single-view graph the default is the zip's own views
    }
}
