using PCam.MLNet.Data;
using PCam.MLNet.Tests.Robustness;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>
/// Where `.h5.gz` inputs are decompressed when the data folder is read-only and no cache folder is given: the user's local
/// application data (`$XDG_DATA_HOME/pcam/cache`, else `~/.local/share/pcam/cache`), as docs/configuration.md says. Run as
/// a child process with HOME and XDG_DATA_HOME pointed into the test's temp folder, so nothing outlives the test.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class FallbackCacheTests(TinyModelFixture model)
{
    [SkippableFact]
    public void AReadOnlyDataFolderIsDecompressedUnderTheUsersLocalDataFolder()
    {
        if (!OperatingSystem.IsLinux()) throw new SkipException("XDG_DATA_HOME and ~/.local/share are the Linux locations; other systems use their own.");
        using var tmp = new TempDir();
        var data = Directory.CreateDirectory(tmp["data"]).FullName;
        var x = Path.Combine(data, PCamChecksums.FileStem(PCamSplit.Test, 'x') + ".h5");
        PCamImporter.Write(ArraySource.Generate(6, seed: 5), x, Path.Combine(data, PCamChecksums.FileStem(PCamSplit.Test, 'y') + ".h5"));
        Gz.Compress(x, x + ".gz");
        File.Delete(x);
        var before = Directory.GetFileSystemEntries(data).Order().ToArray();
        File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            // 1. XDG_DATA_HOME set: the cache goes under it.
            var xdg = tmp["xdg"];
            var first = Predict(x + ".gz", new() { ["HOME"] = tmp["home1"], ["XDG_DATA_HOME"] = xdg });
            var h5 = Assert.Single(Directory.GetFiles(Path.Combine(xdg, "pcam", "cache"), Path.GetFileName(x), SearchOption.AllDirectories));
            Assert.Equal(Path.Combine(xdg, "pcam", "cache"), Path.GetDirectoryName(Path.GetDirectoryName(h5))); // pcam/cache/<folder key>/
            Assert.False(Directory.Exists(tmp["home1"]) && Directory.EnumerateFiles(tmp["home1"], "*.h5", SearchOption.AllDirectories).Any());

            // 2. No XDG_DATA_HOME: ~/.local/share/pcam/cache, under the same folder key.
            var home = tmp["home2"];
            var second = Predict(x + ".gz", new() { ["HOME"] = home, ["XDG_DATA_HOME"] = null });
            var h5Home = Assert.Single(Directory.GetFiles(Path.Combine(home, ".local", "share", "pcam", "cache"), Path.GetFileName(x), SearchOption.AllDirectories));
            Assert.Equal(Path.GetFileName(Path.GetDirectoryName(h5)), Path.GetFileName(Path.GetDirectoryName(h5Home)));
            Assert.Equal(File.ReadAllBytes(h5), File.ReadAllBytes(h5Home));

            Assert.Equal(first, second);
            Assert.Equal(before, Directory.GetFileSystemEntries(data).Order().ToArray()); // nothing written beside the data
        }
        finally { File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
    }

    string Predict(string input, Dictionary<string, string?> environment)
    {
        var (code, stdout, stderr) = ChildProcess.Run(ChildProcess.PcamDll, ["predict", "--model", model.ModelPath, input], environment: environment);
        Assert.True(code == 0, stderr);
        Assert.Equal(1 + 6, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        return stdout;
    }
}
