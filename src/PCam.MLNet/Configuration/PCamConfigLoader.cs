using System.Text.Json;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Configuration;

public static class PCamConfigLoader
{
    public static readonly string[] Trainers = HeadTrainers.Names;

    /// <summary>Reads and validates a config file; unknown keys and bad values name the key.</summary>
    public static PCamConfig Load(string path)
    {
        if (!File.Exists(path)) throw new PCamConfigException($"{path}: configuration file not found.");
        PCamConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<PCamConfig>(File.ReadAllText(path), PCamConfig.JsonOptions);
        }
        catch (JsonException e)
        {
            throw new PCamConfigException($"{path}: {Describe(e)}", e);
        }
        if (config is null) throw new PCamConfigException($"{path}: the file holds no JSON object.");
        // The backbone (and the image sizes it accepts) is checked once the command line's options are applied:
        // `--backbone` or `--image-size` may replace the file's values.
        Validate(config, path, checkBackbone: false);
        return config;
    }

    public static void Save(PCamConfig config, string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(config, PCamConfig.JsonOptions) + "\n");
        File.Move(tmp, path, overwrite: true);
    }

    public static PCamConfig Clone(PCamConfig config) =>
        JsonSerializer.Deserialize<PCamConfig>(JsonSerializer.Serialize(config, PCamConfig.JsonOptions), PCamConfig.JsonOptions)!;

    // System.Text.Json says "could not be mapped" for unknown members and names the path; turn that into our words.
    private static string Describe(JsonException e)
    {
        var key = (e.Path ?? "$").TrimStart('$').TrimStart('.');
        if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var start = e.Message.IndexOf('\'');
            var end = start >= 0 ? e.Message.IndexOf('\'', start + 1) : -1;
            var name = end > start ? e.Message[(start + 1)..end] : key;
            var where = key.Length > 0 && !key.EndsWith(name, StringComparison.Ordinal) ? $"{key}.{name}" : (key.Length > 0 ? key : name);
            return $"unknown key '{where}'.";
        }
        return key.Length > 0 ? $"bad value for '{key}': {e.Message}" : e.Message;
    }

    /// <summary>Checks values; throws naming the first bad key. <paramref name="checkBackbone"/>: also resolve the backbone
    /// (a name or a small JSON file; no ONNX is loaded) and check ImageSize against the sizes it accepts.</summary>
    public static void Validate(PCamConfig c, string source = "configuration", bool checkBackbone = true)
    {
        void Fail(string key, string problem) => throw new PCamConfigException($"{source}: '{key}' {problem}");

        if (c.Scenario != "ImageClassification") Fail("Scenario", $"must be \"ImageClassification\" (got \"{c.Scenario}\").");
        if (c.DataSource is null) Fail("DataSource", "is missing.");
        if (c.Environment is null) Fail("Environment", "is missing.");
        if (c.TrainingOption is null) Fail("TrainingOption", "is missing.");
        if (c.DataSource!.Type != "PCam") Fail("DataSource.Type", $"must be \"PCam\" (got \"{c.DataSource.Type}\").");
        if (c.DataSource.MaxTrainRows is < 2) Fail("DataSource.MaxTrainRows", $"must be at least 2 or null (got {c.DataSource.MaxTrainRows}).");
        if (c.Environment!.Type is not ("LocalCPU" or "LocalGPU")) Fail("Environment.Type", $"must be \"LocalCPU\" or \"LocalGPU\" (got \"{c.Environment.Type}\").");
        try { ExecutionDevice.Parse(c.Environment.Device); }
        catch (ArgumentException) { Fail("Environment.Device", $"must be \"cpu\", \"cuda\" or \"cuda:N\" (got \"{c.Environment.Device}\")."); }
        if (c.Environment.Threads is < 1) Fail("Environment.Threads", $"must be at least 1 or null (got {c.Environment.Threads}).");

        var t = c.TrainingOption!;
        if (string.IsNullOrWhiteSpace(t.Backbone)) Fail("TrainingOption.Backbone", "must name a backbone or a backbone JSON file.");
        if (t.ImageSize != 0 && t.ImageSize is < 32 or > 1024) Fail("TrainingOption.ImageSize", $"must be 0 (the backbone's inputSize) or between 32 and 1024 (got {t.ImageSize}).");
        // The backbone is resolved now (a name, or a small JSON file: no ONNX is loaded), so a bad value is reported
        // before any data is decompressed.
        if (checkBackbone)
        {
            BackboneConfig? backbone = null;
            try { backbone = BackboneResolver.Resolve(t.Backbone); }
            catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or JsonException or PCamException)
            {
                Fail("TrainingOption.Backbone", $"(\"{t.Backbone}\"): {e.Message.ReplaceLineEndings(" ")}");
            }
            // The backbone's own size rule (patchSize / acceptedSizes), checked before any graph or data is touched.
            try { backbone!.CheckSize(backbone.SideFor(t.ImageSize)); }
            catch (PCamBackboneException e) { Fail("TrainingOption.ImageSize", $"({t.ImageSize}): {e.Message}"); }
        }
        if (!FeaturizerPrecisions.TryParse(t.Precision, out _)) Fail("TrainingOption.Precision", $"must be one of {string.Join(", ", FeaturizerPrecisions.Names)} (got \"{t.Precision}\").");
        if (t.CalibrationRows is < 1 or > 100_000) Fail("TrainingOption.CalibrationRows", $"must be between 1 and 100000 (got {t.CalibrationRows}).");
        if (!Enum.IsDefined(t.CalibrationMethod)) Fail("TrainingOption.CalibrationMethod", $"must be MinMax or Percentile (got {t.CalibrationMethod}).");
        if (!HeadTrainers.TryParse(t.Trainer, out _)) Fail("TrainingOption.Trainer", $"must be one of {string.Join(", ", Trainers)} (got \"{t.Trainer}\").");
        if (t.BatchSize is < 1 or > 4096) Fail("TrainingOption.BatchSize", $"must be between 1 and 4096 (got {t.BatchSize}).");
        if (string.IsNullOrWhiteSpace(t.ModelPath) || !t.ModelPath.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
            Fail("TrainingOption.ModelPath", $"must be a .zip path (got \"{t.ModelPath}\").");
        if (t.HeadSelection is null) Fail("TrainingOption.HeadSelection", "is missing.");
        if (t.HeadSelection!.SelectionRows < 0) Fail("TrainingOption.HeadSelection.SelectionRows", $"must be 0 (all rows) or more (got {t.HeadSelection.SelectionRows}).");
        if (t.HeadSelection.Threads is < 1) Fail("TrainingOption.HeadSelection.Threads", $"must be at least 1 or null (got {t.HeadSelection.Threads}).");
        if (!(t.HeadSelection.LbfgsTolerance is > 0 and < 1)) Fail("TrainingOption.HeadSelection.LbfgsTolerance", $"must be between 0 and 1 (got {t.HeadSelection.LbfgsTolerance}).");
        CheckLinear(t.Lbfgs, "TrainingOption.Lbfgs");
        CheckLinear(t.Sdca, "TrainingOption.Sdca");
        CheckTree(t.LightGbm, "TrainingOption.LightGbm");
        CheckTree(t.FastTree, "TrainingOption.FastTree");

        void CheckLinear(LinearHeadConfig h, string key)
        {
            if (h is null) { Fail(key, "is missing."); return; }
            if (h.L2Regularization is null || h.L2Regularization.Length == 0 || h.L2Regularization.Any(v => v < 0 || !double.IsFinite(v)))
                Fail(key + ".L2Regularization", "must be a non-empty list of values >= 0.");
            if (h.L1Regularization < 0) Fail(key + ".L1Regularization", "must be >= 0.");
        }
        void CheckTree(TreeHeadConfig h, string key)
        {
            if (h is null) { Fail(key, "is missing."); return; }
            if (h.NumberOfLeaves is null || h.NumberOfLeaves.Length == 0 || h.NumberOfLeaves.Any(v => v < 2))
                Fail(key + ".NumberOfLeaves", "must be a non-empty list of values >= 2.");
            if (h.LearningRate is <= 0 or > 1) Fail(key + ".LearningRate", $"must be in (0, 1] (got {h.LearningRate}).");
            if (h.NumberOfTrees < 1) Fail(key + ".NumberOfTrees", $"must be at least 1 (got {h.NumberOfTrees}).");
            if (h.MinimumExampleCountPerLeaf < 1) Fail(key + ".MinimumExampleCountPerLeaf", "must be at least 1.");
        }
    }

    /// <summary>The execution device the config asks for (LocalGPU with Device "cpu" means "cuda").</summary>
    public static ExecutionDevice ResolveDevice(PCamConfig c) =>
        c.Environment.Type == "LocalGPU" && c.Environment.Device == "cpu" ? ExecutionDevice.Parse("cuda") : ExecutionDevice.Parse(c.Environment.Device);
}
