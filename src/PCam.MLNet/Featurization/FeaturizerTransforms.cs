using Microsoft.ML;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization;

/// <summary>
/// The featurizer as the ML.NET transforms a model zip holds: ML.NET's own <c>ApplyOnnxModel</c> over the composed
/// graph, then the identity <c>Expression</c> that types <c>Features</c> as a flat vector. A saved model is loaded
/// with ML.NET's packages alone because these two are stock transforms.
/// </summary>
public static class FeaturizerTransforms
{
    /// <summary>An empty view with the model's input schema (just the Image column).</summary>
    public static IDataView InputView(MLContext ml) => ml.Data.LoadFromEnumerable(Array.Empty<PatchInput>());

    /// <summary>
    /// The featurizer as ML.NET's own ONNX transform over the graph file <paramref name="graphFile"/> (which must stay
    /// until the transform is disposed: ML.NET reads it again when saving). Every model zip holds its featurizer in this
    /// form: pcam train's, and any pipeline's that starts with <c>mlContext.Transforms.FeaturizePatches</c>.
    /// </summary>
    public static ITransformer Apply(TransformsCatalog transforms, string graphFile) =>
        transforms.ApplyOnnxModel(FeaturizerGraph.OutputName, FeaturizerGraph.InputName, graphFile).Fit(InputView(new MLContext()));

    /// <summary>
    /// The step between featurizer and head that gives the features the type the head was trained on. ML.NET runs an
    /// ONNX graph one row at a time and types an output [N,D] with a symbolic batch axis as Vector&lt;Single, 1, D&gt;,
    /// while the feature cache (and so every head) holds Vector&lt;Single, D&gt;. Linear heads check only the vector's
    /// size, but the tree heads (LightGbm, FastTree) check the full type and refused such a zip at load. ML.NET's
    /// <c>shapeDictionary</c> cannot fix this (it must keep the rank), so the features pass through an identity
    /// Expression ("x =&gt; x" on every slot), which ML.NET types as a flat Vector&lt;Single, D&gt;: a stock transform
    /// that every consumer (pcam, PCam.Predict, Model Builder's generated code) loads. It does not depend on the
    /// graph (CNN maps, ViT tokens, TTA, int8, Scan-wrapped fixed batch, external data all end in the same [N,D]
    /// output). On features that are already flat it is the identity too, so the heatmap's batched path, which runs
    /// every transform after the featurizer on its own [D] features, is unchanged.
    /// </summary>
    public static ITransformer FeatureShape(MLContext ml, ITransformer featurizer) =>
        ml.Transforms.Expression(FeaturizerGraph.OutputName, "x => x", FeaturizerGraph.OutputName).Fit(featurizer.Transform(InputView(ml)));
}
