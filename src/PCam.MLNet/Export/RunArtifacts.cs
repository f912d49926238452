using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Configuration;
using PCam.MLNet.Featurization;
using PCam.MLNet.Data;
using PCam.MLNet.Reporting;
using PCam.MLNet.Training;

namespace PCam.MLNet.Export;

/// <summary>The files written beside a model zip: NAME.metrics.json, NAME.config.json, NAME.mbconfig, NAME.report.md.</summary>
public static class RunArtifacts
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Stem(string modelPath) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!,
        Path.GetFileNameWithoutExtension(modelPath));

    public static string MetricsPath(string modelPath) => Stem(modelPath) + ".metrics.json";
    public static string ConfigPath(string modelPath) => Stem(modelPath) + ".config.json";
    public static string MbConfigPath(string modelPath) => Stem(modelPath) + ".mbconfig";

    // JSON has no NaN or infinity (e.g. AUC of a one-class split): such values are written as null.
    private static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    public static JsonObject MetricsJson(SplitMetrics m) => new()
    {
        ["rows"] = m.Rows, ["accuracy"] = Num(m.Accuracy), ["auc"] = Num(m.Auc), ["nll"] = Num(m.Nll), ["f1"] = Num(m.F1),
        ["precision"] = Num(m.Precision), ["recall"] = Num(m.Recall), ["auprc"] = Num(m.Auprc), ["ece"] = Num(m.Ece),
        ["confusion"] = new JsonObject { ["tp"] = m.TruePositives, ["fp"] = m.FalsePositives, ["tn"] = m.TrueNegatives, ["fn"] = m.FalseNegatives },
    };

    public static void Write(TrainingResult r, PCamConfig config)
    {
        var readTestPatch = r.TestData is null ? null : PatchReader(r.TestData);
        var name = Path.GetFileNameWithoutExtension(r.ModelPath);
        var metrics = new JsonObject
        {
            ["model"] = name,
            ["demoData"] = r.DemoData,
            ["dataDirectory"] = r.DataDirectory,
            ["nllUnit"] = "nats",
            ["backbone"] = new JsonObject
            {
                ["name"] = r.Backbone.Name, ["onnx"] = r.Backbone.OnnxPath, ["imageSize"] = r.Graph.ImageSize,
                ["tta"] = config.TrainingOption.Tta, ["ttaTrain"] = config.TrainingOption.Tta && config.TrainingOption.TtaTrain,
                ["featureDimension"] = r.Graph.FeatureDimension, ["fingerprint"] = r.Graph.Fingerprint,
                ["precision"] = r.Graph.Precision.Name(), ["precisionReason"] = r.PrecisionReason, ["calibration"] = r.Graph.Calibration?.Describe(),
            },
            ["head"] = new JsonObject
            {
                ["trainer"] = r.Head.Best.Trainer,
                ["parameters"] = new JsonObject(r.Head.Best.Parameters.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["calibration"] = "Platt, fitted on valid",
            },
            ["device"] = r.Device,
            ["rows"] = new JsonObject(r.Rows.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["seconds"] = new JsonObject(r.Seconds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 2)))),
            ["valid"] = MetricsJson(r.Valid),
        };
        if (r.Test is not null) metrics["test"] = MetricsJson(r.Test);
        WriteAtomically(MetricsPath(r.ModelPath), metrics.ToJsonString(Indented));
        WriteAtomically(ConfigPath(r.ModelPath), JsonSerializer.Serialize(config, PCamConfig.JsonOptions));
        WriteAtomically(MbConfigPath(r.ModelPath), MbConfig(r, config).ToJsonString(Export.MbConfig.JsonOptions));

        if (r.Test is not null && r.TestRows is not null && readTestPatch is not null)
        {
            ReportWriter.Write(new ReportInput
            {
                ModelName = name, Metrics = r.Test, Rows = r.TestRows, ReadPatch = readTestPatch, OtherSplits = [r.Valid],
                RunDetails =
                [
                    $"Data: {r.DataDirectory}{(r.DemoData ? " (generated DEMO data, not PCam)" : "")}; rows train {r.Rows["train"]:N0}, valid {r.Rows["valid"]:N0}, test {r.Rows["test"]:N0}",
                    $"Backbone: {r.Backbone.Name} at {r.Graph.ImageSize}px{PCamTrainer.TtaText(config.TrainingOption)}, {r.Graph.Precision.Name()}{(r.Graph.Calibration is { } cal ? $" ({cal.Describe()})" : "")}, {r.Graph.FeatureDimension} features, {r.Device}",
                    $"Head: {r.Head.Best.Trainer} ({HeadTrainer.Describe(r.Head.Best.Parameters)}), Platt calibration on valid",
                    $"Time: {string.Join(", ", r.Seconds.Select(kv => $"{kv.Key} {kv.Value:F1} s"))}",
                ],
            }, Path.GetDirectoryName(Path.GetFullPath(r.ModelPath))!);
        }
    }

    /// <summary>
    /// The run as Model Builder's TrainingConfig v5 (see <see cref="Export.MbConfig"/>): one trial per head candidate,
    /// scored by validation accuracy (MicroAccuracy), pipeline from the zip's Image column on.
    /// </summary>
    public static JsonObject MbConfig(TrainingResult r, PCamConfig config)
    {
        var stages = Export.MbConfig.ZipStages(config.TrainingOption.Trainer, r.Backbone.OnnxPath);
        var trials = r.Head.Trials.Select(t => new Export.MbTrial(Export.MbConfig.TrainerName(t.Trainer), t.Valid.Accuracy, t.Seconds, t.Parameters)).ToList();
        double train = r.Rows.GetValueOrDefault("train"), valid = r.Rows.GetValueOrDefault("valid");
        return Export.MbConfig.Build(Path.GetFullPath(r.DataDirectory), config.Environment.Type, stages, Export.MbConfig.TrainerIndex(stages),
            trials, Path.GetFullPath(r.ModelPath), train + valid > 0 ? valid / (train + valid) : 0,
            (int)Math.Ceiling(r.Seconds.GetValueOrDefault("total")));
    }

    /// <summary>Reads a patch by its Index (patch identity) from a view, for the report's gallery.</summary>
    public static Action<long, byte[]> PatchReader(PatchDataView data)
    {
        var source = data.Source;
        var rowOf = new Dictionary<long, long>();
        foreach (var row in data.Rows ?? (IEnumerable<long>)LongRange(source.RowCount)) rowOf.TryAdd(source.GetIndex(row), row);
        return (index, buffer) => source.ReadImages(rowOf[index], 1, buffer);
    }

    private static IEnumerable<long> LongRange(long n) { for (long i = 0; i < n; i++) yield return i; }

    /// <summary>Writes a text file with a final newline through a temp file and a rename (<see cref="AtomicFile"/>).</summary>
    public static void WriteAtomically(string path, string text) => AtomicFile.WriteAllText(path, text + "\n");
}
