using static PCam.MLNet.Featurization.GraphWriter;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Pass 5. Contract: from the raw float NHWC pixels, returns [N,12]: per-channel RGB mean and std in [0,1] of the
/// whole patch, then of its centre 32x32.
/// </summary>
internal static class ColorStatsPass
{
    public const int Length = 12;
    public const string BlockName = "color:mean,std,centreMean,centreStd (RGB)";

    public static string Apply(GraphWriter w, string rawNhwc)
    {
        var c = w.Node("Mul", [w.Node("Transpose", [rawNhwc], "cnchw", false, Ints("perm", 0, 3, 1, 2)), w.Floats("inv255", [], 1f / 255f)], "c01");
        var parts = new List<string>();
        foreach (var img in new[] { c, w.Node("Slice", [c, w.Int64s("s", 32, 32), w.Int64s("e", 64, 64), w.Int64s("a", 2, 3)], "ccentre") })
        {
            var m = w.Node("GlobalAveragePool", [img], "cmean");
            var m2 = w.Node("GlobalAveragePool", [w.Node("Mul", [img, img], "csq")], "cmean2");
            var variance = w.Node("Relu", [w.Node("Sub", [m2, w.Node("Mul", [m, m], "cm2")], "cvar")], "cvarpos");
            parts.Add(w.Node("Flatten", [m], "cflat", false, Int("axis", 1)));
            parts.Add(w.Node("Flatten", [w.Node("Sqrt", [variance], "cstd")], "cflat", false, Int("axis", 1)));
        }
        // Order: mean(whole), std(whole), mean(centre), std(centre).
        return w.Node("Concat", parts, "color", false, Int("axis", 1));
    }
}
