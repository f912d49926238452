using Microsoft.ML;
using PCam.MLNet.Tests.Data;
using Xunit;

namespace PCam.MLNet.Tests.Cli;

/// <summary>
/// Issue 19, item 4: src/PCam.Predict and src/PCam.ModelBuilderApp print one `error:` line (and no stack trace) for a
/// model they cannot use, whatever ML.NET throws.
/// </summary>
public sealed class ConsumingAppErrorTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    internal static string ModelBuilderAppDll
    {
        get
        {
            var bin = new DirectoryInfo(AppContext.BaseDirectory);
            return Path.Combine(RepoPaths.Root, "src", "PCam.ModelBuilderApp", "bin", bin.Parent!.Name, bin.Name, "PCam.ModelBuilderApp.dll");
        }
    }

    /// <summary>A real ML.NET model zip that is not a PCam model: its input is one float column "A".</summary>
    string ForeignModel(string path)
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new Row { A = 1 } });
        ml.Model.Save(ml.Transforms.CopyColumns("B", "A").Fit(data), data.Schema, path);
        return path;
    }

    sealed class Row
    {
        public float A { get; set; }
    }

    static void AssertOneErrorLine(int code, string stderr, string expected)
    {
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void PredictNamesAForeignModelInOneLine()
    {
        var model = ForeignModel(_dir["foreign.zip"]);
        var image = _dir["patch.png"];
        ConsumingAppTests.WritePng(new byte[96 * 96 * 3], image);
        var (code, stdout, stderr) = ChildProcess.Run(ConsumingAppTests.AppDll, [model, image]);
        AssertOneErrorLine(code, stderr, $"{model}: the model loads but cannot classify 96x96x3 patches");
        Assert.Equal("", stdout);
    }

    [Fact]
    public void PredictNamesADamagedZipInOneLine()
    {
        var model = ForeignModel(_dir["damaged.zip"]);
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        var (code, _, stderr) = ChildProcess.Run(ConsumingAppTests.AppDll, [model, "x.png"]);
        AssertOneErrorLine(code, stderr, $"{model}: not a model zip");
    }

    [Fact]
    public void PredictVerboseAddsTheDetails()
    {
        var model = ForeignModel(_dir["foreign.zip"]);
        var image = _dir["patch.png"];
        ConsumingAppTests.WritePng(new byte[96 * 96 * 3], image);
        var (code, _, stderr) = ChildProcess.Run(ConsumingAppTests.AppDll, [model, image, "--verbose"]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("   at ", stderr);
    }

    [Fact]
    public void ModelBuilderAppNamesAForeignOrDamagedModelInOneLine()
    {
        Assert.True(File.Exists(ModelBuilderAppDll), $"Model Builder app not built at {ModelBuilderAppDll}");
        var image = _dir["patch.png"];
        ConsumingAppTests.WritePng(new byte[96 * 96 * 3], image);
        var folder = Directory.CreateDirectory(_dir["mb"]).FullName;
        var model = ForeignModel(Path.Combine(folder, "MLModel1.mlnet"));
        var (code, stdout, stderr) = ChildProcess.Run(ModelBuilderAppDll, [image], folder);
        AssertOneErrorLine(code, stderr, $"{model}: the model cannot be loaded");
        Assert.Equal("", stdout);

        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        (code, _, stderr) = ChildProcess.Run(ModelBuilderAppDll, [image], folder);
        AssertOneErrorLine(code, stderr, $"{model}: the model cannot be loaded");
    }
}
