using System.Diagnostics;
using PCam.MLNet.Data;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>One slide's planned work: tissue windows at the fine stride and in the coarse stage (null when it cannot be opened).</summary>
public sealed record SlidePlan(string Path, long? TissueWindows, long? CoarseWindows, string? Error);

/// <summary>
/// The work a heatmap run has ahead, measured before it starts: each slide's tissue windows (its tissue mask, the same
/// one the run computes) and the scoring rate from a short warm-up on the model, so a cohort's time is known up front.
/// The estimate covers the first stage (all of an exhaustive run; the coarse stage of a coarse-to-fine one, whose
/// refine stage adds windows only around likely tumour).
/// </summary>
public sealed class HeatmapPlan
{
    public required IReadOnlyList<SlidePlan> Slides { get; init; }
    /// <summary>Windows per second of the model on this machine (warm-up), or 0 when not measured.</summary>
    public required double WindowsPerSecond { get; init; }
    public long FirstStageWindows => Slides.Sum(s => Math.Max(0, s.CoarseWindows ?? 0));
    public long TissueWindows => Slides.Sum(s => Math.Max(0, s.TissueWindows ?? 0));
    /// <summary>Seconds of the first stage at the warm-up rate.</summary>
    public double? FirstStageSeconds => WindowsPerSecond > 0 ? FirstStageWindows / WindowsPerSecond : null;
    /// <summary>Seconds of an exhaustive run of every tissue window at the warm-up rate (the coarse-to-fine worst case).</summary>
    public double? ExhaustiveSeconds => WindowsPerSecond > 0 ? TissueWindows / WindowsPerSecond : null;

    /// <summary>Counts each slide's windows (a slide that fails to open is counted as none, with its error) and times
    /// <paramref name="warmupBatches"/> batches of the model on synthetic windows (after one untimed batch).</summary>
    public static HeatmapPlan Make(WindowModel model, IEnumerable<string> slides, HeatmapOptions options, int warmupBatches = 2, CancellationToken cancel = default)
    {
        options.Validate();
        var plans = new List<SlidePlan>();
        foreach (var path in slides)
        {
            cancel.ThrowIfCancellationRequested();
            plans.Add(Count(path, options, cancel));
        }
        return new HeatmapPlan { Slides = plans, WindowsPerSecond = warmupBatches > 0 ? WarmUp(model, options.BatchSize, warmupBatches) : 0 };
    }

    /// <summary>Tissue windows of one slide at the fine stride and in the first stage.</summary>
    public static SlidePlan Count(string path, HeatmapOptions options, CancellationToken cancel = default)
    {
        try
        {
            using var slide = SlideImage.Open(path, options.Reader);
            var sampling = WindowSampling.Choose(slide, options.TargetMicronsPerPixel, options.MicronsPerPixel, options.Level);
            slide.SelectLevel(sampling.Level);
            var grid = new SlideWindows(slide, sampling, options.Stride);
            var mask = TissueMask.Compute(slide, sampling.Level, cancel);
            var windows = SlideHeatmap.TissueWindows(grid, options.UseTissueMask ? mask : mask.AllTissue(), options);
            int k = options.CoarseFactor;
            return new SlidePlan(path, windows.Count, k > 1 ? CoarseToFine.Coarse(windows, k).Count : windows.Count, null);
        }
        catch (Exception e) when (e is PCamDataException or IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
        {
            return new SlidePlan(path, null, null, e.Message); // the run itself reports the slide's failure
        }
    }

    /// <summary>Windows/s of featurizer + head on synthetic tissue-coloured windows (the cost does not depend on the pixels).</summary>
    public static double WarmUp(WindowModel model, int batchSize, int batches)
    {
        int n = Math.Max(1, batchSize);
        var pixels = new byte[(long)n * PatchSchema.ImageBytes];
        new Random(1).NextBytes(pixels);
        var features = new float[(long)n * model.FeatureDimension];
        model.Featurizer.Featurize(pixels, n, features); // untimed: session warm-up
        var clock = Stopwatch.StartNew();
        for (int b = 0; b < batches; b++) model.Featurizer.Featurize(pixels, n, features);
        return batches * n / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
    }
}
