using PCam.MLNet.Configuration;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Training;

/// <summary>
/// One model trained on the real sample's official-layout files (512 train, 256 valid, 256 test rows), shared by the
/// trainer, CLI and consuming-app tests. Null Result (and the skip reason) when ../shared/pcam-sample is absent.
/// </summary>
public sealed class SampleModelFixture : IDisposable
{
    public TempDir Dir { get; } = new();
    public PCamConfig? Config { get; }
    public TrainingResult? Result { get; }
    public SilentLog Log { get; } = new();
    public string CacheDir => Dir["cache"];
    public string ModelPath => Dir["models/sample.zip"];

    public SampleModelFixture()
    {
        if (SharedSample.Root is null) return;
        Config = new PCamConfig();
        Config.DataSource.Directory = SharedSample.H5;
        Config.DataSource.CacheDirectory = CacheDir;
        Config.TrainingOption.ModelPath = ModelPath;
        Config.TrainingOption.Lbfgs.L2Regularization = [10, 100];
        // Native size, one view: ~30x less featurization than the default (192 px, 8-view TTA), enough for these tests.
        Config.TrainingOption.ImageSize = 96;
        Config.TrainingOption.Tta = false;
        Result = new PCamTrainer(Config, Log).Train();
        RunArtifacts.Write(Result, Config);
    }

    public void Dispose()
    {
        Result?.Dispose(); // the ONNX sessions and the graph file ML.NET unpacked into the temp folder
        Dir.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class SampleModelCollection : ICollectionFixture<SampleModelFixture>
{
    public const string Name = "sample model";
}
