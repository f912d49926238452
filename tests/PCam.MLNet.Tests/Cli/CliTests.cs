using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using Xunit;

namespace PCam.MLNet.Tests.Cli;

/// <summary>The real `pcam` commands, run in-process with captured output (in the sample-model collection, so not beside its training).</summary>
[Collection(SampleModelCollection.Name)]
public class CliTests
{
    public static (int Code, string Out, string Err) Pcam(params string[] args) => PcamWith(null, args);

    /// <summary>Runs pcam in-process with <paramref name="environment"/> as the scheduler's variables (none when null).</summary>
    public static (int Code, string Out, string Err) PcamWith(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = PcamApp.Run(args, o, e, environment: environment is null ? null : name => environment.GetValueOrDefault(name));
        return (code, o.ToString(), e.ToString());
    }

    [SkippableFact]
    public void TrainEvaluatePredictInspectRoundTrip()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var model = dir["models/cli.zip"];
        var config = dir["config.json"];
        File.WriteAllText(config, """{ "TrainingOption": { "Lbfgs": { "L2Regularization": [100] } } }""");
        // Its own cache: nothing is written into the fixture's folder, which other tests read.
        var cache = dir["cache"];
        var train = Pcam("train", "--config", config, "--data", SharedSample.H5, "--model", model,
                         "--cache-dir", cache, "--max-train-rows", "200", "--seed", "3", "--image-size", "96", "--tta", "false");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("| cli (test) |", train.Out);
        foreach (var ext in new[] { ".zip", ".metrics.json", ".config.json", ".mbconfig", ".report.md" })
            Assert.True(File.Exists(dir["models/cli" + ext]), ext);
        var resolved = JsonNode.Parse(File.ReadAllText(dir["models/cli.config.json"]))!;
        Assert.Equal(200, (long)resolved["DataSource"]!["MaxTrainRows"]!);
        Assert.Equal(3, (int)resolved["TrainingOption"]!["Seed"]!);
        Assert.False((bool)resolved["TrainingOption"]!["Tta"]!);

        var eval = Pcam("evaluate", "--model", model, "--data", SharedSample.H5, "--split", "test", "--json",
                        "--cache-dir", cache, "--max-rows", "64");
        Assert.True(eval.Code == 0, eval.Err);
        var json = JsonNode.Parse(eval.Out)!;
        Assert.Equal(64, (long)json["rows"]!);
        foreach (var key in new[] { "accuracy", "auc", "nll", "f1", "auprc", "ece" })
            Assert.InRange((double)json[key]!, 0, 1);
        // A model that learnt nothing scores 0.5.
        Assert.True((double)json["auc"]! > 0.7, $"evaluate AUC {json["auc"]}");
        var c = json["confusion"]!;
        Assert.Equal(64, (long)c["tp"]! + (long)c["fp"]! + (long)c["tn"]! + (long)c["fn"]!);

        // Eight tumour and eight normal JPEGs: each row names its file, and the tumour ones score higher on average.
        string[] Jpgs(string label) => Directory.GetFiles(Path.Combine(SharedSample.Root!, "folders", "test", label)).Order().Take(8).ToArray();
        var (tumour, normal) = (Jpgs("1"), Jpgs("0"));
        var predict = Pcam(["predict", "--model", model, .. tumour, .. normal, "--json"]);
        Assert.True(predict.Code == 0, predict.Err);
        var arr = JsonNode.Parse(predict.Out)!.AsArray();
        Assert.Equal([.. tumour, .. normal], arr.Select(a => (string)a!["input"]!));
        var p = arr.Select(a => (double)a!["probability"]!).ToArray();
        Assert.All(p, v => Assert.InRange(v, 0, 1));
        Assert.True(p[..8].Average() > p[8..].Average() + 0.1, $"tumour mean {p[..8].Average():F3}, normal mean {p[8..].Average():F3}");

