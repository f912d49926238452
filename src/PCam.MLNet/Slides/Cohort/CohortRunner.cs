using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Reporting;

namespace PCam.MLNet.Slides.Cohort;

/// <summary>Settings of a cohort run besides the heatmap's own.</summary>
public sealed class CohortOptions
{
    /// <summary>The results folder (see docs/slides.md for its layout).</summary>
    public required string Output { get; init; }
    /// <summary>Redo every slide, even those whose outputs are complete and current.</summary>
    public bool Force { get; init; }
    /// <summary>Stop at the first failed slide (its row is still written).</summary>
    public bool FailFast { get; init; }
    public Shard Shard { get; init; } = Shard.Whole;
}

/// <summary>
/// Runs `pcam heatmap` over a cohort: the shard's slides (<see cref="ShardPlan"/>) in id order, each into RESULTS/slides/ID/ (written whole or not
/// at all), skipping a slide whose summary records the same model SHA-256, settings and source identity (path, size,
/// mtime) unless Force; a failing slide becomes a failed row and the run goes on. After every slide the shard record
/// (RESULTS/shards/shard-K-of-N.csv and .json) is rewritten; a whole-cohort run (0/1) then writes slides.csv and run.json.
/// </summary>
public sealed class CohortRunner(WindowModel model, HeatmapOptions options, CohortOptions cohort)
{
    public Action<string>? Info { get; init; }
    public Action<string>? Warning { get; init; }
    public Action<string>? Error { get; init; }
    /// <summary>(slide id, windows done, windows total).</summary>
    public Action<string, long, long>? Progress { get; init; }
    /// <summary>`--annotations`: scores each slide against its annotation into summary.json's "annotations".</summary>
    public Evaluation.SlideAnnotator? Annotator { get; init; }

    private readonly List<JsonNode?> _scored = []; // summary.json "scoring" of each slide scored by this run

    public static string SlideFolder(string results, string slideId) => Path.Combine(results, "slides", slideId);
    public static string ShardsFolder(string results) => Path.Combine(results, "shards");

    public static string Version => typeof(CohortRunner).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";


    /// <summary>The settings that change a slide's outputs (not batch size or device), as JSON.</summary>
    public static JsonObject Settings(HeatmapOptions o) => new()
    {
        ["window"] = SlideHeatmap.Window, ["stride"] = o.Stride, ["targetMicronsPerPixel"] = o.TargetMicronsPerPixel, ["level"] = o.Level,
        ["mpp"] = o.MicronsPerPixel, ["threshold"] = o.Threshold, ["tissueMask"] = o.UseTissueMask, ["minTissueFraction"] = o.MinTissueFraction,
        ["smoothingRadius"] = o.SmoothingRadius, ["minRegionUm2"] = o.MinRegionUm2, ["reader"] = o.Reader.ToString().ToLowerInvariant(),
        ["refine"] = o.Refine, ["coarseStride"] = o.CoarseStride, ["refineThreshold"] = o.RefineThreshold, ["views"] = o.Views,
    };

