using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;

namespace PCam.MLNet.Training;

/// <summary>One scored row: what the model said about a patch.</summary>
public readonly record struct ScoredRow(long Index, bool Label, float Score, float Probability, bool PredictedLabel)
{
    public ScoredPatch ToPatch() => new(Index, Label, Probability, PredictedLabel);
}

/// <summary>PCam's benchmark metrics (Accuracy, ROC AUC, NLL in nats) and the rest.</summary>
public static class PCamMetrics
{
    /// <summary>Equal-width bins of the expected calibration error (Guo et al. 2017); the report's reliability diagram uses the same.</summary>
    public const int EceBins = 10;

    /// <summary>Scores and evaluates a view holding Label, Score, Probability, PredictedLabel (and Index).</summary>
    public static (SplitMetrics Metrics, List<ScoredPatch> Rows) Evaluate(MLContext ml, IDataView scored, string split)
    {
        var rows = ReadScored(scored);
        return (Compute(ml, rows, split), rows.Select(r => r.ToPatch()).ToList());
    }

    /// <summary>Pulls the scored rows out of a view (this is where a model's transforms actually run).</summary>
    public static List<ScoredRow> ReadScored(IDataView scored, Action<long>? onRow = null)
    {
        var rows = new List<ScoredRow>();
        var schema = scored.Schema;
        var hasIndex = schema.GetColumnOrNull(PatchSchema.IndexColumn) is { Type: var t } && t == NumberDataViewType.Int64;
        var cols = new List<DataViewSchema.Column>
            { schema[PatchSchema.LabelColumn], schema["Score"], schema["Probability"], schema["PredictedLabel"] };
        if (hasIndex) cols.Add(schema[PatchSchema.IndexColumn]);
        using var cursor = scored.GetRowCursor(cols);
        var label = cursor.GetGetter<bool>(schema[PatchSchema.LabelColumn]);
        var score = cursor.GetGetter<float>(schema["Score"]);
        var prob = cursor.GetGetter<float>(schema["Probability"]);
        var pred = cursor.GetGetter<bool>(schema["PredictedLabel"]);
        var index = hasIndex ? cursor.GetGetter<long>(schema[PatchSchema.IndexColumn]) : null;
        bool l = false, p = false; float s = 0, pr = 0; long i = 0;
        while (cursor.MoveNext())
        {
            label(ref l); score(ref s); prob(ref pr); pred(ref p);
            if (index is null) i = cursor.Position; else index(ref i);
            rows.Add(new ScoredRow(i, l, s, pr, p));
            onRow?.Invoke(1);
        }
        return rows;
    }

    /// <summary>ML.NET's binary evaluator over the rows, plus the expected calibration error.</summary>
    public static SplitMetrics Compute(MLContext ml, IReadOnlyList<ScoredRow> rows, string split)
    {
        if (rows.Count == 0) throw new InvalidOperationException($"No rows to evaluate in split '{split}'.");
        var view = ml.Data.LoadFromEnumerable(rows.Select(r => new EvalRow
            { Label = r.Label, Score = r.Score, Probability = r.Probability, PredictedLabel = r.PredictedLabel }));
        // ML.NET's evaluator for the ranking metrics; the threshold metrics are counted from the model's own
        // PredictedLabel (ML.NET's evaluator would re-threshold Score at 0 instead).
        var m = ml.BinaryClassification.Evaluate(view);
        long tp = 0, fp = 0, tn = 0, fn = 0;
        foreach (var r in rows)
            if (r.PredictedLabel) { if (r.Label) tp++; else fp++; }
            else { if (r.Label) fn++; else tn++; }
        double precision = tp + fp > 0 ? (double)tp / (tp + fp) : 0, recall = tp + fn > 0 ? (double)tp / (tp + fn) : 0;
        return new SplitMetrics(
            split, rows.Count, (double)(tp + tn) / rows.Count, m.AreaUnderRocCurve,
            Nll: Nll(rows),
            precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0, precision, recall,
            m.AreaUnderPrecisionRecallCurve, ExpectedCalibrationError(rows.Select(r => (r.Label, r.Probability))), tp, fp, tn, fn);
    }

    /// <summary>Probabilities are clipped to [Epsilon, 1 - Epsilon] for the NLL, as scikit-learn's log_loss does.</summary>
    public const double NllEpsilon = 1e-15;

    /// <summary>
    /// Mean negative log-likelihood in nats (PCam's NLL). Equal to ML.NET's LogLoss (bits) x ln 2 whenever that is
    /// finite; ML.NET does not clip, so one over-confident mistake (probability exactly 0 or 1) would make it infinite.
    /// </summary>
    public static double Nll(IReadOnlyList<ScoredRow> rows)
    {
        double sum = 0;
        foreach (var r in rows)
        {
            var p = Math.Clamp((double)r.Probability, NllEpsilon, 1 - NllEpsilon);
            sum -= Math.Log(r.Label ? p : 1 - p);
        }
        return sum / rows.Count;
    }

    /// <summary>Expected calibration error of P(tumour) (the report's reliability computation, one definition).</summary>
    public static double ExpectedCalibrationError(IEnumerable<(bool Label, float Probability)> rows, int bins = EceBins) =>
        Curves.Reliability(rows.Select(r => new ScoredPatch(0, r.Label, r.Probability, r.Probability >= 0.5f)).ToList(), bins).Ece;

    /// <summary>The PCam benchmark table row: Name | Acc | AUC | NLL (Acc and AUC in %, NLL in nats).</summary>
    public static string BenchmarkRow(string name, SplitMetrics m) =>
        $"| {name} | {m.Accuracy * 100:F2} | {m.Auc * 100:F2} | {m.Nll:F3} |";

    private sealed class EvalRow
    {
        public bool Label { get; set; }
        public float Score { get; set; }
        public float Probability { get; set; }
        public bool PredictedLabel { get; set; }
    }
}
