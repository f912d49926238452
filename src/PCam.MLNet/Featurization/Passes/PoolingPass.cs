using static PCam.MLNet.Featurization.GraphWriter;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>The pooled feature blocks: tensors [N,len] in order, and their layout in the feature vector.</summary>
internal sealed class PooledFeatures
{
    public List<string> Parts { get; } = [];
    public List<FeatureBlock> Layout { get; } = [];
    public int Dimension { get; private set; }

    public void Add(string tensor, string name, int length)
    {
        Parts.Add(tensor);
        Layout.Add(new(name, Dimension, length));
        Dimension += length;
    }
}

/// <summary>
/// Pass 3. Contract: turns each feature tensor into [N,len] blocks: [N,D] as is; NCHW maps by global average
/// (and, with centre pooling, by the average of the map's centre third, after all global blocks).
/// </summary>
internal static class PoolingPass
{
    public static PooledFeatures Apply(GraphWriter w, string[] featureNames, long[][] shapes, FeaturizerOptions options)
    {
        var pooled = new PooledFeatures();
        for (int i = 0; i < featureNames.Length; i++)
        {
            var (f, shape) = (featureNames[i], shapes[i]);
            if (shape.Length == 2) { pooled.Add(w.Node("Flatten", [f], "flat", false, Int("axis", 1)), f, (int)shape[1]); continue; }
            pooled.Add(w.Node("Flatten", [w.Node("GlobalAveragePool", [f], "gap")], "flat", false, Int("axis", 1)), f + ":global", (int)shape[1]);
        }
        if (options.CenterPool)
            for (int i = 0; i < featureNames.Length; i++)
            {
                var (f, shape) = (featureNames[i], shapes[i]);
                if (shape.Length != 4) continue;
                var crop = CentreThird(w, f, shape[2], shape[3]);
                pooled.Add(w.Node("Flatten", [w.Node("GlobalAveragePool", [crop], "cgap")], "flat", false, Int("axis", 1)), f + ":centre", (int)shape[1]);
            }
        return pooled;
    }

    static string CentreThird(GraphWriter w, string map, long h, long wd)
    {
        // The centre third of the map covers the label-defining centre 32x32 px of the 96x96 patch.
        long h0 = h / 3, w0 = wd / 3;
        return w.Node("Slice", [map, w.Int64s("s", h0, w0), w.Int64s("e", h - h0, wd - w0), w.Int64s("a", 2, 3)], "centre");
    }
}