        var csv = Pcam("predict", "--model", model, Path.Combine(SharedSample.H5, "camelyonpatch_level_2_split_test_x.h5.gz"), "--cache-dir", cache);
        Assert.True(csv.Code == 0, csv.Err);
        Assert.Equal(1 + 256, csv.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        var inspect = Pcam("inspect", model);
        Assert.True(inspect.Code == 0, inspect.Err);
        Assert.Contains("Image: Vector<Byte>[96x96x3]", inspect.Out);
        Assert.Contains("Probability: Single", inspect.Out);
        Assert.Contains("OnnxTransformer", inspect.Out);
        Assert.Contains("Metrics test:", inspect.Out);
    }

    [Theory]
    [InlineData("--image-size", "8", "TrainingOption.ImageSize")]
    [InlineData("--trainer", "Perceptron", "TrainingOption.Trainer")]
    [InlineData("--device", "tpu", "Environment.Device")]
    [InlineData("--model", "out.bin", "TrainingOption.ModelPath")]
    public void BadTrainOptionIsOneErrorLineAndNonZeroExit(string option, string value, string key)
    {
        var (code, stdout, err) = Pcam("train", "--config", Path.Combine(RepoPaths.Root, "mlnet.config.json"), option, value);
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains(key, line);
    }

    [Fact]
    public void BadConfigValueAndUnknownKeyAreErrors()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["bad.json"], """{ "TrainingOption": { "BatchSize": -1 } }""");
        var bad = Pcam("train", "--config", dir["bad.json"]);
        Assert.Equal(1, bad.Code);
        Assert.Contains("TrainingOption.BatchSize", bad.Err);
        File.WriteAllText(dir["unknown.json"], """{ "Environment": { "Gpu": true } }""");
        var unknown = Pcam("train", "--config", dir["unknown.json"]);
        Assert.Equal(1, unknown.Code);
        Assert.Contains("unknown key 'Environment.Gpu'", unknown.Err);
        var missing = Pcam("train", "--config", dir["nope.json"]);
        Assert.Equal(1, missing.Code);
        Assert.Contains("nope.json", missing.Err);
    }

    [Fact]
    public void UnknownOptionAndMissingRequiredOptionFail()
    {
        Assert.NotEqual(0, Pcam("train", "--no-such-option").Code);
        var eval = Pcam("evaluate", "--data", "x");
        Assert.NotEqual(0, eval.Code);
        Assert.Contains("--model", eval.Err);
    }

    [Fact]
    public void MissingDataDirectoryAndMissingModelAreClearErrors()
    {
        using var dir = new TempDir();
        var train = Pcam("train", "--config", Path.Combine(RepoPaths.Root, "mlnet.config.json"), "--data", dir["nowhere"]);
        Assert.Equal(1, train.Code);
        Assert.Contains("nowhere: data directory not found", train.Err);
        var predict = Pcam("predict", "--model", dir["missing.zip"], "x.png");
        Assert.Equal(1, predict.Code);
        Assert.Contains("missing.zip: model file not found", predict.Err);
        var empty = Pcam("train", "--config", Path.Combine(RepoPaths.Root, "mlnet.config.json"), "--data", dir.Path);
        Assert.Equal(1, empty.Code);
        Assert.Contains("no PCam data found", empty.Err);
    }

    [Fact]
    public void EveryCommandHasHelp()
    {
        foreach (var cmd in new[] { "train", "evaluate", "predict", "inspect", "download", "verify", "import", "bench", "export" })
        {
            var (code, stdout, _) = Pcam(cmd, "--help");
            Assert.Equal(0, code);
            Assert.Contains("Usage:", stdout);
        }
    }

    [SkippableFact]
    public void VerifyReportsEachSplitOfTheSample()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var dir = new TempDir();
        var (code, stdout, err) = Pcam("verify", SharedSample.H5, "--cache-dir", dir["cache"]);
        Assert.True(code == 0, err);
        Assert.Contains("train  ok  512 rows (256 tumour)", stdout);
        Assert.Contains("test   ok  256 rows", stdout);
    }
}
