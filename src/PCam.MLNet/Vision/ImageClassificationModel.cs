using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Vision;

/// <summary>
/// The fitted image classifier: a chain of ML.NET transforms (copy the bytes, decode + stretch, the featurizer as
/// ApplyOnnxModel, an identity Expression that types the features, ML.NET's multiclass scorer). Save it with
/// <c>mlContext.Model.Save(model, schema, path)</c>; an app that references PCam.MLNet loads it with
/// <c>mlContext.Model.Load</c>. Dispose it when done: it holds an ONNX Runtime session and a graph file in the temp folder.
/// </summary>
public sealed class ImageClassificationModel : ITransformer, ICanSaveModel, IDisposable
{
    private readonly TransformerChain<ITransformer> _chain;
    private readonly string _graphFile;

    private ImageClassificationModel(TransformerChain<ITransformer> chain, string graphFile)
    {
        _chain = chain;
        _graphFile = graphFile;
    }

    /// <summary>Side the images are stretched to.</summary>
    public int ImageSide { get; private init; }
    /// <summary>Length of the bottleneck feature vector.</summary>
    public int FeatureDimension { get; private init; }
    /// <summary>"int8" or "fp32": what the featurizer runs at.</summary>
    public string Precision { get; private init; } = "fp32";
    /// <summary>Why the featurizer runs at that precision (the int8 cosine check, or why int8 was not applied).</summary>
    public string PrecisionReason { get; private init; } = "";
    /// <summary>Epochs the softmax layer was trained for (fewer than Options.Epoch when early stopping stopped it).</summary>
    public int EpochsRun { get; private init; }
    /// <summary>Warnings from training (e.g. int8 not applied).</summary>
    public IReadOnlyList<string> Warnings { get; private init; } = [];

    internal static ImageClassificationModel Compose(FeaturizerGraph graph, SoftmaxLayer layer, IDataView input,
        ImageClassificationTrainer.Options o, IReadOnlyList<string> messages, string precisionReason)
    {
        var ml = new MLContext(o.Seed);
        var graphFile = Path.Combine(Path.GetTempPath(), $"pcam-{Environment.ProcessId}-{Guid.NewGuid():N}.featurizer.onnx");
        graph.Save(graphFile);
        try
        {
            // The copy's saved entry names this assembly as its loader assembly (LoadableStep), so ML.NET registers it before
            // the next entry, the decoding CustomMapping, looks its contract up.
            var copy = new LoadableStep(ml.Transforms.CopyColumns(ImageDecoding.EncodedColumn, o.FeatureColumnName).Fit(input));
            var v1 = copy.Transform(input);
            var decode = ImageDecoding.Transformer(ml, graph.InputSide, v1);
            var v2 = decode.Transform(v1);
            var onnx = ml.Transforms.ApplyOnnxModel(FeaturizerGraph.OutputName, FeaturizerGraph.InputName, graphFile).Fit(v2);
            var v3 = onnx.Transform(v2);
            var shape = ml.Transforms.Expression(FeaturizerGraph.OutputName, "x => x", FeaturizerGraph.OutputName).Fit(v3);
            var v4 = shape.Transform(v3);
            var head = MlNetInternals.MaximumEntropy(ml, layer.Weights, layer.Biases, graph.FeatureDimension);
            var scorer = MlNetInternals.PredictionTransformer(ml, head, v4.Schema, FeaturizerGraph.OutputName, o.LabelColumnName, o.ScoreColumnName, o.PredictedLabelColumnName);
            var chain = new TransformerChain<ITransformer>(copy, decode, onnx, shape, scorer);
            return new ImageClassificationModel(chain, graphFile)
            {
                ImageSide = graph.InputSide,
                FeatureDimension = graph.FeatureDimension,
                Precision = graph.Precision.Name(),
                PrecisionReason = precisionReason,
                EpochsRun = layer.EpochsRun,
                Warnings = messages.Where(m => m.StartsWith("warning: ", StringComparison.Ordinal)).Select(m => m["warning: ".Length..]).ToList(),
            };
        }
        catch
        {
            File.Delete(graphFile);
            throw;
        }
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;
    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);
    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ((ITransformer)_chain).GetRowToRowMapper(inputSchema);
    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _chain.Transform(input);
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_chain).Save(ctx);

    /// <summary>Closes the ONNX Runtime session and deletes the graph file.</summary>
    public void Dispose()
    {
        _chain.Dispose();
        if (File.Exists(_graphFile)) File.Delete(_graphFile);
    }
}
