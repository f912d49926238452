using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;

namespace PCam.MLNet.Slides.Cohort;

/// <summary>A slide of a shard plan: the id, file and label it was planned with, its size then, and its shard.</summary>
public sealed record PlannedSlide(string SlideId, string Path, string? Label, long Size, int Shard)
{
    public SlideInput Input => new(SlideId, Path, Label);
}

/// <summary>
/// Which shard scores which slide, fixed once per run in RESULTS/shards/plan-G.json so that it does not depend on when
/// each task starts. Array tasks start minutes apart and slides can be copied in or still growing in between: a plan
/// computed by each task from live listings and sizes could give one slide to two tasks or to none. The first task
/// writes the plan (sorted ids, sizes, shards; <see cref="Shard.Assign"/>) under a temp name and renames it into place
/// without overwriting, so of two tasks starting at once exactly one plan wins and both read it; every later task reads
/// it. A slide found after the plan was written is not planned: each task reports it and `pcam heatmap-report` lists it.
/// Once every shard of a plan has finished, the next task writes plan G+1 from the cohort as it then is, which picks up
/// those slides (slides already done are skipped as usual).
/// </summary>
public sealed record ShardPlan(int Generation, int Count, DateTime CreatedUtc, IReadOnlyList<PlannedSlide> Slides, string File)
{
    const string Prefix = "plan-";

    public IReadOnlyList<SlideInput> SlidesOf(int shard) =>
        Slides.Where(s => s.Shard == shard).Select(s => s.Input).OrderBy(s => s.SlideId, StringComparer.Ordinal).ToList();

    /// <summary>Slides of <paramref name="cohort"/> whose file the plan does not hold (by full path).</summary>
    public List<SlideInput> NotPlanned(IEnumerable<SlideInput> cohort)
    {
        var planned = Slides.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
        return cohort.Where(s => !planned.Contains(s.Path)).OrderBy(s => s.SlideId, StringComparer.Ordinal).ToList();
    }

    /// <summary>The newest plan of a results folder, or null when it has none.</summary>
    public static ShardPlan? Latest(string results)
    {
        var dir = CohortRunner.ShardsFolder(results);
        if (!Directory.Exists(dir)) return null;
        var newest = Directory.GetFiles(dir, Prefix + "*.json")
            .Select(f => (File: f, G: int.TryParse(System.IO.Path.GetFileNameWithoutExtension(f)[Prefix.Length..], out var g) ? g : -1))
            .Where(p => p.G > 0).OrderByDescending(p => p.G).FirstOrDefault();
        return newest.File is null ? null : Read(newest.File);
    }

    public static ShardPlan Read(string file)
    {
        try
        {
            var j = JsonNode.Parse(System.IO.File.ReadAllText(file))!;
            var slides = j["slides"]!.AsArray().Select(n => new PlannedSlide((string)n!["slideId"]!, (string)n["path"]!, (string?)n["label"],
                (long)n["size"]!, (int)n["shard"]!)).ToList();
            return new ShardPlan((int)j["generation"]!, (int)j["count"]!, (DateTime)j["createdUtc"]!, slides, file);
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new PCamDataException($"{file}: not a valid shard plan ({e.Message}).", e);
        }
    }

    /// <summary>Whether every shard of the plan has a record of this plan that says it finished all its slides.</summary>
    public bool Finished(string results) => Enumerable.Range(0, Count).All(k =>
    {
        var record = System.IO.Path.Combine(CohortRunner.ShardsFolder(results), new Shard(k, Count).Name + ".json");
        if (!System.IO.File.Exists(record)) return false;
        try
        {
            var j = JsonNode.Parse(System.IO.File.ReadAllText(record));
            return (int?)j?["plan"] == Generation && (bool?)j?["complete"] == true;
        }
        catch (JsonException) { return false; }
    });

    /// <summary>
    /// The plan this task of <paramref name="count"/> shards follows: the newest one while it is unfinished, else a new
    /// one from <paramref name="cohort"/> (written atomically; when another task wrote it first, that one).
    /// </summary>
    /// <exception cref="PCamDataException">The unfinished plan is for another number of shards.</exception>
    public static ShardPlan ReadOrCreate(string results, int count, IReadOnlyList<SlideInput> cohort, Func<SlideInput, long>? size = null)
    {
        var dir = CohortRunner.ShardsFolder(results);
        Directory.CreateDirectory(dir);
        while (true)
        {
            var latest = Latest(results);
            if (latest is not null && !latest.Finished(results))
            {
                if (latest.Count != count)
                    throw new PCamDataException($"{latest.File}: this results folder is part-way through a run planned for {latest.Count} shards, not {count}; " +
                                                $"finish it with {latest.Count} shards or write to another results folder.");
                return latest;
            }
            int generation = (latest?.Generation ?? 0) + 1;
            size ??= s => System.IO.File.Exists(s.Path) ? new FileInfo(s.Path).Length : 0;
            var shardOf = Shard.Assign(cohort, count, size);
            var slides = cohort.Select((s, i) => new PlannedSlide(s.SlideId, s.Path, s.Label, size(s), shardOf[i]))
                .OrderBy(s => s.SlideId, StringComparer.Ordinal).ToList();
            var file = System.IO.Path.Combine(dir, $"{Prefix}{generation}.json");
            var json = new JsonObject
            {
                ["generation"] = generation, ["count"] = count, ["createdUtc"] = DateTime.UtcNow.ToString("o"),
                ["slides"] = new JsonArray(slides.Select(s => (JsonNode)new JsonObject
                {
                    ["slideId"] = s.SlideId, ["path"] = s.Path, ["label"] = s.Label, ["size"] = s.Size, ["shard"] = s.Shard,
                }).ToArray()),
            };
            var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(file)}.{Guid.NewGuid():N}.tmp");
            System.IO.File.WriteAllText(temp, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            try
            {
                System.IO.File.Move(temp, file, overwrite: false); // fails when another task's plan G is there already
                return Read(file);
            }
            catch (IOException) when (System.IO.File.Exists(file))
            {
                // Another task won: read its plan on the next turn.
            }
            finally
            {
                if (System.IO.File.Exists(temp)) System.IO.File.Delete(temp);
            }
        }
    }
}
