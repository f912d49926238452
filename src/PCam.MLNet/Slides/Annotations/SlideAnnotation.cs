namespace PCam.MLNet.Slides.Annotations;

/// <summary>A polygon in level-0 pixels: an outer ring and its holes (rings stored without the closing vertex).</summary>
public sealed class AnnotationPolygon
{
    public AnnotationPolygon(IReadOnlyList<(double X, double Y)[]> rings)
    {
        if (rings.Count == 0 || rings[0].Length < 3) throw new ArgumentException("a polygon needs an outer ring of at least 3 vertices", nameof(rings));
        Rings = rings;
        double x0 = double.MaxValue, y0 = double.MaxValue, x1 = double.MinValue, y1 = double.MinValue;
        foreach (var (x, y) in rings[0])
        {
            x0 = Math.Min(x0, x); y0 = Math.Min(y0, y); x1 = Math.Max(x1, x); y1 = Math.Max(y1, y);
        }
        MinX = x0; MinY = y0; MaxX = x1; MaxY = y1;
    }

    /// <summary>Rings[0] is the outer boundary, the rest are holes.</summary>
    public IReadOnlyList<(double X, double Y)[]> Rings { get; }
    public double MinX { get; }
    public double MinY { get; }
    public double MaxX { get; }
    public double MaxY { get; }

    /// <summary>Even-odd rule over all rings: inside the outer ring and outside every hole.</summary>
    public bool Contains(double x, double y)
    {
        if (x < MinX || x > MaxX || y < MinY || y > MaxY) return false;
        bool inside = false;
        foreach (var ring in Rings)
        {
            for (int i = 0, j = ring.Length - 1; i < ring.Length; j = i++)
            {
                var (xi, yi) = ring[i];
                var (xj, yj) = ring[j];
                if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
            }
        }
        return inside;
    }

    /// <summary>The x where each edge crosses the horizontal line at <paramref name="y"/>, sorted; computed exactly as
    /// <see cref="Contains"/> computes them, so a point (x, y) is inside iff an odd number of them exceed x.</summary>
    public double[] Crossings(double y)
    {
        if (y < MinY || y > MaxY) return [];
        var xs = new List<double>();
        foreach (var ring in Rings)
            for (int i = 0, j = ring.Length - 1; i < ring.Length; j = i++)
            {
                var (xi, yi) = ring[i];
                var (xj, yj) = ring[j];
                if ((yi > y) != (yj > y)) xs.Add((xj - xi) * (y - yi) / (yj - yi) + xi);
            }
        xs.Sort();
        return xs.ToArray();
    }

    /// <summary>Inside test against <see cref="Crossings"/> of the point's row: odd count of crossings greater than x.</summary>
    public static bool InsideRow(double[] crossings, double x)
    {
        if (crossings.Length == 0) return false;
        // number of crossings <= x (upper bound)
        int lo = 0, hi = crossings.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (crossings[mid] <= x) lo = mid + 1; else hi = mid;
        }
        return ((crossings.Length - lo) & 1) == 1;
    }

    public bool Overlaps(double x0, double y0, double x1, double y1) => x1 >= MinX && x0 <= MaxX && y1 >= MinY && y0 <= MaxY;

    /// <summary>Shoelace area of the outer ring minus the holes, in level-0 pixels squared.</summary>
    public double Area => Rings.Select((r, i) => (i == 0 ? 1 : -1) * Math.Abs(RingArea(r))).Sum();

    private static double RingArea((double X, double Y)[] r)
    {
        double a = 0;
        for (int i = 0, j = r.Length - 1; i < r.Length; j = i++) a += (r[j].X + r[i].X) * (r[j].Y - r[i].Y);
        return a / 2;
    }
}

/// <summary>
/// The tumour annotation of one slide in level-0 pixels: tumour polygons (with holes) and exclusion polygons cut out
/// of them (Camelyon16's `_2` group, QuPath's exclusion classes). A point is tumour when it lies in some tumour polygon
/// and in no exclusion polygon.
/// </summary>
public sealed class SlideAnnotation
{
    public SlideAnnotation(string source, IReadOnlyList<AnnotationPolygon> tumour, IReadOnlyList<AnnotationPolygon> exclusion)
    {
        Source = source;
        Tumour = tumour;
        Exclusion = exclusion;
    }

    /// <summary>The annotation file (for messages), or "" for an unannotated slide.</summary>
    public string Source { get; }
    public IReadOnlyList<AnnotationPolygon> Tumour { get; }
    public IReadOnlyList<AnnotationPolygon> Exclusion { get; }
    public bool HasTumour => Tumour.Count > 0;

    /// <summary>No tumour anywhere (a slide without an annotation file).</summary>
    public static SlideAnnotation Empty(string source = "") => new(source, [], []);

    public bool IsTumour(double x, double y)
    {
        bool hit = false;
        foreach (var p in Tumour) if (p.Contains(x, y)) { hit = true; break; }
        if (!hit) return false;
        foreach (var p in Exclusion) if (p.Contains(x, y)) return false;
        return true;
    }

    /// <summary>Whether any tumour polygon's bounding box touches the level-0 rectangle [x0, x1] x [y0, y1].</summary>
    public bool MayTouch(double x0, double y0, double x1, double y1)
    {
        foreach (var p in Tumour) if (p.Overlaps(x0, y0, x1, y1)) return true;
        return false;
    }

    /// <summary>
    /// Counts the tumour pixels of an n x n pixel grid with top-left (x0, y0) and pixel size <paramref name="pixel"/>
    /// (level-0 pixels per grid pixel): a grid pixel is tumour when its centre is (the rasterisation rule of the
    /// patch labels and of the evaluation masks).
    /// </summary>
    public int CountTumourPixels(double x0, double y0, int n, double pixel)
    {
        if (!MayTouch(x0, y0, x0 + n * pixel, y0 + n * pixel)) return 0;
        int count = 0;
        for (int j = 0; j < n; j++)
        {
            double y = y0 + (j + 0.5) * pixel;
            var (tumour, exclusion) = Row(y);
            for (int i = 0; i < n; i++)
            {
                double x = x0 + (i + 0.5) * pixel;
                bool hit = false;
                foreach (var c in tumour) if (AnnotationPolygon.InsideRow(c, x)) { hit = true; break; }
                if (!hit) continue;
                foreach (var c in exclusion) if (AnnotationPolygon.InsideRow(c, x)) { hit = false; break; }
                if (hit) count++;
            }
        }
        return count;
    }

    // Scanline crossings per polygon, cached by row: windows on one grid row share their centre rows, so a slide's
    // labels cost (rows x vertices) instead of (pixels x vertices). Same decisions as IsTumour, point for point.
    private readonly Dictionary<double, (double[][] Tumour, double[][] Exclusion)> _rows = [];

    private (double[][] Tumour, double[][] Exclusion) Row(double y)
    {
        lock (_rows)
        {
            if (_rows.TryGetValue(y, out var row)) return row;
            if (_rows.Count > 4096) _rows.Clear();
            row = (Tumour.Select(p => p.Crossings(y)).Where(c => c.Length > 0).ToArray(), Exclusion.Select(p => p.Crossings(y)).Where(c => c.Length > 0).ToArray());
            _rows[y] = row;
            return row;
        }
    }
}
