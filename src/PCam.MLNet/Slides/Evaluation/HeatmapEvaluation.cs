using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Annotations;

namespace PCam.MLNet.Slides.Evaluation;

/// <summary>
/// `pcam heatmap --annotations`: a heatmap scored against its slide's annotation (added to STEM.summary.json as
/// "annotations" and to slides.csv), and the cohort (annotations.json, froc.csv) in the run's folder.
/// </summary>
public static class HeatmapEvaluation
{
    public const string CohortJson = "annotations.json";
    public const string FrocCsv = "froc.csv";

    /// <summary>The heatmap's grid in level-0 terms.</summary>
    public static ScoredGrid Grid(HeatmapResult r)
    {
        var level = r.Windows.Level;
        var l0 = r.Levels[0];
        return new ScoredGrid
        {
            GridWidth = r.GridWidth, GridHeight = r.GridHeight, Probability = r.Probability,
            WindowOrigin = (i, j) => { var (x, y) = r.Windows.Origin(i, j); return (x * level.DownsampleX, y * level.DownsampleY); },
            WindowPixel = r.Sampling.Scale * level.DownsampleX,
            Level0Width = l0.Width, Level0Height = l0.Height,
            MicronsPerPixel = r.Sampling.LevelMicronsPerPixel is { } m ? m / level.DownsampleX : null,
        };
    }

    /// <summary>Reads the slide's annotation (a slide without one is normal) and scores the heatmap against it.</summary>
    public static SlideEvaluation Score(HeatmapResult r, string? annotationPath, AnnotationOptions options)
    {
        var l0 = r.Levels[0];
        var annotation = annotationPath is null ? SlideAnnotation.Empty() : AnnotationReader.Read(annotationPath, options, l0.Width, l0.Height);
        return SlideScoring.Score(Path.GetFileNameWithoutExtension(r.Input), Grid(r), annotation, new SlideScoringOptions { Threshold = r.Options.Threshold });
    }

    /// <summary>The per-slide block of STEM.summary.json.</summary>
    public static JsonObject ToJson(SlideEvaluation e, string? annotationPath) => new()
    {
        ["annotation"] = annotationPath is null ? null : Path.GetFullPath(annotationPath),
        ["tumourSlide"] = e.IsTumourSlide,
        ["slideScore"] = Num(e.SlideScore),
        ["windowsScored"] = e.WindowsScored,
        ["tumourWindows"] = e.TumourWindows,
        ["windowAuc"] = Num(e.WindowAuc),
        ["windowAccuracy"] = Num(e.WindowAccuracy),
        ["dice"] = Num(e.Dice),
        ["lesions"] = e.Lesions,
        ["detectableLesions"] = e.DetectableLesions,
        ["lesionsDetected"] = e.LesionsDetected,
        ["predictedRegions"] = e.PredictedRegions,
        ["falsePositiveRegions"] = e.FalsePositiveRegions,
        ["detections"] = new JsonArray(e.Detections.Select(d => (JsonNode)new JsonArray(Num(d.Probability), Math.Round(d.X, 1), Math.Round(d.Y, 1))).ToArray()),
        ["rule"] = "window label: PCam's centre 32x32 rule on the annotation (tumour when any centre pixel's centre is in tumour); " +
                   "predicted region: 8-connected windows at or above the threshold; lesions: Camelyon16's evaluation mask (75 um grown, holes filled, ITC < 275 um)",
    };

    /// <summary>Columns appended to slides.csv for a slide scored against annotations.</summary>
    public const string CsvHeader = "tumour_slide,slide_score,window_auc,window_accuracy,dice,lesions,detectable_lesions,lesions_detected,predicted_regions,false_positive_regions";

    public static string CsvCells(SlideEvaluation e) => string.Join(",",
        e.IsTumourSlide ? "1" : "0", F(e.SlideScore), F(e.WindowAuc), F(e.WindowAccuracy), F(e.Dice),
        e.Lesions.ToString(CultureInfo.InvariantCulture), e.DetectableLesions.ToString(CultureInfo.InvariantCulture), e.LesionsDetected.ToString(CultureInfo.InvariantCulture),
        e.PredictedRegions.ToString(CultureInfo.InvariantCulture), e.FalsePositiveRegions.ToString(CultureInfo.InvariantCulture));

