namespace PCam.MLNet.Slides.Reading;

/// <summary>
/// The slide reader contract: a pyramid of RGB levels read by region. Everything above it (window sampling at a
/// target magnification, the tissue mask, heatmaps, patch extraction) uses only this. Implementations:
/// <see cref="TiffSlide"/> (LibTiff, built in: TIFF, SVS), OpenSlideSlide (the system's libopenslide:
/// NDPI, MRXS, SCN, BIF, VMS, ...), <see cref="RasterSlide"/> (PNG, JPEG). Open one with <see cref="SlideImage.Open"/>.
/// </summary>
/// <remarks>
/// Spacing convention (OpenSlide's): only level 0's pixel size is read from the file; a level's spacing is level 0's
/// um/px times its downsample (level-0 width / level width), because many writers copy level 0's resolution tag to
/// every level. Coordinates passed to <see cref="ReadRegion"/> are in the pixels of the level read.
/// </remarks>
public interface ISlideReader : IDisposable
{
    /// <summary>The file read.</summary>
    string Path { get; }
    /// <summary>"tiled TIFF (256x256 tiles, jpeg)", "OpenSlide (hamamatsu)" and the like.</summary>
    string Description { get; }
    /// <summary>Levels, largest first; level 0 is full resolution.</summary>
    IReadOnlyList<SlideLevel> Levels { get; }
    /// <summary>Level 0's um/px along x, or null when the file does not say.</summary>
    double? MicronsPerPixel { get; }
    /// <summary>Where <see cref="MicronsPerPixel"/> came from ("TIFF resolution tags", "Aperio MPP", "openslide.mpp-x"), or null.</summary>
    string? MicronsPerPixelSource { get; }
    /// <summary>Copies the w x h region at (x, y) of <paramref name="level"/> (level pixels) into <paramref name="rgb"/> (HWC RGB, w*h*3 bytes).</summary>
    void ReadRegion(int level, int x, int y, int w, int h, Span<byte> rgb);
    /// <summary>
    /// Tells the reader that rows of <paramref name="level"/> above <paramref name="y"/> will not be read again (readers
    /// move down the image), so it may drop cached tiles there; <c>int.MaxValue</c> drops them all. A reader without a
    /// cache does nothing.
    /// </summary>
    void Evict(int level, int y);
}
