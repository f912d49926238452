using PCam.MLNet.Data;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Slides.Reading;

/// <summary>Which reader opens a slide: Auto (by content and extension), or one forced (--reader).</summary>
public enum SlideReaderKind { Auto, LibTiff, OpenSlide }

/// <summary>One resolution level of an image: its size, and its pixel size in microns (level 0's um/px times
/// <see cref="DownsampleX"/>) when level 0's is known.</summary>
public sealed record SlideLevel(int Index, int Width, int Height, double? MicronsPerPixel)
{
    /// <summary>Level-0 pixels per pixel of this level, along x and y.</summary>
    public double DownsampleX { get; init; } = 1;
    public double DownsampleY { get; init; } = 1;
}

/// <summary>
/// A large RGB image read by region at one level. Tiled TIFF reads tile by tile and keeps only the tiles decoded since
/// the last <see cref="Evict"/> (the band the windows need); plain PNG/JPEG are decoded whole.
/// </summary>
public abstract class SlideImage : ISlideReader
{
    /// <summary>PCam's pixel size: Camelyon16 level 2 (10x), the resolution every `pcam train` model is trained at
    /// (PCam's patches carry no other), so windows are sampled at it by default.</summary>
    public const double PCamMicronsPerPixel = 0.972;

    /// <summary>Largest level-0 pixel size taken from a file (um/px); above it a resolution tag is a screen default
    /// such as 72 dpi (353 um/px), not a microscope's, and the spacing counts as unknown.</summary>
    public const double MaxPlausibleMicronsPerPixel = 50;

    protected SlideImage(string path) => Path = path;

    public string Path { get; }
    public abstract IReadOnlyList<SlideLevel> Levels { get; }
    /// <summary>The level <see cref="ReadRegion"/> reads (0 until <see cref="SelectLevel"/>).</summary>
    public SlideLevel Level => Levels[LevelIndex];
    public int LevelIndex { get; private set; }
    /// <summary>"tiled TIFF (256x256 tiles, deflate)" and the like, for the summary.</summary>
    public abstract string Description { get; }
    /// <summary>Level 0's um/px, or null when the file does not say (then --mpp or --level is needed).</summary>
    public double? MicronsPerPixel => Levels[0].MicronsPerPixel;
    /// <summary>Where level 0's um/px came from, or null.</summary>
    public string? MicronsPerPixelSource { get; protected set; }
    /// <summary>Most bytes of decoded pixels held at once (tile band or whole raster).</summary>
    public long PeakCacheBytes { get; protected set; }

    /// <summary>
    /// Opens a slide or image by its content: TIFF (tiled or stripped, pyramidal or not, SVS) with LibTiff, PNG and
    /// JPEG with SkiaSharp, every other whole-slide format (NDPI, MRXS, SCN, BIF, VMS, ...) with the system's
    /// OpenSlide. Every problem is a PCamDataException naming the file.
    /// </summary>
    public static SlideImage Open(string path, SlideReaderKind reader = SlideReaderKind.Auto)
    {
        if (Directory.Exists(path)) throw new PCamDataException($"{path}: is a folder; expected an image file.");
        if (!File.Exists(path)) throw new PCamDataException($"{path}: no such file.");
        if (reader == SlideReaderKind.OpenSlide) return new OpenSlideSlide(path);
        var head = new byte[16];
        int n;
        try
        {
            using var fs = File.OpenRead(path);
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PCamDataException($"{path}: cannot read ({e.Message}).", e); }
        var format = PatchImageDecoder.DetectFormat(head.AsSpan(0, n));
        if (reader == SlideReaderKind.LibTiff)
            return format == PatchImageFormat.Tiff ? new TiffSlide(path) : throw new PCamDataException($"{path}: the SlideReaderKind.LibTiff reader reads TIFF files only.");
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        return format switch
        {
            // TIFF-based vendor formats (NDPI, SCN, BIF, Philips) go to OpenSlide: by extension, or by OpenSlide's own detection.
            PatchImageFormat.Tiff when OpenSlideTiffExtensions.Contains(ext) => new OpenSlideSlide(path),
            PatchImageFormat.Tiff when OpenSlideSlide.DetectVendor(path) is "hamamatsu" or "leica" or "ventana" or "philips" => new OpenSlideSlide(path),
            PatchImageFormat.Tiff => new TiffSlide(path),
            PatchImageFormat.Png or PatchImageFormat.Jpeg => new RasterSlide(path),
            _ when OpenSlideOnlyExtensions.Contains(ext) => new OpenSlideSlide(path),
            _ => throw new PCamDataException($"{path}: not a PNG, JPEG or TIFF image (unrecognised file header), nor a slide format OpenSlide reads by extension (NDPI, MRXS, SCN, BIF, VMS, VMU, SVSLIDE)."),
        };
    }

