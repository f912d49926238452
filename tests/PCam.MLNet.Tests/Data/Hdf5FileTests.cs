using PCam.MLNet.Data;
using PureHDF;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>Files written by the tests: layouts that must read back identical, and bad inputs that must fail clearly.</summary>
public sealed class Hdf5FileTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static string X(PCamSplit s) => PCamChecksums.FileStem(s, 'x') + ".h5";
    private static string Y(PCamSplit s) => PCamChecksums.FileStem(s, 'y') + ".h5";
    private PCamDataOptions Opts => new() { CacheDirectory = _dir["cache"] };

    private ArraySource WriteSplit(int rows, Hdf5WriteOptions? options = null, PCamSplit split = PCamSplit.Train)
    {
        var src = ArraySource.Generate(rows);
        PCamImporter.Write(src, _dir[X(split)], _dir[Y(split)], options);
        return src;
    }

    private static void AssertSame(ArraySource expected, PatchDataView view, Random? rand = null)
    {
        Assert.Equal(expected.RowCount, view.GetRowCount());
        var images = ViewReader.Images(view, rand);
        Assert.Equal((int)expected.RowCount, images.Count);
        foreach (var (i, img) in images) Assert.True(expected.Image(i).SequenceEqual(img), $"row {i} differs");
        for (long r = 0; r < expected.RowCount; r++) Assert.Equal(expected.GetLabel(r), view.Source.GetLabel(r));
    }

    [Fact]
    public void ContiguousFileReadsBackIdenticalByPositionalReads()
    {
        var src = WriteSplit(300);
        using var view = PCamData.Open(_dir.Path, PCamSplit.Train, Opts);
        Assert.StartsWith("contiguous", ((Hdf5PatchSource)view.Source).ReadMode);
        AssertSame(src, view);
        AssertSame(src, view, new Random(2));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Theory]
    [InlineData(0, 64)]
    [InlineData(1, 50)]
    [InlineData(9, 7)]
    public void Chunked_file_reads_back_identical(int deflate, int chunkRows)
    {
        var src = WriteSplit(300, new Hdf5WriteOptions { Chunked = true, DeflateLevel = deflate, ChunkRows = chunkRows });
        using (var f = H5File.OpenRead(_dir[X(PCamSplit.Train)]))
        {
            Assert.Equal(H5DataLayoutClass.Chunked, f.Dataset("x").Layout.Class);
            Assert.Equal((ulong)chunkRows, f.Dataset("x").Layout.Chunks[0]);
        }
        using var view = PCamData.Open(_dir.Path, PCamSplit.Train, Opts);
        Assert.StartsWith("chunked", ((Hdf5PatchSource)view.Source).ReadMode);
        AssertSame(src, view);
        AssertSame(src, view, new Random(4));
        var cursors = view.GetRowCursorSet(view.Schema, 2);
        Assert.Equal(300, cursors.Sum(c => { var n = ViewReader.IndexAndLabels(c).Count; c.Dispose(); return n; }));
    }

    [Fact]
    public void GzippedPairIsDecompressedIntoTheCacheAndCheckedAgainstChecksumsMd5()
    {
        var src = WriteSplit(40, split: PCamSplit.Valid);
        var gzDir = Directory.CreateDirectory(_dir["gz"]).FullName;
        foreach (var name in new[] { X(PCamSplit.Valid), Y(PCamSplit.Valid) })
            Gz.Compress(_dir[name], Path.Combine(gzDir, name + ".gz"));
        var md5 = ChecksumStamps.ComputeMd5(_dir[X(PCamSplit.Valid)]);
        File.WriteAllText(Path.Combine(gzDir, "checksums.md5"), $"{md5}  {X(PCamSplit.Valid)}\n");
        using (var view = PCamData.Open(gzDir, PCamSplit.Valid, Opts)) AssertSame(src, view);

        // A wrong MD5 is an error naming file, expected and actual; the bad decompressed copy is removed.
        File.WriteAllText(Path.Combine(gzDir, "checksums.md5"), $"{new string('0', 32)}  {X(PCamSplit.Valid)}\n");
        var cache = _dir["cache2"];
        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(gzDir, PCamSplit.Valid, new PCamDataOptions { CacheDirectory = cache }));
        Assert.Contains(X(PCamSplit.Valid), e.Message);
        Assert.Contains(new string('0', 32), e.Message);
        Assert.Contains(md5, e.Message);
        Assert.Empty(Directory.GetFiles(cache, X(PCamSplit.Valid), SearchOption.AllDirectories));
        // Checksums can be switched off: the mismatch (known from the decompression pass) becomes a warning.
        var warnings = new List<string>();
        using (var view = PCamData.Open(gzDir, PCamSplit.Valid, new PCamDataOptions { CacheDirectory = cache, VerifyChecksums = false, Warning = warnings.Add }))
            Assert.Equal(40, view.GetRowCount());
        var w = Assert.Single(warnings, m => m.Contains(X(PCamSplit.Valid)));
        Assert.Contains("MD5 mismatch", w);
        Assert.Contains("skipped", w);
    }

    [Fact]
    public void WrongMd5ForAnUncompressedFileIsAnError()
    {
        WriteSplit(20);
        File.WriteAllText(_dir["checksums.md5"], $"{new string('a', 32)}  {Y(PCamSplit.Train)}\n");
        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(_dir.Path, PCamSplit.Train, Opts));
        Assert.Contains("MD5", e.Message);
        Assert.Contains(Y(PCamSplit.Train), e.Message);
    }

    [Fact]
    public void TruncatedGzIsAClearErrorAndLeavesNoCachedFile()
    {
        WriteSplit(60);
        var gzDir = Directory.CreateDirectory(_dir["gz"]).FullName;
        var gzX = Path.Combine(gzDir, X(PCamSplit.Train) + ".gz");
        Gz.Compress(_dir[X(PCamSplit.Train)], gzX);
        Gz.Compress(_dir[Y(PCamSplit.Train)], Path.Combine(gzDir, Y(PCamSplit.Train) + ".gz"));
        var bytes = File.ReadAllBytes(gzX);
        File.WriteAllBytes(gzX, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(gzDir, PCamSplit.Train, Opts));
        Assert.Contains(gzX, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Empty(Directory.Exists(_dir["cache"]) ? Directory.GetFiles(_dir["cache"], "*", SearchOption.AllDirectories) : []);
    }

    private void WriteRaw(string name, string dataset, object data, ulong[] dims)
    {
        var f = new H5File { [dataset] = new H5Dataset(data, fileDims: dims) };
        f.Write(_dir[name]);
    }

    private PCamDataException OpenFails() => Assert.Throws<PCamDataException>(() => PCamData.Open(_dir.Path, PCamSplit.Train, Opts));

    [Fact]
    public void WrongDatasetNameIsNamed()
    {
        WriteSplit(8);
        WriteRaw(X(PCamSplit.Train), "images", new byte[8 * PatchSchema.ImageBytes], [8, 96, 96, 3]);
        var e = OpenFails();
        Assert.Contains(X(PCamSplit.Train), e.Message);
        Assert.Contains("'x'", e.Message);
        Assert.Contains("images", e.Message);
    }

    [Fact]
    public void WrongShapeIsNamed()
    {
        WriteSplit(8);
        WriteRaw(X(PCamSplit.Train), "x", new byte[8 * 64 * 64 * 3], [8, 64, 64, 3]);
        var e = OpenFails();
        Assert.Contains("expected shape (N,96,96,3)", e.Message);
        Assert.Contains("(8,64,64,3)", e.Message);
    }

    [Fact]
    public void WrongDtypeIsNamed()
    {
        WriteSplit(2);
        WriteRaw(X(PCamSplit.Train), "x", new float[2 * PatchSchema.ImageBytes], [2, 96, 96, 3]);
        var e = OpenFails();
        Assert.Contains("expected dtype uint8", e.Message);
        Assert.Contains("FloatingPoint", e.Message);
    }

    [Fact]
    public void LabelValuesOtherThan0And1AreRejected()
    {
        WriteSplit(4);
        WriteRaw(Y(PCamSplit.Train), "y", new byte[] { 0, 1, 2, 0 }, [4, 1, 1, 1]);
        var e = OpenFails();
        Assert.Contains("found 2 at row 2", e.Message);
    }

    [Fact]
    public void LabelCountMismatchNamesBothCounts()
    {
        WriteSplit(10);
        WriteRaw(Y(PCamSplit.Train), "y", new byte[9], [9]);
        var e = OpenFails();
        Assert.Contains("10 rows", e.Message);
        Assert.Contains("has 9", e.Message);
    }

    [Fact]
    public void GarbageNamedH5IsNotAnHdf5File()
    {
        WriteSplit(4);
        File.WriteAllBytes(_dir[X(PCamSplit.Train)], Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray());
        var e = OpenFails();
        Assert.Contains("not an HDF5 file", e.Message);
        Assert.Contains(X(PCamSplit.Train), e.Message);
    }

    [Fact]
    public void TruncatedH5IsAClearError()
    {
        WriteSplit(50);
        var path = _dir[X(PCamSplit.Train)];
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 20 * PatchSchema.ImageBytes)]);
        var e = OpenFails();
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void MissingSplitNamesSplitDirectoryAndExpectedFiles()
    {
        WriteSplit(4);
        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(_dir.Path, PCamSplit.Test, Opts));
        Assert.Contains("'test'", e.Message);
        Assert.Contains(_dir.Path, e.Message);
        Assert.Contains("camelyonpatch_level_2_split_test_y.h5", e.Message);
        Assert.False(PCamData.HasSplit(_dir.Path, PCamSplit.Test));
        Assert.True(PCamData.HasSplit(_dir.Path, PCamSplit.Train));
    }
}

public sealed class CacheDirectoryTests
{
    [SkippableFact]
    public void ReadOnlyDataFolderGetsACacheElsewhere()
    {
        if (OperatingSystem.IsWindows()) throw new SkipException("A read-only data folder is detected by its Unix file mode; Windows has none.");
        using var dir = new TempDir();
        var gz = dir["a_x.h5.gz"];
        File.WriteAllBytes(gz, []);
        Assert.Equal(Path.Combine(dir.Path, ".pcam-cache"), GzipCache.ResolveCacheDirectory(gz, null));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pcam-cache"))); // resolving creates nothing
        Assert.Equal([gz], Directory.GetFileSystemEntries(dir.Path)); // not even the writability probe
        File.SetUnixFileMode(dir.Path, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var cache = GzipCache.ResolveCacheDirectory(gz, null);
            Assert.DoesNotContain(dir.Path, cache);
            Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pcam-cache")));
        }
        finally { File.SetUnixFileMode(dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
    }
}
