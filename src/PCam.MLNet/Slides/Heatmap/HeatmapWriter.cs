using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Reporting;
using SkiaSharp;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>The four outputs of one image, written to temp files in the output folder and renamed only when all four are complete.</summary>
public static class HeatmapWriter
{
    public const string ClassName = "Tumor";
    public static readonly int[] ClassColor = [200, 0, 0];
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static readonly byte[] Stops = [49, 54, 149, 116, 173, 209, 255, 255, 191, 244, 109, 67, 165, 0, 38];

    /// <summary>A slide's five outputs, all in its own folder and named by its slide id.</summary>
    public sealed record Outputs(string Folder, string TilesCsv, string HeatmapPng, string GeoJson, string TissuePng, string SummaryJson)
    {
        public IEnumerable<string> Files => [TilesCsv, HeatmapPng, GeoJson, TissuePng, SummaryJson];
    }

    public static Outputs PathsFor(string slideFolder, string slideId)
    {
        var stem = Path.Combine(slideFolder, slideId);
        return new Outputs(slideFolder, stem + ".tiles.csv", stem + ".heatmap.png", stem + ".geojson", stem + ".tissue.png", stem + ".summary.json");
    }

    /// <summary>
    /// The temp folder name of a slide folder: ".NAME~GUID.tmp". Slide ids hold only [A-Za-z0-9._-], so '~' cannot occur in
    /// one: no slide folder is ever named like a temp folder, and <see cref="IsTempOf"/> tells exactly which slide a temp
    /// folder belongs to (slide "x" never claims the temp folder of slide "x.ome" or "x.1").
    /// </summary>
    public static string TempName(string folderName) => $".{folderName}~{Guid.NewGuid():N}.tmp";

