using System.Globalization;
using System.Text;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Reading;

namespace PCam.MLNet.Tests.Slides;

/// <summary>
/// Slide-like tiled TIFFs with known tumour: glass border, pink tissue with sparse small nuclei, and inside the tumour
/// polygons a denser, darker texture of large nuclei (drawn in microns, so it looks the same at any pixel size). Tumour
/// is axis-aligned rectangles with a hole and an exclusion, so a window's centre-pixel count is plain arithmetic.
/// </summary>
internal static class SyntheticSlides
{
    /// <summary>A rectangle [X0, X1) x [Y0, Y1) in level-0 pixels.</summary>
    public sealed record Rect(double X0, double Y0, double X1, double Y1)
    {
        public (double X, double Y)[] Ring => [(X0, Y0), (X1, Y0), (X1, Y1), (X0, Y1)];
    }

    /// <summary>Tumour = Outer minus Hole minus Exclusion (both inside Outer), plus Second.</summary>
    public sealed record Tumour(Rect Outer, Rect Hole, Rect Exclusion, Rect Second)
    {
        public SlideAnnotation Annotation => new("drawn",
            [new AnnotationPolygon([Outer.Ring, Hole.Ring]), new AnnotationPolygon([Second.Ring])],
            [new AnnotationPolygon([Exclusion.Ring])]);

        /// <summary>Tumour pixels among the 32x32 centre of the window at (minX, minY) with window pixel size p (level 0).</summary>
        public int CentreCount(double minX, double minY, double p) =>
            Count(Outer, minX, minY, p) - Count(Hole, minX, minY, p) - Count(Exclusion, minX, minY, p) + Count(Second, minX, minY, p);

        static int Count(Rect r, double minX, double minY, double p) => Span(r.X0, r.X1, minX + 32 * p, p) * Span(r.Y0, r.Y1, minY + 32 * p, p);

        // Centres c_i = c0 + (i + 0.5) p, i = 0..31; count those with a <= c_i < b.
        static int Span(double a, double b, double c0, double p)
        {
            int lo = Math.Max(0, (int)Math.Ceiling((a - c0) / p - 0.5)), hi = Math.Min(31, (int)Math.Ceiling((b - c0) / p - 0.5) - 1);
            return Math.Max(0, hi - lo + 1);
        }

        /// <summary>Scaled copy (for slides of another size).</summary>
        public static Tumour For(int side) => new(
            new Rect(0.20 * side + 0.3, 0.15 * side + 0.2, 0.59 * side + 0.7, 0.49 * side + 0.9),
            new Rect(0.29 * side + 0.5, 0.24 * side + 0.5, 0.39 * side + 0.5, 0.34 * side + 0.5),
            new Rect(0.49 * side + 0.1, 0.39 * side + 0.1, 0.55 * side + 0.1, 0.45 * side + 0.1),
            new Rect(0.68 * side + 0.4, 0.63 * side + 0.2, 0.88 * side + 0.6, 0.93 * side + 0.8));
    }

