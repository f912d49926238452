namespace PCam.MLNet.Slides.Heatmap;

/// <summary>A tumour region: its polygon cells, area and the window probabilities inside it.</summary>
public sealed record Lesion(CellRegion Region, double? AreaUm2, double MaxProbability, double MeanProbability, double MaxSmoothed)
{
    public int Windows => Region.Cells.Count;
}

/// <summary>
/// From a probability grid to lesions and one slide answer. The rule (documented in docs/slides.md):
/// 1. smooth: each scored cell becomes the mean of the scored cells in its 3x3 neighbourhood (itself included; cells
///    not scored, i.e. background, are left out of the mean), which removes isolated false-positive windows and fills
///    single-window gaps; 2. threshold the smoothed grid; 3. trace 4-connected regions and drop those smaller than
///    MinRegionUm2; 4. each region reports its area (cells x cell side squared) and the max and mean of the raw window
///    probabilities inside it. The slide score is the maximum of the smoothed grid (a lone confident window counts
///    less than a confident neighbourhood).
/// </summary>
public sealed class SlideLesions
{
    private SlideLesions(float[] smoothed, List<Lesion> lesions, double? slideScore, long droppedRegions)
    {
        Smoothed = smoothed;
        Lesions = lesions;
        SlideScore = slideScore;
        DroppedRegions = droppedRegions;
    }

    /// <summary>The smoothed grid (NaN = not scored).</summary>
    public float[] Smoothed { get; }
    /// <summary>Kept regions, largest first.</summary>
    public IReadOnlyList<Lesion> Lesions { get; }
    /// <summary>Max of the smoothed grid, or null when nothing was scored.</summary>
    public double? SlideScore { get; }
    /// <summary>Regions above the threshold but under the minimum area.</summary>
    public long DroppedRegions { get; }
    public long TumourCells => Lesions.Sum(l => (long)l.Windows);
    public double? TumourAreaUm2(double? cellMicrons) => cellMicrons is { } c ? TumourCells * c * c : null;

    public static float[] Smooth(float[] p, int w, int h, int radius)
    {
        if (radius <= 0) return (float[])p.Clone();
        var s = new float[p.Length];
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++)
            {
                int c = j * w + i;
                if (float.IsNaN(p[c])) { s[c] = float.NaN; continue; }
                double sum = 0;
                int n = 0;
                for (int y = Math.Max(0, j - radius); y <= Math.Min(h - 1, j + radius); y++)
                    for (int x = Math.Max(0, i - radius); x <= Math.Min(w - 1, i + radius); x++)
                    {
                        float v = p[y * w + x];
                        if (float.IsNaN(v)) continue;
                        sum += v;
                        n++;
                    }
                s[c] = (float)(sum / n);
            }
        return s;
    }

    public static SlideLesions Find(HeatmapResult r) => Find(r.Probability, r.GridWidth, r.GridHeight, r.CellMicrons, r.Options);

    /// <summary>The same rule on a bare probability grid (row-major, NaN = not scored) whose cells are <paramref name="cell"/> um apart.</summary>
    public static SlideLesions Find(float[] probability, int width, int height, double? cell, HeatmapOptions o)
    {
        var smoothed = Smooth(probability, width, height, o.SmoothingRadius);
        var marked = smoothed.Select(p => !float.IsNaN(p) && p >= o.Threshold).ToArray();
        var lesions = new List<Lesion>();
        long dropped = 0;
        foreach (var region in RegionPolygons.Trace(marked, width, height))
        {
            double? area = cell is { } c ? region.Cells.Count * c * c : null;
            if (area is { } a && a < o.MinRegionUm2) { dropped++; continue; }
            var raw = region.Cells.Select(k => (double)probability[k]).ToList();
            lesions.Add(new Lesion(region, area, raw.Max(), raw.Average(), region.Cells.Max(k => (double)smoothed[k])));
        }
        lesions.Sort((a, b) => b.Windows.CompareTo(a.Windows));
        var scored = smoothed.Where(v => !float.IsNaN(v)).ToArray();
        return new SlideLesions(smoothed, lesions, scored.Length > 0 ? scored.Max() : null, dropped);
    }
}
