using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;
using PCam.MLNet.Vision;

namespace PCam.MLNet.Export;

/// <summary>
/// A zip saved from the ImageClassificationTrainer drop-in (<see cref="ImageClassificationModel"/>), opened for
/// `pcam inspect` and `pcam export`: wherever the user's pipeline put it, the trainer's steps are a copy of the encoded
/// bytes into <see cref="ImageDecoding.EncodedColumn"/>, the decoding step, the ONNX featurizer, the feature shape and
/// ML.NET's multiclass scorer. Everything here is read from the zip itself (it has no sidecar files).
/// </summary>
public sealed class ImageClassifierZip : IDisposable
{
    private readonly ITransformer _model;

    private ImageClassifierZip(string path, ITransformer model, DataViewSchema input, DataViewSchema output, List<ITransformer> core,
        string scoreColumn, string predictedLabelColumn, MaximumEntropyModelParameters head, IReadOnlyList<string> classes, byte[] graph)
    {
        Path = path;
        _model = model;
        InputSchema = input;
        OutputSchema = output;
        Core = core;
        ScoreColumn = scoreColumn;
        PredictedLabelColumn = predictedLabelColumn;
        Head = head;
        Classes = classes;
        FeaturizerGraphBytes = graph;
        var decoded = output.GetColumnOrNull(ImageDecoding.OutputColumn)?.Type as VectorDataViewType;
        ImageSide = decoded is { Size: > 0 } ? (int)Math.Round(Math.Sqrt(decoded.Size / (double)PatchSchema.Channels)) : 0;
        FeatureDimension = (output.GetColumnOrNull(FeaturizerGraph.OutputName)?.Type as VectorDataViewType)?.Size ?? 0;
        Precision = graph.AsSpan().IndexOf("QuantizeLinear"u8) >= 0 ? "int8" : "fp32";
    }

    /// <summary>The zip file.</summary>
    public string Path { get; }
    /// <summary>The whole model as saved (the user's pipeline around the trainer's steps).</summary>
    public ITransformer Model => _model;
    /// <summary>The model's input schema as saved.</summary>
    public DataViewSchema InputSchema { get; }
    /// <summary>The model's output schema on <see cref="InputSchema"/>.</summary>
    public DataViewSchema OutputSchema { get; }
    /// <summary>The trainer's steps after its copy of the encoded bytes: decode + stretch, ONNX featurizer, feature shape, scorer.
    /// They read <see cref="ImageDecoding.EncodedColumn"/> and write <see cref="ScoreColumn"/> and <see cref="PredictedLabelColumn"/>.</summary>
    public IReadOnlyList<ITransformer> Core { get; }
    /// <summary>The scorer's probabilities column (Score unless the trainer's options renamed it).</summary>
    public string ScoreColumn { get; }
    /// <summary>The scorer's predicted key column (PredictedLabel unless renamed).</summary>
    public string PredictedLabelColumn { get; }
    /// <summary>The softmax layer: ML.NET's linear multiclass model over the features.</summary>
    public MaximumEntropyModelParameters Head { get; }
    /// <summary>The class names in key order (the order of Score): the label's key values.</summary>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>The featurizer graph the zip runs (uint8 [N,side,side,3] <c>Image</c> in, float [N,D] <c>Features</c> out).</summary>
    public byte[] FeaturizerGraphBytes { get; }
    /// <summary>Side the images are stretched to (0 when unknown).</summary>
    public int ImageSide { get; }
    /// <summary>Length of the feature vector (0 when unknown).</summary>
    public int FeatureDimension { get; }
    /// <summary>"int8" or "fp32", read from the featurizer graph's operators (ONNX stores operator types as plain strings).</summary>
    public string Precision { get; }

    /// <summary>True when a model's output (on its own input schema) holds the trainer's copy of the encoded bytes.</summary>
    public static bool Is(DataViewSchema output) => output.GetColumnOrNull(ImageDecoding.EncodedColumn) is not null;

