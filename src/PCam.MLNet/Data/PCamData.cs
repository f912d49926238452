namespace PCam.MLNet.Data;

public enum PatchSourceKind { None, OfficialHdf5, ImageFolders, Kaggle }

public sealed class PCamDataOptions
{
    /// <summary>The cache folder's name: beside the data files, or in the working directory for a training run.</summary>
    public const string DefaultCacheFolder = ".pcam-cache";

    /// <summary>Where .h5.gz files are decompressed (and checksum stamps kept); null = a `.pcam-cache` folder next
    /// to them (or, when that folder is read-only, a per-folder cache under the user's local application data).</summary>
    public string? CacheDirectory { get; set; }
    /// <summary>Verify MD5 checksums (official or checksums.md5 beside the files). False (`--no-verify`,
    /// DataSource.VerifyChecksums): no extra hashing pass; a mismatch already known (hashes computed while
    /// decompressing or remembered) is a warning, and every unchecked file gets a warning saying what was skipped.</summary>
    public bool VerifyChecksums { get; set; } = true;
    /// <summary>Remember computed MD5s in the cache folder, creating it when needed. False (`verify`): remembered
    /// only where a cache folder already exists, so a read-only check leaves no new folder behind.</summary>
    public bool CreateCacheForStamps { get; set; } = true;
    /// <summary>Progress for long work (decompression, checksums): (stage, done, total).</summary>
    public IProgress<(string Stage, long Done, long Total)>? Progress { get; set; }
    /// <summary>Non-fatal problems (e.g. a re-uploaded official archive whose .gz MD5 differs while the data matches);
    /// null = written to standard error.</summary>
    public Action<string>? Warning { get; set; }

    internal void Warn(string message)
    {
        if (Warning != null) Warning(message);
        else Console.Error.WriteLine("warning: " + message);
    }
}

/// <summary>
/// Finds and opens PCam splits in any supported layout:
/// official HDF5 (`camelyonpatch_level_2_split_{split}_{x,y}.h5` or `.h5.gz` in the directory),
/// image folders (`{split}/{0|1|negative|positive}/*.png|jpg|tif`) or Kaggle (`train/*.tif` + `train_labels.csv`;
/// only the Train split: Kaggle has no labelled valid/test).
/// </summary>
public static class PCamData
{
    /// <summary>What kind of PCam data a directory holds (the first match of official, Kaggle, image folders).</summary>
    public static PatchSourceKind Detect(string directory)
    {
        if (!Directory.Exists(directory)) return PatchSourceKind.None;
        foreach (var split in Enum.GetValues<PCamSplit>())
            if (FindOfficial(directory, split, 'x') != null || FindOfficial(directory, split, 'y') != null)
                return PatchSourceKind.OfficialHdf5;
        if (KaggleSource.IsKaggle(directory)) return PatchSourceKind.Kaggle;
        foreach (var split in Enum.GetValues<PCamSplit>())
            if (ImageFolderSource.HasSplit(directory, split)) return PatchSourceKind.ImageFolders;
        return PatchSourceKind.None;
    }

    /// <summary>Whether the directory holds the given split (in any supported layout).</summary>
    public static bool HasSplit(string directory, PCamSplit split) => Detect(directory) switch
    {
        PatchSourceKind.OfficialHdf5 => FindOfficial(directory, split, 'x') != null && FindOfficial(directory, split, 'y') != null,
        PatchSourceKind.Kaggle => split == PCamSplit.Train,
        PatchSourceKind.ImageFolders => ImageFolderSource.HasSplit(directory, split),
        _ => false,
    };

    /// <summary>Opens one split. Errors (PCamDataException) name the file and the problem.</summary>
    public static PatchDataView Open(string directory, PCamSplit split, PCamDataOptions? options = null)
    {
        options ??= new PCamDataOptions();
        if (!Directory.Exists(directory)) throw new PCamDataException($"{directory}: directory not found");
        var kind = Detect(directory);
        return kind switch
        {
            PatchSourceKind.OfficialHdf5 => PatchDataView.Create(OpenOfficial(directory, split, options)),
            PatchSourceKind.Kaggle when split == PCamSplit.Train => PatchDataView.Create(KaggleSource.Open(directory)),
            PatchSourceKind.Kaggle => throw new PCamDataException(
                $"split '{split.FileToken()}' not found in {directory}: the Kaggle layout has only a labelled train set " +
                "(train/*.tif + train_labels.csv); use the official HDF5 files or image folders for valid/test"),
            PatchSourceKind.ImageFolders when ImageFolderSource.HasSplit(directory, split) =>
                PatchDataView.Create(ImageFolderSource.Open(Path.Combine(directory, split.FileToken()))),
            _ => throw new PCamDataException(
                $"split '{split.FileToken()}' not found in {directory}: expected {PCamChecksums.FileStem(split, 'x')}.h5[.gz] and " +
                $"{PCamChecksums.FileStem(split, 'y')}.h5[.gz], or image folders {split.FileToken()}/{{0,1}}/*.png|jpg|tif, " +
                "or (train only) the Kaggle layout train/*.tif + train_labels.csv"),
        };
    }

