using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>The decompression cache, --no-verify and stratified hold-outs.</summary>
public sealed class DataCacheTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static string X(PCamSplit s) => PCamChecksums.FileStem(s, 'x') + ".h5";
    static string Y(PCamSplit s) => PCamChecksums.FileStem(s, 'y') + ".h5";

    /// <summary>A gzipped official-layout split of <paramref name="rows"/> generated rows in <paramref name="folder"/>.</summary>
    ArraySource WriteGzSplit(string folder, int rows, int seed, PCamSplit split = PCamSplit.Valid)
    {
        var src = ArraySource.Generate(rows, seed);
        var tmp = Directory.CreateDirectory(_dir["raw-" + Guid.NewGuid().ToString("N")[..6]]).FullName;
        PCamImporter.Write(src, Path.Combine(tmp, X(split)), Path.Combine(tmp, Y(split)));
        Directory.CreateDirectory(folder);
        foreach (var name in new[] { X(split), Y(split) }) Gz.Compress(Path.Combine(tmp, name), Path.Combine(folder, name + ".gz"));
        return src;
    }

    [Fact]
    public void TwoDataFoldersWithTheSameFileNamesNeverShareACacheCopy()
    {
        var cache = _dir["cache"];
        WriteGzSplit(_dir["a"], 30, seed: 1);
        WriteGzSplit(_dir["b"], 50, seed: 2);
        var options = new PCamDataOptions { CacheDirectory = cache };
        for (int round = 0; round < 2; round++)
        {
            using (var a = PCamData.Open(_dir["a"], PCamSplit.Valid, options)) Assert.Equal(30, a.GetRowCount());
            using (var b = PCamData.Open(_dir["b"], PCamSplit.Valid, options)) Assert.Equal(50, b.GetRowCount());
        }
        Assert.Equal(2, Directory.GetFiles(cache, X(PCamSplit.Valid), SearchOption.AllDirectories).Length);
    }

    [Fact]
    public void ValidGzipHoldingGarbageNamesTheGzAndLeavesNothingInTheCache()
    {
        var folder = Directory.CreateDirectory(_dir["garbage"]).FullName;
        var garbage = new byte[5000];
        new Random(3).NextBytes(garbage);
        foreach (var name in new[] { X(PCamSplit.Valid), Y(PCamSplit.Valid) })
        {
            File.WriteAllBytes(_dir[name], garbage);
            Gz.Compress(_dir[name], Path.Combine(folder, name + ".gz"));
        }
        var cache = _dir["cache"];
        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(folder, PCamSplit.Valid, new PCamDataOptions { CacheDirectory = cache }));
        Assert.StartsWith(Path.Combine(folder, PCamChecksums.FileStem(PCamSplit.Valid, 'y') + ".h5.gz: "), e.Message); // y is read first
        Assert.DoesNotContain(cache, e.Message);
        Assert.Empty(Directory.GetFiles(cache, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void VerifyOnPlainH5FilesCreatesNoCacheFolder()
    {
        var folder = Directory.CreateDirectory(_dir["plain"]).FullName;
        PCamImporter.Write(ArraySource.Generate(20), Path.Combine(folder, X(PCamSplit.Test)), Path.Combine(folder, Y(PCamSplit.Test)));
        File.WriteAllText(Path.Combine(folder, "checksums.md5"), $"{ChecksumStamps.ComputeMd5(Path.Combine(folder, X(PCamSplit.Test)))}  {X(PCamSplit.Test)}\n");
        var before = Directory.GetFileSystemEntries(folder).Order().ToArray();
        var (code, stdout, err) = Cli.CliTests.Pcam("verify", folder);
        Assert.True(code == 0, err);
        Assert.Contains("test   ok  20 rows", stdout);
        Assert.Equal(before, Directory.GetFileSystemEntries(folder).Order().ToArray());
    }

    [Fact]
    public void NoVerifyTurnsAChecksumMismatchIntoAWarningOnEveryDataCommand()
    {
        var folder = Directory.CreateDirectory(_dir["rebuilt"]).FullName;
        PCamImporter.Write(ArraySource.Generate(20), Path.Combine(folder, X(PCamSplit.Train)), Path.Combine(folder, Y(PCamSplit.Train)));
        File.WriteAllText(Path.Combine(folder, "checksums.md5"), $"{new string('0', 32)}  {X(PCamSplit.Train)}\n");
        var strict = Cli.CliTests.Pcam("verify", folder);
        Assert.NotEqual(0, strict.Code);
        Assert.Contains("--no-verify", strict.Err);

        var lenient = Cli.CliTests.Pcam("verify", folder, "--no-verify");
        Assert.True(lenient.Code == 0, lenient.Err);
        Assert.Contains($"warning: {Path.Combine(folder, X(PCamSplit.Train))}: MD5 verification skipped", lenient.Err);

        var bench = Cli.CliTests.Pcam("bench", "read", "--data", folder, "--cache-dir", _dir["cache"], "--no-verify");
        Assert.True(bench.Code == 0, bench.Err);
        Assert.Contains("skipped", bench.Err);

        var imported = Cli.CliTests.Pcam("import", "--from", folder, "--output", _dir["out"], "--no-verify");
        Assert.True(imported.Code == 0, imported.Err);
        foreach (var command in new[] { new[] { "train" }, ["evaluate"], ["verify"], ["import"], ["bench", "read"], ["bench", "featurize"], ["bench", "tta"] })
            Assert.Contains("--no-verify", Cli.CliTests.Pcam([.. command, "--help"]).Out);
    }

    [Fact]
    public void VerifyChecksumsIsAConfigKey()
    {
        var path = _dir["config.json"];
        File.WriteAllText(path, """{ "DataSource": { "VerifyChecksums": false } }""");
        Assert.False(PCamConfigLoader.Load(path).DataSource.VerifyChecksums);
        Assert.True(new PCamConfig().DataSource.VerifyChecksums);
    }

    [Fact]
    public void HoldOutIsStratifiedAndSeeded()
    {
        // 3 tumour rows in 60: an unstratified 10% hold-out of 6 rows often holds none of them.
        var labels = Enumerable.Range(0, 60).Select(i => i % 20 == 0).ToArray();
        using var data = PatchDataView.Create(new ArraySource(new byte[60 * PatchSchema.ImageBytes], labels));
        for (int seed = 0; seed < 20; seed++)
        {
            var (rest, held) = PCamTrainer.HoldOut(data, 0.1, seed);
            var (heldNeg, heldPos) = PCamTrainer.ClassCounts(held);
            var (restNeg, restPos) = PCamTrainer.ClassCounts(rest);
            Assert.True(heldPos >= 1 && heldNeg >= 1, $"seed {seed}: held out {heldNeg}/{heldPos}");
            Assert.True(restPos >= 1 && restNeg >= 1, $"seed {seed}: kept {restNeg}/{restPos}");
            Assert.Equal(60, held.GetRowCount() + rest.GetRowCount());
            Assert.Empty(held.Rows!.Intersect(rest.Rows!));
        }
        Assert.Equal(PCamTrainer.HoldOut(data, 0.1, 7).HeldOut.Rows, PCamTrainer.HoldOut(data, 0.1, 7).HeldOut.Rows);
    }

    [Fact]
    public void OneClassTrainSplitIsAClearErrorBeforeFeaturization()
    {
        var folder = Directory.CreateDirectory(_dir["oneclass"]).FullName;
        var src = new ArraySource(new byte[10 * PatchSchema.ImageBytes], new bool[10]);
        PCamImporter.Write(src, Path.Combine(folder, X(PCamSplit.Train)), Path.Combine(folder, Y(PCamSplit.Train)));
        var config = new PCamConfig();
        config.DataSource.Directory = folder;
        config.DataSource.CacheDirectory = _dir["cache"];
        config.TrainingOption.ImageSize = 96;
        config.TrainingOption.Tta = false;
        config.TrainingOption.ModelPath = _dir["m.zip"];
        var e = Assert.Throws<PCamDataException>(() => new PCamTrainer(config, new SilentLog()).Train());
        Assert.Contains("10 normal (label 0) and 0 tumour (label 1)", e.Message);
        Assert.Contains("'train'", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir["cache"], "features")));
    }
}
