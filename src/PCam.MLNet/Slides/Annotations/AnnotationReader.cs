using System.Globalization;
using System.Text.Json;
using System.Xml;
using PCam.MLNet.Data;

namespace PCam.MLNet.Slides.Annotations;

/// <summary>Which annotations mark tumour and which are cut out of it (defaults documented in docs/own-slides.md).</summary>
public sealed class AnnotationOptions
{
    /// <summary>QuPath classification name (or ASAP group) of tumour regions; compared case-insensitively.</summary>
    public string PositiveClass { get; init; } = "Tumor";
    /// <summary>Classes/groups cut out of tumour. Camelyon16 marks non-tumour islands inside a lesion as group `_2`;
    /// Camelyon17 uses `Exclusion`; QuPath's built-in class for regions to leave out is `Ignore*`.</summary>
    public IReadOnlyList<string> ExclusionClasses { get; init; } = ["Exclusion", "_2", "Ignore*"];
    /// <summary>ASAP groups that count as tumour besides <see cref="PositiveClass"/>: Camelyon16's `_0` and `_1` and
    /// Camelyon17's `metastases` (its evaluation code and every public converter read them so).</summary>
    public IReadOnlyList<string> AsapTumourGroups { get; init; } = ["_0", "_1", "metastases"];
    /// <summary>Vertices may lie this many level-0 pixels outside the slide (annotation tools snap to the border).</summary>
    public double BorderTolerance { get; init; } = 2;
}

/// <summary>
/// Reads QuPath GeoJSON (`.geojson`/`.json`: a FeatureCollection, a bare array of features or one feature; Polygon,
/// MultiPolygon and GeometryCollection geometries; the class from `properties.classification.name`, the
/// `classification.names` list of derived classes, or a plain string) and ASAP XML (`.xml`, as Camelyon16/17
/// distribute it). Coordinates are level-0 pixels. Every problem is one PCamDataException naming the file.
/// </summary>
public static class AnnotationReader
{
    public static readonly string[] Extensions = [".geojson", ".json", ".xml"];

    /// <summary>The annotation file for a slide in <paramref name="directory"/>: STEM.geojson, STEM.json or STEM.xml
    /// (the first that exists), or null.</summary>
    public static string? Find(string directory, string slideId)
    {
        foreach (var ext in Extensions)
        {
            var p = Path.Combine(directory, slideId + ext);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <param name="width">Level-0 width of the slide, for the bounds check (null skips it).</param>
    public static SlideAnnotation Read(string path, AnnotationOptions? options = null, double? width = null, double? height = null)
    {
        options ??= new AnnotationOptions();
        if (!File.Exists(path)) throw new PCamDataException($"{path}: annotation file not found.");
        SlideAnnotation result;
        try
        {
            result = path.EndsWith(".xml", StringComparison.OrdinalIgnoreCase) ? ReadAsap(path, options) : ReadGeoJson(path, options);
        }
        catch (AnnotationFormatException e) { throw new PCamDataException($"{path}: {e.Message}"); }
        catch (JsonException e) { throw new PCamDataException($"{path}: not valid JSON ({e.Message}).", e); }
        catch (XmlException e) { throw new PCamDataException($"{path}: not valid XML ({e.Message}).", e); }
        catch (IOException e) { throw new PCamDataException($"{path}: cannot read ({e.Message}).", e); }
        if (width is { } w && height is { } h) CheckBounds(path, result, w, h, options.BorderTolerance);
        return result;
    }


    private static void CheckBounds(string path, SlideAnnotation a, double w, double h, double tol)
    {
        foreach (var p in a.Tumour.Concat(a.Exclusion))
            if (p.MinX < -tol || p.MinY < -tol || p.MaxX > w + tol || p.MaxY > h + tol)
                throw new PCamDataException(FormattableString.Invariant(
                    $"{path}: a polygon spans x {p.MinX:F0}..{p.MaxX:F0}, y {p.MinY:F0}..{p.MaxY:F0}, outside the slide ({w:F0}x{h:F0} level-0 px); is this the annotation of another slide, or not in level-0 pixels?"));
    }

    private static bool Matches(string name, IEnumerable<string> names) => names.Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));

    // ---- QuPath GeoJSON ----

