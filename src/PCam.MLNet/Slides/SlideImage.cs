using PCam.MLNet.Data;

namespace PCam.MLNet.Slides;

/// <summary>One resolution level of an image: its size, and its pixel size in microns when the file says.</summary>
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
public abstract class SlideImage : IDisposable
{
    /// <summary>PCam's pixel size: Camelyon16 level 2 (10x).</summary>
    public const double PCamMicronsPerPixel = 0.972;

    protected SlideImage(string path) => Path = path;

    public string Path { get; }
    public abstract IReadOnlyList<SlideLevel> Levels { get; }
    /// <summary>The level <see cref="ReadRegion"/> reads (0 until <see cref="SelectLevel"/>).</summary>
    public SlideLevel Level => Levels[LevelIndex];
    public int LevelIndex { get; private set; }
    /// <summary>"tiled TIFF (256x256 tiles, deflate)" and the like, for the summary.</summary>
    public abstract string Description { get; }
    /// <summary>Most bytes of decoded pixels held at once (tile band or whole raster).</summary>
    public long PeakCacheBytes { get; protected set; }

    /// <summary>Opens PNG, JPEG or TIFF (tiled or stripped, pyramidal or not) by its magic number; every problem is a PCamDataException naming the file.</summary>
    public static SlideImage Open(string path)
    {
        if (Directory.Exists(path)) throw new PCamDataException($"{path}: is a folder; expected an image file.");
        if (!File.Exists(path)) throw new PCamDataException($"{path}: no such file.");
        var head = new byte[16];
        int n;
        try
        {
            using var fs = File.OpenRead(path);
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PCamDataException($"{path}: cannot read ({e.Message}).", e); }
        return PatchImageDecoder.DetectFormat(head.AsSpan(0, n)) switch
        {
            PatchImageFormat.Tiff => new TiffSlide(path),
            PatchImageFormat.Png or PatchImageFormat.Jpeg => new RasterSlide(path),
            _ => throw new PCamDataException($"{path}: not a PNG, JPEG or TIFF image (unrecognised file header)."),
        };
    }

    /// <summary>The level closest to PCam's 0.972 um/px (in log scale) when the file gives its resolution, else level 0.</summary>
    public int DefaultLevel()
    {
        int best = 0;
        double bestDistance = double.MaxValue;
        foreach (var l in Levels)
        {
            if (l.MicronsPerPixel is not { } mpp || mpp <= 0) continue;
            var d = Math.Abs(Math.Log(mpp / PCamMicronsPerPixel));
            if (d < bestDistance) { bestDistance = d; best = l.Index; }
        }
        return best;
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
