using System.Globalization;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Slides.Diagnosis;

/// <summary>Camelyon17's slide categories, from the largest tumour's longest diameter.</summary>
public static class LesionCategory
{
    public const string None = "none", Itc = "itc", Micro = "micro", Macro = "macro";
    /// <summary>In the order of growing tumour burden (the confusion matrix's order).</summary>
    public static readonly string[] All = [None, Itc, Micro, Macro];
    /// <summary>Isolated tumour cells are at most this long (mm); micro-metastases longer, up to <see cref="MacroMm"/>.</summary>
    public const double ItcMm = 0.2;
    /// <summary>Macro-metastases are longer than this (mm).</summary>
    public const double MacroMm = 2.0;

    /// <summary>none without a region; itc at most 0.2 mm; micro over 0.2 up to 2.0 mm; macro over 2.0 mm.</summary>
    public static string Of(double? longestDiameterMm) => longestDiameterMm switch
    {
        null => None,
        <= ItcMm => Itc,
        <= MacroMm => Micro,
        _ => Macro,
    };

    /// <summary>Camelyon17's slide labels ("negative", "itc", "micro", "macro") and ours; null when unknown.</summary>
    public static string? Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "negative" or "none" or "normal" => None,
        "itc" or "itcs" => Itc,
        "micro" or "micrometastasis" or "micro-metastasis" => Micro,
        "macro" or "macrometastasis" or "macro-metastasis" => Macro,
        _ => null,
    };
}

/// <summary>
/// A slide's answer from its heatmap, computed from the scored window grid and the regions of <see cref="SlideLesions"/>
/// (smoothed, thresholded, small regions dropped). Areas count grid cells (a cell is the stride, 32 px x 0.972 um =
/// 31.1 um square); the longest diameter is the largest distance between two corners of a region's cells (its Feret
/// diameter), so it is quantised to the cell. Null where the slide's pixel size is unknown or nothing was scored.
/// </summary>
public sealed record SlideFeatures
{
    /// <summary>The classifier's inputs, in this order (slide_features.csv's columns after the slide's id).</summary>
    public static readonly string[] Names =
    [
        "max_probability", "top10_mean_probability", "mean_probability", "slide_score", "tumour_area_050_mm2", "tumour_area_090_mm2",
        "regions", "largest_region_area_mm2", "largest_diameter_mm", "tissue_area_mm2", "tumour_fraction",
    ];
    public const int Count = 11;
    /// <summary>Windows averaged by top10_mean_probability.</summary>
    public const int TopK = 10;

    /// <summary>Highest window probability.</summary>
    public double? MaxProbability { get; init; }
    /// <summary>Mean of the <see cref="TopK"/> highest window probabilities.</summary>
    public double? TopKMeanProbability { get; init; }
    /// <summary>Mean window probability over the scored (tissue) windows.</summary>
    public double? MeanProbability { get; init; }
    /// <summary>The slide score: max of the smoothed grid.</summary>
    public double? SlideScore { get; init; }
    /// <summary>Area of smoothed cells at or above 0.5, mm^2.</summary>
    public double? TumourArea050Mm2 { get; init; }
    /// <summary>Area of smoothed cells at or above 0.9, mm^2.</summary>
    public double? TumourArea090Mm2 { get; init; }
    /// <summary>Kept regions (at the run's threshold and minimum area).</summary>
    public int Regions { get; init; }
    /// <summary>Area of the largest kept region, mm^2 (0 without one).</summary>
    public double? LargestRegionAreaMm2 { get; init; }
    /// <summary>The longest Feret diameter of any kept region, mm (0 without one).</summary>
    public double? LargestDiameterMm { get; init; }
    /// <summary>Area of the scored windows' cells, mm^2.</summary>
    public double? TissueAreaMm2 { get; init; }
    /// <summary>Cells in kept regions / scored cells.</summary>
    public double? TumourFraction { get; init; }

    /// <summary>none, itc, micro or macro; null when nothing was scored (no tissue) or the pixel size is unknown.</summary>
    public string? LesionCategory { get; init; }
    /// <summary>Index of the region with the longest diameter in the slide's GeoJSON features (largest first); null without one.</summary>
    public int? LesionRegion { get; init; }
    public long WindowsScored { get; init; }

    public float[] Vector() =>
    [
        F(MaxProbability), F(TopKMeanProbability), F(MeanProbability), F(SlideScore), F(TumourArea050Mm2), F(TumourArea090Mm2),
        Regions, F(LargestRegionAreaMm2), F(LargestDiameterMm), F(TissueAreaMm2), F(TumourFraction),
    ];

    private static float F(double? v) => v is { } d ? (float)d : float.NaN;

    /// <summary>Whether the classifier can use this slide (tissue scored, pixel size known).</summary>
    public bool Complete => Vector().All(float.IsFinite);

    public static SlideFeatures Of(HeatmapResult r) => Of(r.Probability, r.GridWidth, r.Lesions, r.CellMicrons);

