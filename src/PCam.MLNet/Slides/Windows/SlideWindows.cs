using PCam.MLNet.Data;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Slides.Windows;

/// <summary>
/// The grid of 96 x 96 windows of a slide at the sampling's target um/px: window (i, j) starts at
/// (i, j) x <see cref="Stride"/> window pixels, i.e. <see cref="LevelStride"/> pixels of the read level, and covers
/// <see cref="WindowSampling.LevelWindow"/> level pixels (96 x 0.972 um at PCam's resolution). Reads a window as 96 x 96
/// RGB (resampled when the level is not at the target), and gives each window's rectangle in level-0 pixels.
/// Not thread-safe: one reader at a time (the slide's tile cache).
/// </summary>
public sealed class SlideWindows
{
    private readonly WindowResampler? _resampler;
    private readonly byte[] _region;

    /// <param name="stride">Step between windows in window pixels (at the target um/px); 32 = PCam's centre label region.</param>
    public SlideWindows(ISlideReader slide, WindowSampling sampling, int stride = 32)
    {
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), $"stride must be at least 1 (got {stride}).");
        Slide = slide;
        Sampling = sampling;
        Stride = stride;
        var level = slide.Levels[sampling.Level];
        int r = sampling.RegionSize;
        if (level.Width < r || level.Height < r)
            throw new PCamDataException($"{slide.Path}: level {level.Index} is {level.Width}x{level.Height} px, smaller than one {r}x{r} window" +
                                        $"{(sampling.IsNative ? "" : $" ({SlideHeatmap.Window} px at {sampling.TargetMicronsPerPixel} um/px)")}.");
        GridWidth = (int)Math.Floor((level.Width - r) / LevelStride + 1e-9) + 1;
        GridHeight = (int)Math.Floor((level.Height - r) / LevelStride + 1e-9) + 1;
        _region = new byte[r * r * 3];
        if (!sampling.IsNative) _resampler = new WindowResampler(r, sampling.Scale);
    }

    public ISlideReader Slide { get; }
    public WindowSampling Sampling { get; }
    public SlideLevel Level => Slide.Levels[Sampling.Level];
    /// <summary>Window step in window pixels.</summary>
    public int Stride { get; }
    /// <summary>Window step in pixels of the read level (Stride x Scale).</summary>
    public double LevelStride => Stride * Sampling.Scale;
    public int GridWidth { get; }
    public int GridHeight { get; }
    public long Count => (long)GridWidth * GridHeight;

    /// <summary>Top-left of window (i, j) in pixels of the read level.</summary>
    public (int X, int Y) Origin(int i, int j)
    {
        int r = Sampling.RegionSize;
        return (Math.Min((int)Math.Round(i * LevelStride), Level.Width - r), Math.Min((int)Math.Round(j * LevelStride), Level.Height - r));
    }

    /// <summary>Window (i, j) as a rectangle in level-0 pixels (WSInfer's minx, miny, width, height).</summary>
    public (long MinX, long MinY, long Width, long Height) Level0Rect(int i, int j)
    {
        var (x, y) = Origin(i, j);
        var l = Level;
        return ((long)Math.Round(x * l.DownsampleX), (long)Math.Round(y * l.DownsampleY),
                (long)Math.Round(Sampling.LevelWindow * l.DownsampleX), (long)Math.Round(Sampling.LevelWindow * l.DownsampleY));
    }

    /// <summary>Reads window (i, j) as 96 x 96 x 3 RGB.</summary>
    public void Read(int i, int j, Span<byte> window)
    {
        var (x, y) = Origin(i, j);
        ReadAtLevel(x, y, window);
    }

    /// <summary>Reads the window whose top-left is (x, y) in pixels of the read level, as 96 x 96 x 3 RGB.</summary>
    public void ReadAtLevel(int x, int y, Span<byte> window)
    {
        int r = Sampling.RegionSize;
        if (window.Length < PatchSchema.ImageBytes) throw new ArgumentException($"window buffer holds {window.Length} bytes; needs {PatchSchema.ImageBytes}.", nameof(window));
        if (_resampler is null)
        {
            Slide.ReadRegion(Sampling.Level, x, y, r, r, window);
            return;
        }
        Slide.ReadRegion(Sampling.Level, x, y, r, r, _region);
        _resampler.Resample(_region, window);
    }

    /// <summary>Reads the window whose top-left is (minX, minY) in level-0 pixels (clamped inside the level), as 96 x 96 x 3 RGB.</summary>
    public void ReadAtLevel0(double minX, double minY, Span<byte> window)
    {
        var l = Level;
        int r = Sampling.RegionSize;
        int x = Math.Clamp((int)Math.Round(minX / l.DownsampleX), 0, l.Width - r), y = Math.Clamp((int)Math.Round(minY / l.DownsampleY), 0, l.Height - r);
        ReadAtLevel(x, y, window);
    }

    /// <summary>Drops the slide's cached tiles above level row <paramref name="y"/> (windows are read top to bottom).</summary>
    public void Evict(int y)
    {
        Slide.Evict(Level.Index, y);
    }
}
