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
    [InlineData("""{ "TrainingOption": { "ImageSize": 16 } }""", "TrainingOption.ImageSize")]
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
    public void ImageSizeZeroMeansTheBackbonesInputSize()
    {
        var c = PCamConfigLoader.Load(Write("""{ "TrainingOption": { "ImageSize": 0 } }"""));
        Assert.Equal(0, c.TrainingOption.ImageSize);
        Assert.Equal(224, PCam.MLNet.Featurization.BackboneConfig.ResNet18().SideFor(c.TrainingOption.ImageSize));
        Assert.Equal(96, PCam.MLNet.Featurization.BackboneConfig.ResNet18().SideFor(96));
    }

    [Fact]
    public void PartialConfigKeepsDefaultsForTheRest()
    {
        var c = PCamConfigLoader.Load(Write("""{ "TrainingOption": { "Trainer": "LightGbm", "Tta": false } }"""));
        Assert.Equal("LightGbm", c.TrainingOption.Trainer);
        Assert.False(c.TrainingOption.Tta);
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

public class ConfigDocsTests
{
    /// <summary>The configuration reference (docs/configuration.md) documents every key of mlnet.config.json.</summary>
    [Fact]
    public void ConfigurationReferenceDocumentsEveryConfigKey()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "configuration.md"));
        var json = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(new PCamConfig(), PCamConfig.JsonOptions))!;
        var missing = new List<string>();
        void Walk(System.Text.Json.Nodes.JsonNode? node, string path)
        {
            if (node is System.Text.Json.Nodes.JsonObject obj)
            {
                foreach (var (key, child) in obj) Walk(child, path.Length == 0 ? key : $"{path}.{key}");
                return;
            }
            var parent = path.Contains('.') ? path[..path.LastIndexOf('.')] : path;
            if (!readme.Contains($"`{path}`") && !readme.Contains($"`{parent}.*`")) missing.Add(path);
        }
        Walk(json, "");
        Assert.Empty(missing);
    }
}
