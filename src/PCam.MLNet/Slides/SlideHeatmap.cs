using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides;

/// <summary>Settings of `pcam heatmap` (defaults documented here and in the README).</summary>
public sealed class HeatmapOptions
{
    /// <summary>Window step in level pixels. Default 32: PCam labels a 96 px patch by its centre 32x32, so windows at
    /// stride 32 tile the image with their label regions.</summary>
    public int Stride { get; init; } = 32;
    /// <summary>Level to read; null = the level closest to 0.972 um/px when the file gives its resolution, else 0.</summary>
    public int? Level { get; init; }
    /// <summary>Windows with probability at or above this form the GeoJSON tumour regions and the tumour area.</summary>
    public double Threshold { get; init; } = 0.5;
    /// <summary>Windows per ONNX Runtime call.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Skip background windows (see <see cref="TissueMask"/>); false scores every window.</summary>
    public bool UseTissueMask { get; init; } = true;
    /// <summary>A window is scored when at least this fraction of its thumbnail pixels is tissue.</summary>
    public double MinTissueFraction { get; init; } = 0.25;

    public void Validate()
    {
        if (Stride < 1) throw new ArgumentException($"--stride must be at least 1 (got {Stride}).");
        if (BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1 (got {BatchSize}).");
        if (Threshold is < 0 or > 1 || double.IsNaN(Threshold)) throw new ArgumentException($"--threshold must be in [0, 1] (got {Threshold}).");
        if (MinTissueFraction is < 0 or > 1 || double.IsNaN(MinTissueFraction)) throw new ArgumentException($"--min-tissue must be in [0, 1] (got {MinTissueFraction}).");
        if (Level is < 0) throw new ArgumentException($"--level must be 0 or more (got {Level}).");
    }
}

/// <summary>The scored window grid of one image: cell (i, j) is the window with top-left (i*Stride, j*Stride).</summary>
public sealed class HeatmapResult
{
    public required string Input { get; init; }
    public required string Description { get; init; }
    public required IReadOnlyList<SlideLevel> Levels { get; init; }
    public required SlideLevel Level { get; init; }
    public required HeatmapOptions Options { get; init; }
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
        using var slide = SlideImage.Open(input);
        slide.SelectLevel(options.Level ?? slide.DefaultLevel());
        var level = slide.Level;
        if (level.Width < Window || level.Height < Window)
            throw new PCamDataException($"{input}: level {level.Index} is {level.Width}x{level.Height} px, smaller than one {Window}x{Window} window.");
        info?.Invoke($"{input}: {slide.Description}, level {level.Index} of {slide.Levels.Count} ({level.Width:N0}x{level.Height:N0} px, " +
                     $"{(level.MicronsPerPixel is { } mpp ? $"{mpp:F3} um/px" : "resolution unknown")}).");
        if (level.MicronsPerPixel is { } m && Math.Abs(Math.Log(m / SlideImage.PCamMicronsPerPixel)) > Math.Log(1.25))
            info?.Invoke($"warning: {input}: level {level.Index} is {m:F3} um/px; PCam patches are {SlideImage.PCamMicronsPerPixel} um/px, so scores may not transfer (choose --level).");

        var clock = Stopwatch.StartNew();
        var mask = TissueMask.Compute(slide, cancel);
        if (!options.UseTissueMask) mask = mask.AllTissue();
        double maskSeconds = clock.Elapsed.TotalSeconds;

        int gw = (level.Width - Window) / options.Stride + 1, gh = (level.Height - Window) / options.Stride + 1;
        var windows = new List<(int X, int Y)>();
        for (int j = 0; j < gh; j++)
            for (int i = 0; i < gw; i++)
            {
                int x = i * options.Stride, y = j * options.Stride;
                if (!options.UseTissueMask || mask.Fraction(x, y, Window, Window) >= options.MinTissueFraction) windows.Add((x, y));
            }
        var probability = new float[(long)gw * gh];
        Array.Fill(probability, float.NaN);

        clock.Restart();
        long done = 0;
        progress?.Invoke(0, windows.Count);
        var view = new WindowDataView(slide, windows, model.Featurizer, options.BatchSize, n => progress?.Invoke(done += n, windows.Count), cancel);
        var scored = model.Head.Transform(view);
        var columns = scored.Schema;
        var prob = columns.GetColumnOrNull("Probability") is { } column ? column : throw new PCamModelException($"{model.Path}: the model's head has no Probability column.");
        try
        {
            Collect(scored, columns, prob, probability, gw, options.Stride);
        }
        catch (Exception e) when (cancel.IsCancellationRequested && e is not OperationCanceledException)
        {
            throw new OperationCanceledException("cancelled", e, cancel); // ML.NET may wrap the cursor's cancellation
        }
        cancel.ThrowIfCancellationRequested();
        return new HeatmapResult
        {
            Input = input, Description = slide.Description, Levels = slide.Levels, Level = level, Options = options,
            GridWidth = gw, GridHeight = gh, Probability = probability, Mask = mask, PeakCacheBytes = slide.PeakCacheBytes,
            MaskSeconds = maskSeconds, ScoringSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static void Collect(IDataView scored, DataViewSchema columns, DataViewSchema.Column prob, float[] probability, int gw, int stride)
    {
        using (var cursor = scored.GetRowCursor([columns[WindowDataView.XColumn], columns[WindowDataView.YColumn], prob]))
        {
            var gx = cursor.GetGetter<int>(columns[WindowDataView.XColumn]);
            var gy = cursor.GetGetter<int>(columns[WindowDataView.YColumn]);
            var gp = cursor.GetGetter<float>(prob);
            int x = 0, y = 0;
            float p = 0;
            while (cursor.MoveNext())
            {
                gx(ref x); gy(ref y); gp(ref p);
                probability[(long)(y / stride) * gw + x / stride] = p;
            }
        }
    }
}
