using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Diagnosis;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>
/// A slide's STEM.summary.json as the cohort, the evaluation and the diagnosis read it: the typed facts they use, read
/// once by <see cref="Read"/> (System.Text.Json, the file's camelCase keys). Every value is optional, so a summary
/// written by an older pcam, or one a test writes with only some keys, still reads.
/// </summary>
public sealed record SlideSummary
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string? SlideId { get; init; }
    public string? Label { get; init; }
    public string? Input { get; init; }
    public string? Reader { get; init; }
    public int? Level { get; init; }
    public double? LevelMicronsPerPixel { get; init; }
    /// <summary>The windows' pixel size (um/px) after resampling.</summary>
    public double? MicronsPerPixel { get; init; }
    public double? Scale { get; init; }
    public long? WindowsScored { get; init; }
    public double? SlideScore { get; init; }
    public int? Regions { get; init; }
    public double? TumourAreaMm2 { get; init; }
    public SummarySeconds? Seconds { get; init; }
    /// <summary>How the windows were scored (exhaustive or coarse-to-fine, with its counts).</summary>
    public JsonNode? Scoring { get; init; }
    /// <summary>The slide's diagnosis features (<see cref="SlideFeatures.ToJson"/>); see <see cref="Features"/>.</summary>
    public JsonNode? Diagnosis { get; init; }
    /// <summary>Provenance for resuming: the source file's identity, the model's SHA-256, the settings key.</summary>
    public JsonObject? Source { get; init; }
    public string? ModelSha256 { get; init; }
    public string? SettingsKey { get; init; }
    /// <summary>The heatmap scored against the slide's annotation, when `--annotations` was given.</summary>
    public SummaryAnnotations? Annotations { get; init; }

    /// <summary>The diagnosis features; null when the summary has none.</summary>
    public SlideFeatures? Features => SlideFeatures.FromJson(Diagnosis);

    /// <summary>Reads STEM.summary.json. Throws <see cref="JsonException"/> when the file is not a JSON object.</summary>
    public static SlideSummary Read(string path) =>
        JsonSerializer.Deserialize<SlideSummary>(File.ReadAllText(path), Json) ?? throw new JsonException($"{path}: not a JSON object.");
}

/// <summary>The summary's "seconds": wall time of the slide, its tissue mask and its scoring.</summary>
public sealed record SummarySeconds(double? Total, double? TissueMask, double? Scoring);

/// <summary>The summary's "annotations" block (written by the evaluation's ToJson).</summary>
public sealed record SummaryAnnotations
{
    /// <summary>The annotation's identity: a resumed slide is rescored when it changed.</summary>
    public string? Key { get; init; }
    public bool TumourSlide { get; init; }
    public double? WindowAuc { get; init; }
    public double? WindowAccuracy { get; init; }
    public double? Dice { get; init; }
    public int? LesionsDetected { get; init; }
    public int? DetectableLesions { get; init; }
    public int? FalsePositiveRegions { get; init; }
    public SummaryFroc Froc { get; init; } = new([], [], 0);
}

/// <summary>A slide's FROC data: the probabilities of its false and true positive detections, and its lesions.</summary>
public sealed record SummaryFroc(IReadOnlyList<double> FalsePositiveProbabilities, IReadOnlyList<double> TruePositiveProbabilities, int Lesions);
