using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Training;

/// <summary>
/// Builds, saves and loads the model: ONNX featurizer (ApplyOnnxModel) + head + calibrator in one zip. A backbone
/// whose weights are ONNX external data (needed above protobuf's 2 GB) keeps them out of the zip: the model is then
/// the zip plus those weight files beside it, named in the zip's <see cref="ModelZip.ExternalDataEntry"/> with their
/// size and SHA-256, which loading checks.
/// </summary>
public static class PCamModel
{
    /// <summary>
    /// Composes featurizer (the same ONNX graph the batched featurizer ran, one row per call) + head, saves it to
    /// <paramref name="path"/>, and returns the model loaded back from that zip: what every user of the zip gets, and
    /// disposing it (<see cref="Owner"/>) removes the graph file ML.NET unpacks. With external data, the weight files
    /// are first copied beside the zip (ExternalDataManifest.Stage).
    /// </summary>
    /// <remarks>
    /// ML.NET reads the featurizer here from a graph file this method writes and deletes. Its Stream overload
    /// (ApplyOnnxModel(..., Stream)) unpacks its own copy into the temp folder and leaves it there even after Dispose:
    /// one 13-63 MB file per training run.
    /// </remarks>
    public static ITransformer ComposeAndSave(MLContext ml, FeaturizerGraph graph, ITransformer head, string path)
    {
        Compose(ml, graph, head, path);
        return Load(ml, path, out _);
    }

    /// <summary>Composes featurizer + <see cref="FeaturizerTransforms.FeatureShape"/> + head and saves the zip to <paramref name="path"/>
    /// (temp file + rename), without loading it back. A TTA graph's single view (<see cref="FeaturizerGraph.SingleView"/>,
    /// or <paramref name="singleView"/> when the caller has built it) is stored as the graph <see cref="SingleViewGraph"/>. <c>pcam train</c> writes to <see cref="StagingPath"/> and gives
    /// the zip its name only after <see cref="ZipSelfCheck"/> has proved it.</summary>
    public static void Compose(MLContext ml, FeaturizerGraph graph, ITransformer head, string path, FeaturizerGraph? singleView = null)
    {
        if (graph.Views > 1) singleView ??= graph.SingleView();
        if (singleView is { Views: not 1 }) throw new ArgumentException("the single-view graph averages several views.", nameof(singleView));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var external = graph.ExternalData.Count > 0;
        if (external) ExternalDataManifest.Stage(graph.ExternalData, dir);
        // ORT finds external weights relative to the graph file, so such a graph lies beside them while ML.NET reads it into the zip.
        var graphFile = external
            ? Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.featurizer.onnx")
            : Path.Combine(ml.TempFilePath, $"pcam-{Environment.ProcessId}-{Guid.NewGuid():N}.featurizer.onnx");
        try
        {
            graph.Save(graphFile);
            var featurizer = FeaturizerTransforms.Apply(ml.Transforms, graphFile);
            try
            {
                var chain = new TransformerChain<ITransformer>(featurizer, FeaturizerTransforms.FeatureShape(ml, featurizer), head);
                RequireHeadInput(ml, chain, head, graph.FeatureDimension);
                Save(ml, chain, path, graph.Fingerprint, external ? ExternalDataManifest.Json(graph.ExternalData) : null, 
                    graph.Views > 1 ? new Dictionary<string, byte[]> { [SingleViewGraph] = singleView!.ModelBytes } : null);
            }
            finally
            {
                (featurizer as IDisposable)?.Dispose(); // closes its session on the graph file before the file is deleted
            }
        }
        finally
        {
            if (File.Exists(graphFile)) File.Delete(graphFile);
        }
    }

