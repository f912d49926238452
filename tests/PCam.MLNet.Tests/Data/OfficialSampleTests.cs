using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PureHDF;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>Round trips against the real sample `shared/pcam-sample/h5/*.h5.gz` (checked by its checksums.md5).</summary>
public sealed class OfficialSampleTests : IDisposable
{
    private readonly TempDir _cache = new();
    private PCamDataOptions Options(List<string>? stages = null) => new()
    {
        CacheDirectory = _cache.Path,
        Progress = stages == null ? null : new SyncProgress(p => stages.Add(p.Stage)),
    };
    public void Dispose() => _cache.Dispose();

    private sealed class SyncProgress(Action<(string Stage, long Done, long Total)> a) : IProgress<(string Stage, long Done, long Total)>
    {
        public void Report((string Stage, long Done, long Total) value) => a(value);
    }

    [SkippableTheory]
    [InlineData(PCamSplit.Train, 512)]
    [InlineData(PCamSplit.Valid, 256)]
    [InlineData(PCamSplit.Test, 256)]
    public void Opens_split_with_row_count_labels_and_pixels_equal_to_PureHDF(PCamSplit split, int rows)
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        Assert.Equal(PatchSourceKind.OfficialHdf5, PCamData.Detect(SharedSample.H5));
        Assert.True(PCamData.HasSplit(SharedSample.H5, split));
        using var view = PCamData.Open(SharedSample.H5, split, Options());
        Assert.Equal(rows, view.GetRowCount());
        var source = Assert.IsType<Hdf5PatchSource>(view.Source);
        Assert.StartsWith("contiguous", source.ReadMode);

        using var xf = H5File.OpenRead(source.XPath);
        using var yf = H5File.OpenRead(source.YPath);
        var y = yf.Dataset("y").Read<byte[]>();
        using var cursor = view.GetRowCursor(view.Schema);
        var rowsRead = ViewReader.IndexAndLabels(cursor);
        Assert.Equal(Enumerable.Range(0, rows).Select(i => (long)i), rowsRead.Select(r => r.Index));
        Assert.Equal(y.Select(b => b == 1), rowsRead.Select(r => r.Label));
        Assert.InRange(y.Count(b => b == 1), rows / 4, rows * 3 / 4); // "about half each class"

