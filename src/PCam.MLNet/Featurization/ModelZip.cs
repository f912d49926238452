using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace PCam.MLNet.Featurization;

/// <summary>
/// The one owner of a model zip's layout: the entries PCam adds to the zip ML.NET writes (<see cref="ManifestEntry"/>,
/// <see cref="ExternalDataEntry"/>, named ONNX graphs) and the only code that knows where ML.NET keeps a featurizer's
/// ONNX bytes. Everything else reads and writes a zip through this class.
/// </summary>
/// <remarks>
/// The manifest records the SHA-256 of every other entry (a truncated or altered entry is refused at load), the
/// featurizer graph's fingerprint, and where each named graph lies. The graph that the zip's <c>ApplyOnnxModel</c>
/// step runs (<see cref="FeaturizerGraph"/>) is recorded as a pointer to ML.NET's own entry, so the zip does not hold it
/// twice; other graphs are stored whole under <c>PCam/graphs/</c>. A zip written before graphs were recorded is read
/// through ML.NET's entry name, which only this class knows.
/// </remarks>
public static class ModelZip
{
    /// <summary>The entry holding SHA-256 of every other entry, the featurizer fingerprint and the graph table.</summary>
    public const string ManifestEntry = "PCam/manifest.json";

    /// <summary>The entry a model with external backbone weights carries: the side files' names, sizes and SHA-256.</summary>
    public const string ExternalDataEntry = "PCam/ExternalData.json";

    /// <summary>Name of the graph the model's featurizer step runs (uint8 [N,96,96,3] <c>Image</c> in, float [N,D] <c>Features</c> out).</summary>
    public const string FeaturizerGraph = "featurizer";

    private const string GraphFolder = "PCam/graphs/";

    // ML.NET's layout (TransformerChain.cs: "TransformerChain/Transform_NNN"; OnnxTransform.cs: "OnnxModel", an int32
    // length then the bytes): where the first transform of a saved chain, the featurizer, keeps its ONNX graph.
    private const string MlNetFirstOnnxEntry = "TransformerChain/Transform_000/OnnxModel";

    private sealed record GraphEntry(string Entry, bool LengthPrefixed);

    private sealed record Manifest(int Version, string? FeaturizerFingerprint, Dictionary<string, string> Entries,
        Dictionary<string, GraphEntry>? Graphs = null);

