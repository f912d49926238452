using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides;

/// <summary>Settings of `pcam heatmap` (defaults documented here and in the README).</summary>
public sealed class HeatmapOptions
{
    /// <summary>Window step in window pixels (at the target um/px). Default 32: PCam labels a 96 px patch by its centre
    /// 32x32, so windows at stride 32 tile the image with their label regions.</summary>
    public int Stride { get; init; } = 32;
    /// <summary>Level to read; null = the rule of <see cref="WindowSampling.Choose"/> (the coarsest level at or below the
    /// target um/px). With a known spacing the windows are still resampled to the target; without one, read as they are.</summary>
    public int? Level { get; init; }
    /// <summary>Level 0's um/px for files that lack it or state it wrongly (--mpp); null = the file's.</summary>
    public double? MicronsPerPixel { get; init; }
    /// <summary>Which reader opens the slide (Auto: LibTiff for TIFF/SVS, OpenSlide for NDPI, MRXS, SCN, BIF, VMS, ...).</summary>
    public SlideReaderKind Reader { get; init; } = SlideReaderKind.Auto;
    /// <summary>um/px the windows are sampled at: the model's training resolution, PCam's 0.972.</summary>
    public double TargetMicronsPerPixel { get; init; } = SlideImage.PCamMicronsPerPixel;
    /// <summary>Windows with probability at or above this form the GeoJSON tumour regions and the tumour area.</summary>
    public double Threshold { get; init; } = 0.5;
    /// <summary>Neighbourhood radius of the smoothing before thresholding (1 = 3x3 mean; 0 = none). See <see cref="SlideLesions"/>.</summary>
    public int SmoothingRadius { get; init; } = 1;
    /// <summary>Regions smaller than this (um^2) are dropped. 50,000 um^2 (0.05 mm^2) is a disc 250 um across, just above
    /// the 0.2 mm under which pN staging calls a deposit isolated tumour cells; it is 5.7 windows of 96 x 0.972 um, or 52
    /// cells at stride 32. On the disc mosaic (HeatmapTests) 20,000 left 24 regions (single misread normal patches); 50,000 leaves 5.</summary>
    public double MinRegionUm2 { get; init; } = 50_000;
    /// <summary>Windows per ONNX Runtime call.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Skip background windows (see <see cref="TissueMask"/>); false scores every window.</summary>
    public bool UseTissueMask { get; init; } = true;
    /// <summary>A window is scored when at least this fraction of its thumbnail pixels is tissue.</summary>
    public double MinTissueFraction { get; init; } = 0.25;

    public void Validate()
    {
        if (Stride < 1) throw new ArgumentException($"HeatmapOptions.Stride must be at least 1 (got {Stride}).");
        if (BatchSize < 1) throw new ArgumentException($"HeatmapOptions.BatchSize must be at least 1 (got {BatchSize}).");
        if (Threshold is < 0 or > 1 || double.IsNaN(Threshold)) throw new ArgumentException($"HeatmapOptions.Threshold must be in [0, 1] (got {Threshold}).");
        if (MinTissueFraction is < 0 or > 1 || double.IsNaN(MinTissueFraction)) throw new ArgumentException($"HeatmapOptions.MinTissueFraction must be in [0, 1] (got {MinTissueFraction}).");
        if (SmoothingRadius is < 0 or > 5) throw new ArgumentException($"HeatmapOptions.SmoothingRadius must be 0 to 5 (got {SmoothingRadius}).");
        if (!(MinRegionUm2 >= 0) || !double.IsFinite(MinRegionUm2)) throw new ArgumentException($"HeatmapOptions.MinRegionUm2 must be 0 or more (got {MinRegionUm2}).");
        if (Level is < 0) throw new ArgumentException($"HeatmapOptions.Level must be 0 or more (got {Level}).");
        if (MicronsPerPixel is { } m && (!(m > 0) || !double.IsFinite(m))) throw new ArgumentException($"HeatmapOptions.MicronsPerPixel must be a positive number of microns per pixel (got {m}).");
        if (!(TargetMicronsPerPixel > 0) || !double.IsFinite(TargetMicronsPerPixel)) throw new ArgumentException($"target um/px must be positive (got {TargetMicronsPerPixel}).");
    }
}