    private static SlideAnnotation ReadGeoJson(string path, AnnotationOptions options)
    {
        using var stream = File.OpenRead(path);
        using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        var root = doc.RootElement;
        IEnumerable<JsonElement> features = root.ValueKind switch
        {
            JsonValueKind.Array => root.EnumerateArray(),
            JsonValueKind.Object when Type(root) == "FeatureCollection" =>
                root.TryGetProperty("features", out var f) && f.ValueKind == JsonValueKind.Array ? f.EnumerateArray() : throw new AnnotationFormatException("FeatureCollection without a 'features' array."),
            JsonValueKind.Object when Type(root) == "Feature" => [root],
            _ => throw new AnnotationFormatException("expected a GeoJSON FeatureCollection, an array of features or a Feature (as QuPath exports)."),
        };
        var tumour = new List<AnnotationPolygon>();
        var exclusion = new List<AnnotationPolygon>();
        var classes = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        int index = -1;
        foreach (var feature in features)
        {
            index++;
            if (feature.ValueKind != JsonValueKind.Object || Type(feature) != "Feature")
                throw new AnnotationFormatException($"item {index} is not a GeoJSON Feature.");
            var name = ClassName(feature);
            if (name is null) continue; // unclassified objects carry no label
            classes.Add(name);
            List<AnnotationPolygon>? target = Matches(name, [options.PositiveClass]) ? tumour : Matches(name, options.ExclusionClasses) ? exclusion : null;
            if (target is null) continue;
            if (!feature.TryGetProperty("geometry", out var geometry) || geometry.ValueKind != JsonValueKind.Object)
                throw new AnnotationFormatException($"feature {index} ({name}) has no geometry.");
            AddGeometry(geometry, target, $"feature {index} ({name})");
        }
        // Classified objects but none of the tumour class: almost always a misspelt or renamed class, so say which exist.
        if (classes.Count > 0 && tumour.Count == 0)
            throw new AnnotationFormatException($"no feature of class '{options.PositiveClass}' (classes in the file: {string.Join(", ", classes)}); choose the tumour class with AnnotationOptions.PositiveClass.");
        return new SlideAnnotation(path, tumour, exclusion);
    }