    public static string SettingsKey(HeatmapOptions o) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Settings(o).ToJsonString())))[..16];

    /// <summary>This shard's slides that a run would score: those without complete, current outputs (all with Force).</summary>
    public static List<SlideInput> ToScore(IReadOnlyList<SlideInput> cohortSlides, string modelPath, HeatmapOptions options, CohortOptions cohort)
    {
        var mine = Assign(cohortSlides, cohort).Mine;
        if (cohort.Force) return mine;
        var modelSha = ExternalData.Sha256(modelPath); // remembered per file: Run hashes the same model once more
        var settingsKey = SettingsKey(options);
        return mine.Where(s => !File.Exists(s.Path)
            || Complete(HeatmapWriter.PathsFor(SlideFolder(cohort.Output, s.SlideId), s.SlideId), modelSha, settingsKey, SourceIdentity.Of(s.Path)) is null).ToList();
    }

    /// <summary>
    /// This shard's slides (id order), the slides planned for the run, those the plan lacks, and the plan: the whole
    /// cohort for 0/1; for N shards what the run's <see cref="ShardPlan"/> gives this shard (written by the first task).
    /// </summary>
    private static (List<SlideInput> Mine, List<SlideInput> Planned, List<SlideInput> NotPlanned, ShardPlan? Plan) Assign(IReadOnlyList<SlideInput> cohortSlides, CohortOptions cohort)
    {
        if (cohort.Shard.Count == 1)
            return (cohortSlides.OrderBy(s => s.SlideId, StringComparer.Ordinal).ToList(), cohortSlides.ToList(), [], null);
        Directory.CreateDirectory(cohort.Output);
        var plan = ShardPlan.ReadOrCreate(cohort.Output, cohort.Shard.Count, cohortSlides);
        return (plan.SlidesOf(cohort.Shard.Index).ToList(), plan.Slides.Select(s => s.Input).ToList(), plan.NotPlanned(cohortSlides), plan);
    }

    /// <summary>
    /// Scores this shard's slides: the whole cohort for 0/1; for N shards those the run's <see cref="ShardPlan"/> gives
    /// this shard (cohort slides the plan lacks are reported as not planned and recorded, never scored by chance).
    /// </summary>
    /// <returns>Rows of this shard's slides, in id order.</returns>
    public List<SlideRecord> Run(IReadOnlyList<SlideInput> cohortSlides, CancellationToken cancel = default)
    {
        var started = DateTime.UtcNow;
        var shard = cohort.Shard;
        Directory.CreateDirectory(cohort.Output);
        var (mine, planned, notPlanned, plan) = Assign(cohortSlides, cohort);
        if (plan is not null)
        {
            Info?.Invoke($"shard plan {plan.File} ({plan.Slides.Count} slide(s), written {plan.CreatedUtc:u}).");
            foreach (var s in notPlanned)
                Warning?.Invoke($"{s.Path}: not planned (it came after {plan.File} was written); the run after this one picks it up.");
        }
        var modelSha = ExternalData.Sha256(model.Path);
        var settingsKey = SettingsKey(options);
        var rows = new List<SlideRecord>();
        Info?.Invoke($"{mine.Count} of {planned.Count} slide(s) in shard {shard} ({shard.Source}); results in {cohort.Output}.");
        void Record(DateTime? ended) => WriteShardRecord(planned, notPlanned, plan, mine, rows, modelSha, started, ended);
        Record(null);
        foreach (var slide in mine)
        {
            cancel.ThrowIfCancellationRequested();
            var row = RunOne(slide, modelSha, settingsKey, cancel);
            rows.Add(row);
            Record(null);
            if (row.Status == SlideRecord.Failed && cohort.FailFast) break;
        }
        Record(DateTime.UtcNow);
        if (shard.Count == 1) CohortReport.Merge(cohort.Output);
        return rows;
    }

    private SlideRecord RunOne(SlideInput slide, string modelSha, string settingsKey, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var folder = SlideFolder(cohort.Output, slide.SlideId);
        var paths = HeatmapWriter.PathsFor(folder, slide.SlideId);
        string shardText = cohort.Shard.ToString();
        RemoveStaleTemps(slide.SlideId);
        try
        {
            if (!File.Exists(slide.Path)) throw new PCamDataException($"{slide.Path}: no such file.");
            var source = SourceIdentity.Of(slide.Path);
            if (!cohort.Force && Complete(paths, modelSha, settingsKey, source) is { } done
                && (Annotator is null || done.Annotations?.Key == Annotator.Key(slide.SlideId, slide.Path)))
            {
                Info?.Invoke($"{slide.SlideId}: skipped (outputs complete for this model, settings and file).");
                return SlideRecord.FromSummary(slide, done, SlideRecord.Skipped, done.Seconds?.Total ?? 0, shardText);
            }
            var result = SlideHeatmap.Run(model, slide.Path, options, (d, t) => Progress?.Invoke(slide.SlideId, d, t),
                m => { if (m.StartsWith("warning: ", StringComparison.Ordinal)) Warning?.Invoke(m["warning: ".Length..]); else Info?.Invoke(m); }, cancel);
            var provenance = new SummaryProvenance(slide.Label, source, modelSha, settingsKey, Version,
                Annotator?.Score(slide.SlideId, slide.Path, result));
            HeatmapWriter.Write(result, folder, slide.SlideId, model.Path, clock.Elapsed.TotalSeconds, provenance, cancel);
            var summary = SlideSummary.Read(paths.SummaryJson);
            _scored.Add(summary.Scoring?.DeepClone());
            var row = SlideRecord.FromSummary(slide, summary, SlideRecord.Ok, clock.Elapsed.TotalSeconds, shardText);
            Info?.Invoke($"{slide.SlideId}: {row.WindowsScored:N0} windows, slide score {(row.SlideScore is { } sc ? sc.ToString("F3", System.Globalization.CultureInfo.InvariantCulture) : "n/a (no tissue)")}, {row.Regions} region(s), {clock.Elapsed.TotalSeconds:F1} s.");
            return row;
        }
        catch (Exception e) when (e is not OperationCanceledException && !cancel.IsCancellationRequested && IsSlideError(e))
        {
            var message = e.Message.ReplaceLineEndings(" ").Trim();
            if (!message.Contains(slide.Path, StringComparison.Ordinal)) message = $"{slide.Path}: {message}";
            Error?.Invoke(message);
            return new SlideRecord { SlideId = slide.SlideId, Path = slide.Path, Label = slide.Label, Status = SlideRecord.Failed, Error = message, Seconds = clock.Elapsed.TotalSeconds, Shard = shardText };
        }
    }

    /// <summary>
    /// Temp folders of this slide left by a killed run (the plan gives each slide to one shard, so none is live). Matched
    /// by exact name (<see cref="HeatmapWriter.IsTempOf"/>): another slide's live temp folder is never touched.
    /// </summary>
    private void RemoveStaleTemps(string slideId)
    {
        var parent = Path.Combine(cohort.Output, "slides");
        if (!Directory.Exists(parent)) return;
        foreach (var d in Directory.GetDirectories(parent, ".*.tmp").Where(d => HeatmapWriter.IsTempOf(Path.GetFileName(d), slideId)))
            try { Directory.Delete(d, recursive: true); }
            catch (IOException e) { Warning?.Invoke($"{d}: cannot remove a leftover temp folder ({e.Message})."); }
    }

    /// <summary>A slide's own problem (unreadable, too small, unknown spacing, disk); a bad model stops the run instead.</summary>
    private static bool IsSlideError(Exception e) =>
        e is PCamDataException or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException
            || (e is InvalidOperationException && e is not PCamModelException);

    /// <summary>The slide's summary when its folder holds all five outputs and the summary matches; else null.</summary>
    public static SlideSummary? Complete(HeatmapWriter.Outputs paths, string modelSha, string settingsKey, SourceIdentity source)
    {
        if (!paths.Files.All(File.Exists)) return null;
        try
        {
            var s = SlideSummary.Read(paths.SummaryJson);
            if (s.ModelSha256 != modelSha || s.SettingsKey != settingsKey) return null;
            return s.Source == source ? s : null;
        }
        catch (JsonException) { return null; }
    }

    private void WriteShardRecord(IReadOnlyList<SlideInput> cohortSlides, List<SlideInput> notPlanned, ShardPlan? plan, List<SlideInput> mine,
        List<SlideRecord> rows, string modelSha, DateTime started, DateTime? ended)
    {
        var shard = cohort.Shard;
        var dir = ShardsFolder(cohort.Output);
        SlideRecord.WriteAll(Path.Combine(dir, shard.Name + ".csv"), rows);
        var record = new JsonObject
        {
            ["shard"] = new JsonObject { ["index"] = shard.Index, ["count"] = shard.Count, ["source"] = shard.Source },
            ["model"] = Path.GetFullPath(model.Path),
            ["modelSha256"] = modelSha,
            ["settings"] = Settings(options),
            ["settingsKey"] = SettingsKey(options),
            ["version"] = Version,
            ["host"] = Environment.MachineName,
            ["device"] = model.Featurizer.DeviceDescription,
            ["startedUtc"] = started.ToString("o"),
            ["endedUtc"] = ended?.ToString("o"),
            ["complete"] = ended is not null && rows.Count == mine.Count,
            ["slides"] = mine.Count,
            ["plan"] = plan?.Generation,
            ["scoring"] = SlideCost.Total(_scored),
            ["cohort"] = Slides(cohortSlides),
            ["notPlanned"] = Slides(notPlanned),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, shard.Name + ".json"), record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    static JsonArray Slides(IEnumerable<SlideInput> slides) =>
        new(slides.Select(s => (JsonNode)new JsonObject { ["slideId"] = s.SlideId, ["path"] = s.Path, ["label"] = s.Label }).ToArray());
}
