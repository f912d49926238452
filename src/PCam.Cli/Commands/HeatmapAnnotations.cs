using System.CommandLine;
using PCam.MLNet.Data;
using PCam.MLNet.Slides;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Evaluation;

namespace PCam.Cli.Commands;

/// <summary>The `--annotations` part of `pcam heatmap`: options, per-slide scoring and the cohort files.</summary>
internal sealed class HeatmapAnnotations
{
    public Option<string?> Annotations { get; } = new("--annotations") { Description = "Folder of annotations named by slide (STEM.geojson/.json from QuPath, STEM.xml from ASAP/Camelyon16): scores each heatmap against them (window AUC, accuracy, Dice, lesions) and writes annotations.json and froc.csv. A slide without one is normal." };
    public Option<string> PositiveClass { get; } = new("--positive-class") { Description = "QuPath class (or ASAP group) of tumour regions.", DefaultValueFactory = _ => "Tumor" };
    public Option<string?> Labels { get; } = new("--labels") { Description = "CSV slide_id,label (0/1): slide labels for the slide-level ROC AUC (default: tumour when the annotation marks tumour)." };

    public IEnumerable<Option> All => [Annotations, PositiveClass, Labels];

    /// <summary>Checks the options and every annotation file before the model loads; null when --annotations is absent.</summary>
    public Run? Start(ParseResult parse, IReadOnlyList<string> inputs)
    {
        var dir = parse.GetValue(Annotations);
        if (dir is null)
        {
            if (parse.GetValue(Labels) is not null) throw new ArgumentException("--labels needs --annotations.");
            return null;
        }
        if (!Directory.Exists(dir)) throw new PCamDataException($"{dir}: annotation folder not found.");
        var options = new AnnotationOptions { PositiveClass = parse.GetValue(PositiveClass)! };
        var labels = parse.GetValue(Labels) is { } csv ? SlideInputs.ReadLabels(csv) : null;
        var files = new Dictionary<string, string?>();
        foreach (var input in inputs)
        {
            var id = Path.GetFileNameWithoutExtension(input);
            var path = AnnotationReader.Find(dir, id);
            if (path is not null) AnnotationReader.Read(path, options); // malformed files fail before any scoring
            files[input] = path;
        }
        return new Run(options, files, labels);
    }

    internal sealed class Run(AnnotationOptions options, Dictionary<string, string?> files, Dictionary<string, bool>? labels)
    {
        private readonly List<SlideEvaluation> _slides = [];
        public IReadOnlyList<SlideEvaluation> Slides => _slides;

        public SlideEvaluation Score(HeatmapResult result, string summaryPath)
        {
            var path = files.GetValueOrDefault(result.Input);
            var e = HeatmapEvaluation.Score(result, path, options);
            HeatmapEvaluation.AddToSummary(summaryPath, e, path);
            _slides.Add(e);
            return e;
        }

        public string Finish(string outputDir)
        {
            var json = HeatmapEvaluation.WriteCohort(outputDir, _slides, labels);
            var froc = json["froc"]?["score"]?.ToString() ?? "n/a";
            return $"{_slides.Count} slide(s) against annotations: slide AUC {json["slideAuc"]?.ToString() ?? "n/a (one class)"}, FROC {froc}, " +
                   $"{json["lesionsDetected"]} of {json["detectableLesions"]} lesions detected, {json["falsePositiveRegions"]} false-positive regions -> {Path.Combine(outputDir, HeatmapEvaluation.CohortJson)}";
        }
    }
}
