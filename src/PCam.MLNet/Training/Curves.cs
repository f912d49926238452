namespace PCam.MLNet.Training;

/// <summary>A ROC curve: points from (0,0) to (1,1), one per distinct score threshold.</summary>
public sealed record RocCurve(double[] FalsePositiveRate, double[] TruePositiveRate, double[] Thresholds, double Auc);

/// <summary>
/// A precision-recall curve starting at (recall 0, precision 1), one point per distinct threshold.
/// <see cref="AveragePrecision"/> is the step-wise area (sum of recall increments times precision).
/// </summary>
public sealed record PrCurve(double[] Recall, double[] Precision, double[] Thresholds, double AveragePrecision, double Prevalence);

/// <summary>One equal-width probability bin of a reliability diagram.</summary>
public readonly record struct CalibrationBin(double Lower, double Upper, long Count, double MeanProbability, double FractionPositive);

public sealed record Calibration(CalibrationBin[] Bins, double Ece);

/// <summary>Curve computations over scored rows (label, probability of tumour).</summary>
public static class Curves
{
    /// <summary>
    /// Sorted (descending probability) labels, grouped so that equal probabilities form one threshold step;
    /// returns the cumulative (tp, fp) after each group and that group's threshold.
    /// </summary>
    static (long[] Tp, long[] Fp, double[] Thresholds, long Positives, long Negatives) CumulativeCounts(IReadOnlyList<ScoredPatch> rows)
    {
        var order = new (float P, bool L)[rows.Count];
        for (var i = 0; i < rows.Count; i++) order[i] = (rows[i].Probability, rows[i].Label);
        // NaN scores sort last (lowest), so they only ever count at the final threshold.
        Array.Sort(order, (a, b) => Key(b.P).CompareTo(Key(a.P)));

        var tp = new List<long>(); var fp = new List<long>(); var th = new List<double>();
        long ctp = 0, cfp = 0;
        for (var i = 0; i < order.Length; i++)
        {
            if (order[i].L) ctp++; else cfp++;
            // Only emit a point at the end of a run of equal scores: a tie is one threshold.
            if (i + 1 < order.Length && Key(order[i + 1].P) == Key(order[i].P)) continue;
            tp.Add(ctp); fp.Add(cfp); th.Add(order[i].P);
        }
        return (tp.ToArray(), fp.ToArray(), th.ToArray(), ctp, cfp);

        static float Key(float p) => float.IsNaN(p) ? float.NegativeInfinity : p;
    }

    /// <summary>ROC curve and trapezoidal AUC (ties count half, matching the pairwise definition); AUC is NaN with one class.</summary>
    public static RocCurve Roc(IReadOnlyList<ScoredPatch> rows)
    {
        var (tp, fp, thresholds, pos, neg) = CumulativeCounts(rows);
        var fpr = new double[tp.Length + 1];
        var tpr = new double[tp.Length + 1];
        var th = new double[tp.Length + 1];
        th[0] = double.PositiveInfinity;
        for (var i = 0; i < tp.Length; i++)
        {
            fpr[i + 1] = neg == 0 ? double.NaN : (double)fp[i] / neg;
            tpr[i + 1] = pos == 0 ? double.NaN : (double)tp[i] / pos;
            th[i + 1] = thresholds[i];
        }
        var auc = double.NaN;
        if (pos > 0 && neg > 0)
        {
            // Integrate in counts, normalise once: exact for moderate sizes and avoids per-step rounding.
            double area = 0;
            for (var i = 1; i < fpr.Length; i++)
            {
                long tpPrev = i == 1 ? 0 : tp[i - 2], fpPrev = i == 1 ? 0 : fp[i - 2];
                area += (fp[i - 1] - fpPrev) * (tp[i - 1] + tpPrev) / 2.0;
            }
            auc = area / ((double)pos * neg);
        }
        return new RocCurve(fpr, tpr, th, auc);
    }

    /// <summary>The ROC AUC of (probability, label) pairs (<see cref="Roc"/>'s: ties count half); NaN without both classes.</summary>
    public static double Auc(IReadOnlyList<(float P, bool T)> scores)
    {
        var rows = new ScoredPatch[scores.Count];
        for (var i = 0; i < rows.Length; i++) rows[i] = new ScoredPatch(i, scores[i].T, scores[i].P, false);
        return Roc(rows).Auc;
    }

    /// <summary>Brute-force pairwise AUC: P(score of a positive &gt; score of a negative), ties count half. O(P*N); for checks.</summary>
    public static double PairwiseAuc(IReadOnlyList<ScoredPatch> rows)
    {
        var positives = rows.Where(r => r.Label).Select(r => r.Probability).ToArray();
        var negatives = rows.Where(r => !r.Label).Select(r => r.Probability).ToArray();
        if (positives.Length == 0 || negatives.Length == 0) return double.NaN;
        double wins = 0;
        foreach (var p in positives)
            foreach (var n in negatives)
                wins += p > n ? 1 : p == n ? 0.5 : 0;
        return wins / ((double)positives.Length * negatives.Length);
    }

    /// <summary>Precision-recall curve and average precision; AP is NaN without positives.</summary>
    public static PrCurve PrecisionRecall(IReadOnlyList<ScoredPatch> rows)
    {
        var (tp, fp, thresholds, pos, neg) = CumulativeCounts(rows);
        var recall = new double[tp.Length + 1];
        var precision = new double[tp.Length + 1];
        var th = new double[tp.Length + 1];
        // Conventional start point (as scikit-learn): nothing predicted positive, precision taken as 1.
        recall[0] = 0; precision[0] = 1; th[0] = double.PositiveInfinity;
        double ap = 0;
        for (var i = 0; i < tp.Length; i++)
        {
            recall[i + 1] = pos == 0 ? double.NaN : (double)tp[i] / pos;
            precision[i + 1] = (double)tp[i] / (tp[i] + fp[i]);
            th[i + 1] = thresholds[i];
            if (pos > 0) ap += (recall[i + 1] - recall[i]) * precision[i + 1];
        }
        var n = pos + neg;
        return new PrCurve(recall, precision, th, pos == 0 ? double.NaN : ap, n == 0 ? double.NaN : (double)pos / n);
    }

    /// <summary>Equal-width bins over [0,1] (the last bin includes 1); ECE = sum over bins of weight * |fraction positive - mean probability|.</summary>
    public static Calibration Reliability(IReadOnlyList<ScoredPatch> rows, int bins = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var count = new long[bins]; var sumP = new double[bins]; var positives = new long[bins];
        long total = 0;
        foreach (var r in rows)
        {
            if (float.IsNaN(r.Probability)) continue;
            var p = Math.Clamp((double)r.Probability, 0, 1);
            // Scores are floats: 0.9f is 0.89999998, which belongs with 0.9 at a decimal bin edge, so allow float rounding.
            var b = Math.Min((int)Math.Floor(p * bins + 1e-6), bins - 1);
            count[b]++; sumP[b] += p; if (r.Label) positives[b]++;
            total++;
        }
        var result = new CalibrationBin[bins];
        double ece = 0;
        for (var b = 0; b < bins; b++)
        {
            var mean = count[b] == 0 ? double.NaN : sumP[b] / count[b];
            var frac = count[b] == 0 ? double.NaN : (double)positives[b] / count[b];
            result[b] = new CalibrationBin((double)b / bins, (double)(b + 1) / bins, count[b], mean, frac);
            if (count[b] > 0) ece += (double)count[b] / total * Math.Abs(frac - mean);
        }
        return new Calibration(result, total == 0 ? double.NaN : ece);
    }
}
