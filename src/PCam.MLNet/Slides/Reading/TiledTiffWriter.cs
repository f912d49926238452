using BitMiracle.LibTiff.Classic;


namespace PCam.MLNet.Slides.Reading;

/// <summary>
/// Writes an 8-bit RGB tiled TIFF, one tile at a time (levels as successive IFDs, level 0 first, later ones marked
/// reduced-resolution), with XResolution/YResolution in pixels per centimetre. For benchmarks and tests that need a
/// slide-like file; the tile callback fills each tile, so nothing larger than a tile is held.
/// </summary>
public static class TiledTiffWriter
{
    /// <param name="levels">Width, height and um/px of each level (null = no resolution tags).</param>
    /// <param name="fillTile">(level, x0, y0, tile): fill tileSize x tileSize x 3 RGB bytes for the tile whose top-left is (x0, y0); edge tiles are padded.</param>
    /// <param name="description">ImageDescription of level 0 (e.g. an Aperio header with "MPP = 0.4990"), or null.</param>
    public static void Write(string path, IReadOnlyList<(int Width, int Height, double? MicronsPerPixel)> levels, int tileSize,
        Action<int, int, int, byte[]> fillTile, Compression compression = Compression.ADOBE_DEFLATE, CancellationToken cancel = default,
        string? description = null)
    {
        if (tileSize % 16 != 0) throw new ArgumentException($"TIFF tile sides must be multiples of 16 (got {tileSize}).", nameof(tileSize));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            long estimate = levels.Sum(l => (long)l.Width * l.Height * 3);
            using (var tiff = Tiff.Open(tmp, estimate > 2_000_000_000 ? "w8" : "w") ?? throw new IOException($"{path}: cannot create TIFF."))
            {
                var tile = new byte[tileSize * tileSize * 3];
                for (int level = 0; level < levels.Count; level++)
                {
                    var (w, h, mpp) = levels[level];
                    tiff.SetField(TiffTag.IMAGEWIDTH, w);
                    tiff.SetField(TiffTag.IMAGELENGTH, h);
                    tiff.SetField(TiffTag.SAMPLESPERPIXEL, 3);
                    tiff.SetField(TiffTag.BITSPERSAMPLE, 8);
                    tiff.SetField(TiffTag.PHOTOMETRIC, Photometric.RGB);
                    tiff.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
                    tiff.SetField(TiffTag.COMPRESSION, compression);
                    if (compression == Compression.JPEG) tiff.SetField(TiffTag.JPEGQUALITY, 90);
                    tiff.SetField(TiffTag.TILEWIDTH, tileSize);
                    tiff.SetField(TiffTag.TILELENGTH, tileSize);
                    if (level > 0) tiff.SetField(TiffTag.SUBFILETYPE, FileType.REDUCEDIMAGE);
                    else if (description is not null) tiff.SetField(TiffTag.IMAGEDESCRIPTION, description);
                    if (mpp is { } m)
                    {
                        tiff.SetField(TiffTag.RESOLUTIONUNIT, ResUnit.CENTIMETER);
                        tiff.SetField(TiffTag.XRESOLUTION, 1e4 / m);
                        tiff.SetField(TiffTag.YRESOLUTION, 1e4 / m);
                    }
                    for (int y = 0; y < h; y += tileSize)
                    {
                        cancel.ThrowIfCancellationRequested();
                        for (int x = 0; x < w; x += tileSize)
                        {
                            fillTile(level, x, y, tile);
                            if (tiff.WriteEncodedTile(tiff.ComputeTile(x, y, 0, 0), tile, tile.Length) < 0)
                                throw new IOException($"{path}: writing the tile at ({x},{y}) of level {level} failed.");
                        }
                    }
                    if (!tiff.WriteDirectory()) throw new IOException($"{path}: writing the TIFF directory of level {level} failed.");
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Copies the tile at (x0, y0) out of an in-memory HWC RGB image, padding outside it with <paramref name="pad"/>.</summary>
    public static void CopyTile(ReadOnlySpan<byte> rgb, int width, int height, int x0, int y0, byte[] tile, int tileSize, byte pad = 255)
    {
        Array.Fill(tile, pad);
        int w = Math.Min(tileSize, width - x0);
        for (int r = 0; r < tileSize && y0 + r < height; r++)
            rgb.Slice(((y0 + r) * width + x0) * 3, w * 3).CopyTo(tile.AsSpan(r * tileSize * 3, w * 3));
    }
}