    /// <summary>
    /// Completes a zip that ML.NET has just saved at <paramref name="zipPath"/> (a temp file the caller renames): writes
    /// <paramref name="graphs"/> (name to ONNX bytes) and the external-data list, records the featurizer graph ML.NET
    /// stored, and adds the manifest last.
    /// </summary>
    /// <param name="zipPath">The zip ML.NET wrote.</param>
    /// <param name="featurizerFingerprint">The featurizer graph's fingerprint, or null.</param>
    /// <param name="graphs">Further named graphs to store (not <see cref="FeaturizerGraph"/>, which the model's own step holds); null = none.</param>
    /// <param name="externalDataJson">The external-data list (<see cref="ExternalDataManifest"/>), or null.</param>
    public static void Seal(string zipPath, string? featurizerFingerprint, IReadOnlyDictionary<string, byte[]>? graphs = null, string? externalDataJson = null)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        var table = new Dictionary<string, GraphEntry>(StringComparer.Ordinal);
        if (zip.GetEntry(MlNetFirstOnnxEntry) is not null) table[FeaturizerGraph] = new GraphEntry(MlNetFirstOnnxEntry, LengthPrefixed: true);
        foreach (var (name, bytes) in graphs ?? new Dictionary<string, byte[]>())
        {
            if (name == FeaturizerGraph || !IsGraphName(name))
                throw new ArgumentException($"'{name}' is not a name for an extra graph (letters, digits, '-' and '_'; not '{FeaturizerGraph}').", nameof(graphs));
            var entry = GraphFolder + name + ".onnx";
            using (var s = zip.CreateEntry(entry, CompressionLevel.Optimal).Open()) s.Write(bytes);
            table[name] = new GraphEntry(entry, LengthPrefixed: false);
        }
        if (externalDataJson is not null)
            using (var w = new StreamWriter(zip.CreateEntry(ExternalDataEntry).Open()))
                w.Write(externalDataJson);
        var entries = zip.Entries.Where(e => e.FullName != ManifestEntry).ToDictionary(e => e.FullName, Hash, StringComparer.Ordinal);
        using var m = zip.CreateEntry(ManifestEntry, CompressionLevel.Optimal).Open();
        JsonSerializer.Serialize(m, new Manifest(2, featurizerFingerprint, entries, table));
    }

    private static bool IsGraphName(string name) => name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Opens the zip and, when it has a manifest, checks every entry against it (missing, extra, altered).
    /// Every failure is one <see cref="PCamModelException"/> naming the file and the entry.</summary>
    public static void Verify(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            if (ReadManifest(zip, path) is not { } manifest) return; // a zip from before manifests: ML.NET's loader checks what it can
            if (manifest.Entries is not { Count: > 0 } expected)
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

    /// <summary>The featurizer fingerprint recorded in the zip at training, or null (a zip without a manifest).</summary>
    public static string? Fingerprint(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        return ReadManifest(zip, path)?.FeaturizerFingerprint;
    }

    /// <summary>The names of the graphs the zip holds (<see cref="FeaturizerGraph"/> first when present).</summary>
    public static IReadOnlyList<string> GraphNames(string path)
    {
        using var zip = Open(path);
        var names = Graphs(zip, path).Keys.ToList();
        names.Sort((a, b) => (a == FeaturizerGraph ? 0 : 1).CompareTo(b == FeaturizerGraph ? 0 : 1) is var c and not 0 ? c : string.CompareOrdinal(a, b));
        return names;
    }

    /// <summary>The ONNX bytes of the graph named <paramref name="name"/> (default: the featurizer the model runs).</summary>
    /// <exception cref="PCamModelException">The zip is unreadable, has no such graph, or the graph entry is truncated (the message names the file).</exception>
    public static byte[] ReadGraph(string path, string name = FeaturizerGraph)
    {
        try
        {
            using var zip = Open(path);
            if (!Graphs(zip, path).TryGetValue(name, out var graph) || zip.GetEntry(graph.Entry) is not { } entry)
                throw new PCamModelException(name == FeaturizerGraph
                    ? $"{path}: the model zip holds no featurizer graph (it was not written by PCam.MLNet's trainer); retrain it to use it here."
                    : $"{path}: the model zip holds no '{name}' graph; retrain it with this version to get one.");
            using var s = entry.Open();
            if (!graph.LengthPrefixed)
            {
                using var copy = new MemoryStream();
                s.CopyTo(copy);
                return copy.Length > 0 ? copy.ToArray() : throw new PCamModelException($"{path}: the '{name}' graph entry is empty.");
            }
            using var reader = new BinaryReader(s);
            var length = reader.ReadInt32();
            var bytes = reader.ReadBytes(Math.Max(0, length));
            if (length <= 0 || bytes.Length != length) throw new PCamModelException($"{path}: the '{name}' graph entry is truncated.");
            return bytes;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new PCamModelException($"{path}: cannot read the '{name}' graph from the model zip ({FirstLine(e.Message)}).", e);
        }
    }

    /// <summary>
    /// The ONNX bytes of every ApplyOnnxModel step in an ML.NET zip, wherever the step sits in the saved chains (ML.NET's
    /// "OnnxModel" entries, an int32 length then the bytes), in entry order. An ImageClassificationTrainer zip has one.
    /// </summary>
    /// <exception cref="PCamModelException">The zip is unreadable or an entry is truncated (the message names the file).</exception>
    public static List<byte[]> ReadMlNetOnnxGraphs(string path)
    {
        try
        {
            using var zip = Open(path);
            var graphs = new List<byte[]>();
            foreach (var entry in zip.Entries.Where(e => e.FullName == "OnnxModel" || e.FullName.EndsWith("/OnnxModel", StringComparison.Ordinal)).OrderBy(e => e.FullName, StringComparer.Ordinal))
            {
                using var reader = new BinaryReader(entry.Open());
                var length = reader.ReadInt32();
                var bytes = reader.ReadBytes(Math.Max(0, length));
                if (length <= 0 || bytes.Length != length) throw new PCamModelException($"{path}: the ONNX graph entry '{entry.FullName}' is truncated.");
                graphs.Add(bytes);
            }
            return graphs;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new PCamModelException($"{path}: cannot read its ONNX graphs ({FirstLine(e.Message)}).", e);
        }
    }

    /// <summary>The text of a PCam entry (<see cref="ExternalDataEntry"/>), or null when the zip has none.</summary>
    public static string? ReadText(string path, string entryName)
    {
        using var zip = Open(path);
        if (zip.GetEntry(entryName) is not { } entry) return null;
        using var r = new StreamReader(entry.Open());
        return r.ReadToEnd();
    }

    private static ZipArchive Open(string path)
    {
        try { return ZipFile.OpenRead(path); }
        catch (InvalidDataException e) { throw new PCamModelException($"{path}: not a model zip or damaged ({FirstLine(e.Message)}).", e); }
        catch (FileNotFoundException e) { throw new PCamModelException($"{path}: model file not found.", e); }
    }

    private static Dictionary<string, GraphEntry> Graphs(ZipArchive zip, string path)
    {
        if (ReadManifest(zip, path)?.Graphs is { } graphs) return graphs;
        // A zip written before the graph table: its featurizer is where ML.NET keeps the first transform's graph.
        var legacy = new Dictionary<string, GraphEntry>(StringComparer.Ordinal);
        if (zip.GetEntry(MlNetFirstOnnxEntry) is not null) legacy[FeaturizerGraph] = new GraphEntry(MlNetFirstOnnxEntry, true);
        return legacy;
    }

    private static Manifest? ReadManifest(ZipArchive zip, string path)
    {
        if (zip.GetEntry(ManifestEntry) is not { } m) return null;
        try
        {
            using var s = m.Open();
            return JsonSerializer.Deserialize<Manifest>(s);
        }
        catch (JsonException e) { throw new PCamModelException($"{path}: entry '{ManifestEntry}' is damaged ({e.Message}).", e); }
    }

    private static string Hash(ZipArchiveEntry e)
    {
        using var s = e.Open();
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
