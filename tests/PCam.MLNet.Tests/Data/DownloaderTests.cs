using System.Security.Cryptography;
using PCam.MLNet.Data;
using Xunit;

namespace PCam.MLNet.Tests.Data;

public sealed class DownloaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestHttpServer _server = new();
    private readonly List<string> _warnings = [];
    public void Dispose() { _server.Dispose(); _dir.Dispose(); }

    private const string Name = "camelyonpatch_level_2_split_valid_y.h5.gz";
    private static readonly byte[] Content = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 31 % 251)).ToArray();
    private static string Md5(byte[] b) => Convert.ToHexStringLower(MD5.HashData(b));

    private PCamDownloadOptions Options() => new()
    {
        Mirror = _server.BaseUrl,
        InitialBackoff = TimeSpan.FromMilliseconds(10),
        IdleTimeout = TimeSpan.FromSeconds(10),
        Warning = _warnings.Add,
    };

    private void Serve(byte[] content, bool withChecksums = true)
    {
        _server.Add(Name, content);
        if (withChecksums) _server.Add("checksums.md5", System.Text.Encoding.ASCII.GetBytes($"{Md5(Content)}  {Name}\n"));
    }

    [Fact]
    public async Task FullDownloadIsVerifiedAndRenamedIntoPlace()
    {
        Serve(Content);
        var progress = new List<DownloadProgress>();
        var opts = Options();
        opts.Progress = new SyncProgress<DownloadProgress>(progress.Add);
        var path = await PCamDownloader.DownloadFileAsync(Name, _dir.Path, opts);
        Assert.Equal(Path.Combine(_dir.Path, Name), path);
        Assert.Equal(Content, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + ".part"));
        Assert.Equal(Content.Length, progress[^1].Bytes);
        Assert.Equal(Content.Length, progress[^1].Total);
        Assert.Empty(_warnings);
    }

    [Fact]
    public async Task InterruptedDownloadResumesWithARangeRequest()
    {
        Serve(Content);
        _server.CutOnce = Name;
        var path = await PCamDownloader.DownloadFileAsync(Name, _dir.Path, Options());
        Assert.Equal(Content, File.ReadAllBytes(path));
        Assert.Contains(_server.RangeHeaders, h => h.StartsWith("bytes=") && h != "bytes=0-");
    }

    [Fact]
    public async Task CorruptedDownloadIsAnMd5ErrorAndLeavesNothing()
    {
        Serve(Content);
        _server.Corrupt.Add(Name);
        var e = await Assert.ThrowsAsync<PCamDataException>(() => PCamDownloader.DownloadFileAsync(Name, _dir.Path, Options()));
        Assert.Contains("MD5", e.Message);
        Assert.Contains(Md5(Content), e.Message);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public async Task MissingFileIsAClearErrorWithoutRetries()
    {
        var e = await Assert.ThrowsAsync<PCamDataException>(() => PCamDownloader.DownloadFileAsync(Name, _dir.Path, Options()));
        Assert.Contains("404", e.Message);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void OfficialUrlsPointAtZenodo()
    {
        Assert.Equal("https://zenodo.org/records/2546921/files/camelyonpatch_level_2_split_test_x.h5.gz?download=1",
            PCamDownloader.UrlFor(PCamDownloader.FileNames(PCamSplit.Test)[0], null).ToString());
        Assert.Equal("http://m/x/a.h5.gz", PCamDownloader.UrlFor("a.h5.gz", "http://m/x/").ToString());
    }

    private sealed class SyncProgress<T>(Action<T> a) : IProgress<T> { public void Report(T value) => a(value); }
}
