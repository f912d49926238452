using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace PCam.Predict;

/// <summary>
/// A PCam model with a large backbone keeps the backbone's weights as ONNX external data in files beside the zip;
/// the zip's PCam/ExternalData.json names them with their size and SHA-256. ONNX Runtime finds them relative to the
/// ONNX graph, which ML.NET unpacks into MLContext.TempFilePath, so the caller points that at the zip's folder.
/// </summary>
public static class SideFiles
{
    const string ManifestEntry = "PCam/ExternalData.json";

    /// <summary>True when the model has side files (all present and unaltered); throws InvalidDataException naming a bad one.</summary>
    public static bool Verify(string modelPath)
    {
        string json;
        using (var zip = ZipFile.OpenRead(modelPath))
        {
            var entry = zip.GetEntry(ManifestEntry);
            if (entry is null) return false;
            using var reader = new StreamReader(entry.Open());
            json = reader.ReadToEnd();
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        using var doc = JsonDocument.Parse(json);
        foreach (var f in doc.RootElement.GetProperty("files").EnumerateArray())
        {
            var side = Path.Combine(dir, f.GetProperty("location").GetString()!);
            if (!File.Exists(side))
                throw new InvalidDataException($"{modelPath}: its backbone weights file {side} is missing (the model is the zip plus this file beside it).");
            using var stream = File.OpenRead(side);
            if (stream.Length != f.GetProperty("length").GetInt64()
                || Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant() != f.GetProperty("sha256").GetString())
                throw new InvalidDataException($"{modelPath}: its backbone weights file {side} was altered (SHA-256 or size differs from the one the model was trained with).");
        }
        return true;
    }
}
