using System.Text.Json.Nodes;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>What scoring a slide cost, stage by stage, as the summary.json and run.json record it.</summary>
public static class SlideCost
{
    /// <summary>{"views", "stages": [{"name", "stride", "windows", "seconds"}]} of one slide.</summary>
    public static JsonObject Json(HeatmapResult r) => new()
    {
        ["views"] = r.Views,
        ["stages"] = new JsonArray(r.Stages.Select(s => (JsonNode)new JsonObject
        {
            ["name"] = s.Name, ["stride"] = s.Stride, ["windows"] = s.Windows, ["seconds"] = Math.Round(s.Seconds, 3),
        }).ToArray()),
    };

    /// <summary>Slides, windows and seconds per stage name summed over "scoring" objects (a slide's, or totals like
    /// this one's: a shard's run, merged into run.json), as {"stages": [{"name", "slides", "windows", "seconds"}]}.</summary>
    public static JsonObject Total(IEnumerable<JsonNode?> scorings)
    {
        var total = new Dictionary<string, (long Windows, double Seconds, long Slides)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var scoring in scorings)
            foreach (var stage in scoring?["stages"]?.AsArray() ?? [])
            {
                if ((string?)stage?["name"] is not { } name) continue;
                if (!total.TryGetValue(name, out var t)) order.Add(name);
                total[name] = (t.Windows + ((long?)stage["windows"] ?? 0), t.Seconds + ((double?)stage["seconds"] ?? 0), t.Slides + ((long?)stage["slides"] ?? 1));
            }
        return new JsonObject
        {
            ["stages"] = new JsonArray(order.Select(name => (JsonNode)new JsonObject
            {
                ["name"] = name, ["slides"] = total[name].Slides, ["windows"] = total[name].Windows, ["seconds"] = Math.Round(total[name].Seconds, 3),
            }).ToArray()),
        };
    }
}
