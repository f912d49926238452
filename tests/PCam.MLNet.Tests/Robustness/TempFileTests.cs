using Microsoft.ML;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using SkiaSharp;
using Xunit;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>
/// Every command that loads or builds a model leaves the temp folder as it found it. ML.NET's OnnxTransformer unpacks
/// the featurizer graph into MLContext.TempFilePath (the system temp folder) and deletes it only when the transformer
/// is disposed; a command that let the process end with the model alive left a 13-63 MB `.onnx` copy there per run.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class TempFileTests(TinyModelFixture f) : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    string[] Run(params string[] args) => RunInEmptyTemp(_dir, args);

    /// <summary>Runs pcam as its own process with TMPDIR set to an empty folder under <paramref name="dir"/>; returns what is left in it.</summary>
    internal static string[] RunInEmptyTemp(TempDir dir, params string[] args)
    {
        var tmp = Directory.CreateDirectory(dir["tmp-" + Guid.NewGuid().ToString("N")[..8]]).FullName;
        var (code, _, err) = ChildProcess.Run(ChildProcess.PcamDll, args,
            environment: new Dictionary<string, string?>(KillAt.Environment(null)) { ["TMPDIR"] = tmp });
        Assert.True(code == 0, $"pcam {string.Join(' ', args)}: exit {code}: {err}");
        // Not ours: .NET's per-process pipes (clr-debug-pipe-*, dotnet-diagnostic-*) and ONNX Runtime's `.ses`, a 51-byte
        // session-id file its logging library rewrites in place on every start (one file, whatever the number of runs).
        return Directory.GetFileSystemEntries(tmp, "*", SearchOption.AllDirectories)
            .Where(e => !Path.GetFileName(e).StartsWith("clr-debug-pipe-", StringComparison.Ordinal)
                        && !Path.GetFileName(e).StartsWith("dotnet-diagnostic-", StringComparison.Ordinal)
                        && Path.GetFileName(e) != ".ses")
            .Select(Path.GetFileName).ToArray()!;
    }

    [Fact]
    public void NoCommandLeavesFilesInTheTempFolder()
    {
        var model = _dir["models/m.zip"];
        Assert.Empty(Run("train", "--config", f.ConfigPath, "--model", model, "--cache-dir", _dir["cache"]));
        Assert.Empty(Run("evaluate", "--model", model, "--data", f.DataDir, "--cache-dir", _dir["cache"]));
        var patch = _dir["patch.png"];
        File.WriteAllBytes(patch, TestImages.Png(TestImages.Pattern(3)));
        Assert.Empty(Run("predict", "--model", model, patch));
        Assert.Empty(Run("inspect", model));
        Assert.Empty(Run("export", "--model", model, "--format", "modelbuilder", "--name", "MLModel1", "--output", _dir["mb"]));
        var slide = _dir["slide.png"];
        WriteSlide(slide, 288);
        Assert.Empty(Run("heatmap", "--model", model, slide, "--output", _dir["maps"], "--stride", "96", "--mpp", "0.972"));
    }

    [Fact]
    public void DisposingALoadedOrComposedModelDeletesTheGraphMlNetUnpacked()
    {
        var ml = new MLContext(seed: 1) { TempFilePath = Directory.CreateDirectory(_dir["ml-tmp"]).FullName };
        var loaded = PCamModel.Load(ml, f.ModelPath, out _);
        Assert.NotEmpty(Directory.GetFiles(ml.TempFilePath));
        PCamModel.Owner(loaded).Dispose();
        Assert.Empty(Directory.GetFiles(ml.TempFilePath));
        // What README tells a consuming app to do: dispose the loaded chain itself.
        var plain = ml.Model.Load(f.ModelPath, out _);
        Assert.NotEmpty(Directory.GetFiles(ml.TempFilePath));
        ((IDisposable)plain).Dispose();
        Assert.Empty(Directory.GetFiles(ml.TempFilePath));

        var composed = PCamModel.ComposeAndSave(ml, f.Result.Graph, f.Result.Head.Model, _dir["composed.zip"]);
        Assert.NotEmpty(Directory.GetFiles(ml.TempFilePath));
        PCamModel.Owner(composed).Dispose();
        Assert.Empty(Directory.GetFiles(ml.TempFilePath));
        Assert.Equal([_dir["composed.zip"]], Directory.GetFiles(_dir.Path, "*.zip")); // no temp zip left beside it
    }

    /// <summary>A square RGB image of tiled sample patterns, saturated enough to count as tissue.</summary>
    internal static void WriteSlide(string path, int size)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgb = TestImages.Pattern(5);
        for (var y = 0; y < size; y++)
        for (var x = 0; x < size; x++)
        {
            var i = ((y % 96) * 96 + x % 96) * 3;
            bitmap.SetPixel(x, y, new SKColor(rgb[i], rgb[i + 1], rgb[i + 2]));
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }
}

/// <summary>
/// The same check with a ResNet18 model: on the tiny model a GC before exit can finalize an undisposed model and delete
/// its graph file, hiding the leak; with ResNet18 the heatmap's undisposed ML.NET featurizer left its file every time.
/// </summary>
[Collection(SampleModelCollection.Name)]
public sealed class TempFileResNetTests(SampleModelFixture f) : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void HeatmapAndExportOfAResNetModelLeaveNoFilesInTheTempFolder()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var slide = _dir["slide.png"];
        TempFileTests.WriteSlide(slide, 288);
        Assert.Empty(TempFileTests.RunInEmptyTemp(_dir, "heatmap", "--model", f.ModelPath, slide, "--output", _dir["maps"], "--stride", "96", "--mpp", "0.972"));
        Assert.Empty(TempFileTests.RunInEmptyTemp(_dir, "export", "--model", f.ModelPath, "--format", "modelbuilder", "--name", "MLModel1", "--output", _dir["mb"]));
    }
}
