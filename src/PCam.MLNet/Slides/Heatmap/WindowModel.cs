using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>
/// A model zip split into its two stages so windows can be scored in batches: the zip's own ONNX featurizer graph
/// (the graph the zip's ApplyOnnxModel step runs, read through <see cref="ModelZip"/> and run here with ONNX Runtime on batches of windows) and
/// the zip's head (every transform after the featurizer: normaliser, trainer, calibrator), applied by ML.NET to the
/// batched features. The composition is the model `pcam predict` runs, one row at a time.
/// A model trained with 8-view TTA can score with one view: its zip's graph <see cref="PCamModel.SingleViewGraph"/> is the
/// single-view graph of the same backbone, size and precision, whose features the same head takes.
/// </summary>
public sealed class WindowModel : IDisposable
{
    private WindowModel(string path, MLContext ml, ITransformer head, BatchFeaturizer featurizer, int views, int trainedViews)
    {
        Views = views;
        TrainedViews = trainedViews;
        Path = path;
        Context = ml;
        Head = head;
        Featurizer = featurizer;
    }

    public string Path { get; }
    public MLContext Context { get; }
    public ITransformer Head { get; }
    public BatchFeaturizer Featurizer { get; }
    public int FeatureDimension => Featurizer.FeatureDimension;
    /// <summary>Views averaged per window by <see cref="Featurizer"/> (8 = dihedral TTA, 1 = one view).</summary>
    public int Views { get; }
    /// <summary>Views of the zip's own featurizer (what `pcam predict` runs).</summary>
    public int TrainedViews { get; }

    /// <param name="views">1 or 8 views per window. Null = one view when the zip carries its single-view graph (a TTA
    /// zip written by `pcam train`; with coarse-to-fine scoring one view keeps the 8-view window AUC at a fraction of the
    /// cost, docs/performance.md), else the zip's own featurizer. One view on a TTA zip runs its single-view graph;
    /// 8 views need a zip trained with TTA.</param>
    public static WindowModel Load(string path, ExecutionDevice device, int? threads = null, int batchSize = 64, int? views = null)
    {
        if (views is not (null or 1 or 8)) throw new ArgumentException($"views must be 1 or 8 (got {views}).", nameof(views));
        var ml = new MLContext(seed: 1);
        if (OnnxModelFile.Is(path))
        {
            if (views is not null) throw new PCamModelException($"{path}: an exported .onnx scores with the views it was exported with; the views setting applies to model zips.");
            return LoadExported(path, ml, device, threads, batchSize);
        }
        var loaded = PCamModel.Load(ml, path, out _);
        if (loaded is not TransformerChain<ITransformer> chain || chain.FirstOrDefault() is not OnnxTransformer)
            throw new PCamModelException($"{path}: the model is not an ONNX featurizer followed by a head (was it written by `pcam train`?).");
        var head = new TransformerChain<ITransformer>(chain.Skip(1).ToArray());
        // The windows go through our own batched session below: ML.NET's session and the graph file it unpacked into the
        // temp folder are released now (kept, they doubled the featurizer's memory and left the file behind).
        ((IDisposable)chain.First()).Dispose();
        var onnx = ModelZip.ReadGraph(path, ModelZip.FeaturizerGraph);
        int trained = FeaturizerGraph.ViewsOf(onnx);
        if (views is null && trained > 1 && ModelZip.GraphNames(path).Contains(PCamModel.SingleViewGraph)) views = 1;
        if (views is { } v && v != trained)
        {
            if (v == 8) throw new PCamModelException($"{path}: the model was trained with one view, so it cannot score 8 views; train with TTA (TrainingOption.Tta) or score with HeatmapOptions.Views 1.");
            if (!ModelZip.GraphNames(path).Contains(PCamModel.SingleViewGraph))
                throw new PCamModelException($"{path}: the model averages 8 views and its zip holds no '{PCamModel.SingleViewGraph}' graph (written by `pcam train` " +
                                             "since views became a scoring setting); retrain it, or score with HeatmapOptions.Views 8.");
            onnx = ModelZip.ReadGraph(path, PCamModel.SingleViewGraph);
        }
        // A model with external backbone weights keeps them beside the zip (PCamModel.Load has checked them).
        var weightsFolder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var featurizer = new BatchFeaturizer(onnx, device, threads, weightsFolder) { MaxBatch = Math.Max(1, batchSize) };
        return new WindowModel(path, ml, head, featurizer, views ?? trained, trained);
    }

    /// <summary>
    /// An exported .onnx (`pcam export --format onnx`): the whole graph runs in the batched session, seen as a
    /// featurizer whose one feature is the probability, and the head only copies that feature to Probability.
    /// </summary>
    private static WindowModel LoadExported(string path, MLContext ml, ExecutionDevice device, int? threads, int batchSize)
    {
        var (bytes, _) = OnnxModelFile.Open(path);
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        BatchFeaturizer featurizer;
        try { featurizer = new BatchFeaturizer(OnnxModelFile.AsProbabilityFeaturizer(bytes), device, threads, folder) { MaxBatch = Math.Max(1, batchSize) }; }
        catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidDataException or PCamModelException)
        {
            throw new PCamModelException($"{path}: cannot run the exported graph ({e.Message.Split('\n')[0].Trim()}).", e);
        }
        var head = ml.Transforms.CustomMapping<ExportedScore, ScoredProbability>((s, p) => p.Probability = s.Features[0], contractName: null)
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<ExportedScore>()));
        return new WindowModel(path, ml, head, featurizer, 1, 1);
    }

    internal sealed class ExportedScore
    {
        [VectorType(1)]
        public float[] Features { get; set; } = [];
    }

    internal sealed class ScoredProbability
    {
        public float Probability { get; set; }
    }

    public void Dispose() => Featurizer.Dispose();
}
