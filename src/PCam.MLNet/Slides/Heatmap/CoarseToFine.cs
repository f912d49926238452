namespace PCam.MLNet.Slides.Heatmap;

/// <summary>One stage of a slide's scoring: which windows it scored and how long it took.</summary>
public sealed record ScoringStage(string Name, int Stride, long Windows, double Seconds);

/// <summary>
/// Coarse-to-fine scoring on the stride grid of <see cref="SlideWindows"/> (stride s, coarse stride k x s):
/// 1. coarse: the tissue windows at every k-th column and row (stride k x s; with the defaults 96, i.e. windows that
///    do not overlap); 2. refine: every tissue window of the fine grid near a coarse window whose probability is at or
///    above the refine threshold, or near one of its 8 coarse neighbours. "Near" a coarse window is its own block: the
///    fine cells whose nearest coarse window it is (i within k/2 of its column, j within k/2 of its row). So around
///    every hot coarse window a block of 3k x 3k fine windows is scored exactly as an exhaustive run scores it.
/// Fine cells left out keep the probability of their nearest scored coarse window (below the refine threshold; with a
/// threshold above the region threshold some may be above that), which is what the heatmap, the smoothing and the slide
/// score see; the tiles CSV lists only the windows actually scored.
/// </summary>
public static class CoarseToFine
{
    /// <summary>Coarse windows at or above this probability are refined with their neighbours (default of --refine-threshold).
    /// Chosen by measurement (docs/performance.md): every normal window at or above the threshold refines a 9 x 9 block,
    /// and PCam-level models put a few percent of normal windows above 0.5, so at 0.5 refinement reached 60-78% of the
    /// tissue; at 0.9 it reached 23% of a 3,072 px slide with 5% tumour, kept its regions and disc coverage (within a
    /// point) and its window AUC. Windows of 0.5-0.9 away from confident tumour keep their coarse window's probability:
    /// regions there are drawn at the coarse stride.</summary>
    public const double DefaultThreshold = 0.9;

    /// <summary>The coarse stage: the tissue cells on every <paramref name="k"/>-th column and row.</summary>
    public static List<(int I, int J)> Coarse(IReadOnlyList<(int I, int J)> tissue, int k) =>
        tissue.Where(c => c.I % k == 0 && c.J % k == 0).ToList();

    /// <summary>
    /// The refine stage: tissue cells not yet scored whose block belongs to a hot coarse window or one of its 8 coarse
    /// neighbours, plus tissue cells with no scored coarse window among their 3 x 3 nearest (they could not be filled),
    /// in row-major order (the order <see cref="WindowDataView"/> reads a slide in).
    /// </summary>
    /// <param name="probability">The grid after the coarse stage (NaN = not scored).</param>
    public static List<(int I, int J)> Refine(IReadOnlyList<(int I, int J)> tissue, float[] probability, int gw, int gh, int k, double threshold)
    {
        int cw = (gw - 1) / k + 1, ch = (gh - 1) / k + 1;
        var near = new bool[(long)cw * ch]; // coarse windows whose block is refined
        for (int b = 0; b < ch; b++)
            for (int a = 0; a < cw; a++)
            {
                float p = probability[(long)(b * k) * gw + a * k];
                if (float.IsNaN(p) || p < threshold) continue;
                for (int y = Math.Max(0, b - 1); y <= Math.Min(ch - 1, b + 1); y++)
                    for (int x = Math.Max(0, a - 1); x <= Math.Min(cw - 1, a + 1); x++)
                        near[(long)y * cw + x] = true;
            }
        var refine = new List<(int I, int J)>();
        foreach (var (i, j) in tissue)
        {
            if (!float.IsNaN(probability[(long)j * gw + i])) continue;
            var (a, b) = Nearest(i, j, k, cw, ch);
            if (near[(long)b * cw + a] || NearestScored(i, j, probability, gw, k, cw, ch) is null) refine.Add((i, j));
        }
        refine.Sort((x, y) => x.J != y.J ? x.J.CompareTo(y.J) : x.I.CompareTo(y.I));
        return refine;
    }

    /// <summary>Gives every tissue cell left unscored the probability of its nearest scored coarse window.</summary>
    public static void Fill(IReadOnlyList<(int I, int J)> tissue, float[] probability, int gw, int gh, int k)
    {
        int cw = (gw - 1) / k + 1, ch = (gh - 1) / k + 1;
        var filled = new List<(long Cell, float P)>();
        foreach (var (i, j) in tissue)
        {
            long c = (long)j * gw + i;
            if (!float.IsNaN(probability[c])) continue;
            if (NearestScored(i, j, probability, gw, k, cw, ch) is { } p) filled.Add((c, p));
        }
        foreach (var (c, p) in filled) probability[c] = p; // after the search, so a filled cell is never read as scored
    }

