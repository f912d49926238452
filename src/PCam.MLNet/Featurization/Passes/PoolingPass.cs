using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

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
/// Pass 3. Contract: turns each feature tensor into float [N,len] blocks (float16 tensors are cast first):
/// [N,D] as is; NCHW maps [N,C,H,W] by global average (and, with centre pooling, by the average of the map's centre
/// third, after all global blocks); token sequences [N,T,D] by the backbone's TokenPooling: "cls" = token 0,
/// "mean" = mean of tokens PrefixTokens..T-1 (the patch tokens), "cls+mean" = both, 2D values.
/// </summary>
internal static class PoolingPass
{
    public static PooledFeatures Apply(GraphWriter w, AdaptedBackbone backbone, long[][] shapes, BackboneConfig config, FeaturizerOptions options)
    {
        var featureNames = backbone.FeatureNames;
        var pooled = new PooledFeatures();
        var floats = new string[featureNames.Length];
        for (int i = 0; i < featureNames.Length; i++)
            floats[i] = backbone.FeatureTypes[i] == DataType.Float16
                ? w.Node("Cast", [featureNames[i]], "f32", false, Int("to", (int)DataType.Float))
                : featureNames[i];
        for (int i = 0; i < featureNames.Length; i++)
        {
            var (f, name, shape) = (floats[i], featureNames[i], shapes[i]);
            switch (shape.Length)
            {
                case 2:
                    pooled.Add(w.Node("Flatten", [f], "flat", false, Int("axis", 1)), name, (int)shape[1]);
                    break;
                case 3:
                    PoolTokens(w, pooled, f, name, shape, config);
                    break;
                default:
                    pooled.Add(w.Node("Flatten", [w.Node("GlobalAveragePool", [f], "gap")], "flat", false, Int("axis", 1)), name + ":global", (int)shape[1]);
                    break;
            }
        }
        if (options.CenterPool)
            for (int i = 0; i < featureNames.Length; i++)
            {
                var shape = shapes[i];
                if (shape.Length != 4) continue;
                var crop = CentreThird(w, floats[i], shape[2], shape[3]);
                pooled.Add(w.Node("Flatten", [w.Node("GlobalAveragePool", [crop], "cgap")], "flat", false, Int("axis", 1)), featureNames[i] + ":centre", (int)shape[1]);
            }
        return pooled;
    }

    static void PoolTokens(GraphWriter w, PooledFeatures pooled, string tokens, string name, long[] shape, BackboneConfig config)
    {
        long t = shape[1];
        int d = (int)shape[2];
        var pooling = config.TokenPooling;
        if (pooling != TokenPoolings.Mean || config.PrefixTokens > 0)
        {
            // The probe saw T tokens; K prefix tokens must leave at least one patch token.
            if (config.PrefixTokens >= t)
                throw new PCamBackboneException($"{config.Where}: field 'prefixTokens' is {config.PrefixTokens} but tensor '{name}' has only {t} tokens [N,{t},{d}].");
        }
        if (pooling is TokenPoolings.Cls or TokenPoolings.ClsMean)
        {
            // Gather index [0] on the token axis -> [N,1,D] -> [N,D].
            var cls = w.Node("Gather", [tokens, w.Int64s("tok0", 0)], "cls", false, Int("axis", 1));
            pooled.Add(w.Node("Flatten", [cls], "flat", false, Int("axis", 1)), name + ":cls", d);
        }
        if (pooling is TokenPoolings.Mean or TokenPoolings.ClsMean)
        {
            // Patch tokens [N,T-K,D] -> [N,D,T-K] -> GlobalAveragePool averages the last axis (opset-independent, unlike ReduceMean).
            var patches = w.Node("Slice", [tokens, w.Int64s("s", config.PrefixTokens), w.Int64s("e", long.MaxValue), w.Int64s("a", 1)], "patches");
            var nd = w.Node("Transpose", [patches], "ndt", false, Ints("perm", 0, 2, 1));
            pooled.Add(w.Node("Flatten", [w.Node("GlobalAveragePool", [nd], "tmean")], "flat", false, Int("axis", 1)), name + ":mean", d);
        }
    }

    static string CentreThird(GraphWriter w, string map, long h, long wd)
    {
        // The centre third of the map covers the label-defining centre 32x32 px of the 96x96 patch.
        long h0 = h / 3, w0 = wd / 3;
        return w.Node("Slice", [map, w.Int64s("s", h0, w0), w.Int64s("e", h - h0, wd - w0), w.Int64s("a", 2, 3)], "centre");
    }
}
