using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>
/// A model zip split into its two stages so windows can be scored in batches: the zip's own ONNX featurizer graph
/// (the bytes ML.NET stored for its ApplyOnnxModel transform, run here with ONNX Runtime on batches of windows) and
/// the zip's head (every transform after the featurizer: normaliser, trainer, calibrator), applied by ML.NET to the
/// batched features. The composition is the model `pcam predict` runs, one row at a time.
/// A model trained with 8-view TTA can score with one view: its zip's <see cref="PCamModel.SingleViewEntry"/> holds the
/// single-view graph of the same backbone, size and precision, whose features the same head takes.
/// </summary>
public sealed class WindowModel : IDisposable
{
    /// <summary>Where ML.NET's OnnxTransformer keeps the ONNX bytes in a saved TransformerChain (int32 length, then bytes).</summary>
    public const string OnnxEntry = "TransformerChain/Transform_000/OnnxModel";

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

    /// <param name="views">1 or 8 views per window; null = the zip's own featurizer. One view on a TTA zip runs its
    /// single-view graph; 8 views need a zip trained with TTA.</param>
    public static WindowModel Load(string path, ExecutionDevice device, int? threads = null, int batchSize = 64, int? views = null)
    {
        if (views is not (null or 1 or 8)) throw new ArgumentException($"views must be 1 or 8 (got {views}).", nameof(views));
        var ml = new MLContext(seed: 1);
        var loaded = PCamModel.Load(ml, path, out _);
        if (loaded is not TransformerChain<ITransformer> chain || chain.FirstOrDefault() is not OnnxTransformer)
            throw new PCamModelException($"{path}: the model is not an ONNX featurizer followed by a head (was it written by `pcam train`?).");
        var head = new TransformerChain<ITransformer>(chain.Skip(1).ToArray());
        // The windows go through our own batched session below: ML.NET's session and the graph file it unpacked into the
        // temp folder are released now (kept, they doubled the featurizer's memory and left the file behind).
        ((IDisposable)chain.First()).Dispose();
        var onnx = ReadOnnx(path);
        int trained = FeaturizerGraph.ViewsOf(onnx);
        if (views is { } v && v != trained)
        {
            if (v == 8) throw new PCamModelException($"{path}: the model was trained with one view, so it cannot score 8 views; train with TTA (TrainingOption.Tta) or use --views 1.");
            onnx = ReadEntry(path, PCamModel.SingleViewEntry, lengthPrefixed: false) ?? throw new PCamModelException(
                $"{path}: the model averages 8 views and its zip holds no single-view graph ('{PCamModel.SingleViewEntry}': written by `pcam train` since views " +
                "became a scoring setting); retrain it, or score with --views 8.");
        }
        // A model with external backbone weights keeps them beside the zip (PCamModel.Load has checked them).
        var weightsFolder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var featurizer = new BatchFeaturizer(onnx, device, threads, weightsFolder) { MaxBatch = Math.Max(1, batchSize) };
        return new WindowModel(path, ml, head, featurizer, views ?? trained, trained);
    }

    private static byte[] ReadOnnx(string path) =>
        ReadEntry(path, OnnxEntry, lengthPrefixed: true) ?? throw new PCamModelException($"{path}: no {OnnxEntry} entry (not a `pcam train` model zip).");

    /// <summary>A zip entry's bytes (ML.NET's entries start with an int32 length), or null when the zip has no such entry.</summary>
    private static byte[]? ReadEntry(string path, string name, bool lengthPrefixed)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            if (zip.GetEntry(name) is not { } entry) return null;
            using var s = entry.Open();
            using var reader = new BinaryReader(s);
            int length = lengthPrefixed ? reader.ReadInt32() : checked((int)entry.Length);
            var bytes = reader.ReadBytes(length);
            if (length <= 0 || bytes.Length != length) throw new PCamModelException($"{path}: the {name} entry is truncated.");
            return bytes;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new PCamModelException($"{path}: cannot read the featurizer from the model zip ({e.Message}).", e);
        }
    }

    public void Dispose() => Featurizer.Dispose();
}
