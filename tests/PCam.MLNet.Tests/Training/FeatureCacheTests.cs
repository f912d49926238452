using Microsoft.ML;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

public class FeatureCacheTests
{
    /// <summary>A source whose pixel reads fail after a number of rows, like a run killed half-way.</summary>
    private sealed class FailingSource(IPatchSource inner, long failAtRow) : IPatchSource
    {
        public bool Fail { get; set; } = true;
        public string Description => inner.Description;
        public long RowCount => inner.RowCount;
        public void ReadImages(long row, int count, Span<byte> destination)
        {
            if (Fail && row + count > failAtRow) throw new IOException("disk went away");
            inner.ReadImages(row, count, destination);
        }
        public bool GetLabel(long row) => inner.GetLabel(row);
        public long GetIndex(long row) => inner.GetIndex(row);
        public string? GetPath(long row) => inner.GetPath(row);
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void AnInterruptedRunLeavesNoCacheFileAndTheNextRunComputesAllRows()
    {
        using var dir = new TempDir();
        var ml = new MLContext(1);
        var graph = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96 });
        var source = new FailingSource(ArraySource.Generate(80, seed: 4), failAtRow: 70);
        using var data = PatchDataView.Create(source);
        var cache = new FeatureCache(ml, dir["features"]);
        var path = cache.PathFor(data, graph, "train");

        Assert.Throws<IOException>(() => cache.GetOrCompute(data, graph, () => new BatchFeaturizer(graph, ExecutionDevice.Cpu), 32, "train", null, out _));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(dir["features"]));

        source.Fail = false;
        long rows = 0;
        var features = cache.GetOrCompute(data, graph, () => new BatchFeaturizer(graph, ExecutionDevice.Cpu), 32, "train", n => rows += n, out var computed);
        Assert.True(computed);
        Assert.Equal(80, rows);
        Assert.Equal(80, features.GetRowCount());
        Assert.True(File.Exists(path));

        // A third call reads the file and computes nothing.
        cache.GetOrCompute(data, graph, () => throw new InvalidOperationException("must not featurize"), 32, "train", null, out var again);
        Assert.False(again);
    }

    [Fact]
    public void KeyChangesWithTheRowsAndTheGraph()
    {
        var g96 = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96 });
        var g96Tta = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = true });
        using var data = PatchDataView.Create(ArraySource.Generate(40, seed: 5));
        var all = FeatureCache.Key(data, g96);
        Assert.Equal(all, FeatureCache.Key(PatchDataView.Create(data.Source), g96));
        Assert.NotEqual(all, FeatureCache.Key(data.Take(20), g96));
        Assert.NotEqual(all, FeatureCache.Key(data, g96Tta));
    }
}