    /// <summary>Where <c>pcam train</c> writes the zip before its self-check: a hidden name beside the final one
    /// (same folder, so the rename is atomic and external weights staged beside it are found).</summary>
    public static string StagingPath(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.unverified");

    /// <summary>The composed model's schema is checked before anything is written: a head that cannot bind to the
    /// featurizer's output is a bug here, reported with both types instead of a zip that no consumer can load.</summary>
    private static void RequireHeadInput(MLContext ml, ITransformer chain, ITransformer head, int dimension)
    {
        try
        {
            var features = chain.GetOutputSchema(FeaturizerTransforms.InputView(ml).Schema)[FeaturizerGraph.OutputName].Type;
            if (features is not VectorDataViewType { Dimensions.Length: 1, Size: var size, ItemType: var item } || size != dimension || item != NumberDataViewType.Single)
                throw new InvalidOperationException($"the composed featurizer gives '{FeaturizerGraph.OutputName}' as {features}, not Vector<Single, {dimension}>");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new PCamModelException($"The model cannot be composed: the head ({head.GetType().Name}) does not accept the featurizer's output " +
                                         $"({FirstLine(e.Message)}). This is a bug in PCam.MLNet; no model was written.", e);
        }
    }

    /// <summary>
    /// The name of a TTA model's single-view featurizer graph in the zip (<see cref="ModelZip.ReadGraph"/>: the same
    /// backbone, size, pooling and precision, one view), which `pcam heatmap` scores with when asked for one view (see
    /// Slides.WindowModel). Absent from one-view models and from zips written before it existed.
    /// </summary>
    public const string SingleViewGraph = "single-view";

    /// <summary>Saves through a temp file and rename, so a crash never leaves a half-written zip under the final name.
    /// A manifest entry records each entry's SHA-256 (and the featurizer graph's fingerprint) so that a truncated or
    /// altered entry is refused at load.</summary>
    public static void Save(MLContext ml, ITransformer model, string path, string? featurizerFingerprint = null, string? externalDataManifest = null,
        IReadOnlyDictionary<string, byte[]>? graphs = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            ml.Model.Save(model, FeaturizerTransforms.InputView(ml).Schema, tmp);
            ModelZip.Seal(tmp, featurizerFingerprint, graphs, externalDataManifest);
            TestHooks.Reached("zip");
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
        var model = LoadMlNet(ml, path, out inputSchema);
        try
        {
            RequirePatchInput(path, inputSchema);
        }
        catch
        {
            PCamModel.Owner(model).Dispose();
            throw;
        }
        return model;
    }

    /// <summary>Throws <see cref="NotAPatchModel"/> unless <paramref name="inputSchema"/> has the 96x96x3 byte <c>Image</c> input.</summary>
    public static void RequirePatchInput(string path, DataViewSchema inputSchema)
    {
        var image = inputSchema.GetColumnOrNull(PatchSchema.ImageColumn);
        if (image is not { Type: VectorDataViewType { ItemType: var item, Size: PatchSchema.ImageBytes } } || item != NumberDataViewType.Byte)
            throw IsEncodedImageModel(inputSchema) ? NotAPatchModel(path, imageClassifier: true) : NotAPatchModel(path);
    }

    // An ImageClassificationTrainer zip (PCam.MLNet.Vision) takes encoded image bytes of any size: a variable-length byte vector.
    private static bool IsEncodedImageModel(DataViewSchema schema) =>
        schema.Any(c => c.Type is VectorDataViewType { IsKnownSize: false, ItemType: var t } && t == NumberDataViewType.Byte);

    /// <summary>The error for an ML.NET zip whose input is not the 96x96x3 patch vector.</summary>
    public static PCamModelException NotAPatchModel(string path, bool imageClassifier = false) => imageClassifier
        ? new($"{path}: an image-classification model (encoded image bytes in, ImageClassificationTrainer); this takes a " +
              "PCam patch model (96x96x3 pixels in, written by PCamTrainer): load it with MLContext.Model.Load in your app.")
        : new($"{path}: the model's input is not an '{PatchSchema.ImageColumn}' vector of " +
              $"{PatchSchema.ImageBytes} bytes (96x96x3), so it is not a PCam model.");

    /// <summary>
    /// Loads any ML.NET model zip with its input schema (checked entries and external weights as <see cref="Load"/>),
    /// without requiring the patch input; every failure is one PCamModelException naming the file.
    /// </summary>
    public static ITransformer LoadMlNet(MLContext ml, string path, out DataViewSchema inputSchema)
    {
        if (!File.Exists(path)) throw new PCamModelException($"{path}: model file not found.");
        CheckEntries(path);
        // External weights: check them (present, size, SHA-256) and let ML.NET write the graph it unpacks beside them,
        // where ONNX Runtime resolves their relative location.
        var sideFiles = ExternalDataManifest.Verify(path);
        ITransformer model;
        DataViewSchema? schema;
        var tempPath = ml.TempFilePath;
        try
        {
            if (sideFiles is not null) ml.TempFilePath = Path.GetDirectoryName(Path.GetFullPath(path))!;
            model = ml.Model.Load(path, out schema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ML.NET's loader reports a foreign or damaged zip with many exception types; the user needs one message.
            throw new PCamModelException($"{path}: not a loadable ML.NET model ({e.GetType().Name}: {FirstLine(e.Message)}).", e);
        }
        finally
        {
            ml.TempFilePath = tempPath;
        }
        if (model is null) throw new PCamModelException($"{path}: not a loadable ML.NET model (the zip holds no 'Model' entries).");
        // A zip without its 'Schema' entry loads with a null schema: without it the model's input is unknown.
        inputSchema = schema ?? throw new PCamModelException($"{path}: the model zip has no input schema (entry 'Schema' missing), so it is not a PCam model.");
        return model;
    }

    /// <summary>Opens the zip and, when it has a manifest, checks every entry against it (missing, extra, altered).</summary>
    public static void CheckEntries(string path) => ModelZip.Verify(path);

    /// <summary>
    /// What releases a loaded or composed model: its ONNX Runtime sessions and the graph files ML.NET unpacks into
    /// MLContext.TempFilePath (beside the zip for an external-data model). ML.NET's TransformerChain disposes its
    /// transformers, so this is the model itself (a no-op for a transformer that holds nothing).
    /// </summary>
    public static IDisposable Owner(ITransformer model) => model as IDisposable ?? NothingToRelease.Instance;

    private sealed class NothingToRelease : IDisposable
    {
        public static readonly NothingToRelease Instance = new();
        public void Dispose() { }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
