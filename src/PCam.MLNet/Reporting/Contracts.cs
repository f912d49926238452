namespace PCam.MLNet.Reporting;

// CONTRACT (to be implemented by the reporting work).

/// <summary>One scored row of an evaluated split.</summary>
public readonly record struct ScoredPatch(long Index, bool Label, float Probability, bool PredictedLabel);

/// <summary>The numbers a report shows (computed by the training code).</summary>
public sealed record SplitMetrics(
    string Split, long Rows, double Accuracy, double Auc, double Nll, double F1, double Precision, double Recall,
    double Auprc, double Ece, long TruePositives, long FalsePositives, long TrueNegatives, long FalseNegatives);

public sealed class ReportInput
{
    public required string ModelName { get; init; }
    /// <summary>The evaluated split the plots are drawn for (normally test).</summary>
    public required SplitMetrics Metrics { get; init; }
    public required IReadOnlyList<ScoredPatch> Rows { get; init; }
    /// <summary>Fills a 27648-byte HWC RGB buffer with the patch for an Index (for the error gallery).</summary>
    public required Action<long, byte[]> ReadPatch { get; init; }
    /// <summary>Other metrics rows shown in the table at the top (e.g. valid).</summary>
    public IReadOnlyList<SplitMetrics> OtherSplits { get; init; } = [];
    /// <summary>Free-form lines (backbone, head, data, timings) listed under "Run".</summary>
    public IReadOnlyList<string> RunDetails { get; init; } = [];
}

// ReportWriter.Write(ReportInput, string) is implemented in ReportWriter.cs.
