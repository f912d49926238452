using System.Security.Cryptography;
using System.Text.Json;

namespace PCam.MLNet.Data;

/// <summary>
/// Remembers MD5s already computed for (path, size, mtime), in a small JSON file in the cache directory,
/// so that later opens skip hashing multi-GB files. A changed file (size or mtime) is hashed again.
/// </summary>
internal sealed class ChecksumStamps
{
    public const string FileName = "pcam-checksums.json";
    private static readonly Lock Gate = new();
    private readonly string _path;
    private readonly bool _createDirectory;

    /// <param name="createDirectory">False: stamps are written only when the cache folder already exists.</param>
    public ChecksumStamps(string cacheDirectory, bool createDirectory = true)
    {
        _path = Path.Combine(cacheDirectory, FileName);
        _createDirectory = createDirectory;
    }

    internal sealed record Entry(long Size, long MtimeTicks, string Md5);

    public string? TryGet(string file)
    {
        var fi = new FileInfo(file);
        if (!fi.Exists) return null;
        lock (Gate)
        {
            var all = Load();
            return all.TryGetValue(Path.GetFullPath(file), out var e) && e.Size == fi.Length && e.MtimeTicks == fi.LastWriteTimeUtc.Ticks
                ? e.Md5 : null;
        }
    }

    public void Set(string file, string md5)
    {
        var fi = new FileInfo(file);
        lock (Gate)
        {
            var all = Load();
            all[Path.GetFullPath(file)] = new Entry(fi.Length, fi.LastWriteTimeUtc.Ticks, md5);
            try
            {
                var dir = Path.GetDirectoryName(_path)!;
                if (!_createDirectory && !Directory.Exists(dir)) return;
                Directory.CreateDirectory(dir);
                var tmp = _path + "." + Environment.ProcessId + ".tmp";
                File.WriteAllText(tmp, JsonSerializer.Serialize(all));
                File.Move(tmp, _path, overwrite: true);
            }
            catch (IOException) { } // a stamp is only an optimisation
            catch (UnauthorizedAccessException) { }
        }
    }

    private Dictionary<string, Entry> Load()
    {
        try
        {
            if (File.Exists(_path))
                return JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllText(_path)) ?? [];
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { } // corrupt stamp: rehash
        return [];
    }

    /// <summary>MD5 of a file as lowercase hex, with progress.</summary>
    public static string ComputeMd5(string file, IProgress<(string Stage, long Done, long Total)>? progress = null)
    {
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var buf = new byte[1 << 20];
        long done = 0, total = fs.Length;
        int n;
        while ((n = fs.Read(buf)) > 0)
        {
            md5.AppendData(buf, 0, n);
            done += n;
            progress?.Report(($"md5 {Path.GetFileName(file)}", done, total));
        }
        return Convert.ToHexStringLower(md5.GetHashAndReset());
    }
}