        var images = ViewReader.Images(view);
        var xds = xf.Dataset("x");
        foreach (var r in new long[] { 0, 1, rows / 2, rows - 1 })
            Assert.Equal(ContiguousRowReader.ReadRowWithPureHdf(xds, r), images[r]);
    }

    [SkippableFact]
    public void SecondOpenReusesDecompressedFileAndChecksumStamps()
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        var first = new List<string>();
        using (PCamData.Open(SharedSample.H5, PCamSplit.Valid, Options(first))) { }
        Assert.Contains(first, s => s.StartsWith("decompress"));
        var cacheDir = GzipCache.ResolveCacheDirectory(Path.Combine(SharedSample.H5, "camelyonpatch_level_2_split_valid_x.h5.gz"), _cache.Path);
        Assert.StartsWith(_cache.Path, cacheDir); // a sub-folder keyed by the data folder's full path
        Assert.True(File.Exists(Path.Combine(cacheDir, ChecksumStamps.FileName)));
        var cached = Path.Combine(cacheDir, "camelyonpatch_level_2_split_valid_x.h5");
        var mtime = File.GetLastWriteTimeUtc(cached);
        var second = new List<string>();
        using (var v = PCamData.Open(SharedSample.H5, PCamSplit.Valid, Options(second))) Assert.Equal(256, v.GetRowCount());
        Assert.Empty(second); // neither decompression nor hashing again
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(cached));
    }

    [SkippableFact]
    public void RandomOrderCursorReturnsEachIndexOnceAndIsRepeatable()
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Train, Options());
        List<long> Run(int seed)
        {
            using var c = view.GetRowCursor(view.Schema, new Random(seed));
            return ViewReader.IndexAndLabels(c).Select(r => r.Index).ToList();
        }
        var a = Run(7);
        Assert.Equal(Enumerable.Range(0, 512).Select(i => (long)i), a.Order());
        Assert.NotEqual(Enumerable.Range(0, 512).Select(i => (long)i), a);
        Assert.Equal(a, Run(7));
        Assert.NotEqual(a, Run(8));

        // Pixels follow their row in random order too.
        var seq = ViewReader.Images(view);
        var shuffled = ViewReader.Images(view, new Random(3));
        Assert.All(seq, kv => Assert.Equal(kv.Value, shuffled[kv.Key]));
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void CursorSetCoversEveryRowOnce(bool shuffled)
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, Options());
        var cursors = view.GetRowCursorSet(view.Schema, 3, shuffled ? new Random(1) : null);
        Assert.Equal(3, cursors.Length);
        var all = new List<long>();
        var images = new List<byte[]>();
        foreach (var c in cursors)
        {
            var img = c.GetGetter<VBuffer<byte>>(view.Schema[PatchSchema.ImageColumn]);
            var idx = c.GetGetter<long>(view.Schema[PatchSchema.IndexColumn]);
            VBuffer<byte> v = default; long i = 0;
            while (c.MoveNext()) { img(ref v); idx(ref i); all.Add(i); images.Add(v.DenseValues().ToArray()); }
            c.Dispose();
        }
        Assert.Equal(Enumerable.Range(0, 256).Select(i => (long)i), all.Order());
        var seq = ViewReader.Images(view);
        for (int k = 0; k < all.Count; k++) Assert.Equal(seq[all[k]], images[k]);
    }

    [SkippableFact]
    public void InactiveImageColumnReadsNoPixelsAndGetterReusesBuffer()
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        using var opened = PCamData.Open(SharedSample.H5, PCamSplit.Valid, Options());
        var counting = new CountingSource(opened.Source);
        var view = PatchDataView.Create(counting);
        var s = view.Schema;
        using (var c = view.GetRowCursor([s[PatchSchema.LabelColumn], s[PatchSchema.IndexColumn]]))
        {
            Assert.False(c.IsColumnActive(s[PatchSchema.ImageColumn]));
            Assert.Throws<InvalidOperationException>(() => c.GetGetter<VBuffer<byte>>(s[PatchSchema.ImageColumn]));
            Assert.Equal(256, ViewReader.IndexAndLabels(c).Count);
        }
        Assert.Equal(0, counting.ReadCalls);

        using (var c = view.GetRowCursor(s))
        {
            var img = c.GetGetter<VBuffer<byte>>(s[PatchSchema.ImageColumn]);
            var mine = new byte[PatchSchema.ImageBytes];
            var v = new VBuffer<byte>(PatchSchema.ImageBytes, mine);
            while (c.MoveNext())
            {
                img(ref v);
                Assert.Equal(PatchSchema.ImageBytes, v.Length);
                Assert.True(v.IsDense);
                Assert.True(v.GetValues().SequenceEqual(mine)); // written into the caller's array, not a new one
            }
            Assert.Contains(mine, b => b != 0);
        }
        Assert.Equal(1, counting.ReadCalls); // 256 rows = one batch
    }

    [SkippableFact]
    public void TakeAndSampleBalancedSelectRowsWithoutCopying()
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Train, Options());
        var take = view.Take(10);
        Assert.Equal(10, take.GetRowCount());
        Assert.Same(view.Source, take.Source);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), take.Rows!);

        var sample = view.SampleBalanced(100, seed: 5);
        Assert.Equal(100, sample.GetRowCount());
        Assert.Equal(sample.Rows!.Order(), sample.Rows!);
        Assert.Equal(100, sample.Rows!.Distinct().Count());
        Assert.Equal(50, sample.Rows!.Count(r => view.Source.GetLabel(r)));
        Assert.Equal(sample.Rows, view.SampleBalanced(100, seed: 5).Rows);
        var seq = ViewReader.Images(view);
        var sub = ViewReader.Images(sample);
        Assert.All(sub, kv => Assert.Equal(seq[kv.Key], kv.Value));
        sample.Dispose(); // a derived view does not close the shared source
        Assert.Single(ViewReader.Images(view.Take(1)));
    }
}
