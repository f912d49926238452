using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Reporting;
using PCam.MLNet.Training;

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

    /// <summary>Scores the heatmap against an annotation (null path: a normal slide).</summary>
    public static SlideEvaluation Score(string slideId, HeatmapResult r, string? annotationPath, AnnotationOptions options)
    {
        var l0 = r.Levels[0];
        var annotation = annotationPath is null ? SlideAnnotation.Empty() : AnnotationReader.Read(annotationPath, options, l0.Width, l0.Height);
        return SlideScoring.Score(slideId, Grid(r), annotation, new SlideScoringOptions { Threshold = r.Options.Threshold });
    }

    /// <summary>The "annotations" block of summary.json: the slide's metrics, and its FROC data so the cohort can be
    /// scored from the summaries alone (resumed slides, merged shards).</summary>
    public static SummaryAnnotations ToSummary(SlideEvaluation e, string? annotationPath, string key) => new()
    {
        Key = key,
        Annotation = annotationPath is null ? null : Path.GetFullPath(annotationPath),
        TumourSlide = e.IsTumourSlide,
        WindowsScored = e.WindowsScored,
        TumourWindows = e.TumourWindows,
        WindowAuc = Num(e.WindowAuc),
        WindowAccuracy = Num(e.WindowAccuracy),
        Dice = Num(e.Dice),
        Lesions = e.Lesions,
        DetectableLesions = e.DetectableLesions,
        LesionsDetected = e.LesionsDetected,
        PredictedRegions = e.PredictedRegions,
        FalsePositiveRegions = e.FalsePositiveRegions,
        Detections = e.Detections.Select(d => new double?[] { Num(d.Probability), Math.Round(d.X, 1), Math.Round(d.Y, 1) }).ToArray(),
        Froc = new SummaryFroc(e.Froc.FalsePositiveProbabilities, e.Froc.TruePositiveProbabilities, e.Froc.Lesions),
        Rule = "window label: PCam's centre 32x32 rule on the annotation (tumour when any centre pixel's centre is in tumour); " +
               "predicted region: 8-connected windows at or above the threshold (unsmoothed); lesions: Camelyon16's evaluation mask (grown 75/2 um, holes filled, ITC < 275 um)",
    };

    /// <summary>The cohort from the slides' summaries (those with an "annotations" block): slide-level ROC AUC of the
    /// slide score against the slide labels (annotated tumour, or the slide's label when given) and Camelyon16's FROC;
    /// written to annotations.json and froc.csv. Returns null when no slide was scored against annotations.</summary>
    public static JsonObject? WriteCohort(string outputDir, IReadOnlyList<(string SlideId, string? Label, SlideSummary Summary)> slides)
    {
        var scored = slides.Where(s => s.Summary.Annotations is not null).ToList();
        if (scored.Count == 0) return null;
        var frocSlides = new List<FrocSlide>();
        var slideScores = new List<(float, bool)>();
        var perSlide = new JsonArray();
        foreach (var (id, label, summary) in scored)
        {
            var a = summary.Annotations!;
            var f = a.Froc;
            frocSlides.Add(new FrocSlide(id, f.FalsePositiveProbabilities.ToList(), f.TruePositiveProbabilities.ToList(), f.Lesions));
            bool tumour = Cohort.SlideLabel.Parse(label) ?? a.TumourSlide;
            // The cohort's slide score is the heatmap's own (max of the smoothed grid; null for a slide without tissue).
            double? score = summary.SlideScore;
            if (score is { } sc) slideScores.Add(((float)sc, tumour));
            perSlide.Add(new JsonObject
            {
                ["slide"] = id, ["tumourSlide"] = tumour, ["slideScore"] = score, ["windowAuc"] = a.WindowAuc,
                ["windowAccuracy"] = a.WindowAccuracy, ["dice"] = a.Dice,
                ["lesionsDetected"] = a.LesionsDetected, ["detectableLesions"] = a.DetectableLesions,
                ["falsePositiveRegions"] = a.FalsePositiveRegions,
            });
        }
        var froc = Froc.Compute(frocSlides);
        double? Mean(Func<SummaryAnnotations, double?> value)
        {
            var v = scored.Select(s => value(s.Summary.Annotations!)).Where(x => x is not null).Select(x => x!.Value).ToArray();
            return v.Length == 0 ? null : Math.Round(v.Average(), 6);
        }
        int Sum(Func<SummaryAnnotations, int?> value) => scored.Sum(s => value(s.Summary.Annotations!) ?? 0);
        var json = new JsonObject
        {
            ["slides"] = scored.Count,
            ["tumourSlides"] = slideScores.Count(s => s.Item2),
            ["slideAuc"] = Num(Curves.Auc(slideScores)),
            ["slideScore"] = "the heatmap's slide score (summary.json slideScore)",
            ["froc"] = new JsonObject
            {
                ["score"] = Num(froc.Score),
                ["falsePositivesPerSlide"] = new JsonArray(FrocResult.FalsePositiveRates.Select(v => (JsonNode)v).ToArray()),
                ["sensitivity"] = new JsonArray(froc.SensitivityAt.Select(v => (JsonNode?)Num(v)).ToArray()),
                ["lesions"] = frocSlides.Sum(s => s.Lesions),
                ["rule"] = "Camelyon16 Evaluation_FROC.py: one detection per predicted region at its most probable window's centre; hits on the evaluation mask, ITC ignored; sensitivity interpolated at 1/4, 1/2, 1, 2, 4, 8 FPs per slide and averaged",
            },
            ["windowAucMean"] = Mean(a => a.WindowAuc),
            ["windowAccuracyMean"] = Mean(a => a.WindowAccuracy),
            ["diceMean"] = Mean(a => a.Dice),
            ["lesionsDetected"] = Sum(a => a.LesionsDetected),
            ["detectableLesions"] = Sum(a => a.DetectableLesions),
            ["falsePositiveRegions"] = Sum(a => a.FalsePositiveRegions),
            ["perSlide"] = perSlide,
        };
        Directory.CreateDirectory(outputDir);
        AtomicFile.WriteAllText(Path.Combine(outputDir, CohortJson), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var sb = new StringBuilder("average_false_positives,sensitivity\n");
        for (int k = 0; k < froc.AverageFalsePositives.Length; k++)
            sb.Append(F(froc.AverageFalsePositives[k])).Append(',').Append(F(froc.Sensitivity[k])).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(outputDir, FrocCsv), sb.ToString());
        return json;
    }

    /// <summary>The cohort of a merged results folder: the summaries of its ok and skipped slides that hold an
    /// "annotations" block (none: nothing is written and stale annotations.json / froc.csv are removed).</summary>
    public static JsonObject? WriteCohort(string results, IEnumerable<Cohort.SlideRecord> rows)
    {
        var slides = new List<(string, string?, SlideSummary)>();
        foreach (var r in rows.Where(r => r.Status != Cohort.SlideRecord.Failed))
        {
            var summary = HeatmapWriter.PathsFor(Cohort.CohortRunner.SlideFolder(results, r.SlideId), r.SlideId).SummaryJson;
            if (!File.Exists(summary)) continue;
            try { slides.Add((r.SlideId, r.Label, SlideSummary.Read(summary))); }
            catch (JsonException) { }
        }
        var json = WriteCohort(results, slides);
        if (json is null)
            foreach (var f in new[] { CohortJson, FrocCsv }) File.Delete(Path.Combine(results, f));
        return json;
    }

    private static double? Num(double v) => double.IsNaN(v) ? null : Math.Round(v, 6);
    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("0.######", CultureInfo.InvariantCulture);
}
