using PCam.MLNet.Training;

namespace PCam.MLNet.Reporting;

/// <summary>What <see cref="ReportWriter.Write"/> draws: the evaluated split, its scored rows and the run's details.</summary>
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
