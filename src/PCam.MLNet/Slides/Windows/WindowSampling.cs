using PCam.MLNet.Data;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Slides.Windows;

/// <summary>
/// How a slide's windows are read so that each covers 96 x <see cref="TargetMicronsPerPixel"/> um (PCam's field of view
/// at its 0.972 um/px): the level read, and <see cref="Scale"/>, that level's pixels per window pixel. A window is a
/// <see cref="RegionSize"/> px square of the level resampled to 96 px (<see cref="WindowResampler"/>).
/// </summary>
/// <remarks>
/// The rule (<see cref="Choose"/>): level spacing = level 0's um/px x downsample; read the level whose spacing is the
/// largest at or below the target, counting a level up to <see cref="LevelTolerance"/> coarser as "at" it, so a
/// window is shrunk (area averaging) rather than enlarged; when level 0 is already coarser it is enlarged (bilinear).
/// A scale within <see cref="ExactTolerance"/> of 1 reads 96 px as they are.
/// </remarks>
public sealed record WindowSampling
{
    /// <summary>A level at most this much coarser than the target (5%) still counts as at the target.</summary>
    public const double LevelTolerance = 0.05;
    /// <summary>Scales within 0.5% of 1 are read without resampling (a window is then 96 level pixels).</summary>
    public const double ExactTolerance = 0.005;

    public required int Level { get; init; }
    /// <summary>The read level's um/px (level 0's x downsample); null when the spacing is unknown (native read at --level).</summary>
    public required double? LevelMicronsPerPixel { get; init; }
    /// <summary>um/px of the windows (0.972 by default); null when the spacing is unknown.</summary>
    public required double? TargetMicronsPerPixel { get; init; }
    /// <summary>Level pixels per window pixel: 2 reads a 192 px square and averages 2x2 blocks; 1 reads 96 px as is.</summary>
    public required double Scale { get; init; }
    /// <summary>Where level 0's um/px came from ("TIFF resolution tags", "Aperio MPP", "openslide.mpp-x", "--mpp"), or null.</summary>
    public string? MicronsPerPixelSource { get; init; }

    /// <summary>Side of the square read from the level for one window (level pixels).</summary>
    public int RegionSize => Scale == 1 ? SlideHeatmap.Window : Math.Max(1, (int)Math.Ceiling(SlideHeatmap.Window * Scale - 1e-6));
    /// <summary>Window side in level pixels, unrounded (96 x Scale).</summary>
    public double LevelWindow => SlideHeatmap.Window * Scale;
    /// <summary>True when windows are read as they are (no resampling).</summary>
    public bool IsNative => Scale == 1;

    /// <summary>
    /// Chooses the level and scale for windows at <paramref name="targetMpp"/> um/px. <paramref name="mppOverride"/>
    /// (--mpp) replaces level 0's um/px from the file; <paramref name="levelOverride"/> (--level) forces the level (still
    /// resampled to the target when the spacing is known, read as is when not). A slide with no known spacing and no
    /// override is an error.
    /// </summary>
    public static WindowSampling Choose(ISlideReader slide, double targetMpp = SlideImage.PCamMicronsPerPixel, double? mppOverride = null, int? levelOverride = null)
    {
        if (!(targetMpp > 0) || !double.IsFinite(targetMpp)) throw new ArgumentException($"target um/px must be positive (got {targetMpp}).", nameof(targetMpp));
        if (mppOverride is { } o && (!(o > 0) || !double.IsFinite(o))) throw new ArgumentException($"HeatmapOptions.MicronsPerPixel must be positive (got {o}).", nameof(mppOverride));
        var levels = slide.Levels;
        if (levelOverride is { } lv && (lv < 0 || lv >= levels.Count))
            throw new PCamDataException($"{slide.Path}: has no level {lv} (levels 0..{levels.Count - 1}: {string.Join(", ", levels.Select(l => $"{l.Width}x{l.Height}"))}).");
        double? mpp0 = mppOverride ?? slide.MicronsPerPixel;
        string? source = mppOverride is null ? slide.MicronsPerPixelSource : "--mpp";
        if (mpp0 is not { } m0)
        {
            if (levelOverride is not { } forced)
                throw new PCamDataException($"{slide.Path}: the pixel size is unknown (no TIFF resolution tags, Aperio MPP or openslide.mpp-x); " +
                                            $"give HeatmapOptions.MicronsPerPixel (level 0's um/px) or HeatmapOptions.Level to read a level as it is.");
            return new WindowSampling { Level = forced, LevelMicronsPerPixel = null, TargetMicronsPerPixel = null, Scale = 1 };
        }
        int level = levelOverride ?? ChooseLevel(levels, m0, targetMpp);
        double spacing = m0 * levels[level].DownsampleX;
        double scale = targetMpp / spacing;
        if (Math.Abs(scale - 1) <= ExactTolerance) scale = 1;
        // TIFF stores resolutions as float rationals: 0.486 comes back as 0.48600002, and 2x must stay an exact 2x2 mean.
        else if (Math.Abs(scale - Math.Round(scale)) <= 1e-4 * scale) scale = Math.Round(scale);
        return new WindowSampling { Level = level, LevelMicronsPerPixel = spacing, TargetMicronsPerPixel = targetMpp, Scale = scale, MicronsPerPixelSource = source };
    }

    /// <summary>The level rule alone, with the slide's own um/px or <paramref name="mppOverride"/>.</summary>
    public static int ChooseLevel(ISlideReader slide, double targetMpp, double? mppOverride) =>
        ChooseLevel(slide.Levels, mppOverride ?? slide.MicronsPerPixel ?? throw new PCamDataException($"{slide.Path}: the pixel size is unknown."), targetMpp);

    private static int ChooseLevel(IReadOnlyList<SlideLevel> levels, double mpp0, double targetMpp)
    {
        int best = 0;
        double bestSpacing = 0;
        foreach (var l in levels)
        {
            double spacing = mpp0 * l.DownsampleX;
            if (spacing <= targetMpp * (1 + LevelTolerance) && spacing > bestSpacing) { best = l.Index; bestSpacing = spacing; }
        }
        return best; // none at or below the target: level 0 (the finest), enlarged
    }

    /// <summary>"level 1 (0.972 um/px) read as is" / "level 0 (0.486 um/px), 192 px resampled to 96 (x2.000)" for logs and summaries.</summary>
    public override string ToString() =>
        $"level {Level} ({(LevelMicronsPerPixel is { } s ? $"{s:0.###} um/px" : "resolution unknown")})" +
        (IsNative ? " read as is" : $", {RegionSize} px resampled to {SlideHeatmap.Window} (x{Scale:F3})");
}
