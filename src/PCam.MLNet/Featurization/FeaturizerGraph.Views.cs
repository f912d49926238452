using Onnx;
using PCam.MLNet.Featurization.Passes;

namespace PCam.MLNet.Featurization;

// Views at scoring time: a TTA graph's single-view counterpart, and how many views a stored graph averages.
public sealed partial class FeaturizerGraph
{
    /// <summary>Views a composed graph averages per patch: 8 with dihedral TTA, else 1.</summary>
    public int Views => Options.Tta ? 8 : 1;

    /// <summary>
    /// The single-view graph of this graph's backbone, size, pooling and precision: what a model trained with one
    /// view runs. An int8 graph's single view is quantised with the same activation ranges (which PCam measures on
    /// single-view features in the first place), so it equals a one-view model's int8 graph calibrated on the same rows.
    /// This graph itself when it has one view.
    /// </summary>
    public FeaturizerGraph SingleView()
    {
        if (!Options.Tta) return this;
        var fp32 = Build(Backbone, new FeaturizerOptions { ImageSize = Options.ImageSize, Tta = false, CenterPool = Options.CenterPool, ColorStats = Options.ColorStats });
        return Calibration is { } table ? fp32.Quantize(table) : fp32;
    }

    /// <summary>Views the stored graph <paramref name="modelBytes"/> averages: 8 when it holds the TTA mean, else 1.</summary>
    public static int ViewsOf(byte[] modelBytes)
    {
        var graph = ModelProto.Parser.ParseFrom(modelBytes).Graph;
        return graph.Node.Any(n => n.Output.Any(o => o.StartsWith(Prefix + TtaPass.MeanHint + "_", StringComparison.Ordinal))) ? 8 : 1;
    }
}
