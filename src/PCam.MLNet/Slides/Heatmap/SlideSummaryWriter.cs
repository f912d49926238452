namespace PCam.MLNet.Slides.Heatmap;

/// <summary>STEM.summary.json: what the slide's run found and how, read back by the cohort and the evaluation.</summary>
public static class SlideSummaryWriter
{
    /// <summary>
    /// Writes STEM.summary.json: the slide's facts, then its id and <paramref name="provenance"/> (label, source identity,
    /// model SHA-256, settings key, version, annotations), indented.
    /// </summary>
    public static void Write(HeatmapResult r, string modelPath, long tumourCells, double totalSeconds, string slideId, SummaryProvenance? provenance, string path)
    {
        var summary = Summary(r, modelPath, tumourCells, totalSeconds) with { SlideId = slideId };
        if (provenance is { } p)
            summary = summary with
            {
                Label = p.Label, Source = p.Source, ModelSha256 = p.ModelSha256, SettingsKey = p.SettingsKey, Version = p.Version,
                Annotations = p.Annotations,
            };
        summary.Write(path);
    }

    /// <summary>Area of <paramref name="cells"/> stride x stride cells in mm^2 when the level's pixel size is known.</summary>
    public static double? AreaMm2(HeatmapResult r, long cells) =>
        r.CellMicrons is { } um ? cells * (um / 1000.0) * (um / 1000.0) : null;

    /// <summary>The slide's facts (no id or provenance).</summary>
    public static SlideSummary Summary(HeatmapResult r, string modelPath, long tumourCells, double totalSeconds)
    {
        var scored = r.Probability.Where(p => !float.IsNaN(p)).ToArray();
        var o = r.Options;
        return new SlideSummary
        {
            Input = r.Input,
            Reader = r.Description,
            Level = r.Level.Index,
            Levels = r.Levels.Select(l => new SummaryLevel(l.Width, l.Height, Math.Round(l.DownsampleX, 6),
                l.MicronsPerPixel is { } m ? Math.Round(m, 6) : null)).ToArray(),
            Width = r.Level.Width,
            Height = r.Level.Height,
            LevelMicronsPerPixel = Round6(r.Sampling.LevelMicronsPerPixel),
            MicronsPerPixelSource = r.Sampling.MicronsPerPixelSource,
            MicronsPerPixel = Round6(r.Sampling.TargetMicronsPerPixel),
            Scale = Math.Round(r.Sampling.Scale, 6),
            RegionSize = r.Sampling.RegionSize,
            Sampling = r.Sampling.ToString(),
            WindowsTotal = r.WindowsTotal,
            WindowsScored = r.WindowsScored,
            WindowsSkipped = r.WindowsTotal - r.WindowsScored,
            Scoring = SlideCost.Json(r),
            MaxProbability = scored.Length > 0 ? Math.Round(scored.Max(), 6) : null,
            MeanProbability = scored.Length > 0 ? Math.Round(scored.Average(p => (double)p), 6) : null,
            WindowsAtOrAboveThreshold = r.Probability.LongCount(p => !float.IsNaN(p) && p >= o.Threshold),
            SlideScore = Round6(r.Lesions.SlideScore),
            Regions = r.Lesions.Lesions.Count,
            RegionsDropped = r.Lesions.DroppedRegions,
            TumourWindows = tumourCells,
            TumourAreaMm2 = Round6(AreaMm2(r, tumourCells)),
            TissueFraction = Math.Round(r.Mask.TissueFraction, 6),
            SaturationThreshold = Math.Round(r.Mask.SaturationThreshold, 6),
            ThumbnailFactor = r.Mask.Factor,
            Seconds = new SummarySeconds(Math.Round(totalSeconds, 3), Math.Round(r.MaskSeconds, 3), Math.Round(r.ScoringSeconds, 3)),
            WindowsPerSecond = Math.Round(r.WindowsPerSecond, 2),
            Diagnosis = Diagnosis.SlideFeatures.Of(r).ToJson(),
            PeakTileCacheBytes = r.PeakCacheBytes,
            Model = Path.GetFullPath(modelPath),
            Settings = new SummarySettings
            {
                Window = SlideHeatmap.Window, Stride = o.Stride, Threshold = o.Threshold, BatchSize = o.BatchSize,
                TissueMask = o.UseTissueMask, MinTissueFraction = o.MinTissueFraction, LevelRequested = o.Level,
                MppRequested = o.MicronsPerPixel, TargetMicronsPerPixel = o.TargetMicronsPerPixel,
                SmoothingRadius = o.SmoothingRadius, MinRegionUm2 = o.MinRegionUm2,
                Refine = o.Refine, CoarseStride = o.CoarseStride, RefineThreshold = o.RefineThreshold, Views = o.Views,
            },
        };
    }

    private static double? Round6(double? v) => v is { } x ? Math.Round(x, 6) : null;
}

/// <summary>What a cohort run adds to a slide's summary so a later run can resume it: the slide's label, its source
/// file's identity, the model's SHA-256, the settings key, the pcam version, and the annotation scores when given.</summary>
public sealed record SummaryProvenance(string? Label, SourceIdentity Source, string ModelSha256, string SettingsKey, string? Version,
    SummaryAnnotations? Annotations = null);
