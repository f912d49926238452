using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides;

/// <summary>
/// A model zip split into its two stages so windows can be scored in batches: the zip's own ONNX featurizer graph
/// (the graph the zip's ApplyOnnxModel step runs, read through <see cref="ModelZip"/> and run here with ONNX Runtime on batches of windows) and
/// the zip's head (every transform after the featurizer: normaliser, trainer, calibrator), applied by ML.NET to the
/// batched features. The composition is the model `pcam predict` runs, one row at a time.
/// </summary>
public sealed class WindowModel : IDisposable
{
    private WindowModel(string path, MLContext ml, ITransformer head, BatchFeaturizer featurizer)
    {
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

    public static WindowModel Load(string path, ExecutionDevice device, int? threads = null, int batchSize = 64)
    {
        var ml = new MLContext(seed: 1);
        var loaded = PCamModel.Load(ml, path, out _);
        if (loaded is not TransformerChain<ITransformer> chain || chain.FirstOrDefault() is not OnnxTransformer)
            throw new PCamModelException($"{path}: the model is not an ONNX featurizer followed by a head (was it written by `pcam train`?).");
        var head = new TransformerChain<ITransformer>(chain.Skip(1).ToArray());
        // The windows go through our own batched session below: ML.NET's session and the graph file it unpacked into the
        // temp folder are released now (kept, they doubled the featurizer's memory and left the file behind).
        ((IDisposable)chain.First()).Dispose();
        var onnx = ModelZip.ReadGraph(path, ModelZip.FeaturizerGraph);
        // A model with external backbone weights keeps them beside the zip (PCamModel.Load has checked them).
        var weightsFolder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var featurizer = new BatchFeaturizer(onnx, device, threads, weightsFolder) { MaxBatch = Math.Max(1, batchSize) };
        return new WindowModel(path, ml, head, featurizer);
    }

    public void Dispose() => Featurizer.Dispose();
}
