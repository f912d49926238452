using Onnx;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// A pass that rewrites the finished composed model ("Image" uint8 in, "Features" float [N,D] out) after pooling,
/// TTA and colour statistics, e.g. quantisation. It must keep the input and output names, types and D.
/// FeaturizerGraph.Build runs the passes <see cref="ComposedModelPasses.For"/> returns, in order.
/// </summary>
internal interface IComposedModelPass
{
    /// <summary>Short name for logs and the cache fingerprint.</summary>
    string Name { get; }
    void Apply(ModelProto model, FeaturizerOptions options);
}

internal static class ComposedModelPasses
{
    /// <summary>The rewrite passes for these options, in order (none by default). Add one line per pass.</summary>
    public static IEnumerable<IComposedModelPass> For(FeaturizerOptions options)
    {
        _ = options;
        yield break;
    }
}
