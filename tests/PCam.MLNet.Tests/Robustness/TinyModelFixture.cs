using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Featurization;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>
/// A complete PCam model zip trained in a few seconds: a 1x1-convolution backbone written by the tests
/// (TinyBackbones.IdentityConv, 3 features) on generated official-layout files (train 96, valid 48, test 48 rows).
/// Shared by the model-zip, command-line and fuzz tests, which need a real zip but not a real backbone.
/// </summary>
public sealed class TinyModelFixture : IDisposable
{
    public TempDir Dir { get; } = new();
    public string DataDir => Dir["data"];
    public string BackboneJson => Dir["tiny.json"];
    public string ConfigPath => Dir["tiny.config.json"];
    public string CacheDir => Dir["cache"];
    public string ModelPath => Dir["models/tiny.zip"];
    public PCamConfig Config { get; }
    public TrainingResult Result { get; }

    public TinyModelFixture()
    {
        TinyBackbones.IdentityConv(Dir["tiny.onnx"]);
        File.WriteAllText(BackboneJson, """
            { "name": "tiny", "onnxPath": "tiny.onnx", "channelOrder": "RGB", "scale": 0.00392156863,
              "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "inputSize": 64, "featureOutputs": ["maps"] }
            """);
        Directory.CreateDirectory(DataDir);
        foreach (var (split, rows, seed) in new[] { (PCamSplit.Train, 96, 1), (PCamSplit.Valid, 48, 2), (PCamSplit.Test, 48, 3) })
            PCamImporter.Write(ArraySource.Generate(rows, seed), Path.Combine(DataDir, PCamChecksums.FileStem(split, 'x') + ".h5"),
                Path.Combine(DataDir, PCamChecksums.FileStem(split, 'y') + ".h5"));
        Config = new PCamConfig();
        Config.DataSource.Directory = DataDir;
        Config.DataSource.CacheDirectory = CacheDir;
        Config.TrainingOption.Backbone = BackboneJson;
        Config.TrainingOption.ImageSize = 96;
        Config.TrainingOption.Tta = false;
        Config.TrainingOption.Lbfgs.L2Regularization = [1, 10];
        Config.TrainingOption.ModelPath = ModelPath;
        PCamConfigLoader.Save(Config, ConfigPath);
        Result = new PCamTrainer(Config, new SilentLog()).Train();
        RunArtifacts.Write(Result, Config);
    }

    public void Dispose()
    {
        Result?.Dispose(); // the ONNX sessions and the graph file ML.NET unpacked into the temp folder
        Dir.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class TinyModelCollection : ICollectionFixture<TinyModelFixture>
{
    public const string Name = "tiny model";
}
