namespace PCam.MLNet.Data;

/// <summary>Single-file entry points used by prediction, where only images (no labels) are given.</summary>
public static class PatchFiles
{
    /// <summary>Opens an `_x.h5` (or `_x.h5.gz`, decompressed once into the cache) alone; labels read as false.
    /// Errors name the user's file (the `.gz`, not its decompressed copy).</summary>
    public static Hdf5PatchSource OpenImages(string xPath, string? cacheDirectory = null)
    {
        if (!File.Exists(xPath)) throw new PCamDataException($"{xPath}: file not found.");
        if (!xPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) return Hdf5PatchSource.OpenImages(xPath);
        var cache = GzipCache.ResolveCacheDirectory(xPath, cacheDirectory);
        var h5 = GzipCache.Ensure(xPath, cache, null).H5Path;
        try { return Hdf5PatchSource.OpenImages(h5); }
        catch (PCamDataException e) { throw PCamData.NameOriginals(e, new PCamData.PreparedFile(xPath, h5, xPath, null, null, cache)); }
    }
}
