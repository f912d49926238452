using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Training;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>Settings of `pcam heatmap` (defaults documented here and in the README).</summary>
public sealed class HeatmapOptions
{
    /// <summary>Window step in window pixels (at the target um/px). Default 32: PCam labels a 96 px patch by its centre
    /// 32x32, so windows at stride 32 tile the image with their label regions. With <see cref="Refine"/> this is the
    /// fine stride, used only around likely tumour.</summary>
    public int Stride { get; init; } = 32;
    /// <summary>Coarse-to-fine scoring (see <see cref="CoarseToFine"/>): score at <see cref="CoarseStride"/>, then at
    /// <see cref="Stride"/> only around windows at or above <see cref="RefineThreshold"/>. False (--no-refine) scores
    /// every tissue window at <see cref="Stride"/>.</summary>
    public bool Refine { get; init; } = true;
    /// <summary>Stride of the coarse stage, a multiple of <see cref="Stride"/>. Default 96: windows that do not overlap.
    /// At or below <see cref="Stride"/> there is nothing to refine and every tissue window is scored at <see cref="Stride"/>.</summary>
    public int CoarseStride { get; init; } = 96;
    /// <summary>Coarse windows at or above this probability are refined, with their neighbours (default <see cref="CoarseToFine.DefaultThreshold"/>).</summary>
    public double RefineThreshold { get; init; } = CoarseToFine.DefaultThreshold;
    /// <summary>Views averaged per window: 8 (the dihedral TTA the model was trained with) or 1 (its single-view graph);
    /// null = one view when the zip carries its single-view graph, else the model's own (see <see cref="WindowModel.Load"/>,
    /// where it is applied). Recorded in the settings.</summary>
    public int? Views { get; init; }
    /// <summary>Coarse grid step in fine cells, or 1 when every tissue window is scored at <see cref="Stride"/>.</summary>
    public int CoarseFactor => Refine && CoarseStride > Stride ? CoarseStride / Stride : 1;
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
        if (CoarseStride < 1) throw new ArgumentException($"HeatmapOptions.CoarseStride must be at least 1 (got {CoarseStride}).");
        if (Refine && CoarseStride > Stride && CoarseStride % Stride != 0)
            throw new ArgumentException($"HeatmapOptions.CoarseStride must be a multiple of HeatmapOptions.Stride (got {CoarseStride} and {Stride}); without HeatmapOptions.Refine only HeatmapOptions.Stride is scored.");
        if (RefineThreshold is < 0 or > 1 || double.IsNaN(RefineThreshold)) throw new ArgumentException($"HeatmapOptions.RefineThreshold must be in [0, 1] (got {RefineThreshold}).");
        if (Views is not (null or 1 or 8)) throw new ArgumentException($"HeatmapOptions.Views must be 1 or 8 (got {Views}).");
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
    /// <summary>The scoring stages in order ("exhaustive", or "coarse" then "refine") with their windows and seconds.</summary>
    public IReadOnlyList<ScoringStage> Stages { get; init; } = [];
    /// <summary>Views averaged per window (<see cref="WindowModel.Views"/>).</summary>
    public int Views { get; init; } = 1;
    /// <summary>Cells whose window was scored; null = every cell with a probability. A coarse-to-fine run fills the
    /// cells it did not score from their nearest coarse window (<see cref="CoarseToFine"/>).</summary>
    public bool[]? Measured { get; init; }
    /// <summary>Whether cell <paramref name="cell"/>'s probability is its own window's (not filled).</summary>
    public bool IsMeasured(long cell) => !float.IsNaN(Probability[cell]) && (Measured is null || Measured[cell]);
    public long WindowsTotal => (long)GridWidth * GridHeight;
    public long WindowsScored => Measured is { } m ? m.LongCount(x => x) : Probability.LongCount(p => !float.IsNaN(p));
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
        var mask = TissueMask.Compute(slide, sampling.Level, cancel);
        if (!options.UseTissueMask) mask = mask.AllTissue();
        double maskSeconds = clock.Elapsed.TotalSeconds;

