using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Data;
using PCam.MLNet.Reporting;

namespace PCam.MLNet.Slides.Cohort;

/// <summary>One row of slides.csv.</summary>
public sealed record SlideRecord
{
    public const string Ok = "ok", Failed = "failed", Skipped = "skipped";
    public static readonly string[] Columns =
        ["slide_id", "path", "label", "status", "error", "level", "level_um_per_px", "window_um_per_px", "scale", "windows_scored",
         "slide_score", "tumour_area_mm2", "regions", "seconds", "shard", "finished_utc",
         // pcam heatmap --annotations (empty otherwise)
         "window_auc", "window_accuracy", "dice", "lesions_detected", "detectable_lesions", "false_positive_regions",
         // slide-level diagnosis (docs/slides.md "From heatmap to diagnosis"); slide_probability with --slide-model
         "lesion_category", "largest_diameter_mm", "slide_probability"];

    public required string SlideId { get; init; }
    public required string Path { get; init; }
    public string? Label { get; init; }
    public required string Status { get; init; }
    public string? Error { get; init; }
    public int? Level { get; init; }
    public double? LevelMicronsPerPixel { get; init; }
    public double? WindowMicronsPerPixel { get; init; }
    public double? Scale { get; init; }
    public long? WindowsScored { get; init; }
    public double? SlideScore { get; init; }
    public double? TumourAreaMm2 { get; init; }
    public int? Regions { get; init; }
    public double Seconds { get; init; }
    public string Shard { get; init; } = "0/1";
    public DateTime FinishedUtc { get; init; } = DateTime.UtcNow;
    public double? WindowAuc { get; init; }
    public double? WindowAccuracy { get; init; }
    public double? Dice { get; init; }
    public int? LesionsDetected { get; init; }
    public int? DetectableLesions { get; init; }
    public int? FalsePositiveRegions { get; init; }
    public string? LesionCategory { get; init; }
    public double? LargestDiameterMm { get; init; }
    public double? SlideProbability { get; init; }

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static string N(double? v, string f = "0.######") => v is { } d ? d.ToString(f, Inv) : "";

    public string ToCsv() => string.Join(",", new[]
    {
        Csv.Field(SlideId), Csv.Field(Path), Csv.Field(Label), Status, Csv.Field(Error), Level?.ToString(Inv) ?? "",
        N(LevelMicronsPerPixel), N(WindowMicronsPerPixel), N(Scale), WindowsScored?.ToString(Inv) ?? "", N(SlideScore),
        N(TumourAreaMm2), Regions?.ToString(Inv) ?? "", Seconds.ToString("0.###", Inv), Shard, FinishedUtc.ToString("o", Inv),
        N(WindowAuc), N(WindowAccuracy), N(Dice), LesionsDetected?.ToString(Inv) ?? "", DetectableLesions?.ToString(Inv) ?? "",
        FalsePositiveRegions?.ToString(Inv) ?? "", LesionCategory ?? "", N(LargestDiameterMm), N(SlideProbability),
    });

    public static SlideRecord FromCsv(IReadOnlyList<string> header, IReadOnlyList<string> cells)
    {
        string C(string name) => header.ToList().IndexOf(name) is var i and >= 0 && i < cells.Count ? cells[i] : "";
        double? D(string name) => double.TryParse(C(name), NumberStyles.Float, Inv, out var d) ? d : null;
        long? L(string name) => long.TryParse(C(name), NumberStyles.Integer, Inv, out var l) ? l : null;
        return new SlideRecord
        {
            SlideId = C("slide_id"), Path = C("path"), Label = C("label") is { Length: > 0 } lb ? lb : null, Status = C("status"),
            Error = C("error") is { Length: > 0 } e ? e : null, Level = (int?)L("level"), LevelMicronsPerPixel = D("level_um_per_px"),
            WindowMicronsPerPixel = D("window_um_per_px"), Scale = D("scale"), WindowsScored = L("windows_scored"), SlideScore = D("slide_score"),
            TumourAreaMm2 = D("tumour_area_mm2"), Regions = (int?)L("regions"), Seconds = D("seconds") ?? 0, Shard = C("shard"),
            FinishedUtc = DateTime.TryParse(C("finished_utc"), Inv, DateTimeStyles.RoundtripKind, out var t) ? t : DateTime.MinValue,
            WindowAuc = D("window_auc"), WindowAccuracy = D("window_accuracy"), Dice = D("dice"), LesionsDetected = (int?)L("lesions_detected"),
            DetectableLesions = (int?)L("detectable_lesions"), FalsePositiveRegions = (int?)L("false_positive_regions"),
            LesionCategory = C("lesion_category") is { Length: > 0 } lc ? lc : null, LargestDiameterMm = D("largest_diameter_mm"), SlideProbability = D("slide_probability"),
        };
    }

    /// <summary>A row from a finished slide's summary.json (resumed or just written).</summary>
    public static SlideRecord FromSummary(SlideInput slide, SlideSummary summary, string status, double seconds, string shard) => new()
    {
        SlideId = slide.SlideId, Path = slide.Path, Label = slide.Label, Status = status,
        Level = summary.Level, LevelMicronsPerPixel = summary.LevelMicronsPerPixel,
        WindowMicronsPerPixel = summary.MicronsPerPixel, Scale = summary.Scale,
        WindowsScored = summary.WindowsScored, SlideScore = summary.SlideScore,
        TumourAreaMm2 = summary.TumourAreaMm2, Regions = summary.Regions, Seconds = seconds, Shard = shard,
        WindowAuc = summary.Annotations?.WindowAuc, WindowAccuracy = summary.Annotations?.WindowAccuracy,
        Dice = summary.Annotations?.Dice, LesionsDetected = summary.Annotations?.LesionsDetected,
        DetectableLesions = summary.Annotations?.DetectableLesions, FalsePositiveRegions = summary.Annotations?.FalsePositiveRegions,
        LesionCategory = (string?)summary.Diagnosis?["lesionCategory"], LargestDiameterMm = (double?)summary.Diagnosis?["largestDiameterMm"],
    };

    public static void WriteAll(string path, IEnumerable<SlideRecord> rows)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(",", Columns)).Append('\n');
        foreach (var r in rows) sb.Append(r.ToCsv()).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    public static List<SlideRecord> ReadAll(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) return [];
        var header = Csv.Split(lines[0]);
        return lines.Skip(1).Select(l => FromCsv(header, Csv.Split(l))).ToList();
    }
}
