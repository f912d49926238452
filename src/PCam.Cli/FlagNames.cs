namespace PCam.Cli;

/// <summary>
/// The library's messages name its own settings (HeatmapOptions.Stride, PCamDataOptions.VerifyChecksums, ...), never a
/// flag of this program. Where the CLI reports such a message it names the flag that sets the value instead.
/// </summary>
internal static class FlagNames
{
    // Longest first where one name contains another.
    private static readonly (string Library, string Flag)[] Names =
    [
        ("without HeatmapOptions.Refine only HeatmapOptions.Stride is scored", "--no-refine scores at --stride only"),
        ("HeatmapOptions.RefineThreshold", "--refine-threshold"),
        ("HeatmapOptions.CoarseStride", "--coarse-stride"),
        ("HeatmapOptions.Views", "--views"),
        ("HeatmapOptions.Stride", "--stride"),
        ("HeatmapOptions.BatchSize", "--batch-size"),
        ("HeatmapOptions.Threshold", "--threshold"),
        ("HeatmapOptions.MinTissueFraction", "--min-tissue"),
        ("HeatmapOptions.SmoothingRadius", "--smoothing"),
        ("HeatmapOptions.MinRegionUm2", "--min-region-um2"),
        ("HeatmapOptions.Level", "--level"),
        ("HeatmapOptions.MicronsPerPixel", "--mpp"),
        ("SlideClassifierOptions.Folds", "--folds"),
        ("SlideClassifierOptions.Bootstrap", "--bootstrap"),
        ("CohortOptions.Force", "--force"),
        ("PatchSetOptions.MaxPerSlide", "--max-per-slide"),
        ("PatchSetOptions.Split", "--split"),
        ("PatchSetOptions.NegativeMargin", "--negative-margin"),
        ("PatchSetOptions.MinTissueFraction", "--min-tissue"),
        ("AnnotationOptions.PositiveClass", "--positive-class"),
        ("the SlideReaderKind.LibTiff reader", "--reader libtiff"),
        ("the shard count", "--shards"),
        ("shard K/N", "--shard K/N"),
        ("the slide labels call", "--labels calls"),
        ("PCamDataOptions.VerifyChecksums = false", "--no-verify"),
        ("model name '", "--name '"),
        ("namespace '", "--namespace '"),
    ];

    /// <summary>The message with every library setting the command line sets named by its flag.</summary>
    public static string Apply(string message)
    {
        foreach (var (library, flag) in Names)
            if (message.Contains(library, StringComparison.Ordinal)) message = message.Replace(library, flag, StringComparison.Ordinal);
        return message;
    }
}
