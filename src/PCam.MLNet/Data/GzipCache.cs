using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace PCam.MLNet.Data;

/// <summary>
/// Decompresses `.h5.gz` files once into a cache directory (streaming, temp file + rename) and reuses them while the
/// source's identity (full path, size, modification time) is unchanged. A failed decompression leaves nothing behind.
/// MD5s of the archive and of the output are computed on the fly, so verification costs no extra pass.
/// </summary>
internal static class GzipCache
{
    internal sealed record Result(string H5Path, string? GzMd5, string? H5Md5);
    private sealed record SourceStamp(string Source, long SourceSize, long SourceMtimeTicks, long Size);

    /// <summary>
    /// The cache directory for files beside <paramref name="sourceFile"/>, not created here (only a decompression or a
    /// remembered checksum creates it): under the configured folder, a sub-folder keyed by the source folder's full
    /// path (two data folders with the same official file names never share copies); else `.pcam-cache` next to the
    /// file; else (read-only data folder) a per-folder directory under the user's local application data.
    /// </summary>
    public static string ResolveCacheDirectory(string sourceFile, string? configured)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(sourceFile))!;
        var key = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(dir)))[..12];
        if (configured != null) return Path.Combine(configured, key);
        var beside = Path.Combine(dir, PCamDataOptions.DefaultCacheFolder);
        // A data folder marked read-only (e.g. a shared sample) is respected even when running as root.
        if (!IsMarkedReadOnly(dir) && IsWritableDirectory(Directory.Exists(beside) ? beside : dir)) return beside;
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "pcam", "cache", key);
    }

    private static bool IsMarkedReadOnly(string dir) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(dir) & UnixFileMode.UserWrite) == 0;

    /// <summary>Probes an existing folder with a file created and deleted at once (creates no folder).</summary>
    private static bool IsWritableDirectory(string dir)
    {
        try
        {
            var probe = Path.Combine(dir, $".pcam-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    public static Result Ensure(string gzPath, string cacheDir, IProgress<(string Stage, long Done, long Total)>? progress)
    {
        var gz = new FileInfo(gzPath);
        var name = Path.GetFileNameWithoutExtension(gz.Name); // strips ".gz"
        var target = Path.Combine(cacheDir, name);
        var stampPath = target + ".source.json";
        var current = new SourceStamp(gz.FullName, gz.Length, gz.LastWriteTimeUtc.Ticks, 0);
        if (File.Exists(target) && File.Exists(stampPath))
        {
            try
            {
                var s = JsonSerializer.Deserialize<SourceStamp>(File.ReadAllText(stampPath));
                if (s != null && s with { Size = 0 } == current && new FileInfo(target).Length == s.Size)
                    return new Result(target, null, null); // reuse: hashes come from the checksum stamps
            }
            catch (JsonException) { } // damaged stamp: decompress again
        }

        bool created = !Directory.Exists(cacheDir);
        Directory.CreateDirectory(cacheDir);
        var tmp = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        string gzMd5, h5Md5;
        long written = 0;
        bool done = false;
        try
        {
            using var gzHash = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            using var outHash = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            using (var input = new FileStream(gzPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            using (var hashing = new HashingReadStream(input, gzHash))
            using (var output = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                using (var unzip = new GZipStream(hashing, CompressionMode.Decompress, leaveOpen: true))
                {
                    var buf = new byte[1 << 20];
                    int n;
                    long lastReport = -1;
                    while ((n = ReadWrapped(unzip, buf, gzPath)) > 0)
                    {
                        output.Write(buf, 0, n);
                        outHash.AppendData(buf, 0, n);
                        written += n;
                        if (input.Position - lastReport >= 8 << 20 || input.Position == input.Length)
                        {
                            lastReport = input.Position;
                            progress?.Report(($"decompress {gz.Name}", input.Position, input.Length));
                        }
                    }
                }
                hashing.Drain(); // the archive MD5 covers every byte, even after the gzip trailer
                // GZipStream reports a truncated archive as a clean end; the trailer's ISIZE catches it.
                if (input.Length < 18 || ReadIsize(input) != (uint)written)
                    throw new PCamDataException($"{gzPath}: truncated or damaged gzip archive (decompressed {written:N0} bytes, " +
                        "which does not match the size recorded in the archive trailer). Download it again.");
                output.Flush(true);
            }
            gzMd5 = Convert.ToHexStringLower(gzHash.GetHashAndReset());
            h5Md5 = Convert.ToHexStringLower(outHash.GetHashAndReset());
            File.Move(tmp, target, overwrite: true);
            File.WriteAllText(stampPath, JsonSerializer.Serialize(current with { Size = written }));
            done = true;
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            // A failed decompression leaves nothing behind, not even the folder it created.
            if (!done && created && Directory.Exists(cacheDir) && Directory.GetFileSystemEntries(cacheDir).Length == 0) Directory.Delete(cacheDir);
        }
        return new Result(target, gzMd5, h5Md5);
    }

    private static int ReadWrapped(Stream s, byte[] buf, string gzPath)
    {
        try { return s.Read(buf, 0, buf.Length); }
        catch (InvalidDataException e) { throw new PCamDataException($"{gzPath}: not a valid gzip archive ({e.Message})", e); }
    }

    private static uint ReadIsize(FileStream input)
    {
        Span<byte> b = stackalloc byte[4];
        RandomAccess.Read(input.SafeFileHandle, b, input.Length - 4);
        return BitConverter.ToUInt32(b);
    }

    /// <summary>Hashes every byte read through it.</summary>
    private sealed class HashingReadStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = inner.Read(buffer, offset, count);
            hash.AppendData(buffer, offset, n);
            return n;
        }
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            hash.AppendData(buffer[..n]);
            return n;
        }
        public void Drain()
        {
            var buf = new byte[1 << 16];
            while (Read(buf, 0, buf.Length) > 0) { }
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