    /// <summary>
    /// What a coarse-to-fine run with <paramref name="options"/> gives, replayed from an exhaustive run at the same
    /// stride (its windows are the same windows, so their probabilities are too): for choosing the refine threshold
    /// from one exhaustive run. The stages' seconds are the exhaustive run's seconds per window times their windows.
    /// </summary>
    public static HeatmapResult Replay(HeatmapResult exhaustive, HeatmapOptions options)
    {
        if (exhaustive.Options.CoarseFactor != 1 || exhaustive.Measured is not null) throw new ArgumentException("replay needs an exhaustive run.", nameof(exhaustive));
        if (options.Stride != exhaustive.Options.Stride) throw new ArgumentException($"replay needs the exhaustive run's stride ({exhaustive.Options.Stride}).", nameof(options));
        int gw = exhaustive.GridWidth, gh = exhaustive.GridHeight, k = options.CoarseFactor;
        var source = exhaustive.Probability;
        var tissue = new List<(int I, int J)>();
        for (int j = 0; j < gh; j++)
            for (int i = 0; i < gw; i++)
                if (!float.IsNaN(source[(long)j * gw + i])) tissue.Add((i, j));
        double perWindow = exhaustive.ScoringSeconds / Math.Max(1, tissue.Count);
        if (k == 1)
            return Copy(exhaustive, options, (float[])source.Clone(), null, [new ScoringStage("exhaustive", options.Stride, tissue.Count, tissue.Count * perWindow)]);
        var p = new float[source.Length];
        Array.Fill(p, float.NaN);
        var coarse = Coarse(tissue, k);
        foreach (var (i, j) in coarse) p[(long)j * gw + i] = source[(long)j * gw + i];
        var refine = Refine(tissue, p, gw, gh, k, options.RefineThreshold);
        foreach (var (i, j) in refine) p[(long)j * gw + i] = source[(long)j * gw + i];
        var measured = p.Select(v => !float.IsNaN(v)).ToArray();
        Fill(tissue, p, gw, gh, k);
        return Copy(exhaustive, options, p, measured,
            [new ScoringStage("coarse", options.CoarseStride, coarse.Count, coarse.Count * perWindow), new ScoringStage("refine", options.Stride, refine.Count, refine.Count * perWindow)]);
    }

    private static HeatmapResult Copy(HeatmapResult r, HeatmapOptions options, float[] p, bool[]? measured, IReadOnlyList<ScoringStage> stages) => new()
    {
        Input = r.Input, Description = r.Description, Levels = r.Levels, Level = r.Level, Options = options, Windows = r.Windows,
        GridWidth = r.GridWidth, GridHeight = r.GridHeight, Probability = p, Mask = r.Mask, PeakCacheBytes = r.PeakCacheBytes,
        MaskSeconds = r.MaskSeconds, ScoringSeconds = stages.Sum(s => s.Seconds), Stages = stages, Measured = measured, Views = r.Views,
    };

    /// <summary>The coarse window whose block holds fine cell (i, j).</summary>
    private static (int A, int B) Nearest(int i, int j, int k, int cw, int ch) =>
        (Math.Min(cw - 1, (i + k / 2) / k), Math.Min(ch - 1, (j + k / 2) / k));

    /// <summary>The probability of the scored coarse window closest to fine cell (i, j) among the 3 x 3 around its own (ties: row-major first), or null.</summary>
    private static float? NearestScored(int i, int j, float[] probability, int gw, int k, int cw, int ch)
    {
        var (a0, b0) = Nearest(i, j, k, cw, ch);
        float? best = null;
        long bestD = long.MaxValue;
        for (int b = Math.Max(0, b0 - 1); b <= Math.Min(ch - 1, b0 + 1); b++)
            for (int a = Math.Max(0, a0 - 1); a <= Math.Min(cw - 1, a0 + 1); a++)
            {
                float p = probability[(long)(b * k) * gw + a * k];
                if (float.IsNaN(p)) continue;
                long dx = a * k - i, dy = b * k - j, d = dx * dx + dy * dy;
                if (d < bestD) { bestD = d; best = p; }
            }
        return best;
    }
}
