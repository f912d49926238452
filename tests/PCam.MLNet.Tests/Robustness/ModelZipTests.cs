using System.IO.Compression;
using Microsoft.ML;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>A missing, truncated or altered zip entry is one PCamModelException, never a stack trace.</summary>
[Collection(TinyModelCollection.Name)]
public class ModelZipTests(TinyModelFixture f)
{
    /// <summary>A copy of the model zip with one entry removed or rewritten by <paramref name="edit"/>.</summary>
    internal static void Rewrite(string source, string target, Func<string, byte[], byte[]?> edit)
    {
        using var input = ZipFile.OpenRead(source);
        using var output = ZipFile.Open(target, ZipArchiveMode.Create);
        foreach (var e in input.Entries)
        {
            using var ms = new MemoryStream();
            using (var s = e.Open()) s.CopyTo(ms);
            var bytes = edit(e.FullName, ms.ToArray());
            if (bytes is null) continue;
            using var w = output.CreateEntry(e.FullName).Open();
            w.Write(bytes);
        }
    }

    [Fact]
    public void TheZipRecordsItsEntriesAndTheFeaturizerFingerprintAndPlainMlNetStillLoadsIt()
    {
        Assert.Equal(f.Result.Graph.Fingerprint, ModelZip.Fingerprint(f.ModelPath));
        var model = new MLContext(1).Model.Load(f.ModelPath, out var schema); // what consuming apps do
        Assert.NotNull(model);
        Assert.NotNull(schema.GetColumnOrNull("Image"));
        ((IDisposable)model).Dispose();
        PCamModel.Owner(PCamModel.Load(new MLContext(1), f.ModelPath, out _)).Dispose();
    }

    [Fact]
    public void TheFeaturizerGraphIsReadThroughModelZipForNewOldAndForeignZips()
    {
        using var dir = new TempDir();
        // The zip's featurizer is the graph the trainer composed, byte for byte.
        Assert.Equal(new[] { ModelZip.FeaturizerGraph }, ModelZip.GraphNames(f.ModelPath));
        var graph = ModelZip.ReadGraph(f.ModelPath);
        Assert.Equal(f.Result.Graph.ModelBytes, graph);

        // A zip from before the graph table (manifest without it, or no manifest) still gives its featurizer.
        var legacy = dir["legacy.zip"];
        Rewrite(f.ModelPath, legacy, (name, b) => name == ModelZip.ManifestEntry ? null : b);
        Assert.Equal(graph, ModelZip.ReadGraph(legacy));

        // A zip with no featurizer graph at all is one error that names the file and says to retrain.
        var foreign = dir["foreign.zip"];
        Rewrite(f.ModelPath, foreign, (name, b) => name == ModelZip.ManifestEntry || name.EndsWith("/OnnxModel", StringComparison.Ordinal) ? null : b);
        var e = Assert.Throws<PCamModelException>(() => ModelZip.ReadGraph(foreign));
        Assert.Contains(foreign, e.Message);
        Assert.Contains("retrain", e.Message);
    }

    [Fact]
    public void FurtherNamedGraphsAreStoredVerifiedAndReadBack()
    {
        using var dir = new TempDir();
        var ml = new MLContext(1);
        var model = PCamModel.Load(ml, f.ModelPath, out _);
        try
        {
            var path = dir["two-graphs.zip"];
            var single = f.Result.Graph.ModelBytes;
            PCamModel.Save(ml, model, path, f.Result.Graph.Fingerprint, graphs: new Dictionary<string, byte[]> { ["single-view"] = single });
            Assert.Equal(new[] { ModelZip.FeaturizerGraph, "single-view" }, ModelZip.GraphNames(path));
            Assert.Equal(single, ModelZip.ReadGraph(path, "single-view"));
            ModelZip.Verify(path); // the new entry is in the manifest
            Assert.Throws<PCamModelException>(() => ModelZip.ReadGraph(path, "absent"));
            Assert.Throws<ArgumentException>(() => PCamModel.Save(ml, model, dir["bad.zip"], null, graphs: new Dictionary<string, byte[]> { ["../x"] = single }));
        }
        finally
        {
            PCamModel.Owner(model).Dispose();
        }
    }

    [Fact]
    public void MissingSchemaEntryIsOneModelErrorWithOrWithoutTheManifest()
    {
        using var dir = new TempDir();
        var withManifest = dir["no-schema.zip"];
        Rewrite(f.ModelPath, withManifest, (name, b) => name == "Schema" ? null : b);
        var e = Assert.Throws<PCamModelException>(() => PCamModel.Load(new MLContext(1), withManifest, out _));
        Assert.Contains(withManifest, e.Message);
        Assert.Contains("'Schema'", e.Message);

        // A zip from before manifests (none inside): the loader's null schema is caught too (it was a NullReferenceException).
        var legacy = dir["legacy-no-schema.zip"];
        Rewrite(f.ModelPath, legacy, (name, b) => name is "Schema" or ModelZip.ManifestEntry ? null : b);
        e = Assert.Throws<PCamModelException>(() => PCamModel.Load(new MLContext(1), legacy, out _));
        Assert.Contains(legacy, e.Message);
        Assert.Contains("'Schema'", e.Message);
    }

    [Fact]
    public void AlteredOnnxGraphIsRefused()
    {
        using var dir = new TempDir();
        var altered = dir["altered.zip"];
        string? onnxEntry = null;
        Rewrite(f.ModelPath, altered, (name, b) =>
        {
            // The featurizer's ONNX bytes hold the backbone's producer name; change one weight byte after it.
            var at = b.AsSpan().IndexOf("pcam-tests"u8);
            if (at < 0) return b;
            onnxEntry = name;
            var copy = (byte[])b.Clone();
            copy[^1] ^= 0x01;
            return copy;
        });
        Assert.NotNull(onnxEntry);
        var e = Assert.Throws<PCamModelException>(() => PCamModel.Load(new MLContext(1), altered, out _));
        Assert.Contains(altered, e.Message);
        Assert.Contains($"'{onnxEntry}' was altered", e.Message);
    }

    [Fact]
    public void TruncatedZipIsOneModelErrorAtEveryLength()
    {
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(f.ModelPath);
        foreach (var length in new[] { 0, 10, bytes.Length / 3, bytes.Length / 2, bytes.Length - 100, bytes.Length - 1 })
        {
            var path = dir[$"cut{length}.zip"];
            File.WriteAllBytes(path, bytes[..length]);
            var e = Assert.Throws<PCamModelException>(() => PCamModel.Load(new MLContext(1), path, out _));
            Assert.Contains(path, e.Message);
        }
    }
}
