using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using Xunit;

namespace PCam.MLNet.Tests.Api;

/// <summary>mlContext.Data.LoadFromPCam over every layout it reads.</summary>
public sealed class LoadFromPCamTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("h5", PCamSplit.Test, 256)]          // official layout, .h5.gz as downloaded
    [InlineData("folders", PCamSplit.Test, 1473)]    // <split>/<0|1>/*.jpg
    [InlineData("kaggle", PCamSplit.Train, 15)]      // train/*.tif + train_labels.csv
    public void LoadsEachLayoutOfTheRealSample(string layout, PCamSplit split, long rows)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var ml = new MLContext(seed: 1);
        var view = ml.Data.LoadFromPCam(Path.Combine(SharedSample.Root!, layout), split, new PCamDataOptions { CacheDirectory = _dir["h5"] });
        using var _ = (IDisposable)view;
        Assert.Equal(rows, view.GetRowCount());
        Assert.Equal([PatchSchema.ImageColumn, PatchSchema.LabelColumn, PatchSchema.IndexColumn], view.Schema.Select(c => c.Name));
        var labels = view.GetColumn<bool>(PatchSchema.LabelColumn).ToArray();
        Assert.Equal(rows, labels.Length);
        Assert.Contains(true, labels);
        Assert.Contains(false, labels);
        var first = view.GetColumn<VBuffer<byte>>(PatchSchema.ImageColumn).First();
        Assert.Equal(PatchSchema.ImageBytes, first.Length);
        Assert.True(first.DenseValues().Distinct().Count() > 16, "a real patch has many distinct byte values");
    }

    [Fact]
    public void LoadsUncompressedOfficialFilesAndNamesAMissingSplit()
    {
        var demo = DemoData.EnsureGenerated(_dir["demo"]);
        var ml = new MLContext(seed: 1);
        using (var valid = (IDisposable)ml.Data.LoadFromPCam(demo, PCamSplit.Valid))
            Assert.Equal(DemoData.Rows(PCamSplit.Valid), ((IDataView)valid).GetRowCount());
        var empty = Directory.CreateDirectory(_dir["empty"]).FullName;
        var e = Assert.Throws<PCamDataException>(() => ml.Data.LoadFromPCam(empty, PCamSplit.Test));
        Assert.Contains(empty, e.Message);
        Assert.Contains("split 'test' not found", e.Message);
    }
}
