using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Reporting;

namespace PCam.MLNet.Training;

/// <summary>PCam's benchmark metrics (Accuracy, ROC AUC, NLL in nats) and the rest, from a scored view.</summary>
public static class PCamMetrics
{
    /// <summary>Bins of the expected calibration error (equal width, as in Guo et al. 2017).</summary>
    public const int EceBins = 15;

    /// <summary>Evaluates a view holding Label, Score, Probability, PredictedLabel (and Index when present).</summary>
    public static (SplitMetrics Metrics, List<ScoredPatch> Rows) Evaluate(MLContext ml, IDataView scored, string split)
    {
        var m = ml.BinaryClassification.Evaluate(scored, PatchSchema.LabelColumn);
        var rows = ReadScored(scored);
        var cm = m.ConfusionMatrix;
        // ML.NET's confusion matrix: row = truth (positive first), column = prediction (positive first).
        long tp = (long)cm.Counts[0][0], fn = (long)cm.Counts[0][1], fp = (long)cm.Counts[1][0], tn = (long)cm.Counts[1][1];
        var metrics = new SplitMetrics(
            split, rows.Count, m.Accuracy, m.AreaUnderRocCurve,
            Nll: m.LogLoss * Math.Log(2), // ML.NET LogLoss is in bits; PCam reports nats.
            m.F1Score, m.PositivePrecision, m.PositiveRecall, m.AreaUnderPrecisionRecallCurve,
            ExpectedCalibrationError(rows), tp, fp, tn, fn);
        return (metrics, rows);
    }

    public static List<ScoredPatch> ReadScored(IDataView scored)
    {
        var rows = new List<ScoredPatch>();
        var schema = scored.Schema;
        var hasIndex = schema.GetColumnOrNull(PatchSchema.IndexColumn) is { Type: var t } && t == NumberDataViewType.Int64;
        var cols = new List<DataViewSchema.Column> { schema[PatchSchema.LabelColumn], schema["Probability"], schema["PredictedLabel"] };
        if (hasIndex) cols.Add(schema[PatchSchema.IndexColumn]);
        using var cursor = scored.GetRowCursor(cols);
        var label = cursor.GetGetter<bool>(schema[PatchSchema.LabelColumn]);
        var prob = cursor.GetGetter<float>(schema["Probability"]);
        var pred = cursor.GetGetter<bool>(schema["PredictedLabel"]);
        var index = hasIndex ? cursor.GetGetter<long>(schema[PatchSchema.IndexColumn]) : null;
        bool l = false, p = false; float pr = 0; long i = 0;
        while (cursor.MoveNext())
        {
            label(ref l); prob(ref pr); pred(ref p);
            if (index is null) i = cursor.Position; else index(ref i);
            rows.Add(new ScoredPatch(i, l, pr, p));
        }
        return rows;
    }

    /// <summary>Expected calibration error of P(tumour): sum over bins of |positive rate - mean probability| x share.</summary>
    public static double ExpectedCalibrationError(IReadOnlyList<ScoredPatch> rows, int bins = EceBins)
    {
        if (rows.Count == 0) return double.NaN;
        var count = new long[bins];
        var sumProb = new double[bins];
        var positives = new long[bins];
        foreach (var r in rows)
        {
            var b = Math.Clamp((int)(r.Probability * bins), 0, bins - 1);
            count[b]++; sumProb[b] += r.Probability; if (r.Label) positives[b]++;
        }
        double ece = 0;
        for (var b = 0; b < bins; b++)
            if (count[b] > 0) ece += Math.Abs((double)positives[b] / count[b] - sumProb[b] / count[b]) * count[b] / rows.Count;
        return ece;
    }

    /// <summary>The PCam benchmark table row: Name | Acc | AUC | NLL.</summary>
    public static string BenchmarkRow(string name, SplitMetrics m) =>
        $"| {name} | {m.Accuracy * 100:F2} | {m.Auc * 100:F2} | {m.Nll:F3} |";
}
