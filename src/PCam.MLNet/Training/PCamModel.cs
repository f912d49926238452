using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
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

/// <summary>
/// Builds, saves and loads the model: ONNX featurizer (ApplyOnnxModel) + head + calibrator in one zip. A backbone
/// whose weights are ONNX external data (needed above protobuf's 2 GB) keeps them out of the zip: the model is then
/// the zip plus those weight files beside it, named in the zip's <see cref="ExternalDataManifest.ManifestEntry"/> with their
/// size and SHA-256, which loading checks.
/// </summary>
public static class PCamModel
{
    /// <summary>An empty view with the model's input schema (just the Image column).</summary>
    public static IDataView InputView(MLContext ml) => ml.Data.LoadFromEnumerable(Array.Empty<PatchInput>());

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

    /// <summary>Composes featurizer + <see cref="FeatureShape"/> + head and saves the zip to <paramref name="path"/>
    /// (temp file + rename), without loading it back. A TTA graph's single view (<see cref="FeaturizerGraph.SingleView"/>,
    /// or <paramref name="singleView"/> when the caller has built it) goes in <see cref="SingleViewEntry"/>. <c>pcam train</c> writes to <see cref="StagingPath"/> and gives
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
            var featurizer = ApplyFeaturizer(ml.Transforms, graphFile);
            try
            {
                var chain = new TransformerChain<ITransformer>(featurizer, FeatureShape(ml, featurizer), head);
                RequireHeadInput(ml, chain, head, graph.FeatureDimension);
                Save(ml, chain, path, graph.Fingerprint, external ? ExternalDataManifest.Json(graph.ExternalData) : null, graph.Views > 1 ? singleView!.ModelBytes : null);
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

    /// <summary>
    /// The featurizer as ML.NET's own ONNX transform over the graph file <paramref name="graphFile"/> (which must stay
    /// until the transform is disposed: ML.NET reads it again when saving). Every model zip holds its featurizer in this
    /// form: pcam train's, and any pipeline's that starts with <see cref="PCamCatalog.FeaturizePatches"/>.
    /// </summary>
    internal static ITransformer ApplyFeaturizer(TransformsCatalog transforms, string graphFile) =>
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

    /// <summary>The composed model's schema is checked before anything is written: a head that cannot bind to the
    /// featurizer's output is a bug here, reported with both types instead of a zip that no consumer can load.</summary>
    private static void RequireHeadInput(MLContext ml, ITransformer chain, ITransformer head, int dimension)
    {
        try
        {
            var features = chain.GetOutputSchema(InputView(ml).Schema)[FeaturizerGraph.OutputName].Type;
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
    /// The zip entry holding a TTA model's single-view featurizer graph (ONNX bytes: the same backbone, size, pooling and
    /// precision, one view), which `pcam heatmap --views 1` scores with (see Slides.WindowModel). Absent from one-view
    /// models and from zips written before it existed.
    /// </summary>
    public const string SingleViewEntry = "PCam/single-view.onnx";

    /// <summary>The zip entry holding SHA-256 of every other entry and the featurizer fingerprint, written at training.</summary>
    public const string ManifestEntry = "PCam/manifest.json";

    /// <summary>Saves through a temp file and rename, so a crash never leaves a half-written zip under the final name.
    /// A manifest entry records each entry's SHA-256 (and the featurizer graph's fingerprint) so that a truncated or
    /// altered entry is refused at load.</summary>
    public static void Save(MLContext ml, ITransformer model, string path, string? featurizerFingerprint = null, string? externalDataManifest = null,
        byte[]? singleViewGraph = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            ml.Model.Save(model, InputView(ml).Schema, tmp);
            if (externalDataManifest is not null)
                using (var zip = ZipFile.Open(tmp, ZipArchiveMode.Update))
                using (var w = new StreamWriter(zip.CreateEntry(ExternalDataManifest.ManifestEntry).Open()))
                    w.Write(externalDataManifest);
            if (singleViewGraph is not null)
                using (var zip = ZipFile.Open(tmp, ZipArchiveMode.Update))
                using (var s = zip.CreateEntry(SingleViewEntry, CompressionLevel.Optimal).Open())
                    s.Write(singleViewGraph);
            AddManifest(tmp, featurizerFingerprint);
            TestHooks.Reached("zip");
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private sealed record Manifest(int Version, string? FeaturizerFingerprint, Dictionary<string, string> Entries);

    private static void AddManifest(string zipPath, string? fingerprint)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        var entries = zip.Entries.Where(e => e.FullName != ManifestEntry).ToDictionary(e => e.FullName, Hash, StringComparer.Ordinal);
        var entry = zip.CreateEntry(ManifestEntry, CompressionLevel.Optimal);
        using var w = entry.Open();
        JsonSerializer.Serialize(w, new Manifest(1, fingerprint, entries));
    }

    private static string Hash(ZipArchiveEntry e)
    {
        using var s = e.Open();
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>Loads a model zip; every failure is one PCamModelException naming the file and the problem.</summary>
    public static ITransformer Load(MLContext ml, string path, out DataViewSchema inputSchema)
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
        var image = inputSchema.GetColumnOrNull(PatchSchema.ImageColumn);
        if (image is not { Type: VectorDataViewType { ItemType: var item, Size: PatchSchema.ImageBytes } } || item != NumberDataViewType.Byte)
            throw new PCamModelException($"{path}: the model's input is not an '{PatchSchema.ImageColumn}' vector of " +
                                         $"{PatchSchema.ImageBytes} bytes (96x96x3), so it is not a PCam model.");
        return model;
    }

    /// <summary>Opens the zip and, when it has a manifest, checks every entry against it (missing, extra, altered).</summary>
    public static void CheckEntries(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            if (zip.GetEntry(ManifestEntry) is not { } m) return; // a zip from before manifests: ML.NET's loader checks what it can
            Manifest? manifest;
            try
            {
                using var s = m.Open();
                manifest = JsonSerializer.Deserialize<Manifest>(s);
            }
            catch (JsonException e) { throw new PCamModelException($"{path}: entry '{ManifestEntry}' is damaged ({e.Message}).", e); }
            if (manifest?.Entries is not { Count: > 0 } expected)
                throw new PCamModelException($"{path}: entry '{ManifestEntry}' lists no entries.");
            var present = zip.Entries.Where(e => e.FullName != ManifestEntry).ToDictionary(e => e.FullName, StringComparer.Ordinal);
            foreach (var (name, sha) in expected)
            {
                if (!present.TryGetValue(name, out var entry))
                    throw new PCamModelException($"{path}: entry '{name}' is missing (the zip was truncated or edited after training).");
                if (Hash(entry) != sha)
                    throw new PCamModelException($"{path}: entry '{name}' was altered after training (its SHA-256 differs from the one recorded in '{ManifestEntry}'); " +
                                                 "this zip does not hold the graph and head it was trained with.");
            }
            if (present.Keys.FirstOrDefault(k => !expected.ContainsKey(k)) is { } extra)
                throw new PCamModelException($"{path}: entry '{extra}' was added after training (not in '{ManifestEntry}').");
        }
        catch (InvalidDataException e)
        {
            throw new PCamModelException($"{path}: not a model zip or damaged ({FirstLine(e.Message)}; the file is truncated or not a zip archive).", e);
        }
        catch (IOException e)
        {
            throw new PCamModelException($"{path}: cannot read the model zip ({FirstLine(e.Message)}).", e);
        }
    }

    /// <summary>Where ML.NET's OnnxTransformer keeps the featurizer's ONNX bytes in a saved model zip (int32 length, then bytes).</summary>
    public const string FeaturizerEntry = "TransformerChain/Transform_000/OnnxModel";

    /// <summary>The featurizer graph's bytes as the zip stores them (what its OnnxTransformer runs), read without
    /// loading the model: the heatmap's batched featurizer and the ONNX export start from them.</summary>
    public static byte[] ReadFeaturizerGraph(string path) =>
        ReadEntry(path, FeaturizerEntry, lengthPrefixed: true) ?? throw new PCamModelException($"{path}: no {FeaturizerEntry} entry (not a `pcam train` model zip).");

    /// <summary>A zip entry's bytes (ML.NET's own entries start with an int32 length), or null when the zip has no such entry.</summary>
    public static byte[]? ReadEntry(string path, string name, bool lengthPrefixed)
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

    /// <summary>The featurizer fingerprint recorded in the zip at training, or null (older zip).</summary>
    public static string? RecordedFingerprint(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        if (zip.GetEntry(ManifestEntry) is not { } m) return null;
        using var s = m.Open();
        return JsonSerializer.Deserialize<Manifest>(s)?.FeaturizerFingerprint;
    }

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
