using static PCam.MLNet.Featurization.GraphWriter;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Pass 4. Contract: given pooled features [8N,D] stacked view-major by the preprocess pass, returns their mean over
/// the 8 views, [N,D].
/// </summary>
internal static class TtaPass
{
    /// <summary>Hint of the node that averages the views: its output names (prefix + hint + counter) mark a TTA graph.</summary>
    public const string MeanHint = "ttamean";

    public static string Apply(GraphWriter w, string features, int dim)
    {
        // [8N,D] is view-major: reshape to [8,N,D], move views last, average them with GlobalAveragePool.
        var r = w.Node("Reshape", [features, w.Int64s("ttashape", 8, -1, dim)], "ttar");
        var t = w.Node("Transpose", [r], "ttat", false, Ints("perm", 1, 2, 0));
        return w.Node("Flatten", [w.Node("GlobalAveragePool", [t], MeanHint)], "ttaflat", false, Int("axis", 1));
    }
}
