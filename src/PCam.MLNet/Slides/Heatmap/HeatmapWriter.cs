using System.Text.Json.Nodes;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>
/// The folder layout of one slide's outputs and its atomic swap: each output's own writer (<see cref="TilesCsvWriter"/>,
/// <see cref="HeatmapImages"/>, <see cref="HeatmapGeoJson"/>, <see cref="SlideSummaryWriter"/>) writes into a temp folder
/// that is renamed into place only when all five files are complete.
/// </summary>
public static class HeatmapWriter
{
    /// <summary>A slide's five outputs, all in its own folder and named by its slide id.</summary>
    public sealed record Outputs(string Folder, string TilesCsv, string HeatmapPng, string GeoJson, string TissuePng, string SummaryJson)
    {
        public IEnumerable<string> Files => [TilesCsv, HeatmapPng, GeoJson, TissuePng, SummaryJson];
    }

    public static Outputs PathsFor(string slideFolder, string slideId)
    {
        var stem = Path.Combine(slideFolder, slideId);
        return new Outputs(slideFolder, stem + ".tiles.csv", stem + ".heatmap.png", stem + ".geojson", stem + ".tissue.png", stem + ".summary.json");
    }

    /// <summary>
    /// The temp folder name of a slide folder: ".NAME~GUID.tmp". Slide ids hold only [A-Za-z0-9._-], so '~' cannot occur in
    /// one: no slide folder is ever named like a temp folder, and <see cref="IsTempOf"/> tells exactly which slide a temp
    /// folder belongs to (slide "x" never claims the temp folder of slide "x.ome" or "x.1").
    /// </summary>
    public static string TempName(string folderName) => $".{folderName}~{Guid.NewGuid():N}.tmp";

    /// <summary>Whether <paramref name="name"/> is a temp folder name <see cref="TempName"/> gave for <paramref name="folderName"/>.</summary>
    public static bool IsTempOf(string name, string folderName)
    {
        var prefix = $".{folderName}~";
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".tmp", StringComparison.Ordinal)) return false;
        var guid = name.AsSpan(prefix.Length, name.Length - prefix.Length - ".tmp".Length);
        return guid.Length == 32 && Guid.TryParseExact(guid, "N", out _);
    }

    /// <summary>
    /// Writes the outputs into a temp folder beside <paramref name="slideFolder"/> and renames it into place when all five
    /// are complete (a previous folder of the slide is replaced), so a slide folder is either whole or absent.
    /// <paramref name="provenance"/> (label, source identity, model SHA-256, settings key, annotations) is added to the summary.
    /// </summary>
    public static Outputs Write(HeatmapResult r, string slideFolder, string slideId, string modelPath, double totalSeconds,
        SummaryProvenance? provenance = null, CancellationToken cancel = default)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(slideFolder))!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, TempName(Path.GetFileName(slideFolder)));
        var t = PathsFor(temp, slideId);
        try
        {
            Directory.CreateDirectory(temp);
            TilesCsvWriter.Write(r, t.TilesCsv);
            cancel.ThrowIfCancellationRequested();
            HeatmapImages.Write(r, t.HeatmapPng, t.TissuePng);
            cancel.ThrowIfCancellationRequested();
            var tumourCells = HeatmapGeoJson.Write(r, slideId, t.GeoJson);
            SlideSummaryWriter.Write(r, modelPath, tumourCells, totalSeconds, slideId, provenance, t.SummaryJson);
            cancel.ThrowIfCancellationRequested();
            TestHooks.Reached($"slide:{slideId}"); // tests: killed (or paused) with the outputs complete in the temp folder
            if (Directory.Exists(slideFolder)) Directory.Delete(slideFolder, recursive: true);
            Directory.Move(temp, slideFolder);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        return PathsFor(slideFolder, slideId);
    }
}