    /// <summary>The official file for a split ("x"/"y"), preferring an uncompressed `.h5` over `.h5.gz`.</summary>
    internal static string? FindOfficial(string directory, PCamSplit split, char dataset)
    {
        var stem = Path.Combine(directory, PCamChecksums.FileStem(split, dataset));
        if (File.Exists(stem + ".h5")) return stem + ".h5";
        if (File.Exists(stem + ".h5.gz")) return stem + ".h5.gz";
        return null;
    }

    internal static Hdf5PatchSource OpenOfficial(string directory, PCamSplit split, PCamDataOptions options)
    {
        var x = FindOfficial(directory, split, 'x');
        var y = FindOfficial(directory, split, 'y');
        if (x == null || y == null)
        {
            var missing = string.Join(" and ", new[] { (x, 'x'), (y, 'y') }.Where(p => p.Item1 == null)
                .Select(p => PCamChecksums.FileStem(split, p.Item2) + ".h5[.gz]"));
            throw new PCamDataException($"split '{split.FileToken()}' incomplete in {directory}: missing {missing}");
        }
        var xs = Prepare(x, options);
        var ys = Prepare(y, options);
        Hdf5PatchSource source;
        try { source = Hdf5PatchSource.Open(xs.H5Path, ys.H5Path); }
        catch (PCamDataException e) { throw NameOriginals(e, xs, ys); }
        try
        {
            bool official = source.RowCount == PCamChecksums.OfficialRowCount(split);
            Verify(xs, official, options, strict: options.VerifyChecksums);
            Verify(ys, official, options, strict: options.VerifyChecksums);
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>A split file ready to read: the `.h5` itself, or its decompressed copy in the cache.</summary>
    internal sealed record PreparedFile(string Original, string H5Path, string? GzPath, string? GzMd5, string? H5Md5, string CacheDirectory, bool CreateCache = true);

    /// <summary>
    /// An error about a decompressed cache copy names the user's `.gz` instead, and the copy is removed (a gzip
    /// holding something that is not a PCam HDF5 file must not stay in the cache).
    /// </summary>
    internal static PCamDataException NameOriginals(PCamDataException e, params PreparedFile[] files)
    {
        var message = e.Message;
        var renamed = false;
        foreach (var f in files)
        {
            if (f.GzPath is null) continue;
            // The split could not be opened: none of its decompressed copies is kept (the other may be garbage too).
            DeleteCached(f.H5Path);
            RemoveIfOnlyStamps(f.CacheDirectory);
            if (!message.Contains(f.H5Path, StringComparison.Ordinal)) continue;
            message = message.Replace(f.H5Path, f.GzPath, StringComparison.Ordinal);
            renamed = true;
        }
        return renamed ? new PCamDataException(message + " (found after decompressing it; the decompressed copy was removed)", e) : e;
    }

    /// <summary>A cache folder left holding only remembered checksums is removed, so a failed open leaves nothing behind.</summary>
    private static void RemoveIfOnlyStamps(string cacheDirectory)
    {
        try
        {
            if (!Directory.Exists(cacheDirectory)) return;
            var left = Directory.GetFileSystemEntries(cacheDirectory);
            if (left.Any(p => Path.GetFileName(p) != ChecksumStamps.FileName)) return;
            foreach (var p in left) File.Delete(p);
            Directory.Delete(cacheDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // best effort
    }

    internal static PreparedFile Prepare(string file, PCamDataOptions options)
    {
        var cache = GzipCache.ResolveCacheDirectory(file, options.CacheDirectory);
        if (!file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) return new PreparedFile(file, file, null, null, null, cache, options.CreateCacheForStamps);
        var r = GzipCache.Ensure(file, cache, options.Progress);
        var stamps = new ChecksumStamps(cache, createDirectory: true);
        // Hashes computed during decompression are remembered so later opens need not re-hash.
        if (r.GzMd5 != null) stamps.Set(file, r.GzMd5);
        if (r.H5Md5 != null) stamps.Set(r.H5Path, r.H5Md5);
        return new PreparedFile(file, r.H5Path, file, r.GzMd5, r.H5Md5, cache);
    }

    /// <summary>
    /// Checks a prepared file's MD5: official table when the split has the official row count, else `checksums.md5`
    /// beside the original file. The `.h5` MD5 is the authority; a `.gz` mismatch alone is only a warning when the
    /// `.h5` has an expected value that matched. Not strict (`--no-verify`): nothing is hashed that is not already
    /// known, a known mismatch is a warning, and an unchecked file is a warning saying what was skipped.
    /// </summary>
    internal static void Verify(PreparedFile f, bool official, PCamDataOptions options, bool strict = true)
    {
        var h5Name = Path.GetFileName(f.GzPath ?? f.Original);
        if (f.GzPath != null) h5Name = h5Name[..^3]; // strip ".gz"
        var gzName = h5Name + ".gz";
        string? expH5, expGz, origin;
        if (official)
        {
            expH5 = PCamChecksums.H5.GetValueOrDefault(h5Name);
            expGz = PCamChecksums.Gz.GetValueOrDefault(gzName);
            origin = "official PCam checksum";
        }
        else
        {
            var sums = PCamChecksums.ChecksumsBeside(f.Original);
            expH5 = sums.GetValueOrDefault(h5Name);
            expGz = sums.GetValueOrDefault(gzName);
            origin = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(f.Original))!, "checksums.md5");
        }
        var stamps = new ChecksumStamps(f.CacheDirectory, f.CreateCache);
        const string skipped = "MD5 verification skipped (PCamDataOptions.VerifyChecksums = false)";
        if (!strict)
        {
            if (expH5 is null && expGz is null) return; // nothing to check against: nothing skipped
            var knownH5 = f.H5Md5 ?? stamps.TryGet(f.H5Path);
            var knownGz = f.GzPath is null ? null : f.GzMd5 ?? stamps.TryGet(f.GzPath);
            if (expH5 != null && knownH5 != null && knownH5 != expH5)
                options.Warn($"{f.Original}: MD5 mismatch for {h5Name}: expected {expH5} ({origin}), actual {knownH5}; {skipped}: using it anyway");
            else if (expH5 == null && expGz != null && knownGz != null && knownGz != expGz)
                options.Warn($"{f.Original}: MD5 mismatch: expected {expGz} ({origin}), actual {knownGz}; {skipped}: using it anyway");
            else if (!(expH5 != null && knownH5 == expH5) && !(expH5 == null && knownGz == expGz))
                options.Warn($"{f.Original}: {skipped}: not checked against the {origin}");
            return;
        }
        if (expH5 != null)
        {
            var actual = f.H5Md5 ?? stamps.TryGet(f.H5Path);
            if (actual == null)
            {
                actual = ChecksumStamps.ComputeMd5(f.H5Path, options.Progress);
                stamps.Set(f.H5Path, actual);
            }
            if (actual != expH5)
            {
                if (f.GzPath != null) DeleteCached(f.H5Path); // never reuse a bad decompressed copy
                throw new PCamDataException($"{f.Original}: MD5 mismatch for {h5Name}: expected {expH5} ({origin}), actual {actual}. " +
                    "The file is damaged or not the expected version; download it again, or set PCamDataOptions.VerifyChecksums = false " +
                    "(DataSource.VerifyChecksums in mlnet.config.json) to use it anyway (e.g. a re-chunked or rebuilt file).");
            }
        }
        if (f.GzPath != null && expGz != null)
        {
            // With a verified .h5 the archive hash is informational: do not spend a pass on it.
            var actualGz = f.GzMd5 ?? stamps.TryGet(f.GzPath) ?? (expH5 == null ? ChecksumStamps.ComputeMd5(f.GzPath, options.Progress) : null);
            if (actualGz == null) return;
            stamps.Set(f.GzPath, actualGz);
            if (actualGz == expGz) return;
            if (expH5 != null)
                options.Warn($"{f.GzPath}: archive MD5 {actualGz} differs from {expGz} ({origin}), but the decompressed data matches; using it (the archive was probably re-uploaded)");
            else
            {
                DeleteCached(f.H5Path);
                throw new PCamDataException($"{f.GzPath}: MD5 mismatch: expected {expGz} ({origin}), actual {actualGz}. Download it again, " +
                    "or set PCamDataOptions.VerifyChecksums = false to use it anyway.");
            }
        }
    }

    private static void DeleteCached(string h5Path)
    {
        try
        {
            File.Delete(h5Path);
            File.Delete(h5Path + ".source.json");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // best effort: the stamp no longer matches anyway
    }
}
