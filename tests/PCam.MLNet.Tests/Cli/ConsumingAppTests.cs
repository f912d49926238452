using System.Globalization;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using SkiaSharp;
using Xunit;

namespace PCam.MLNet.Tests.Cli;

/// <summary>The consuming app (src/PCam.Predict, ML.NET packages only) run as a separate process.</summary>
[Collection(SampleModelCollection.Name)]
public class ConsumingAppTests(SampleModelFixture f)
{
    internal static string AppDll
    {
        get
        {
            // tests/PCam.MLNet.Tests/bin/<cfg>/net10.0 -> src/PCam.Predict/bin/<cfg>/net10.0
            var bin = new DirectoryInfo(AppContext.BaseDirectory);
            var cfg = bin.Parent!.Name;
            return Path.Combine(RepoPaths.Root, "src", "PCam.Predict", "bin", cfg, bin.Name, "PCam.Predict.dll");
        }
    }

    internal static (int Code, string Out, string Err) RunApp(params string[] args) => ChildProcess.Run(AppDll, args);

    [SkippableFact]
    public void ReproducesTheTrainersProbabilitiesOnTheSampleTestRows()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        Assert.True(File.Exists(AppDll), $"consuming app not built at {AppDll}");
        // Write the first test rows as lossless PNG files: exactly the pixels the trainer scored.
        using var dir = new TempDir();
        var test = f.Result!.TestData!;
        var rows = f.Result.TestRows!.Take(24).ToList();
        var files = new List<string>();
        var buffer = new byte[PatchSchema.ImageBytes];
        for (var i = 0; i < rows.Count; i++)
        {
            test.Source.ReadImages(i, 1, buffer);
            Assert.Equal(rows[i].Index, test.Source.GetIndex(i));
            var path = dir[$"row{i:D3}.png"];
            WritePng(buffer, path);
            files.Add(path);
        }
        var (code, stdout, stderr) = RunApp([f.ModelPath, .. files]);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("path,probability,predicted_label", lines[0].Trim());
        Assert.Equal(rows.Count, lines.Length - 1);
        for (var i = 0; i < rows.Count; i++)
        {
            var cells = lines[i + 1].Trim().Split(',');
            Assert.Equal(files[i], cells[0]);
            Assert.Equal(rows[i].Probability, float.Parse(cells[1], CultureInfo.InvariantCulture), 1e-5);
            Assert.Equal(rows[i].PredictedLabel ? "1" : "0", cells[2]);
        }
    }

    [Fact]
    public void MissingModelIsAClearError()
    {
        Assert.True(File.Exists(AppDll), $"consuming app not built at {AppDll}");
        var (code, _, stderr) = RunApp("/nonexistent/model.zip", "x.png");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/model.zip: model file not found", stderr);
    }

    [Fact]
    public void NonZipModelIsAClearError()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["model.zip"], "this is not a zip");
        var (code, _, stderr) = RunApp(dir["model.zip"], "x.png");
        Assert.Equal(1, code);
        Assert.Contains("not a model zip", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    internal static void WritePng(byte[] rgb, string path)
    {
        using var bmp = new SKBitmap(new SKImageInfo(PatchSchema.Width, PatchSchema.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (var y = 0; y < PatchSchema.Height; y++)
        for (var x = 0; x < PatchSchema.Width; x++)
        {
            var o = (y * PatchSchema.Width + x) * 3;
            bmp.SetPixel(x, y, new SKColor(rgb[o], rgb[o + 1], rgb[o + 2]));
        }
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }
}
