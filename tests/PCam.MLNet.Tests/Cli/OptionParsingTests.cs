using PCam.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Robustness;
using PCam.MLNet.Tests.Slides;
using Xunit;
using static PCam.MLNet.Tests.Cli.CliTests;

namespace PCam.MLNet.Tests.Cli;

/// <summary>Values the command line can check are refused while parsing, before any command body runs; the framework's
/// cancellation token stops a command and leaves nothing behind.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class OptionParsingTests(TinyModelFixture f) : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static string OneErrorLine((int Code, string Out, string Err) r)
    {
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        return line;
    }

    [Theory]
    [InlineData("--trainer", "Perceptron", "LbfgsLogisticRegression, LightGbm, FastTree, SdcaLogisticRegression")]
    [InlineData("--precision", "fp16", "fp32, int8")]
    [InlineData("--device", "tpu", "cpu, cuda, cuda:N")]
    public void ABadEnumValueIsAParseErrorListingTheAcceptedValues(string option, string value, string accepted)
    {
        // No --config: a body that ran would train on the demo set; a parse error runs nothing.
        var line = OneErrorLine(Pcam("train", option, value));
        Assert.Contains($"{option} '{value}'", line);
        Assert.Contains(accepted, line);
    }

    [Fact]
    public void EnumValuesAreTypedWhenValid()
    {
        var parse = PcamApp.Root(TextWriter.Null, TextWriter.Null).Parse(["train", "--trainer", "FastTree", "--precision", "fp32", "--device", "cuda:1"]);
        Assert.Empty(parse.Errors);
        Assert.Equal(MLNet.Configuration.HeadTrainerKind.FastTree, parse.GetValue<MLNet.Configuration.HeadTrainerKind?>("--trainer"));
        Assert.Equal(MLNet.Featurization.FeaturizerPrecision.Fp32, parse.GetValue<MLNet.Featurization.FeaturizerPrecision?>("--precision"));
        Assert.Equal(new MLNet.Featurization.ExecutionDevice(true, 1), parse.GetValue<MLNet.Featurization.ExecutionDevice?>("--device"));
    }

    [Fact]
    public void MissingFilesAndFoldersAreRefusedAtParseTime()
    {
        var missing = _dir["missing.zip"];
        Assert.Contains($"{missing}: model file not found.", OneErrorLine(Pcam("evaluate", "--model", missing, "--data", _dir.Path)));
        Assert.Contains($"{missing}: model file not found.", OneErrorLine(Pcam("heatmap", "--model", missing, "--output", _dir["out"], _dir.Path)));
        Assert.Contains($"{missing}: model file not found.", OneErrorLine(Pcam("inspect", missing)));
        Assert.Contains($"{_dir["nowhere"]}: data directory not found.", OneErrorLine(Pcam("evaluate", "--model", f.ModelPath, "--data", _dir["nowhere"])));
        Assert.Contains($"{_dir["no-slides"]}: slide folder not found.", OneErrorLine(Pcam("patches", "--slides", _dir["no-slides"], "--output", _dir["set"])));
        Assert.False(Directory.Exists(_dir["out"]));
        Assert.False(Directory.Exists(_dir["set"]));
    }

    [Fact]
    public void TheCommandLineNamesItsFlagWhereTheLibraryNamesItsSetting()
    {
        var line = OneErrorLine(Pcam("heatmap", "--model", f.ModelPath, "--output", _dir["out"], "--stride", "0", _dir.Path));
        Assert.Contains("--stride must be at least 1 (got 0)", line);
        Assert.DoesNotContain("HeatmapOptions", line);
        var e = Assert.Throws<ArgumentException>(() => new MLNet.Slides.Heatmap.HeatmapOptions { Stride = 0 }.Validate());
        Assert.DoesNotContain("--", e.Message);
        Assert.Contains("HeatmapOptions.Stride", e.Message);
    }

    [Fact]
    public void ACancelledHeatmapExits130AndLeavesNoSlideOutputs()
    {
        var slide = _dir["slide.png"];
        SyntheticSlides.Write(slide, 512, 0.972, SyntheticSlides.Tumour.For(512), seed: 1, pyramid: false);
        var output = _dir["results"];
        using var cancel = new CancellationTokenSource();
        cancel.Cancel(); // what Ctrl+C does to the token System.CommandLine hands the action
        var o = new StringWriter();
        var e = new StringWriter();
        var code = PcamApp.Run(["heatmap", "--model", f.ModelPath, "--output", output, slide], o, e, cancel: cancel.Token);
        Assert.Equal(130, code);
        Assert.Contains("error: cancelled.", e.ToString());
        var left = Directory.Exists(output) ? Directory.GetFiles(output, "*", SearchOption.AllDirectories) : [];
        Assert.DoesNotContain(left, p => p.EndsWith("summary.json", StringComparison.Ordinal) || p.EndsWith(".tmp", StringComparison.Ordinal));
    }
}
