namespace PCam.MLNet.Slides.Patches;

/// <summary>
/// Assigns whole slides to train/valid/test, so no slide feeds two splits. Stratified: tumour slides and normal
/// slides are each shared out in proportion (largest remainder), tumour slides first with at least one per split given
/// a non-zero share when there are enough of them (so every split can have both classes); then every such split gets
/// at least one slide when there are enough slides. Which slides go where is a seeded shuffle.
/// </summary>
public static class SlideSplitter
{
    public static int[] Assign(IReadOnlyList<bool> isTumour, double[] proportions, int seed)
    {
        var p = proportions.Select(v => v / proportions.Sum()).ToArray();
        int wanted = p.Count(v => v > 0);
        var random = new Random(seed);
        var tumour = Enumerable.Range(0, isTumour.Count).Where(i => isTumour[i]).OrderBy(_ => random.Next()).ToList();
        var normal = Enumerable.Range(0, isTumour.Count).Where(i => !isTumour[i]).OrderBy(_ => random.Next()).ToList();
        var t = Apportion(p, tumour.Count, minOne: tumour.Count >= wanted);
        var n = Apportion(p, normal.Count, minOne: false);
        if (isTumour.Count >= wanted)
            for (int s = 0; s < p.Length; s++)
                if (p[s] > 0 && t[s] + n[s] == 0)
                {
                    // Take a normal slide from the split with the most, else a tumour slide from a split with two or more.
                    int donor = Enumerable.Range(0, p.Length).OrderByDescending(d => n[d]).First();
                    if (n[donor] > 0 && t[donor] + n[donor] > 1) { n[donor]--; n[s]++; continue; }
                    donor = Enumerable.Range(0, p.Length).OrderByDescending(d => t[d] + n[d]).First();
                    if (t[donor] > 0 && t[donor] + n[donor] > 1) { t[donor]--; t[s]++; }
                }
        var split = new int[isTumour.Count];
        Deal(tumour, t, split);
        Deal(normal, n, split);
        return split;
    }

    private static void Deal(List<int> slides, int[] counts, int[] split)
    {
        int k = 0;
        for (int s = 0; s < counts.Length; s++)
            for (int c = 0; c < counts[s]; c++) split[slides[k++]] = s;
    }

    /// <summary>Largest-remainder shares of <paramref name="n"/> items (ties to the earlier split), optionally at least one per non-zero share.</summary>
    private static int[] Apportion(double[] p, int n, bool minOne)
    {
        var counts = p.Select(v => (int)Math.Floor(v * n)).ToArray();
        foreach (var s in Enumerable.Range(0, p.Length).OrderByDescending(s => p[s] * n - counts[s]).ThenBy(s => s))
        {
            if (counts.Sum() >= n) break;
            counts[s]++;
        }
        if (minOne)
            for (int s = 0; s < p.Length; s++)
                if (p[s] > 0 && counts[s] == 0)
                {
                    int donor = Enumerable.Range(0, p.Length).OrderByDescending(d => counts[d]).First();
                    counts[donor]--; counts[s]++;
                }
        return counts;
    }
}
