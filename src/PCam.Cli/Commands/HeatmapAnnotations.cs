using System.CommandLine;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Slides.Evaluation;

namespace PCam.Cli.Commands;

/// <summary>The `--annotations` part of `pcam heatmap`: its options, the up-front check, and the cohort line.</summary>
internal sealed class HeatmapAnnotations
{
    public Option<string?> Annotations { get; } = new Option<string?>("--annotations") { Description = "Folder of annotations named by slide id or file stem (.geojson/.json from QuPath, .xml from ASAP/Camelyon16): scores each heatmap against them (window AUC, accuracy, Dice, lesions) into summary.json and slides.csv, and the cohort (slide AUC, Camelyon16 FROC) into annotations.json and froc.csv. A slide without one is normal; --list's label column overrides slide labels." }.MustBeFolder("annotation folder");
    public Option<string> PositiveClass { get; } = new("--positive-class") { Description = "QuPath class (or ASAP group) of tumour regions.", DefaultValueFactory = _ => new AnnotationOptions().PositiveClass };

    public IEnumerable<Option> All => [Annotations, PositiveClass];

    /// <summary>Null without --annotations; otherwise checks every slide's annotation file before the model loads.</summary>
    public SlideAnnotator? Start(ParseResult parse, IReadOnlyList<SlideInput> slides)
    {
        var dir = parse.GetValue(Annotations);
        if (dir is null) return null;
        if (!Directory.Exists(dir)) throw new PCamDataException($"{dir}: annotation folder not found.");
        var annotator = new SlideAnnotator(dir, new AnnotationOptions { PositiveClass = parse.GetValue(PositiveClass)! });
        annotator.CheckAll(slides.Select(s => (s.SlideId, s.Path)));
        return annotator;
    }

    /// <summary>One line about the cohort's annotations.json, or null when it was not written.</summary>
    public static string? Summary(string results)
    {
        var path = Path.Combine(results, HeatmapEvaluation.CohortJson);
        if (!File.Exists(path)) return null;
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        return $"{json["slides"]} slide(s) against annotations: slide AUC {json["slideAuc"]?.ToString() ?? "n/a (one class)"}, " +
               $"FROC {json["froc"]?["score"]?.ToString() ?? "n/a"}, mean window AUC {json["windowAucMean"]?.ToString() ?? "n/a"}, " +
               $"{json["lesionsDetected"]} of {json["detectableLesions"]} lesions detected, {json["falsePositiveRegions"]} false-positive region(s) -> {path}";
    }
}
