namespace PCam.MLNet.Slides.Patches;

/// <summary>
/// Assigns whole slides to train/valid/test, so no slide feeds two splits. Split sizes are the proportions times the
/// slide count by largest remainder, with at least one slide for every split given a non-zero share when there are
/// enough slides. Tumour and normal slides are shuffled apart (seeded) and interleaved, then dealt to the split with
/// the largest share still to fill, so both kinds spread over the splits in proportion.
/// </summary>
public static class SlideSplitter
{
    public static int[] Assign(IReadOnlyList<bool> isTumour, double[] proportions, int seed)
    {
        int n = isTumour.Count;
        var p = proportions.Select(v => v / proportions.Sum()).ToArray();
        var counts = p.Select(v => (int)Math.Floor(v * n)).ToArray();
        foreach (var s in Enumerable.Range(0, p.Length).OrderByDescending(s => p[s] * n - counts[s]).ThenBy(s => s))
        {
            if (counts.Sum() >= n) break;
            counts[s]++;
        }
        int wanted = p.Count(v => v > 0);
        if (n >= wanted)
            for (int s = 0; s < p.Length; s++)
                if (p[s] > 0 && counts[s] == 0)
                {
                    int donor = Enumerable.Range(0, p.Length).OrderByDescending(t => counts[t]).First();
                    counts[donor]--; counts[s]++;
                }
        var random = new Random(seed);
        var tumour = Enumerable.Range(0, n).Where(i => isTumour[i]).OrderBy(_ => random.Next()).ToList();
        var normal = Enumerable.Range(0, n).Where(i => !isTumour[i]).OrderBy(_ => random.Next()).ToList();
        // Interleave in proportion: the next slide comes from the kind that is furthest behind its share.
        var order = new List<int>(n);
        int ti = 0, ni = 0;
        while (order.Count < n)
        {
            bool takeTumour = ni >= normal.Count || ti < tumour.Count && (ti + 0.5) / tumour.Count <= (ni + 0.5) / normal.Count;
            order.Add(takeTumour ? tumour[ti++] : normal[ni++]);
        }
        var assigned = new int[p.Length];
        var split = new int[n];
        foreach (var i in order)
        {
            int best = -1;
            double bestRemaining = -1;
            for (int s = 0; s < p.Length; s++)
            {
                if (assigned[s] >= counts[s]) continue;
                double remaining = (counts[s] - assigned[s]) / (double)counts[s];
                if (remaining > bestRemaining) { bestRemaining = remaining; best = s; }
            }
            split[i] = best;
            assigned[best]++;
        }
        return split;
    }
}
