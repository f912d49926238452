using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;

namespace PCam.MLNet.Data;

/// <summary>Download progress of one file: bytes so far (including a resumed part), total if known, and speed.</summary>
public readonly record struct DownloadProgress(string File, long Bytes, long? Total, double BytesPerSecond)
{
    public double MegabytesPerSecond => BytesPerSecond / 1e6;
    public TimeSpan? Eta => Total is long t && BytesPerSecond > 0 ? TimeSpan.FromSeconds((t - Bytes) / BytesPerSecond) : null;
}

public sealed class PCamDownloadOptions
{
    /// <summary>Base URL serving `&lt;name&gt;.h5.gz` (and optionally `checksums.md5`); null = zenodo record 2546921.</summary>
    public string? Mirror { get; set; }
    /// <summary>Attempts per file after a failure that made no progress (transient: I/O errors, 5xx, timeouts).</summary>
    public int MaxRetries { get; set; } = 6;
    /// <summary>First retry delay; doubled on each further failure.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>A transfer that delivers no bytes for this long is treated as failed and resumed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
    public IProgress<DownloadProgress>? Progress { get; set; }
    /// <summary>Non-fatal problems; null = standard error.</summary>
    public Action<string>? Warning { get; set; }
    /// <summary>The client to use (tests, proxies); null = a shared client.</summary>
    public HttpClient? Client { get; set; }
}

/// <summary>
/// Downloads the official `.h5.gz` files: resumes from `.part` files with HTTP Range, retries transient errors with
/// backoff, verifies MD5 and renames into place only when complete and verified. Checksums: the mirror's
/// `checksums.md5` when it lists the file, else the official table. An official archive whose MD5 differs
/// (valid_x/test_x were re-uploaded) is accepted with a warning when its decompressed data has the official MD5.
/// </summary>
public static class PCamDownloader
{
    public const string ZenodoRecord = "https://zenodo.org/records/2546921/files/";
    private static readonly Lazy<HttpClient> SharedClient = new(() => new HttpClient { Timeout = Timeout.InfiniteTimeSpan });

    public static Uri UrlFor(string fileName, string? mirror) => mirror == null
        ? new Uri($"{ZenodoRecord}{fileName}?download=1")
        : new Uri($"{mirror.TrimEnd('/')}/{fileName}");

    /// <summary>The `.h5.gz` names of a split.</summary>
    public static string[] FileNames(PCamSplit split) =>
        [PCamChecksums.FileStem(split, 'x') + ".h5.gz", PCamChecksums.FileStem(split, 'y') + ".h5.gz"];

    /// <summary>Downloads the x and y archives of the given splits into <paramref name="directory"/>.</summary>
    public static async Task DownloadSplitsAsync(string directory, IEnumerable<PCamSplit> splits, PCamDownloadOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= new PCamDownloadOptions();
        var sums = await MirrorChecksumsAsync(options, ct).ConfigureAwait(false);
        foreach (var split in splits)
            foreach (var name in FileNames(split))
                await DownloadFileAsync(name, directory, options, sums, ct).ConfigureAwait(false);
    }

    /// <summary>Downloads one file; returns its final path. An existing final file is kept as is.</summary>
    public static async Task<string> DownloadFileAsync(string fileName, string directory, PCamDownloadOptions? options = null,
        IReadOnlyDictionary<string, string>? mirrorChecksums = null, CancellationToken ct = default)
    {
        options ??= new PCamDownloadOptions();
        Directory.CreateDirectory(directory);
        var final = Path.Combine(directory, fileName);
        if (File.Exists(final)) return final;
        mirrorChecksums ??= await MirrorChecksumsAsync(options, ct).ConfigureAwait(false);
        var part = final + ".part";
        var url = UrlFor(fileName, options.Mirror);
        int failures = 0;
        while (true)
        {
            long before = File.Exists(part) ? new FileInfo(part).Length : 0;
            try
            {
                if (await TransferAsync(url, part, fileName, options, ct).ConfigureAwait(false)) break;
            }
            catch (Exception e) when (IsTransient(e, ct))
            {
                long after = File.Exists(part) ? new FileInfo(part).Length : 0;
                if (after > before) failures = 0; // progress was made: the retry budget is per stall
                if (++failures > options.MaxRetries)
                    throw new PCamDataException($"{url}: download failed after {options.MaxRetries} retries ({e.Message}); " +
                        $"run again to resume from {part}", e);
                await Task.Delay(options.InitialBackoff * Math.Pow(2, failures - 1), ct).ConfigureAwait(false);
            }
        }
        try
        {
            Verify(part, fileName, mirrorChecksums, options);
        }
        catch
        {
            File.Delete(part); // corrupted: the next run starts from scratch
            throw;
        }
        File.Move(part, final, overwrite: true);
        return final;
    }

