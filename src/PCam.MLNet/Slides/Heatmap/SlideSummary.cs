using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PCam.MLNet.Slides.Diagnosis;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>
/// A slide's STEM.summary.json: the one definition of the file. <see cref="SlideSummaryWriter"/> builds this record and
/// <see cref="Write"/> serialises it; the cohort, the evaluation and the diagnosis <see cref="Read"/> it back
/// (System.Text.Json, camelCase keys). Every value is optional, so a summary written by an older pcam, or one a test
/// writes with only some keys, still reads.
/// </summary>
public sealed record SlideSummary
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public string? Input { get; init; }
    public string? Reader { get; init; }
    public int? Level { get; init; }
    public IReadOnlyList<SummaryLevel>? Levels { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }
    public double? LevelMicronsPerPixel { get; init; }
    public string? MicronsPerPixelSource { get; init; }
    /// <summary>The windows' pixel size (um/px) after resampling.</summary>
    public double? MicronsPerPixel { get; init; }
    public double? Scale { get; init; }
    public int? RegionSize { get; init; }
    public string? Sampling { get; init; }
    public long? WindowsTotal { get; init; }
    public long? WindowsScored { get; init; }
    public long? WindowsSkipped { get; init; }
    /// <summary>How the windows were scored (exhaustive or coarse-to-fine, with its counts; <see cref="SlideCost"/>).</summary>
    public JsonNode? Scoring { get; init; }
    public double? MaxProbability { get; init; }
    public double? MeanProbability { get; init; }
    public long? WindowsAtOrAboveThreshold { get; init; }
    public double? SlideScore { get; init; }
    public int? Regions { get; init; }
    public long? RegionsDropped { get; init; }
    public long? TumourWindows { get; init; }
    public double? TumourAreaMm2 { get; init; }
    public double? TissueFraction { get; init; }
    public double? SaturationThreshold { get; init; }
    public int? ThumbnailFactor { get; init; }
    public SummarySeconds? Seconds { get; init; }
    public double? WindowsPerSecond { get; init; }
    /// <summary>The slide's diagnosis features (<see cref="SlideFeatures.ToJson"/>); see <see cref="Features"/>.</summary>
    public JsonNode? Diagnosis { get; init; }
    public long? PeakTileCacheBytes { get; init; }
    /// <summary>The model file's full path.</summary>
    public string? Model { get; init; }
    public SummarySettings? Settings { get; init; }
    public string? SlideId { get; init; }
    /// <summary>The slide's label from the cohort list (written as null outside a cohort).</summary>
    public string? Label { get; init; }
    /// <summary>Provenance for resuming: the source file's identity.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SourceIdentity? Source { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ModelSha256 { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SettingsKey { get; init; }
    /// <summary>The pcam version that wrote the summary.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Version { get; init; }
    /// <summary>The heatmap scored against the slide's annotation, when `--annotations` was given.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SummaryAnnotations? Annotations { get; init; }

    /// <summary>The diagnosis features; null when the summary has none.</summary>
    [JsonIgnore]
    public SlideFeatures? Features => SlideFeatures.FromJson(Diagnosis);

    /// <summary>Reads STEM.summary.json. Throws <see cref="JsonException"/> when the file is not a JSON object.</summary>
    public static SlideSummary Read(string path) =>
        JsonSerializer.Deserialize<SlideSummary>(File.ReadAllText(path), Json) ?? throw new JsonException($"{path}: not a JSON object.");

    /// <summary>Writes the summary to <paramref name="path"/>, indented.</summary>
    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
}

/// <summary>One level of the slide's pyramid as the summary lists it.</summary>
public sealed record SummaryLevel(int Width, int Height, double Downsample, double? MicronsPerPixel);

/// <summary>The summary's "seconds": wall time of the slide, its tissue mask and its scoring.</summary>
public sealed record SummarySeconds(double? Total, double? TissueMask, double? Scoring);

/// <summary>The summary's "settings": the heatmap options the slide was scored with.</summary>
public sealed record SummarySettings
{
    public int Window { get; init; }
    public int Stride { get; init; }
    public double Threshold { get; init; }
    public int BatchSize { get; init; }
    public bool TissueMask { get; init; }
    public double MinTissueFraction { get; init; }
    public int? LevelRequested { get; init; }
    public double? MppRequested { get; init; }
    public double TargetMicronsPerPixel { get; init; }
    public int SmoothingRadius { get; init; }
    public double MinRegionUm2 { get; init; }
    public bool Refine { get; init; }
    public int CoarseStride { get; init; }
    public double RefineThreshold { get; init; }
    public int? Views { get; init; }
}

/// <summary>What identifies a slide's bytes without reading them: full path, size, last write time (UTC ticks).</summary>
public sealed record SourceIdentity(string Path, long Size, long MtimeUtcTicks)
{
    /// <summary>The identity of the file at <paramref name="path"/> now.</summary>
    public static SourceIdentity Of(string path)
    {
        var f = new FileInfo(path);
        return new SourceIdentity(f.FullName, f.Length, f.LastWriteTimeUtc.Ticks);
    }
}

/// <summary>The summary's "annotations" block: the heatmap scored against the slide's annotation, and its FROC data
/// so the cohort can be scored from the summaries alone (resumed slides, merged shards).</summary>
public sealed record SummaryAnnotations
{
    /// <summary>The annotation's identity: a resumed slide is rescored when it changed.</summary>
    public string? Key { get; init; }
    /// <summary>The annotation file's full path (null: a normal slide).</summary>
    public string? Annotation { get; init; }
    public bool TumourSlide { get; init; }
    public long? WindowsScored { get; init; }
    public long? TumourWindows { get; init; }
    public double? WindowAuc { get; init; }
    public double? WindowAccuracy { get; init; }
    public double? Dice { get; init; }
    public int? Lesions { get; init; }
    public int? DetectableLesions { get; init; }
    public int? LesionsDetected { get; init; }
    public int? PredictedRegions { get; init; }
    public int? FalsePositiveRegions { get; init; }
    /// <summary>One [probability, x, y] per predicted region (level 0; probability null when NaN).</summary>
    public IReadOnlyList<double?[]> Detections { get; init; } = [];
    public SummaryFroc Froc { get; init; } = new([], [], 0);
    /// <summary>How windows, regions and lesions were defined, in words.</summary>
    public string? Rule { get; init; }
}

/// <summary>A slide's FROC data: the probabilities of its false and true positive detections, and its lesions.</summary>
public sealed record SummaryFroc(IReadOnlyList<double> FalsePositiveProbabilities, IReadOnlyList<double> TruePositiveProbabilities, int Lesions);
