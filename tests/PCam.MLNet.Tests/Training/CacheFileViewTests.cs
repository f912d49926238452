using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.Benchmarks;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Training;

public class CacheFileViewTests
{
    private static (string Path, FeatureTable Table) Write(TempDir dir, MLContext ml, int rows, int dim)
    {
        var table = HeadBenchmark.Generate(rows, dim, seed: 3, stream: 0);
        var path = dir["features.idv"];
        using (var f = File.Create(path)) ml.Data.SaveAsBinary(table, f, keepHidden: false);
        return (path, table);
    }

    [Fact]
    public void ReadsTheSameRowsAsMlNetsOwnLoaderEveryPass()
    {
        using var dir = new TempDir();
        var ml = new MLContext(1);
        var (path, written) = Write(dir, ml, rows: 3_000, dim: 17);
        var view = new CacheFileView(ml, path);

        Assert.Equal(3_000, view.GetRowCount());
        Assert.Equal([FeatureTable.FeaturesColumn, PatchSchema.LabelColumn, PatchSchema.IndexColumn], view.Schema.Select(c => c.Name));
        Assert.Equal(17, ((VectorDataViewType)view.Schema[FeatureTable.FeaturesColumn].Type).Size);
        // Two passes (each opens its own loader) give the table that was written, row for row.
        for (var pass = 0; pass < 2; pass++)
        {
            var read = FeatureTable.Load(view);
            AssertSameRows(written, read);
        }
        // Downstream ML.NET transforms work over it as over the loader itself.
        var normalized = ml.Transforms.NormalizeMeanVariance(FeatureTable.FeaturesColumn).Fit(view).Transform(view);
        var reference = ml.Transforms.NormalizeMeanVariance(FeatureTable.FeaturesColumn).Fit(ml.Data.LoadFromBinary(path))
            .Transform(ml.Data.LoadFromBinary(path));
        AssertSameRows(reference, normalized);
    }

    [SkippableFact]
    public void ACursorReleasesTheFileWhenDisposed()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Open files are counted through /proc/self/fd.");
        using var dir = new TempDir();
        var ml = new MLContext(1);
        var (path, _) = Write(dir, ml, rows: 500, dim: 8);
        var view = new CacheFileView(ml, path);
        Assert.Equal(0, OpenHandles(path));
        using (var cursor = view.GetRowCursor(view.Schema))
        {
            Assert.True(cursor.MoveNext());
            Assert.True(OpenHandles(path) >= 1);
        }
        Assert.Equal(0, OpenHandles(path));
    }

    private static int OpenHandles(string path)
    {
        var full = Path.GetFullPath(path);
        var n = 0;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try { if (new FileInfo(fd).LinkTarget == full) n++; }
            catch (IOException) { } // closed while listing
        }
        return n;
    }

    private static void AssertSameRows(IDataView expected, IDataView actual)
    {
        var (e, a) = (Rows(expected), Rows(actual));
        Assert.Equal(e.Features, a.Features);
        Assert.Equal(e.Labels, a.Labels);
        Assert.Equal(e.Indices, a.Indices);
    }

    /// <summary>Every feature value (row-major), label and index of a view, compared element by element.</summary>
    private static (float[] Features, bool[] Labels, long[] Indices) Rows(IDataView view)
    {
        var s = view.Schema;
        var (features, labels, indices) = (new List<float>(), new List<bool>(), new List<long>());
        using var c = view.GetRowCursor(s);
        var f = c.GetGetter<VBuffer<float>>(s[FeatureTable.FeaturesColumn]);
        var l = c.GetGetter<bool>(s[PatchSchema.LabelColumn]);
        var i = c.GetGetter<long>(s[PatchSchema.IndexColumn]);
        VBuffer<float> buf = default;
        bool label = false;
        long index = 0;
        while (c.MoveNext())
        {
            f(ref buf);
            l(ref label);
            i(ref index);
            features.AddRange(buf.DenseValues());
            labels.Add(label);
            indices.Add(index);
        }
        return (features.ToArray(), labels.ToArray(), indices.ToArray());
    }
}