    private static bool IsTransient(Exception e, CancellationToken ct) => e switch
    {
        OperationCanceledException => !ct.IsCancellationRequested, // idle timeout, not the caller
        HttpRequestException h => h.StatusCode is null || (int)h.StatusCode >= 500 || h.StatusCode == HttpStatusCode.RequestTimeout,
        IOException => true,
        _ => false,
    };

    /// <summary>One request, appending to the part file. True when the file is complete.</summary>
    private static async Task<bool> TransferAsync(Uri url, string part, string fileName, PCamDownloadOptions options, CancellationToken ct)
    {
        var client = options.Client ?? SharedClient.Value;
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(have, null);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(options.IdleTimeout);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, idle.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            return true; // the part already holds every byte
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new PCamDataException($"{url}: not found (404); check the mirror URL and file name");
        response.EnsureSuccessStatusCode();
        bool append = response.StatusCode == HttpStatusCode.PartialContent;
        if (!append) have = 0; // the server ignored the range: start over
        long? total = response.Content.Headers.ContentRange?.Length
            ?? (response.Content.Headers.ContentLength is long len ? len + have : null);

        await using var body = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
        await using var output = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        var clock = Stopwatch.StartNew();
        long startBytes = have, lastReport = 0;
        while (true)
        {
            idle.CancelAfter(options.IdleTimeout);
            int n = await body.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
            if (n == 0) break;
            await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            have += n;
            if (clock.ElapsedMilliseconds - lastReport >= 250)
            {
                lastReport = clock.ElapsedMilliseconds;
                options.Progress?.Report(new DownloadProgress(fileName, have, total, (have - startBytes) / Math.Max(1e-3, clock.Elapsed.TotalSeconds)));
            }
        }
        await output.FlushAsync(ct).ConfigureAwait(false);
        options.Progress?.Report(new DownloadProgress(fileName, have, total, (have - startBytes) / Math.Max(1e-3, clock.Elapsed.TotalSeconds)));
        if (total is long t && have < t) throw new IOException($"connection closed after {have:N0} of {t:N0} bytes");
        return true;
    }

    /// <summary>The mirror's checksums.md5 (name → md5), or empty when there is none (or no mirror).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> MirrorChecksumsAsync(PCamDownloadOptions options, CancellationToken ct = default)
    {
        if (options.Mirror == null) return new Dictionary<string, string>();
        var client = options.Client ?? SharedClient.Value;
        try
        {
            using var response = await client.GetAsync(UrlFor("checksums.md5", options.Mirror), ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return new Dictionary<string, string>();
            var tmp = Path.GetTempFileName();
            try
            {
                await File.WriteAllBytesAsync(tmp, await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                return PCamChecksums.ReadChecksumFile(tmp);
            }
            finally { File.Delete(tmp); }
        }
        catch (HttpRequestException) { return new Dictionary<string, string>(); }
    }

    private static void Verify(string part, string fileName, IReadOnlyDictionary<string, string> mirror, PCamDownloadOptions options)
    {
        var h5Name = fileName.EndsWith(".gz", StringComparison.Ordinal) ? fileName[..^3] : null;
        string? expGz = mirror.GetValueOrDefault(fileName), expH5 = h5Name == null ? null : mirror.GetValueOrDefault(h5Name);
        string origin = "the mirror's checksums.md5";
        if (expGz == null && expH5 == null)
        {
            expGz = PCamChecksums.Gz.GetValueOrDefault(fileName);
            expH5 = h5Name == null ? null : PCamChecksums.H5.GetValueOrDefault(h5Name);
            origin = "official PCam checksum";
        }
        void Warn(string m) { if (options.Warning != null) options.Warning(m); else Console.Error.WriteLine("warning: " + m); }
        if (expGz == null && expH5 == null)
        {
            Warn($"{fileName}: no checksum known; not verified");
            return;
        }
        var actualGz = ChecksumStamps.ComputeMd5(part);
        if (actualGz == expGz) return;
        if (expH5 != null)
        {
            var actualH5 = DecompressedMd5(part, fileName);
            if (actualH5 == expH5)
            {
                if (expGz != null) Warn($"{fileName}: archive MD5 {actualGz} differs from {expGz} ({origin}), but the decompressed data matches; keeping it");
                return;
            }
            throw new PCamDataException($"{fileName}: MD5 mismatch: decompressed data expected {expH5}, actual {actualH5} ({origin}); " +
                "the download is corrupted and was deleted, run again");
        }
        throw new PCamDataException($"{fileName}: MD5 mismatch: expected {expGz}, actual {actualGz} ({origin}); the download is corrupted and was deleted, run again");
    }

    private static string DecompressedMd5(string gzPath, string fileName)
    {
        try
        {
            using var input = File.OpenRead(gzPath);
            using var gz = new GZipStream(input, CompressionMode.Decompress);
            using var md5 = MD5.Create();
            return Convert.ToHexStringLower(md5.ComputeHash(gz));
        }
        catch (InvalidDataException) { return $"(not a valid gzip archive: {fileName})"; }
    }
}
