using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace PCam.MLNet.Featurization;

/// <summary>One file holding an ONNX model's external tensor data, found by <see cref="Location"/> relative to the model.</summary>
public sealed record ExternalDataFile(string Location, string Path, long Length, string Sha256);

/// <summary>
/// ONNX external data (weights stored beside the graph, mandatory above protobuf's 2 GB): finding, checking and
/// hashing the files, and pointing ONNX Runtime sessions built from graph bytes at their folder. What a model zip
/// records about them is <see cref="Training.ExternalDataManifest"/>.
/// </summary>
public static class ExternalData
{
    /// <summary>ONNX Runtime's session option for the folder of external data when the model comes from memory.</summary>
    public const string FolderConfigKey = "session.model_external_initializers_file_folder_path";

    /// <summary>The tensors stored externally, grouped by file location, with the bytes each file must hold at least.</summary>
    internal static Dictionary<string, (string Tensor, long End)> Locations(ModelProto model)
    {
        var result = new Dictionary<string, (string, long)>(StringComparer.Ordinal);
        foreach (var t in AllTensors(model.Graph))
        {
            if (t.DataLocation != TensorProto.Types.DataLocation.External) continue;
            string? location = null;
            long offset = 0, length = 0;
            foreach (var kv in t.ExternalData)
                switch (kv.Key)
                {
                    case "location": location = kv.Value; break;
                    case "offset": long.TryParse(kv.Value, out offset); break;
                    case "length": long.TryParse(kv.Value, out length); break;
                }
            location ??= "";
            var end = offset + length;
            result[location] = result.TryGetValue(location, out var prev) ? (prev.Item1, Math.Max(prev.Item2, end)) : (t.Name, end);
        }
        return result;
    }

    internal static IEnumerable<TensorProto> AllTensors(GraphProto g)
    {
        foreach (var t in g.Initializer) yield return t;
        foreach (var n in g.Node)
            foreach (var a in n.Attribute)
            {
                if (a.T is { } t) yield return t;
                if (a.G is { } sub) foreach (var s in AllTensors(sub)) yield return s;
            }
    }

    /// <summary>Checks every external file of <paramref name="model"/> lies beside <paramref name="onnxPath"/> and is long enough; hashes it.</summary>
    internal static IReadOnlyList<ExternalDataFile> Resolve(BackboneConfig backbone, string onnxPath, ModelProto model)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(onnxPath))!;
        var files = new List<ExternalDataFile>();
        foreach (var (location, (tensor, end)) in Locations(model))
        {
            string Where() => $"{backbone.Where} (ONNX {onnxPath}): tensor '{tensor}' is stored in external data file '{location}'";
            if (location.Length == 0 || System.IO.Path.IsPathRooted(location) || location.Replace('\\', '/').Split('/').Contains(".."))
                throw new PCamBackboneException($"{Where()}, which is not a relative path inside the model's folder.");
            var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, location));
            if (!File.Exists(full))
                throw new PCamBackboneException($"{Where()}, which is missing: {full} not found (copy it beside the .onnx file).");
            var length = new FileInfo(full).Length;
            if (length < end)
                throw new PCamBackboneException($"{Where()}, which is truncated: {full} holds {length:N0} bytes, the graph reads up to byte {end:N0}.");
            files.Add(new ExternalDataFile(location, full, length, Sha256(full)));
        }
        return files;
    }

    static readonly ConcurrentDictionary<(string, long, long), string> HashCache = new();

    /// <summary>SHA-256 (lowercase hex) of a file, remembered per (path, size, modification time) for this process.</summary>
    public static string Sha256(string path)
    {
        var fi = new FileInfo(path);
        return HashCache.GetOrAdd((fi.FullName, fi.Length, fi.LastWriteTimeUtc.Ticks), _ =>
        {
            using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            return Convert.ToHexString(SHA256.HashData(s)).ToLowerInvariant();
        });
    }

    /// <summary>Points a session built from graph bytes at the folder its external data files lie in.</summary>
    internal static void Configure(SessionOptions options, string? folder)
    {
        if (folder is not null) options.AddSessionConfigEntry(FolderConfigKey, folder);
    }
}