    /// <summary>Adds the "annotations" block to an already written STEM.summary.json (temp file + rename).</summary>
    public static void AddToSummary(string summaryPath, SlideEvaluation e, string? annotationPath)
    {
        var json = JsonNode.Parse(File.ReadAllText(summaryPath))!.AsObject();
        json["annotations"] = ToJson(e, annotationPath);
        WriteAtomically(summaryPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Cohort results: slide-level ROC AUC and Camelyon16 FROC (annotations.json), the FROC curve (froc.csv).</summary>
    public static JsonObject WriteCohort(string outputDir, IReadOnlyList<SlideEvaluation> slides, IReadOnlyDictionary<string, bool>? labels = null)
    {
        var (slideAuc, froc) = SlideScoring.Cohort(slides, labels);
        var json = new JsonObject
        {
            ["slides"] = slides.Count,
            ["tumourSlides"] = slides.Count(s => labels != null && labels.TryGetValue(s.SlideId, out var l) ? l : s.IsTumourSlide),
            ["slideAuc"] = Num(slideAuc),
            ["slideScore"] = "maximum window probability",
            ["froc"] = froc is null ? null : new JsonObject
            {
                ["score"] = Num(froc.Score),
                ["falsePositivesPerSlide"] = new JsonArray(FrocResult.FalsePositiveRates.Select(v => (JsonNode)v).ToArray()),
                ["sensitivity"] = new JsonArray(froc.SensitivityAt.Select(v => (JsonNode?)Num(v)).ToArray()),
                ["lesions"] = slides.Sum(s => s.Froc.Lesions),
                ["rule"] = "Camelyon16 Evaluation_FROC.py: one detection per predicted region at its most probable window's centre; hits on the evaluation mask, ITC ignored; sensitivity interpolated at 1/4, 1/2, 1, 2, 4, 8 FPs per slide and averaged",
            },
            ["windowAucMean"] = Num(Mean(slides.Select(s => s.WindowAuc))),
            ["diceMean"] = Num(Mean(slides.Select(s => s.Dice))),
            ["lesionsDetected"] = slides.Sum(s => s.LesionsDetected),
            ["detectableLesions"] = slides.Sum(s => s.DetectableLesions),
            ["falsePositiveRegions"] = slides.Sum(s => s.FalsePositiveRegions),
            ["perSlide"] = new JsonArray(slides.Select(s => (JsonNode)new JsonObject
            {
                ["slide"] = s.SlideId, ["tumourSlide"] = s.IsTumourSlide, ["slideScore"] = Num(s.SlideScore), ["windowAuc"] = Num(s.WindowAuc),
                ["dice"] = Num(s.Dice), ["lesionsDetected"] = s.LesionsDetected, ["detectableLesions"] = s.DetectableLesions, ["falsePositiveRegions"] = s.FalsePositiveRegions,
            }).ToArray()),
        };
        Directory.CreateDirectory(outputDir);
        WriteAtomically(Path.Combine(outputDir, CohortJson), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (froc is not null)
        {
            var sb = new StringBuilder("average_false_positives,sensitivity\n");
            for (int k = 0; k < froc.AverageFalsePositives.Length; k++)
                sb.Append(F(froc.AverageFalsePositives[k])).Append(',').Append(F(froc.Sensitivity[k])).Append('\n');
            WriteAtomically(Path.Combine(outputDir, FrocCsv), sb.ToString());
        }
        return json;
    }

    private static double Mean(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).ToArray();
        return v.Length == 0 ? double.NaN : v.Average();
    }

    private static JsonNode? Num(double v) => double.IsNaN(v) ? null : JsonValue.Create(Math.Round(v, 6));
    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("0.######", CultureInfo.InvariantCulture);

    private static void WriteAtomically(string path, string text)
    {
        var tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
