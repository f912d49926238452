using System.Text.Json;
using System.Text.Json.Nodes;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>STEM.summary.json: what the slide's run found and how, read back by the cohort and the evaluation.</summary>
public static class SlideSummaryWriter
{
    /// <summary>
    /// Writes STEM.summary.json: the slide's facts, then its id and <paramref name="provenance"/> (source identity, model
    /// SHA-256, settings key, annotations), indented.
    /// </summary>
    public static void Write(HeatmapResult r, string modelPath, long tumourCells, double totalSeconds, string slideId, JsonObject? provenance, string path)
    {
        var summary = Summary(r, modelPath, tumourCells, totalSeconds);
        summary["slideId"] = slideId;
        if (provenance is not null)
            foreach (var (k, v) in provenance) summary[k] = v?.DeepClone();
        File.WriteAllText(path, summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Area of <paramref name="cells"/> stride x stride cells in mm^2 when the level's pixel size is known.</summary>
    public static double? AreaMm2(HeatmapResult r, long cells) =>
        r.CellMicrons is { } um ? cells * (um / 1000.0) * (um / 1000.0) : null;

    public static JsonObject Summary(HeatmapResult r, string modelPath, long tumourCells, double totalSeconds)
    {
        var scored = r.Probability.Where(p => !float.IsNaN(p)).ToArray();
        var o = r.Options;
        return new JsonObject
        {
            ["input"] = r.Input,
            ["reader"] = r.Description,
            ["level"] = r.Level.Index,
            ["levels"] = new JsonArray(r.Levels.Select(l => (JsonNode)new JsonObject
            {
                ["width"] = l.Width, ["height"] = l.Height, ["downsample"] = Math.Round(l.DownsampleX, 6),
                ["micronsPerPixel"] = l.MicronsPerPixel is { } m ? Math.Round(m, 6) : null,
            }).ToArray()),
            ["width"] = r.Level.Width,
            ["height"] = r.Level.Height,
            ["levelMicronsPerPixel"] = r.Sampling.LevelMicronsPerPixel is { } lm ? Math.Round(lm, 6) : null,
            ["micronsPerPixelSource"] = r.Sampling.MicronsPerPixelSource,
            ["micronsPerPixel"] = r.Sampling.TargetMicronsPerPixel is { } mpp ? Math.Round(mpp, 6) : null,
            ["scale"] = Math.Round(r.Sampling.Scale, 6),
            ["regionSize"] = r.Sampling.RegionSize,
            ["sampling"] = r.Sampling.ToString(),
            ["windowsTotal"] = r.WindowsTotal,
            ["windowsScored"] = r.WindowsScored,
            ["windowsSkipped"] = r.WindowsTotal - r.WindowsScored,
            ["scoring"] = SlideCost.Json(r),
            ["maxProbability"] = scored.Length > 0 ? Math.Round(scored.Max(), 6) : null,
            ["meanProbability"] = scored.Length > 0 ? Math.Round(scored.Average(p => (double)p), 6) : null,
            ["windowsAtOrAboveThreshold"] = r.Probability.LongCount(p => !float.IsNaN(p) && p >= o.Threshold),
            ["slideScore"] = r.Lesions.SlideScore is { } score ? Math.Round(score, 6) : null,
            ["regions"] = r.Lesions.Lesions.Count,
            ["regionsDropped"] = r.Lesions.DroppedRegions,
            ["tumourWindows"] = tumourCells,
            ["tumourAreaMm2"] = AreaMm2(r, tumourCells) is { } a ? Math.Round(a, 6) : null,
            ["tissueFraction"] = Math.Round(r.Mask.TissueFraction, 6),
            ["saturationThreshold"] = Math.Round(r.Mask.SaturationThreshold, 6),
            ["thumbnailFactor"] = r.Mask.Factor,
            ["seconds"] = new JsonObject
            {
                ["total"] = Math.Round(totalSeconds, 3), ["tissueMask"] = Math.Round(r.MaskSeconds, 3), ["scoring"] = Math.Round(r.ScoringSeconds, 3),
            },
            ["windowsPerSecond"] = Math.Round(r.WindowsPerSecond, 2),
            ["diagnosis"] = Diagnosis.SlideFeatures.Of(r).ToJson(),
            ["peakTileCacheBytes"] = r.PeakCacheBytes,
            ["model"] = Path.GetFullPath(modelPath),
            ["settings"] = new JsonObject
            {
                ["window"] = SlideHeatmap.Window, ["stride"] = o.Stride, ["threshold"] = o.Threshold, ["batchSize"] = o.BatchSize,
                ["tissueMask"] = o.UseTissueMask, ["minTissueFraction"] = o.MinTissueFraction, ["levelRequested"] = o.Level,
                ["mppRequested"] = o.MicronsPerPixel, ["targetMicronsPerPixel"] = o.TargetMicronsPerPixel,
                ["smoothingRadius"] = o.SmoothingRadius, ["minRegionUm2"] = o.MinRegionUm2,
                ["refine"] = o.Refine, ["coarseStride"] = o.CoarseStride, ["refineThreshold"] = o.RefineThreshold, ["views"] = o.Views,
            },
        };
    }
}
