using System.Text.Json;

namespace PCam.MLNet.Featurization;

/// <summary>
/// A model zip whose backbone keeps its weights as ONNX external data: the zip's manifest of those side files (names,
/// sizes, SHA-256; <see cref="ModelZip.ExternalDataEntry"/>), copying them beside a saved zip, and checking them when the zip is loaded.
/// </summary>
public static class ExternalDataManifest
{
    sealed record ManifestFile(string Location, long Length, string Sha256);
    sealed record Manifest(List<ManifestFile> Files);

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    internal static string Json(IEnumerable<ExternalDataFile> files) =>
        JsonSerializer.Serialize(new Manifest(files.Select(f => new ManifestFile(f.Location, f.Length, f.Sha256)).ToList()), JsonOptions);

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
                if (new FileInfo(target).Length == f.Length && ExternalData.Sha256(target) == f.Sha256) continue;
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
        var json = ModelZip.ReadText(modelPath, ModelZip.ExternalDataEntry);
        if (json is null) return null;
        var manifest = JsonSerializer.Deserialize<Manifest>(json, JsonOptions) ?? throw new PCamModelException($"{modelPath}: {ModelZip.ExternalDataEntry} is empty.");
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(modelPath))!;
        var checkedFiles = new List<string>();
        foreach (var f in manifest.Files)
        {
            var side = System.IO.Path.Combine(dir, f.Location);
            if (!File.Exists(side))
                throw new PCamModelException($"{modelPath}: its backbone weights file {side} is missing (a model with external data is the zip plus this file beside it).");
            var length = new FileInfo(side).Length;
            if (length != f.Length || ExternalData.Sha256(side) != f.Sha256)
                throw new PCamModelException($"{modelPath}: its backbone weights file {side} was altered (SHA-256 or size differs from the one the model was trained with).");
            checkedFiles.Add(side);
        }
        return checkedFiles;
    }
}
