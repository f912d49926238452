namespace PCam.MLNet.Data;

// CONTRACT (to be implemented by the data-layer work).
public enum PatchSourceKind { None, OfficialHdf5, ImageFolders, Kaggle }

public sealed class PCamDataOptions
{
    /// <summary>Where .h5.gz files are decompressed; null = a `.pcam-cache` folder next to them.</summary>
    public string? CacheDirectory { get; set; }
    /// <summary>Verify MD5 checksums (official or checksums.md5 beside the files).</summary>
    public bool VerifyChecksums { get; set; } = true;
    /// <summary>Progress for long work (decompression, checksums): (stage, done, total).</summary>
    public IProgress<(string Stage, long Done, long Total)>? Progress { get; set; }
}

public static class PCamData
{
    /// <summary>What kind of PCam data a directory holds.</summary>
    public static PatchSourceKind Detect(string directory) => throw new NotImplementedException();
    /// <summary>Whether the directory holds the given split (in any supported layout).</summary>
    public static bool HasSplit(string directory, PCamSplit split) => throw new NotImplementedException();
    /// <summary>Opens one split. Errors (PCamDataException) name the file and the problem.</summary>
    public static PatchDataView Open(string directory, PCamSplit split, PCamDataOptions? options = null) => throw new NotImplementedException();
}

/// <summary>A data problem the user must fix: names the file and what is wrong.</summary>
public sealed class PCamDataException(string message, Exception? inner = null) : Exception(message, inner);
