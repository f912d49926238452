namespace PCam.MLNet.Training;

/// <summary>One scored row of an evaluated split.</summary>
public readonly record struct ScoredPatch(long Index, bool Label, float Probability, bool PredictedLabel);

/// <summary>The metrics of one evaluated split (<see cref="PCamMetrics.Evaluate"/>); the report and metrics.json show them.</summary>
public sealed record SplitMetrics(
    string Split, long Rows, double Accuracy, double Auc, double Nll, double F1, double Precision, double Recall,
    double Auprc, double Ece, long TruePositives, long FalsePositives, long TrueNegatives, long FalseNegatives);
