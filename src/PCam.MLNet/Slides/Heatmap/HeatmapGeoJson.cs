using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>STEM.geojson: the slide's tumour regions as QuPath annotations.</summary>
public static class HeatmapGeoJson
{
    public const string ClassName = "Tumor";
    public static readonly int[] ClassColor = [200, 0, 0];

    /// <summary>Writes STEM.geojson (compact: large slides have many vertices); returns the tumour cells of its regions.</summary>
    public static long Write(HeatmapResult r, string slideId, string path)
    {
        var (geo, tumourCells) = GeoJson(r, slideId);
        File.WriteAllText(path, geo.ToJsonString());
        return tumourCells;
    }

    /// <summary>
    /// The lesions of <see cref="SlideLesions"/> (smoothed grid, thresholded, small regions dropped; each cell being the
    /// window's centre stride x stride square) as QuPath annotation features (QuPath 0.4+ GeoJSON: properties.objectType
    /// "annotation", classification {name, color}, measurements as a name-to-number map) in level-0 pixel coordinates.
    /// </summary>
    public static (JsonObject Geo, long TumourCells) GeoJson(HeatmapResult r, string? slideId = null)
    {
        var lesions = r.Lesions;
        double offset = (r.Sampling.LevelWindow - r.LevelStride) / 2.0;
        var features = new JsonArray();
        var stem = slideId ?? Path.GetFileNameWithoutExtension(r.Input);
        for (int n = 0; n < lesions.Lesions.Count; n++)
        {
            var lesion = lesions.Lesions[n];
            var region = lesion.Region;
            JsonArray Ring(List<(int X, int Y)> ring) => new(ring.Select(c => (JsonNode)new JsonArray(
                Round((offset + c.X * r.LevelStride) * r.Level.DownsampleX), Round((offset + c.Y * r.LevelStride) * r.Level.DownsampleY))).ToArray());
            var coordinates = new JsonArray(Ring(region.Outer));
            foreach (var hole in region.Holes) coordinates.Add(Ring(hole));
            var measurements = new JsonObject
            {
                ["Max probability"] = Math.Round(lesion.MaxProbability, 6),
                ["Mean probability"] = Math.Round(lesion.MeanProbability, 6),
                ["Max smoothed probability"] = Math.Round(lesion.MaxSmoothed, 6),
                ["Windows"] = lesion.Windows,
            };
            if (lesion.AreaUm2 is { } area)
            {
                measurements["Area um^2"] = Math.Round(area, 1);
                measurements["Area mm^2"] = Math.Round(area / 1e6, 6);
            }
            features.Add(new JsonObject
            {
                ["type"] = "Feature",
                ["id"] = StableId($"{stem}:{n}"),
                ["geometry"] = new JsonObject { ["type"] = "Polygon", ["coordinates"] = coordinates },
                ["properties"] = new JsonObject
                {
                    ["objectType"] = "annotation",
                    ["name"] = $"Tumor region {n + 1}",
                    ["classification"] = new JsonObject { ["name"] = ClassName, ["color"] = new JsonArray(ClassColor.Select(c => (JsonNode)c).ToArray()) },
                    ["measurements"] = measurements,
                },
            });
        }
        return (new JsonObject { ["type"] = "FeatureCollection", ["features"] = features }, lesions.TumourCells);
    }

    private static double Round(double v) => Math.Round(v, 2);

    /// <summary>A UUID-shaped id derived from the name, so reruns write identical files (QuPath reads ids as UUIDs).</summary>
    private static string StableId(string name)
    {
        var h = MD5.HashData(Encoding.UTF8.GetBytes(name));
        h[6] = (byte)((h[6] & 0x0F) | 0x30); // version 3 (name-based, MD5)
        h[8] = (byte)((h[8] & 0x3F) | 0x80);
        var hex = Convert.ToHexString(h).ToLowerInvariant();
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }
}