        int gw = grid.GridWidth, gh = grid.GridHeight;
        var windows = TissueWindows(grid, mask, options);
        var probability = new float[(long)gw * gh];
        Array.Fill(probability, float.NaN);

        clock.Restart();
        var stages = new List<ScoringStage>();
        bool[]? measured = null;
        int k = options.CoarseFactor;
        if (k > 1)
        {
            var coarse = CoarseToFine.Coarse(windows, k);
            // The total grows by the refine stage's windows once the coarse stage has found where to refine.
            long done = 0, total = coarse.Count;
            Score(model, grid, coarse, probability, options, n => progress?.Invoke(done += n, total), progress is null ? null : () => progress(0, total), cancel);
            stages.Add(new ScoringStage("coarse", options.CoarseStride, coarse.Count, clock.Elapsed.TotalSeconds));
            var stageClock = Stopwatch.StartNew();
            var refine = CoarseToFine.Refine(windows, probability, gw, gh, k, options.RefineThreshold);
            total = done + refine.Count;
            Score(model, grid, refine, probability, options, n => progress?.Invoke(done += n, total), progress is null ? null : () => progress(done, total), cancel);
            stages.Add(new ScoringStage("refine", options.Stride, refine.Count, stageClock.Elapsed.TotalSeconds));
            measured = probability.Select(p => !float.IsNaN(p)).ToArray();
            CoarseToFine.Fill(windows, probability, gw, gh, k);
        }
        else
        {
            long done = 0;
            Score(model, grid, windows, probability, options, n => progress?.Invoke(done += n, windows.Count), progress is null ? null : () => progress(0, windows.Count), cancel);
            stages.Add(new ScoringStage("exhaustive", options.Stride, windows.Count, clock.Elapsed.TotalSeconds));
        }
        cancel.ThrowIfCancellationRequested();
        return new HeatmapResult
        {
            Input = input, Description = slide.Description, Levels = slide.Levels, Level = level, Options = options,
            Windows = grid, GridWidth = gw, GridHeight = gh, Probability = probability, Mask = mask, PeakCacheBytes = slide.PeakCacheBytes,
            MaskSeconds = maskSeconds, ScoringSeconds = clock.Elapsed.TotalSeconds, Stages = stages, Measured = measured, Views = model.Views,
        };
    }

    /// <summary>The grid cells to score (row-major): every cell, or those whose window is at least MinTissueFraction tissue.</summary>
    public static List<(int I, int J)> TissueWindows(SlideWindows grid, TissueMask mask, HeatmapOptions options)
    {
        int region = grid.Sampling.RegionSize;
        var windows = new List<(int I, int J)>();
        for (int j = 0; j < grid.GridHeight; j++)
            for (int i = 0; i < grid.GridWidth; i++)
            {
                var (x, y) = grid.Origin(i, j);
                if (!options.UseTissueMask || mask.Fraction(x, y, region, region) >= options.MinTissueFraction) windows.Add((i, j));
            }
        return windows;
    }

    /// <summary>Scores <paramref name="cells"/> (row-major) into <paramref name="probability"/>.</summary>
    private static void Score(WindowModel model, SlideWindows grid, IReadOnlyList<(int I, int J)> cells, float[] probability, HeatmapOptions options,
        Action<int> onBatch, Action? start, CancellationToken cancel)
    {
        start?.Invoke();
        if (cells.Count == 0) return;
        var view = new WindowDataView(grid, cells, model.Featurizer, options.BatchSize, onBatch, cancel);
        var scored = model.Head.Transform(view);
        var columns = scored.Schema;
        var prob = columns.GetColumnOrNull("Probability") is { } column ? column : throw new PCamModelException($"{model.Path}: the model's head has no Probability column.");
        try
        {
            Collect(scored, columns, prob, probability, grid.GridWidth);
        }
        catch (Exception e) when (cancel.IsCancellationRequested && e is not OperationCanceledException)
        {
            throw new OperationCanceledException("cancelled", e, cancel); // ML.NET may wrap the cursor's cancellation
        }
        cancel.ThrowIfCancellationRequested();
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
