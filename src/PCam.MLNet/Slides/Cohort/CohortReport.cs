using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Reporting;

namespace PCam.MLNet.Slides.Cohort;

/// <summary>
/// The merged state of a results folder: one row per cohort slide, which are missing (planned, not yet scored) and which
/// are not planned (found by a task after the run's shard plan was written; the next run scores them).
/// </summary>
public sealed record CohortSummary(List<SlideRecord> Rows, List<SlideInput> Missing, List<SlideInput> NotPlanned, string SlidesCsv, string RunJson)
{
    public int Failed => Rows.Count(r => r.Status == SlideRecord.Failed);
    public int Ok => Rows.Count(r => r.Status == SlideRecord.Ok);
    public int Skipped => Rows.Count(r => r.Status == SlideRecord.Skipped);
}

/// <summary>
/// Merges the shard records of a results folder (RESULTS/shards/*.json and .csv) into RESULTS/slides.csv and
/// RESULTS/run.json: the cohort is the newest record's list; each slide's row is the most recent one any shard wrote;
/// a cohort slide with no row is missing (its shard has not run or not finished); a slide some task of the newest shard
/// plan saw but the plan lacks, and that has no row, is not planned.
/// </summary>
public static class CohortReport
{
    public static CohortSummary Merge(string results)
    {
        var dir = CohortRunner.ShardsFolder(results);
        var records = Directory.Exists(dir) ? Directory.GetFiles(dir, "shard-*.json").Order(StringComparer.Ordinal).ToList() : [];
        if (records.Count == 0) throw new PCamDataException($"{results}: no shard records (shards/shard-K-of-N.json); is this a `pcam heatmap` results folder?");
        var shards = new List<(string Name, JsonNode Json)>();
        foreach (var r in records)
        {
            try { shards.Add((Path.GetFileNameWithoutExtension(r), JsonNode.Parse(File.ReadAllText(r))!)); }
            catch (JsonException e) { throw new PCamDataException($"{r}: not a valid shard record ({e.Message}).", e); }
        }
        var newest = shards.OrderByDescending(s => (string?)s.Json["startedUtc"], StringComparer.Ordinal).First();
        var cohort = newest.Json["cohort"]!.AsArray()
            .Select(n => new SlideInput((string)n!["slideId"]!, (string)n["path"]!, (string?)n["label"])).ToList();
        var latest = new Dictionary<string, SlideRecord>(StringComparer.Ordinal);
        foreach (var (name, _) in shards)
        {
            var csv = Path.Combine(dir, name + ".csv");
            if (!File.Exists(csv)) continue;
            foreach (var row in SlideRecord.ReadAll(csv))
                if (!latest.TryGetValue(row.SlideId, out var seen) || row.FinishedUtc > seen.FinishedUtc) latest[row.SlideId] = row;
        }
        var rows = cohort.Where(s => latest.ContainsKey(s.SlideId)).Select(s => latest[s.SlideId]).OrderBy(r => r.SlideId, StringComparer.Ordinal).ToList();
        var missing = cohort.Where(s => !latest.ContainsKey(s.SlideId)).OrderBy(s => s.SlideId, StringComparer.Ordinal).ToList();
        var scored = rows.Select(r => r.Path).Concat(cohort.Select(s => s.Path)).ToHashSet(StringComparer.Ordinal);
        var notPlanned = shards.Where(s => (int?)s.Json["plan"] is { } g && g == (int?)newest.Json["plan"])
            .SelectMany(s => s.Json["notPlanned"]?.AsArray() ?? [])
            .Select(n => new SlideInput((string)n!["slideId"]!, (string)n["path"]!, (string?)n["label"]))
            .Where(s => !scored.Contains(s.Path)).DistinctBy(s => s.Path).OrderBy(s => s.SlideId, StringComparer.Ordinal).ToList();
        var slidesCsv = Path.Combine(results, "slides.csv");
        var runJson = Path.Combine(results, "run.json");
        SlideRecord.WriteAll(slidesCsv, rows);
        var run = new JsonObject
        {
            ["model"] = newest.Json["model"]?.DeepClone(),
            ["modelSha256"] = newest.Json["modelSha256"]?.DeepClone(),
            ["settings"] = newest.Json["settings"]?.DeepClone(),
            ["settingsKey"] = newest.Json["settingsKey"]?.DeepClone(),
            ["version"] = newest.Json["version"]?.DeepClone(),
            ["startedUtc"] = shards.Select(s => (string?)s.Json["startedUtc"]).Where(s => s is not null).Min(StringComparer.Ordinal),
            ["endedUtc"] = shards.Select(s => (string?)s.Json["endedUtc"]).Where(s => s is not null).Max(StringComparer.Ordinal),
            ["shards"] = new JsonArray(shards.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Name, ["index"] = s.Json["shard"]?["index"]?.DeepClone(), ["count"] = s.Json["shard"]?["count"]?.DeepClone(),
                ["source"] = s.Json["shard"]?["source"]?.DeepClone(), ["host"] = s.Json["host"]?.DeepClone(),
                ["startedUtc"] = s.Json["startedUtc"]?.DeepClone(), ["endedUtc"] = s.Json["endedUtc"]?.DeepClone(),
                ["complete"] = s.Json["complete"]?.DeepClone(), ["modelSha256"] = s.Json["modelSha256"]?.DeepClone(),
            }).ToArray()),
            ["slides"] = cohort.Count,
            ["scoring"] = SlideCost.Total(shards.Select(s => s.Json["scoring"])),
            ["ok"] = rows.Count(r => r.Status == SlideRecord.Ok),
            ["skipped"] = rows.Count(r => r.Status == SlideRecord.Skipped),
            ["failed"] = rows.Count(r => r.Status == SlideRecord.Failed),
            ["missing"] = new JsonArray(missing.Select(m => (JsonNode)m.SlideId).ToArray()),
            ["plan"] = newest.Json["plan"]?.DeepClone(),
            ["notPlanned"] = new JsonArray(notPlanned.Select(m => (JsonNode)new JsonObject { ["slideId"] = m.SlideId, ["path"] = m.Path }).ToArray()),
            ["failedSlides"] = new JsonArray(rows.Where(r => r.Status == SlideRecord.Failed).Select(r => (JsonNode)new JsonObject { ["slideId"] = r.SlideId, ["error"] = r.Error }).ToArray()),
        };
        if (shards.Select(s => (string?)s.Json["modelSha256"]).Distinct().Count() > 1 || shards.Select(s => (string?)s.Json["settingsKey"]).Distinct().Count() > 1)
            run["warning"] = "shard records differ in model or settings; each slide's summary.json says which it used";
        AtomicFile.WriteAllText(runJson, run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Evaluation.HeatmapEvaluation.WriteCohort(results, rows); // --annotations: annotations.json and froc.csv
        Diagnosis.CohortDiagnosis.Write(results, rows); // slide_features.csv, patients.csv, diagnosis.json
        return new CohortSummary(rows, missing, notPlanned, slidesCsv, runJson);
    }
}