    private static string? Type(JsonElement e) => e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    /// <summary>QuPath 0.2+: properties.classification {name, colorRGB|color}; 0.4+ derived classes: {names: [...]}
    /// joined with ": " as QuPath displays them; some converters write a plain string.</summary>
    private static string? ClassName(JsonElement feature)
    {
        if (!feature.TryGetProperty("properties", out var props) || props.ValueKind != JsonValueKind.Object) return null;
        if (!props.TryGetProperty("classification", out var c)) return null;
        return c.ValueKind switch
        {
            JsonValueKind.String => c.GetString(),
            JsonValueKind.Object when c.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String => n.GetString(),
            JsonValueKind.Object when c.TryGetProperty("names", out var ns) && ns.ValueKind == JsonValueKind.Array =>
                string.Join(": ", ns.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString())),
            _ => null,
        };
    }

    private static void AddGeometry(JsonElement geometry, List<AnnotationPolygon> target, string where)
    {
        var type = Type(geometry);
        switch (type)
        {
            case "Polygon":
                target.Add(Polygon(Coordinates(geometry, where), where));
                break;
            case "MultiPolygon":
                var polys = Coordinates(geometry, where);
                if (polys.ValueKind != JsonValueKind.Array) throw new AnnotationFormatException($"{where}: MultiPolygon coordinates must be an array of polygons.");
                foreach (var p in polys.EnumerateArray()) target.Add(Polygon(p, where));
                break;
            case "GeometryCollection":
                if (!geometry.TryGetProperty("geometries", out var parts) || parts.ValueKind != JsonValueKind.Array)
                    throw new AnnotationFormatException($"{where}: GeometryCollection without 'geometries'.");
                foreach (var part in parts.EnumerateArray())
                    if (Type(part) is "Polygon" or "MultiPolygon" or "GeometryCollection") AddGeometry(part, target, where);
                break;
            default:
                throw new AnnotationFormatException($"{where}: geometry '{type ?? "(none)"}' does not enclose a region; tumour and exclusion annotations must be Polygon or MultiPolygon.");
        }
    }

    private static JsonElement Coordinates(JsonElement geometry, string where) =>
        geometry.TryGetProperty("coordinates", out var c) ? c : throw new AnnotationFormatException($"{where}: geometry without coordinates.");

    private static AnnotationPolygon Polygon(JsonElement rings, string where)
    {
        if (rings.ValueKind != JsonValueKind.Array || rings.GetArrayLength() == 0) throw new AnnotationFormatException($"{where}: a Polygon needs at least one ring.");
        var list = new List<(double, double)[]>();
        int r = 0;
        foreach (var ring in rings.EnumerateArray())
        {
            if (ring.ValueKind != JsonValueKind.Array) throw new AnnotationFormatException($"{where}: ring {r} is not an array of positions.");
            var pts = new List<(double X, double Y)>();
            foreach (var pos in ring.EnumerateArray())
            {
                if (pos.ValueKind != JsonValueKind.Array || pos.GetArrayLength() < 2 || pos[0].ValueKind != JsonValueKind.Number || pos[1].ValueKind != JsonValueKind.Number)
                    throw new AnnotationFormatException($"{where}: ring {r} has a position that is not [x, y].");
                double x = pos[0].GetDouble(), y = pos[1].GetDouble();
                if (!double.IsFinite(x) || !double.IsFinite(y)) throw new AnnotationFormatException($"{where}: ring {r} has a non-finite coordinate.");
                pts.Add((x, y));
            }
            // GeoJSON (RFC 7946 3.1.6): a linear ring has 4+ positions and ends where it starts; QuPath writes it so.
            if (pts.Count < 4 || pts[0] != pts[^1])
                throw new AnnotationFormatException($"{where}: ring {r} is not closed (a GeoJSON ring has at least 4 positions and its last equals its first).");
            pts.RemoveAt(pts.Count - 1);
            list.Add(pts.ToArray());
            r++;
        }
        return new AnnotationPolygon(list);
    }

    // ---- ASAP XML (Camelyon16/17) ----

    private static SlideAnnotation ReadAsap(string path, AnnotationOptions options)
    {
        var doc = new XmlDocument { XmlResolver = null };
        using (var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit }))
            doc.Load(reader);
        if (doc.DocumentElement?.Name != "ASAP_Annotations")
            throw new AnnotationFormatException($"root element is <{doc.DocumentElement?.Name}>, expected <ASAP_Annotations> (ASAP / Camelyon16 XML).");
        var tumour = new List<AnnotationPolygon>();
        var exclusion = new List<AnnotationPolygon>();
        var groups = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        var annotations = doc.SelectNodes("/ASAP_Annotations/Annotations/Annotation")!;
        foreach (XmlElement a in annotations)
        {
            var name = a.GetAttribute("Name");
            var group = a.GetAttribute("PartOfGroup");
            var where = $"annotation '{name}' (group {group})";
            groups.Add(group);
            bool isTumour = Matches(group, [options.PositiveClass]) || Matches(group, options.AsapTumourGroups);
            bool isExclusion = !isTumour && Matches(group, options.ExclusionClasses);
            if (!isTumour && !isExclusion) continue;
            var type = a.GetAttribute("Type");
            if (type is not ("Polygon" or "Spline" or "Rectangle"))
                throw new AnnotationFormatException($"{where}: type '{type}' does not enclose a region; expected Polygon.");
            var coords = new List<(int Order, double X, double Y)>();
            foreach (XmlElement c in a.SelectNodes("Coordinates/Coordinate")!)
            {
                if (!double.TryParse(c.GetAttribute("X"), NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ||
                    !double.TryParse(c.GetAttribute("Y"), NumberStyles.Float, CultureInfo.InvariantCulture, out var y) || !double.IsFinite(x) || !double.IsFinite(y))
                    throw new AnnotationFormatException($"{where}: a Coordinate has no numeric X and Y.");
                int order = int.TryParse(c.GetAttribute("Order"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var o) ? o : coords.Count;
                coords.Add((order, x, y));
            }
            // ASAP polygons are implicitly closed (the last vertex joins the first); a repeated first vertex is dropped.
            var ring = coords.OrderBy(c => c.Order).Select(c => (c.X, c.Y)).ToList();
            if (ring.Count > 1 && ring[0] == ring[^1]) ring.RemoveAt(ring.Count - 1);
            if (ring.Count < 3) throw new AnnotationFormatException($"{where}: has {ring.Count} distinct vertices; a polygon needs at least 3.");
            (isTumour ? tumour : exclusion).Add(new AnnotationPolygon([ring.ToArray()]));
        }
        if (groups.Count > 0 && tumour.Count == 0)
            throw new AnnotationFormatException($"no annotation in group '{options.PositiveClass}' or {string.Join("/", options.AsapTumourGroups)} (groups in the file: {string.Join(", ", groups)}); choose the tumour group with AnnotationOptions.PositiveClass.");
        return new SlideAnnotation(path, tumour, exclusion);
    }
}
