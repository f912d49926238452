namespace PCam.MLNet.Data;

/// <summary>Single-file entry points used by prediction, where only images (no labels) are given.</summary>
public static class PatchFiles
{
    /// <summary>Opens an `_x.h5` (or `_x.h5.gz`, decompressed once into the cache) alone; labels read as false.</summary>
    public static Hdf5PatchSource OpenImages(string xPath, string? cacheDirectory = null)
    {
        if (!File.Exists(xPath)) throw new PCamDataException($"{xPath}: file not found.");
        if (xPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            xPath = GzipCache.Ensure(xPath, GzipCache.ResolveCacheDirectory(xPath, cacheDirectory), null).H5Path;
        return Hdf5PatchSource.OpenImages(xPath);
    }
}