    /// <summary>TIFF-based formats LibTiff does not read correctly (vendor tiling, JPEG stripes): always OpenSlide.</summary>
    public static readonly string[] OpenSlideTiffExtensions = [".ndpi", ".scn", ".bif"];
    /// <summary>Formats that are not TIFF at all (index files beside data folders, or other containers).</summary>
    public static readonly string[] OpenSlideOnlyExtensions = [".mrxs", ".vms", ".vmu", ".svslide", ".dcm"];

    /// <summary>The level windows at PCam's 0.972 um/px are read from (see <see cref="WindowSampling.Choose"/>), or 0 when the spacing is unknown.</summary>
    public int DefaultLevel() => MicronsPerPixel is null ? 0 : WindowSampling.ChooseLevel(this, PCamMicronsPerPixel, null);

    /// <summary>Level 0's um/px when plausible for a microscope, else null.</summary>
    protected static double? Plausible(double? mpp) =>
        mpp is { } m && double.IsFinite(m) && m > 0 && m <= MaxPlausibleMicronsPerPixel ? m : null;

    /// <summary>Builds levels from their sizes: level i's spacing is level 0's um/px times level-0 width / its width.</summary>
    protected static List<SlideLevel> BuildLevels(IEnumerable<(int Width, int Height)> sizes, double? mpp0)
    {
        var list = new List<SlideLevel>();
        int w0 = 0, h0 = 0;
        foreach (var (w, h) in sizes)
        {
            if (list.Count == 0) (w0, h0) = (w, h);
            double dx = (double)w0 / w, dy = (double)h0 / h;
            list.Add(new SlideLevel(list.Count, w, h, mpp0 * dx) { DownsampleX = dx, DownsampleY = dy });
        }
        return list;
    }

    /// <inheritdoc/>
    public void ReadRegion(int level, int x, int y, int w, int h, Span<byte> rgb)
    {
        if (level != LevelIndex) SelectLevel(level);
        ReadRegion(x, y, w, h, rgb);
    }

    /// <inheritdoc/>
    public void Evict(int level, int y)
    {
        if (level == LevelIndex) Evict(y); // only the selected level holds cached tiles
    }

    public void SelectLevel(int level)
    {
        if (level < 0 || level >= Levels.Count)
            throw new PCamDataException($"{Path}: has no level {level} (levels 0..{Levels.Count - 1}: {string.Join(", ", Levels.Select(l => $"{l.Width}x{l.Height}"))}).");
        Evict(int.MaxValue);
        OnSelectLevel(level);
        LevelIndex = level;
    }

    protected abstract void OnSelectLevel(int level);

    /// <summary>Copies the w x h region at (x, y) of the selected level into <paramref name="rgb"/> (HWC RGB, w*h*3 bytes).</summary>
    public abstract void ReadRegion(int x, int y, int w, int h, Span<byte> rgb);

    /// <summary>Drops cached tiles that lie wholly above row <paramref name="y"/> (the reader moves down the image).</summary>
    public abstract void Evict(int y);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected void CheckRegion(int x, int y, int w, int h, int length)
    {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > Level.Width || y + h > Level.Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"region {x},{y} {w}x{h} outside the {Level.Width}x{Level.Height} level");
        if (length < w * h * 3) throw new ArgumentException($"buffer holds {length} bytes; the region needs {w * h * 3}.");
    }
}
