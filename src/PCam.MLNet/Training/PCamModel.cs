using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Training;

/// <summary>The model's input row: one patch, 96x96x3 HWC RGB bytes (what consuming apps fill in).</summary>
public sealed class PatchInput
{
    [VectorType(PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels)]
    [ColumnName(PatchSchema.ImageColumn)]
    public byte[] Image { get; set; } = new byte[PatchSchema.ImageBytes];
}

/// <summary>The model's output columns.</summary>
public sealed class PatchPrediction
{
    public bool PredictedLabel { get; set; }
    public float Score { get; set; }
    public float Probability { get; set; }
}

/// <summary>A model problem the user must fix (missing, truncated or foreign zip, wrong input schema).</summary>
public sealed class PCamModelException(string message, Exception? inner = null) : PCamException(message, inner);

/// <summary>Builds, saves and loads the self-contained model: ONNX featurizer (ApplyOnnxModel) + head + calibrator.</summary>
public static class PCamModel
{
    /// <summary>An empty view with the model's input schema (just the Image column).</summary>
    public static IDataView InputView(MLContext ml) => ml.Data.LoadFromEnumerable(Array.Empty<PatchInput>());

    /// <summary>The in-model featurizer: the same ONNX graph the batched featurizer ran, one row per call.</summary>
    public static ITransformer Featurizer(MLContext ml, FeaturizerGraph graph)
    {
        using var bytes = new MemoryStream(graph.ModelBytes, writable: false);
        return ml.Transforms.ApplyOnnxModel(FeaturizerGraph.OutputName, FeaturizerGraph.InputName, bytes).Fit(InputView(ml));
    }

    public static ITransformer Compose(MLContext ml, FeaturizerGraph graph, ITransformer head) =>
        new TransformerChain<ITransformer>(Featurizer(ml, graph), head);

    /// <summary>Saves through a temp file and rename, so a crash never leaves a half-written zip under the final name.</summary>
    public static void Save(MLContext ml, ITransformer model, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            ml.Model.Save(model, InputView(ml).Schema, tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Loads a model zip; every failure is one PCamModelException naming the file and the problem.</summary>
    public static ITransformer Load(MLContext ml, string path, out DataViewSchema inputSchema)
    {
        if (!File.Exists(path)) throw new PCamModelException($"{path}: model file not found.");
        try
        {
            using (var zip = ZipFile.OpenRead(path)) _ = zip.Entries.Count;
        }
        catch (InvalidDataException e)
        {
            throw new PCamModelException($"{path}: not a model zip (the file is truncated or not a zip archive).", e);
        }
        ITransformer model;
        try
        {
            model = ml.Model.Load(path, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ML.NET's loader reports a foreign or damaged zip with many exception types; the user needs one message.
            throw new PCamModelException($"{path}: not a loadable ML.NET model ({e.GetType().Name}: {FirstLine(e.Message)}).", e);
        }
        var image = inputSchema.GetColumnOrNull(PatchSchema.ImageColumn);
        if (image is not { Type: VectorDataViewType { ItemType: var item, Size: PatchSchema.ImageBytes } } || item != NumberDataViewType.Byte)
            throw new PCamModelException($"{path}: the model's input is not an '{PatchSchema.ImageColumn}' vector of " +
                                         $"{PatchSchema.ImageBytes} bytes (96x96x3), so it is not a PCam model.");
        return model;
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
