namespace PCam.MLNet.Slides.Evaluation;

/// <summary>One slide's detections scored against its evaluation mask, as Camelyon16's compute_FP_TP_Probs does.</summary>
/// <param name="FalsePositiveProbabilities">Probabilities of detections outside every lesion (all detections on a normal slide).</param>
/// <param name="TruePositiveProbabilities">Per lesion (evaluation-mask label 1..N), the highest probability of a detection in it; 0 when missed or ITC.</param>
/// <param name="Lesions">Lesions to detect: labels that are not isolated tumour cells.</param>
public sealed record FrocSlide(string SlideId, IReadOnlyList<double> FalsePositiveProbabilities, IReadOnlyList<double> TruePositiveProbabilities, int Lesions);

/// <summary>The cohort FROC curve and Camelyon16's score (mean sensitivity at 1/4, 1/2, 1, 2, 4 and 8 FPs per slide).</summary>
public sealed record FrocResult(double[] AverageFalsePositives, double[] Sensitivity, double[] SensitivityAt, double Score)
{
    public static readonly double[] FalsePositiveRates = [0.25, 0.5, 1, 2, 4, 8];
}

/// <summary>
/// Camelyon16's lesion-level FROC, ported from its official evaluation script (Evaluation_FROC.py by B. Ehteshami
/// Bejnordi): detections are (probability, x, y) points; a detection on lesion label L (in the evaluation mask) counts
/// once per lesion at its highest probability, a detection on an isolated-tumour-cell lesion is ignored, any other is a
/// false positive. For each threshold t in the sorted distinct probabilities after the smallest, FPs per slide =
/// #FP &gt;= t / #slides and sensitivity = #TP &gt;= t / #lesions, then a (0, 0) point; the score interpolates
/// (numpy.interp) sensitivity at the six FP rates and averages them.
/// </summary>
public static class Froc
{
    public static FrocResult Compute(IReadOnlyList<FrocSlide> slides)
    {
        if (slides.Count == 0) throw new ArgumentException("FROC needs at least one slide.", nameof(slides));
        var fps = slides.SelectMany(s => s.FalsePositiveProbabilities).ToArray();
        var tps = slides.SelectMany(s => s.TruePositiveProbabilities).ToArray();
        int lesions = slides.Sum(s => s.Lesions);
        var all = fps.Concat(tps).Distinct().Order().ToArray();
        var totalFp = new List<double>();
        var totalTp = new List<double>();
        foreach (var t in all.Skip(1))
        {
            totalFp.Add(fps.Count(p => p >= t));
            totalTp.Add(tps.Count(p => p >= t));
        }
        totalFp.Add(0);
        totalTp.Add(0);
        var avgFp = totalFp.Select(v => v / slides.Count).ToArray();
        // The script divides by the lesion count unguarded; with no lesions sensitivity is undefined (NaN).
        var sens = totalTp.Select(v => lesions == 0 ? double.NaN : v / lesions).ToArray();
        // np.interp(x, total_FPs[::-1], total_sensitivity[::-1]): FPs fall as the threshold rises, so reversed they rise.
        var xs = avgFp.Reverse().ToArray();
        var ys = sens.Reverse().ToArray();
        var at = FrocResult.FalsePositiveRates.Select(x => Interp(x, xs, ys)).ToArray();
        return new FrocResult(avgFp, sens, at, at.Average());
    }

    /// <summary>numpy.interp: piecewise linear through (xs, ys) with xs non-decreasing; clamps to the end values outside.
    /// With repeated xs numpy takes the last point of the run on the left side (its binary search is right-sided).</summary>
    public static double Interp(double x, double[] xs, double[] ys)
    {
        if (xs.Length == 0) return double.NaN;
        if (x <= xs[0]) return x < xs[0] ? ys[0] : ys[LastIndexOf(xs, xs[0])];
        if (x >= xs[^1]) return ys[^1];
        // j = index of the last xs <= x (numpy: searchsorted(xs, x, side='right') - 1).
        int j = 0;
        while (j + 1 < xs.Length && xs[j + 1] <= x) j++;
        if (xs[j] == x) return ys[j];
        double slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
        return slope * (x - xs[j]) + ys[j];
    }

    private static int LastIndexOf(double[] xs, double v)
    {
        int i = 0;
        while (i + 1 < xs.Length && xs[i + 1] == v) i++;
        return i;
    }
}
