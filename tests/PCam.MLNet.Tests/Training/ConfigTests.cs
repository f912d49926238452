using PCam.MLNet.Configuration;
using Xunit;

namespace PCam.MLNet.Tests.Training;

public class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pcam-config-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string json)
    {
        var p = Path.Combine(_dir, "c.json");
        File.WriteAllText(p, json);
        return p;
    }

    [Fact]
    public void RepositoryConfigLoadsAndEqualsTheBuiltInDefaults()
    {
        var path = Path.Combine(RepoPaths.Root, "mlnet.config.json");
        var loaded = PCamConfigLoader.Load(path);
        var defaults = new PCamConfig();
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(defaults, PCamConfig.JsonOptions),
                     System.Text.Json.JsonSerializer.Serialize(loaded, PCamConfig.JsonOptions));
    }

    [Fact]
    public void UnknownKeyIsAnErrorNamingTheKey()
    {
        var e = Assert.Throws<PCamConfigException>(() => PCamConfigLoader.Load(Write("""{ "TrainingOption": { "ImageSise": 96 } }""")));
        Assert.Contains("ImageSise", e.Message);
        Assert.Contains("unknown key", e.Message);
        Assert.Contains("c.json", e.Message);
    }

    [Theory]
    [InlineData("""{ "TrainingOption": { "ImageSize": 0 } }""", "TrainingOption.ImageSize")]
    [InlineData("""{ "TrainingOption": { "Trainer": "Perceptron" } }""", "TrainingOption.Trainer")]
    [InlineData("""{ "Environment": { "Device": "tpu" } }""", "Environment.Device")]
    [InlineData("""{ "Environment": { "Type": "Cloud" } }""", "Environment.Type")]
    [InlineData("""{ "TrainingOption": { "Lbfgs": { "L2Regularization": [] } } }""", "TrainingOption.Lbfgs.L2Regularization")]
    [InlineData("""{ "TrainingOption": { "ModelPath": "model.bin" } }""", "TrainingOption.ModelPath")]
    [InlineData("""{ "DataSource": { "MaxTrainRows": 1 } }""", "DataSource.MaxTrainRows")]
    [InlineData("""{ "TrainingOption": { "ImageSize": "big" } }""", "TrainingOption.ImageSize")]
    public void BadValueIsAnErrorNamingTheKey(string json, string key)
    {
        var e = Assert.Throws<PCamConfigException>(() => PCamConfigLoader.Load(Write(json)));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void PartialConfigKeepsDefaultsForTheRest()
    {
        var c = PCamConfigLoader.Load(Write("""{ "TrainingOption": { "Trainer": "LightGbm", "Tta": true } }"""));
        Assert.Equal("LightGbm", c.TrainingOption.Trainer);
        Assert.True(c.TrainingOption.Tta);
        Assert.Equal(new PCamConfig().TrainingOption.ImageSize, c.TrainingOption.ImageSize);
        Assert.Equal("LocalCPU", c.Environment.Type);
    }

    [Fact]
    public void MissingFileIsAnError()
    {
        var e = Assert.Throws<PCamConfigException>(() => PCamConfigLoader.Load(Path.Combine(_dir, "nope.json")));
        Assert.Contains("nope.json", e.Message);
    }
}