    /// <param name="probability">The window grid, row-major, NaN = not scored.</param>
    /// <param name="lesions">Its lesions (<see cref="SlideLesions.Find(HeatmapResult)"/>).</param>
    /// <param name="cellMicrons">Side of a grid cell in um; null when the pixel size is unknown.</param>
    public static SlideFeatures Of(float[] probability, int width, SlideLesions lesions, double? cellMicrons)
    {
        var scored = probability.Where(p => !float.IsNaN(p)).ToArray();
        if (scored.Length == 0) return new SlideFeatures { WindowsScored = 0 };
        double? cellMm2 = cellMicrons is { } c ? c * c / 1e6 : null;
        double? Area(long cells) => cellMm2 is { } a ? cells * a : null;
        var top = scored.OrderByDescending(p => p).Take(TopK).ToArray();
        long At(double t) => lesions.Smoothed.LongCount(p => !float.IsNaN(p) && p >= t);
        // The region that decides the category is the one with the longest diameter (a long thin deposit outranks a
        // rounder one of the same area), as Camelyon17 sizes "the largest tumour" by its longest diameter.
        int? longest = null;
        double longestCells = 0;
        for (int n = 0; n < lesions.Lesions.Count; n++)
        {
            double d = FeretCells(lesions.Lesions[n].Region);
            if (d > longestCells) { longestCells = d; longest = n; }
        }
        double? diameter = cellMicrons is { } cm ? longestCells * cm / 1000 : null;
        var largest = lesions.Lesions.Count > 0 ? lesions.Lesions[0].Windows : 0;
        return new SlideFeatures
        {
            MaxProbability = scored.Max(), TopKMeanProbability = top.Average(p => (double)p), MeanProbability = scored.Average(p => (double)p),
            SlideScore = lesions.SlideScore, TumourArea050Mm2 = Area(At(0.5)), TumourArea090Mm2 = Area(At(0.9)),
            Regions = lesions.Lesions.Count, LargestRegionAreaMm2 = Area(largest), LargestDiameterMm = diameter,
            TissueAreaMm2 = Area(scored.Length), TumourFraction = lesions.TumourCells / (double)scored.Length,
            LesionCategory = cellMicrons is null ? null : Diagnosis.LesionCategory.Of(longest is null ? null : diameter),
            LesionRegion = longest, WindowsScored = scored.Length,
        };
    }

    /// <summary>Longest distance between two corners of a region's cells, in cells: the diameter of its convex hull.</summary>
    public static double FeretCells(CellRegion region)
    {
        var hull = Hull(region.Outer.Distinct().ToList());
        double best = 0;
        for (int a = 0; a < hull.Count; a++)
            for (int b = a + 1; b < hull.Count; b++)
            {
                double dx = hull[a].X - hull[b].X, dy = hull[a].Y - hull[b].Y;
                best = Math.Max(best, dx * dx + dy * dy);
            }
        return Math.Sqrt(best);
    }

    /// <summary>Andrew's monotone chain; the outer ring's vertices hold every hull vertex.</summary>
    private static List<(int X, int Y)> Hull(List<(int X, int Y)> points)
    {
        if (points.Count < 3) return points;
        points.Sort((p, q) => p.X != q.X ? p.X.CompareTo(q.X) : p.Y.CompareTo(q.Y));
        var hull = new List<(int X, int Y)>();
        static long Cross((int X, int Y) o, (int X, int Y) a, (int X, int Y) b) => (long)(a.X - o.X) * (b.Y - o.Y) - (long)(a.Y - o.Y) * (b.X - o.X);
        for (int pass = 0; pass < 2; pass++)
        {
            int start = hull.Count;
            foreach (var p in pass == 0 ? points : Enumerable.Reverse(points))
            {
                while (hull.Count >= start + 2 && Cross(hull[^2], hull[^1], p) <= 0) hull.RemoveAt(hull.Count - 1);
                hull.Add(p);
            }
            hull.RemoveAt(hull.Count - 1);
        }
        return hull;
    }

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The summary.json "diagnosis" object.</summary>
    public JsonObject ToJson()
    {
        static JsonNode? R(double? v) => v is { } d ? Math.Round(d, 6) : null;
        var features = new JsonObject();
        var values = Vector();
        for (int k = 0; k < Count; k++) features[Names[k]] = float.IsFinite(values[k]) ? Math.Round(values[k], 6) : null;
        return new JsonObject
        {
            ["lesionCategory"] = LesionCategory, ["largestDiameterMm"] = R(LargestDiameterMm), ["lesionRegion"] = LesionRegion,
            ["windowsScored"] = WindowsScored, ["features"] = features,
        };
    }

    /// <summary>Reads <see cref="ToJson"/>'s object back; null when the summary has none.</summary>
    public static SlideFeatures? FromJson(JsonNode? node)
    {
        if (node?["features"] is not JsonObject f) return null;
        double? D(string name) => f[name] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
        return new SlideFeatures
        {
            MaxProbability = D(Names[0]), TopKMeanProbability = D(Names[1]), MeanProbability = D(Names[2]), SlideScore = D(Names[3]),
            TumourArea050Mm2 = D(Names[4]), TumourArea090Mm2 = D(Names[5]), Regions = (int)(D(Names[6]) ?? 0),
            LargestRegionAreaMm2 = D(Names[7]), LargestDiameterMm = D(Names[8]), TissueAreaMm2 = D(Names[9]), TumourFraction = D(Names[10]),
            LesionCategory = (string?)node["lesionCategory"], LesionRegion = (int?)node["lesionRegion"], WindowsScored = (long?)node["windowsScored"] ?? 0,
        };
    }

    /// <summary>The feature values as CSV cells (empty = unknown).</summary>
    public IEnumerable<string> CsvCells() => Vector().Select(v => float.IsFinite(v) ? v.ToString("0.######", Inv) : "");
}