    /// <summary>Writes a slide of side x side level-0 pixels at <paramref name="mpp"/>; <paramref name="pyramid"/> adds a 2x level.</summary>
    public static void Write(string path, int side, double mpp, Tumour? tumour, int seed, bool pyramid)
    {
        var a = tumour?.Annotation;
        var rgb = new byte[side * side * 3];
        const int border = 60;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                int o = (y * side + x) * 3;
                if (x < border || y < border || x >= side - border || y >= side - border)
                {
                    rgb[o] = rgb[o + 1] = rgb[o + 2] = 244;
                    continue;
                }
                bool t = a != null && a.IsTumour(x + 0.5, y + 0.5);
                var (r, g, b) = Texture(x * mpp, y * mpp, t, seed);
                rgb[o] = r; rgb[o + 1] = g; rgb[o + 2] = b;
            }
        if (!pyramid)
        {
            TiledTiffWriter.Write(path, [(side, side, mpp)], 128, (_, x, y, tile) => TiledTiffWriter.CopyTile(rgb, side, side, x, y, tile, 128));
            return;
        }
        int half = side / 2;
        var small = new byte[half * half * 3];
        for (int y = 0; y < half; y++)
            for (int x = 0; x < half; x++)
                for (int c = 0; c < 3; c++)
                {
                    int s = rgb[((2 * y) * side + 2 * x) * 3 + c] + rgb[((2 * y) * side + 2 * x + 1) * 3 + c] + rgb[((2 * y + 1) * side + 2 * x) * 3 + c] + rgb[((2 * y + 1) * side + 2 * x + 1) * 3 + c];
                    small[(y * half + x) * 3 + c] = (byte)((s + 2) / 4);
                }
        TiledTiffWriter.Write(path, [(side, side, mpp), (half, half, mpp * 2)], 128,
            (level, x, y, tile) => TiledTiffWriter.CopyTile(level == 0 ? rgb : small, level == 0 ? side : half, level == 0 ? side : half, x, y, tile, 128));
    }

    static (byte, byte, byte) Texture(double u, double v, bool tumour, int seed)
    {
        // Nuclei on a jittered grid: tumour 9 um cells with 3.6 um nuclei, normal 16 um cells with 2.2 um nuclei.
        double cell = tumour ? 9 : 16, radius = tumour ? 3.6 : 2.2;
        int cu = (int)Math.Floor(u / cell), cv = (int)Math.Floor(v / cell);
        for (int dv = -1; dv <= 1; dv++)
            for (int du = -1; du <= 1; du++)
            {
                uint h = Hash(cu + du, cv + dv, seed);
                double cx = (cu + du + 0.2 + 0.6 * (h & 0xFF) / 255.0) * cell, cy = (cv + dv + 0.2 + 0.6 * ((h >> 8) & 0xFF) / 255.0) * cell;
                if ((u - cx) * (u - cx) + (v - cy) * (v - cy) < radius * radius)
                    return tumour ? ((byte)80, (byte)35, (byte)125) : ((byte)95, (byte)55, (byte)125);
            }
        uint n = Hash((int)(u * 4), (int)(v * 4), seed + 7) & 15;
        return tumour ? ((byte)(185 + n), (byte)120, (byte)(175 + n)) : ((byte)(232 + n / 2), (byte)(180 + n), (byte)(205 + n));
    }

    static uint Hash(int x, int y, int seed)
    {
        uint h = (uint)(x * 374761393 + y * 668265263 + seed * 1442695041);
        h = (h ^ (h >> 13)) * 1274126177;
        return h ^ (h >> 16);
    }

    /// <summary>The tumour as QuPath would export it (FeatureCollection; the exclusion as class Exclusion).</summary>
    public static string GeoJson(Tumour t)
    {
        static string Ring((double X, double Y)[] r) => "[" + string.Join(",", r.Append(r[0]).Select(p => string.Create(CultureInfo.InvariantCulture, $"[{p.X},{p.Y}]"))) + "]";
        static string Feature(string geometry, string cls) =>
            "{\"type\":\"Feature\",\"id\":\"" + Guid.NewGuid() + "\",\"geometry\":" + geometry +
            ",\"properties\":{\"objectType\":\"annotation\",\"classification\":{\"name\":\"" + cls + "\",\"color\":[200,0,0]}}}";
        var features = new[]
        {
            Feature($$"""{"type":"MultiPolygon","coordinates":[[{{Ring(t.Outer.Ring)}},{{Ring(t.Hole.Ring)}}],[{{Ring(t.Second.Ring)}}]]}""", "Tumor"),
            Feature($$"""{"type":"Polygon","coordinates":[{{Ring(t.Exclusion.Ring)}}]}""", "Exclusion"),
        };
        return $$"""{"type":"FeatureCollection","features":[{{string.Join(",", features)}}]}""";
    }

    /// <summary>The tumour as Camelyon16's ASAP XML (groups _0 and Tumor; the hole and the exclusion as _2).</summary>
    public static string AsapXml(Tumour t)
    {
        var sb = new StringBuilder("<?xml version=\"1.0\"?>\n<ASAP_Annotations>\n\t<Annotations>\n");
        int n = 0;
        void Add(Rect r, string group)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\t\t<Annotation Name=\"Annotation {n++}\" Type=\"Polygon\" PartOfGroup=\"{group}\" Color=\"#F4FA58\">\n\t\t\t<Coordinates>\n");
            int k = 0;
            foreach (var (x, y) in r.Ring) sb.Append(CultureInfo.InvariantCulture, $"\t\t\t\t<Coordinate Order=\"{k++}\" X=\"{x:0.0###}\" Y=\"{y:0.0###}\" />\n");
            sb.Append("\t\t\t</Coordinates>\n\t\t</Annotation>\n");
        }
        Add(t.Outer, "_0");
        Add(t.Hole, "_2");
        Add(t.Exclusion, "_2");
        Add(t.Second, "Tumor");
        sb.Append("\t</Annotations>\n\t<AnnotationGroups>\n\t\t<Group Name=\"_0\" PartOfGroup=\"None\" Color=\"#FF0000\">\n\t\t\t<Attributes />\n\t\t</Group>\n\t</AnnotationGroups>\n</ASAP_Annotations>\n");
        return sb.ToString();
    }
}