    /// <summary>
    /// Takes over a loaded zip (<see cref="PCamModel.LoadMlNet"/>) that <see cref="Is"/> an image classifier and finds the
    /// trainer's steps in it; a zip whose steps are not the trainer's is one <see cref="PCamModelException"/> naming the file.
    /// Disposing the result disposes <paramref name="model"/>.
    /// </summary>
    public static ImageClassifierZip Open(string path, ITransformer model, DataViewSchema input)
    {
        var steps = Flatten(model).ToList();
        var schemas = new List<DataViewSchema> { input };
        foreach (var s in steps) schemas.Add(s.GetOutputSchema(schemas[^1]));
        var copy = schemas.FindIndex(s => s.GetColumnOrNull(ImageDecoding.EncodedColumn) is not null) - 1;
        var scorer = copy < 0 ? -1 : steps.FindIndex(copy + 1, s => s is ISingleFeaturePredictionTransformer<object>);
        if (copy < 0 || scorer < 0 || steps[scorer] is not ISingleFeaturePredictionTransformer<MaximumEntropyModelParameters> { Model: var head })
            throw new PCamModelException($"{path}: not an image-classification model of PCam.MLNet.Vision (no decoding step followed by its softmax scorer).");
        var before = schemas[scorer];
        // A row mapper's output is its input's columns followed by the ones it adds.
        var added = schemas[scorer + 1].Skip(before.Count).Where(c => !c.IsHidden).ToList();
        var score = added.FirstOrDefault(c => c.Type is VectorDataViewType { ItemType: var t } && t == NumberDataViewType.Single);
        var predicted = added.FirstOrDefault(c => c.Type is KeyDataViewType);
        if (score.Name is null || predicted.Name is null)
            throw new PCamModelException($"{path}: the image classifier's scorer writes no Score vector and PredictedLabel key.");
        var graphs = ModelZip.ReadMlNetOnnxGraphs(path);
        if (graphs.Count != 1) throw new PCamModelException($"{path}: holds {graphs.Count} ONNX graphs; an image-classification model holds its featurizer only.");
        return new ImageClassifierZip(path, model, input, schemas[^1], steps.GetRange(copy + 1, scorer - copy), score.Name, predicted.Name, head,
            KeyNames(predicted), graphs[0]);
    }

    /// <summary>Scores encoded images with the zip's own steps: each image's probabilities (key order) and predicted class name.</summary>
    public List<(float[] Score, string Predicted)> Score(MLContext ml, IEnumerable<byte[]> images)
    {
        IDataView view = ml.Data.LoadFromEnumerable(images.Select(b => new EncodedImage { Bytes = b }).ToList());
        foreach (var step in Core) view = step.Transform(view);
        var result = new List<(float[], string)>();
        using var cursor = view.GetRowCursor([view.Schema[ScoreColumn], view.Schema[PredictedLabelColumn]]);
        var score = cursor.GetGetter<VBuffer<float>>(view.Schema[ScoreColumn]);
        var predicted = cursor.GetGetter<uint>(view.Schema[PredictedLabelColumn]);
        VBuffer<float> s = default;
        uint p = 0;
        while (cursor.MoveNext())
        {
            score(ref s);
            predicted(ref p);
            result.Add((s.DenseValues().ToArray(), p == 0 ? "" : Classes[(int)p - 1]));
        }
        return result;
    }

    /// <summary>The text key values of a key column (the class names); an error when the label has none.</summary>
    private static List<string> KeyNames(DataViewSchema.Column column)
    {
        if (column.Annotations.Schema.GetColumnOrNull("KeyValues") is not { Type: VectorDataViewType { ItemType: TextDataViewType } })
            return [];
        VBuffer<ReadOnlyMemory<char>> values = default;
        column.Annotations.GetValue("KeyValues", ref values);
        return values.DenseValues().Select(v => v.ToString()).ToList();
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer t) =>
        t is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [t];

    /// <summary>Disposes the loaded model (its ONNX Runtime session and the graph file ML.NET unpacked).</summary>
    public void Dispose() => PCamModel.Owner(_model).Dispose();
}