    /// <summary>Whether <paramref name="name"/> is a temp folder name <see cref="TempName"/> gave for <paramref name="folderName"/>.</summary>
    public static bool IsTempOf(string name, string folderName)
    {
        var prefix = $".{folderName}~";
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".tmp", StringComparison.Ordinal)) return false;
        var guid = name.AsSpan(prefix.Length, name.Length - prefix.Length - ".tmp".Length);
        return guid.Length == 32 && Guid.TryParseExact(guid, "N", out _);
    }

    /// <summary>
    /// Writes the outputs into a temp folder beside <paramref name="slideFolder"/> and renames it into place when all five
    /// are complete (a previous folder of the slide is replaced), so a slide folder is either whole or absent.
    /// <paramref name="provenance"/> (slide id, source identity, model SHA-256, settings key) is added to the summary.
    /// </summary>
    public static Outputs Write(HeatmapResult r, string slideFolder, string slideId, string modelPath, double totalSeconds,
        JsonObject? provenance = null, CancellationToken cancel = default)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(slideFolder))!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, TempName(Path.GetFileName(slideFolder)));
        var t = PathsFor(temp, slideId);
        try
        {
            Directory.CreateDirectory(temp);
            WriteCsv(r, t.TilesCsv);
            cancel.ThrowIfCancellationRequested();
            File.WriteAllBytes(t.HeatmapPng, HeatmapPng(r));
            File.WriteAllBytes(t.TissuePng, TissuePng(r.Mask));
            cancel.ThrowIfCancellationRequested();
            var (geo, tumourCells) = GeoJson(r, slideId);
            File.WriteAllText(t.GeoJson, geo.ToJsonString()); // compact: large slides have many vertices
            var summary = Summary(r, modelPath, tumourCells, totalSeconds);
            summary["slideId"] = slideId;
            if (provenance is not null)
                foreach (var (k, v) in provenance) summary[k] = v?.DeepClone();
            File.WriteAllText(t.SummaryJson, summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            cancel.ThrowIfCancellationRequested();
            TestHooks.Reached($"slide:{slideId}"); // tests: killed (or paused) with the outputs complete in the temp folder
            if (Directory.Exists(slideFolder)) Directory.Delete(slideFolder, recursive: true);
            Directory.Move(temp, slideFolder);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        return PathsFor(slideFolder, slideId);
    }

    /// <summary>The tissue-mask thumbnail (at most 1,024 px): tissue as scanned, background washed out in blue.</summary>
    public static byte[] TissuePng(TissueMask mask)
    {
        const int MaxSide = 1024;
        double scale = Math.Min(1.0, (double)MaxSide / Math.Max(mask.Width, mask.Height));
        int dw = Math.Max(1, (int)Math.Round(mask.Width * scale)), dh = Math.Max(1, (int)Math.Round(mask.Height * scale));
        using var thumb = Bitmap(mask.Width, mask.Height, (px, i) =>
        {
            bool tissue = mask.Tissue[i] != 0;
            for (int c = 0; c < 3; c++)
            {
                int v = mask.Rgb[i * 3 + c];
                px[i * 4 + c] = tissue ? (byte)v : (byte)((v + (c == 2 ? 255 : 160)) / 2);
            }
            px[i * 4 + 3] = 255;
        });
        using var surface = SKSurface.Create(new SKImageInfo(dw, dh, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("Could not create a Skia surface.");
        surface.Canvas.DrawBitmap(thumb, new SKRect(0, 0, dw, dh));
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("PNG encoding failed.");
        return data.ToArray();
    }

    public const string CsvHeader = "minx,miny,width,height,level,x,y,size,probability";

    /// <summary>
    /// One row per scored window, row-major: minx, miny, width, height = the window in level-0 pixels (WSInfer's
    /// columns); level, x, y, size = the square read from that level (before resampling to 96 px); probability.
    /// </summary>
    private static void WriteCsv(HeatmapResult r, string path)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        w.WriteLine(CsvHeader);
        int size = r.Sampling.RegionSize, level = r.Sampling.Level;
        for (int j = 0; j < r.GridHeight; j++)
            for (int i = 0; i < r.GridWidth; i++)
            {
                var p = r.Probability[(long)j * r.GridWidth + i];
                if (!r.IsMeasured((long)j * r.GridWidth + i)) continue; // coarse-to-fine: cells filled from a coarse window are not rows
                var (minX, minY, width, height) = r.Windows.Level0Rect(i, j);
                var (x, y) = r.Windows.Origin(i, j);
                w.WriteLine(string.Create(Inv, $"{minX},{minY},{width},{height},{level},{x},{y},{size},{p:F6}"));
            }
    }

    /// <summary>Blue (0) to yellow (0.5) to red (1), ColorBrewer RdYlBu reversed.</summary>
    public static SKColor Colour(double p, byte alpha = 255)
    {
        double t = Math.Clamp(p, 0, 1) * 4;
        int k = Math.Min(3, (int)t);
        double f = t - k;
        byte C(int c) => (byte)Math.Round(Stops[k * 3 + c] * (1 - f) + Stops[(k + 1) * 3 + c] * f);
        return new SKColor(C(0), C(1), C(2), alpha);
    }

    /// <summary>The thumbnail with each scored window's centre stride x stride cell coloured by probability, and a colour bar.</summary>
    public static byte[] HeatmapPng(HeatmapResult r)
    {
        var mask = r.Mask;
        const int MaxSide = 1024, Bar = 110, Margin = 10;
        double scale = Math.Min(1.0, (double)MaxSide / Math.Max(mask.Width, mask.Height));
        int dw = Math.Max(1, (int)Math.Round(mask.Width * scale)), dh = Math.Max(1, (int)Math.Round(mask.Height * scale));
        int width = dw + Bar + 2 * Margin, height = Math.Max(dh, 220) + 2 * Margin;

        using var thumb = Bitmap(mask.Width, mask.Height, (px, i) =>
        {
            px[i * 4] = mask.Rgb[i * 3]; px[i * 4 + 1] = mask.Rgb[i * 3 + 1]; px[i * 4 + 2] = mask.Rgb[i * 3 + 2]; px[i * 4 + 3] = 255;
        });
        using var overlay = Bitmap(r.GridWidth, r.GridHeight, (px, i) =>
        {
            var p = r.Probability[i];
            var c = float.IsNaN(p) ? SKColors.Transparent : Colour(p, 170);
            px[i * 4] = c.Red; px[i * 4 + 1] = c.Green; px[i * 4 + 2] = c.Blue; px[i * 4 + 3] = c.Alpha;
        });
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("Could not create a Skia surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.DrawBitmap(thumb, new SKRect(Margin, Margin, Margin + dw, Margin + dh));
        // Level pixel -> display pixel; cell (i, j) covers the window's centre stride x stride square.
        double k = (double)dw / (mask.Width * mask.Factor);
        double offset = (r.Sampling.LevelWindow - r.LevelStride) / 2.0;
        canvas.Save();
        canvas.ClipRect(new SKRect(Margin, Margin, Margin + dw, Margin + dh));
        canvas.DrawBitmap(overlay, new SKRect(
            (float)(Margin + k * offset), (float)(Margin + k * offset),
            (float)(Margin + k * (offset + r.GridWidth * r.LevelStride)), (float)(Margin + k * (offset + r.GridHeight * r.LevelStride))));
        canvas.Restore();

        // Colour bar: 1 at the top, 0 at the bottom.
        float bx = Margin + dw + 20, by = Margin + 20, bh = Math.Max(dh, 220) - 40, bw = 18;
        using var fill = new SKPaint { IsAntialias = false };
        for (int y = 0; y < (int)bh; y++)
        {
            fill.Color = Colour(1 - y / (bh - 1));
            canvas.DrawRect(new SKRect(bx, by + y, bx + bw, by + y + 1), fill);
        }
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var frame = new SKPaint { Color = SKColors.Black, IsStroke = true, StrokeWidth = 1 };
        canvas.DrawRect(new SKRect(bx, by, bx + bw, by + bh), frame);
        var typeface = ReportFonts.Typeface;
        using var font = typeface is null ? new SKFont { Size = 12 } : new SKFont(typeface, 12);
        foreach (var v in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
        {
            float y = by + (float)((1 - v) * bh);
            canvas.DrawLine(bx + bw, y, bx + bw + 4, y, ink);
            canvas.DrawText(v.ToString("0.00", Inv), bx + bw + 7, y + 4, font, ink);
        }
        canvas.DrawText("P(tumour)", bx - 24, by - 6, font, ink);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("PNG encoding failed.");
        return data.ToArray();
    }

    private static SKBitmap Bitmap(int w, int h, Action<byte[], int> pixel)
    {
        var bytes = new byte[w * h * 4];
        for (int i = 0; i < w * h; i++) pixel(bytes, i);
        var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        Marshal.Copy(bytes, 0, bmp.GetPixels(), bytes.Length);
        return bmp;
    }

    /// <summary>
    /// The lesions of <see cref="SlideLesions"/> (smoothed grid, thresholded, small regions dropped; each cell being the
    /// window's centre stride x stride square) as QuPath annotation features (QuPath 0.4+ GeoJSON: properties.objectType
    /// "annotation", classification {name, color}, measurements as a name-to-number map) in level-0 pixel coordinates.
    /// </summary>
    public static (JsonObject Geo, long TumourCells) GeoJson(HeatmapResult r, string? slideId = null)
    {
        var lesions = r.Lesions;
        double offset = (r.Sampling.LevelWindow - r.LevelStride) / 2.0;
        var features = new JsonArray();
        var stem = slideId ?? Path.GetFileNameWithoutExtension(r.Input);
        for (int n = 0; n < lesions.Lesions.Count; n++)
        {
            var lesion = lesions.Lesions[n];
            var region = lesion.Region;
            JsonArray Ring(List<(int X, int Y)> ring) => new(ring.Select(c => (JsonNode)new JsonArray(
                Round((offset + c.X * r.LevelStride) * r.Level.DownsampleX), Round((offset + c.Y * r.LevelStride) * r.Level.DownsampleY))).ToArray());
            var coordinates = new JsonArray(Ring(region.Outer));
            foreach (var hole in region.Holes) coordinates.Add(Ring(hole));
            var measurements = new JsonObject
            {
                ["Max probability"] = Math.Round(lesion.MaxProbability, 6),
                ["Mean probability"] = Math.Round(lesion.MeanProbability, 6),
                ["Max smoothed probability"] = Math.Round(lesion.MaxSmoothed, 6),
                ["Windows"] = lesion.Windows,
            };
            if (lesion.AreaUm2 is { } area)
            {
                measurements["Area um^2"] = Math.Round(area, 1);
                measurements["Area mm^2"] = Math.Round(area / 1e6, 6);
            }
            features.Add(new JsonObject
            {
                ["type"] = "Feature",
                ["id"] = StableId($"{stem}:{n}"),
                ["geometry"] = new JsonObject { ["type"] = "Polygon", ["coordinates"] = coordinates },
                ["properties"] = new JsonObject
                {
                    ["objectType"] = "annotation",
                    ["name"] = $"Tumor region {n + 1}",
                    ["classification"] = new JsonObject { ["name"] = ClassName, ["color"] = new JsonArray(ClassColor.Select(c => (JsonNode)c).ToArray()) },
                    ["measurements"] = measurements,
                },
            });
        }
        return (new JsonObject { ["type"] = "FeatureCollection", ["features"] = features }, lesions.TumourCells);
    }

    private static double Round(double v) => Math.Round(v, 2);

    /// <summary>A UUID-shaped id derived from the name, so reruns write identical files (QuPath reads ids as UUIDs).</summary>
    private static string StableId(string name)
    {
        var h = MD5.HashData(Encoding.UTF8.GetBytes(name));
        h[6] = (byte)((h[6] & 0x0F) | 0x30); // version 3 (name-based, MD5)
        h[8] = (byte)((h[8] & 0x3F) | 0x80);
        var hex = Convert.ToHexString(h).ToLowerInvariant();
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
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
