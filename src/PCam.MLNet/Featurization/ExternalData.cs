using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Training;

namespace PCam.MLNet.Featurization;

/// <summary>One file holding an ONNX model's external tensor data, found by <see cref="Location"/> relative to the model.</summary>
public sealed record ExternalDataFile(string Location, string Path, long Length, string Sha256);

/// <summary>
/// ONNX external data (weights stored beside the graph, mandatory above protobuf's 2 GB): finding, checking and
/// hashing the files, and pointing ONNX Runtime sessions built from graph bytes at their folder.
/// </summary>
public static class ExternalData
{
    /// <summary>The zip entry a PCam model with external data carries: the side files' names, sizes and SHA-256.</summary>
    public const string ManifestEntry = "PCam/ExternalData.json";

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

    static IEnumerable<TensorProto> AllTensors(GraphProto g)
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

    sealed record ManifestFile(string Location, long Length, string Sha256);
    sealed record Manifest(List<ManifestFile> Files);

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    internal static string ManifestJson(IEnumerable<ExternalDataFile> files) =>
        JsonSerializer.Serialize(new Manifest(files.Select(f => new ManifestFile(f.Location, f.Length, f.Sha256)).ToList()), Json);

    /// <summary>
    /// Copies the side files beside a model in <paramref name="modelDirectory"/> (a hard copy; skipped when an
    /// identical file is already there). A different file under the same name is an error, never overwritten.
    /// </summary>
    public static void Stage(IEnumerable<ExternalDataFile> files, string modelDirectory)
    {
        foreach (var f in files)
        {
            var target = System.IO.Path.GetFullPath(System.IO.Path.Combine(modelDirectory, f.Location));
            if (string.Equals(target, f.Path, StringComparison.Ordinal)) continue;
            if (File.Exists(target))
            {
                if (new FileInfo(target).Length == f.Length && Sha256(target) == f.Sha256) continue;
                throw new PCamModelException($"{target}: a different file already has the name of the backbone's external data file '{f.Location}'; " +
                                             "save the model in another folder or remove that file.");
            }
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            var tmp = target + $".{Environment.ProcessId}.tmp";
            try
            {
                File.Copy(f.Path, tmp, overwrite: true);
                File.Move(tmp, target);
            }
            finally
            {
                if (File.Exists(tmp)) File.Delete(tmp);
            }
        }
    }

    /// <summary>
    /// Reads the manifest of a model zip (null when its weights are all inside) and checks each side file beside the
    /// zip: present, of the recorded size and SHA-256. Every failure names the side file.
    /// </summary>
    public static IReadOnlyList<string>? Verify(string modelPath)
    {
        string? json;
        using (var zip = System.IO.Compression.ZipFile.OpenRead(modelPath))
        {
            var entry = zip.GetEntry(ManifestEntry);
            if (entry is null) return null;
            using var r = new StreamReader(entry.Open());
            json = r.ReadToEnd();
        }
        var manifest = JsonSerializer.Deserialize<Manifest>(json, Json) ?? throw new PCamModelException($"{modelPath}: {ManifestEntry} is empty.");
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(modelPath))!;
        var checkedFiles = new List<string>();
        foreach (var f in manifest.Files)
        {
            var side = System.IO.Path.Combine(dir, f.Location);
            if (!File.Exists(side))
                throw new PCamModelException($"{modelPath}: its backbone weights file {side} is missing (a model with external data is the zip plus this file beside it).");
            var length = new FileInfo(side).Length;
            if (length != f.Length || Sha256(side) != f.Sha256)
                throw new PCamModelException($"{modelPath}: its backbone weights file {side} was altered (SHA-256 or size differs from the one the model was trained with).");
            checkedFiles.Add(side);
        }
        return checkedFiles;
    }
}