/// <summary>The scored window grid of one image: cell (i, j) is window (i, j) of <see cref="Windows"/>.</summary>
public sealed class HeatmapResult
{
    public required string Input { get; init; }
    public required string Description { get; init; }
    public required IReadOnlyList<SlideLevel> Levels { get; init; }
    public required SlideLevel Level { get; init; }
    public required HeatmapOptions Options { get; init; }
    /// <summary>The window grid: level read, scale, level-0 rectangles.</summary>
    public required SlideWindows Windows { get; init; }
    public WindowSampling Sampling => Windows.Sampling;
    public required int GridWidth { get; init; }
    public required int GridHeight { get; init; }
    /// <summary>Probability per grid cell, row-major; NaN = not scored (background).</summary>
    public required float[] Probability { get; init; }
    public required TissueMask Mask { get; init; }
    public required long PeakCacheBytes { get; init; }
    public required double MaskSeconds { get; init; }
    public required double ScoringSeconds { get; init; }
    public long WindowsTotal => (long)GridWidth * GridHeight;
    public long WindowsScored => Probability.LongCount(p => !float.IsNaN(p));
    public double WindowsPerSecond => WindowsScored / Math.Max(ScoringSeconds, 1e-9);
    public int Stride => Options.Stride;
    /// <summary>Window step in pixels of the read level.</summary>
    public double LevelStride => Windows.LevelStride;
    /// <summary>Side of a grid cell (stride) in microns, or null when the spacing is unknown.</summary>
    public double? CellMicrons => Sampling.LevelMicronsPerPixel is { } mpp ? LevelStride * mpp : null;
    private SlideLesions? _lesions;
    /// <summary>Smoothed grid, regions and the slide score (computed once).</summary>
    public SlideLesions Lesions => _lesions ??= SlideLesions.Find(this);
}

/// <summary>Scores every tissue window of an image with a model zip (see <see cref="WindowModel"/>).</summary>
public static class SlideHeatmap
{
    public const int Window = PatchSchema.Width;

    /// <param name="progress">Called with (windows done, windows to score) after each batch.</param>
    public static HeatmapResult Run(WindowModel model, string input, HeatmapOptions options,
        Action<long, long>? progress = null, Action<string>? info = null, CancellationToken cancel = default)
    {
        options.Validate();
        using var slide = SlideImage.Open(input, options.Reader);
        var sampling = WindowSampling.Choose(slide, options.TargetMicronsPerPixel, options.MicronsPerPixel, options.Level);
        slide.SelectLevel(sampling.Level);
        var level = slide.Level;
        var grid = new SlideWindows(slide, sampling, options.Stride);
        info?.Invoke($"{input}: {slide.Description}, {slide.Levels.Count} level(s); windows at " +
                     $"{(sampling.TargetMicronsPerPixel is { } t ? $"{t} um/px" : "the level's own resolution")}: {sampling} ({level.Width:N0}x{level.Height:N0} px).");
        if (sampling.Scale < 1 - WindowSampling.LevelTolerance)
            info?.Invoke($"warning: {input}: level 0 is {sampling.LevelMicronsPerPixel:0.###} um/px, coarser than {sampling.TargetMicronsPerPixel} um/px; windows are enlarged (x{1 / sampling.Scale:F2}).");

        var clock = Stopwatch.StartNew();
        var mask = TissueMask.Compute(slide, cancel);
        if (!options.UseTissueMask) mask = mask.AllTissue();
        double maskSeconds = clock.Elapsed.TotalSeconds;

        int gw = grid.GridWidth, gh = grid.GridHeight, region = sampling.RegionSize;
        var windows = new List<(int I, int J)>();
        for (int j = 0; j < gh; j++)
            for (int i = 0; i < gw; i++)
            {
                var (x, y) = grid.Origin(i, j);
                if (!options.UseTissueMask || mask.Fraction(x, y, region, region) >= options.MinTissueFraction) windows.Add((i, j));
            }
        var probability = new float[(long)gw * gh];
        Array.Fill(probability, float.NaN);

        clock.Restart();
        long done = 0;
        progress?.Invoke(0, windows.Count);
        var view = new WindowDataView(grid, windows, model.Featurizer, options.BatchSize, n => progress?.Invoke(done += n, windows.Count), cancel);
        var scored = model.Head.Transform(view);
        var columns = scored.Schema;
        var prob = columns.GetColumnOrNull("Probability") is { } column ? column : throw new PCamModelException($"{model.Path}: the model's head has no Probability column.");
        try
        {
            Collect(scored, columns, prob, probability, gw);
        }
        catch (Exception e) when (cancel.IsCancellationRequested && e is not OperationCanceledException)
        {
            throw new OperationCanceledException("cancelled", e, cancel); // ML.NET may wrap the cursor's cancellation
        }
        cancel.ThrowIfCancellationRequested();
        return new HeatmapResult
        {
            Input = input, Description = slide.Description, Levels = slide.Levels, Level = level, Options = options,
            Windows = grid, GridWidth = gw, GridHeight = gh, Probability = probability, Mask = mask, PeakCacheBytes = slide.PeakCacheBytes,
            MaskSeconds = maskSeconds, ScoringSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static void Collect(IDataView scored, DataViewSchema columns, DataViewSchema.Column prob, float[] probability, int gw)
    {
        using var cursor = scored.GetRowCursor([columns[WindowDataView.ColumnColumn], columns[WindowDataView.RowColumn], prob]);
        var gi = cursor.GetGetter<int>(columns[WindowDataView.ColumnColumn]);
        var gj = cursor.GetGetter<int>(columns[WindowDataView.RowColumn]);
        var gp = cursor.GetGetter<float>(prob);
        int i = 0, j = 0;
        float p = 0;
        while (cursor.MoveNext())
        {
            gi(ref i); gj(ref j); gp(ref p);
            probability[(long)j * gw + i] = p;
        }
    }
}
