using System.Text.Json.Nodes;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Export;

/// <summary>Our .mbconfig files against the skeleton of a real Model Builder image-classification file (Fixtures/README.md).</summary>
[Collection(SampleModelCollection.Name)]
public class MbConfigTests(SampleModelFixture f)
{
    static readonly JsonNode Skeleton = JsonNode.Parse(File.ReadAllText(
        Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Export", "Fixtures", "mbconfig-v5-image-classification.skeleton.json")))!;

    /// <summary>Every difference from the skeleton, as "path: problem" lines (empty = same shape).</summary>
    internal static List<string> Differences(JsonNode? skeleton, JsonNode? actual, string path = "$")
    {
        var problems = new List<string>();
        switch (skeleton)
        {
            case JsonObject s when actual is JsonObject a:
                foreach (var key in s.Select(kv => kv.Key).Except(a.Select(kv => kv.Key))) problems.Add($"{path}.{key}: missing");
                foreach (var key in a.Select(kv => kv.Key).Except(s.Select(kv => kv.Key))) problems.Add($"{path}.{key}: not a Model Builder key");
                foreach (var (key, value) in s)
                    if (a.ContainsKey(key)) problems.AddRange(Differences(value, a[key], $"{path}.{key}"));
                break;
            case JsonArray s when actual is JsonArray a:
                if (a.Count == 0) problems.Add($"{path}: empty");
                for (var i = 0; i < a.Count; i++) problems.AddRange(Differences(s[0], a[i], $"{path}[{i}]"));
                break;
            case JsonValue s when s.TryGetValue(out string? placeholder) && placeholder is "<string>" or "<number>" or "<bool>" or "<pipeline>":
                var kind = actual?.GetValueKind();
                var ok = placeholder switch
                {
                    "<string>" => kind == System.Text.Json.JsonValueKind.String,
                    "<number>" => kind == System.Text.Json.JsonValueKind.Number,
                    "<bool>" => kind is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False,
                    _ => actual is not null,
                };
                if (!ok) problems.Add($"{path}: expected {placeholder}, got {actual?.ToJsonString() ?? "nothing"}");
                break;
            default:
                if (!JsonNode.DeepEquals(skeleton, actual)) problems.Add($"{path}: expected {skeleton?.ToJsonString()}, got {actual?.ToJsonString() ?? "nothing"}");
                break;
        }
        return problems;
    }

    /// <summary>The pipeline form: Schema "e0 * e1 * ...", Estimators e0..eN, each trial's Parameter with _SCHEMA_ and e0..eN objects.</summary>
    internal static List<string> PipelineDifferences(JsonNode mb)
    {
        var problems = new List<string>();
        var history = mb["RunHistory"]!;
        var schema = (string?)history["Schema"] ?? "";
        var names = schema.Split(" * ");
        if (names.Length == 0 || names.Where((n, i) => n != $"e{i}").Any()) problems.Add($"Schema '{schema}' is not 'e0 * e1 * ...'");
        var estimators = history["Estimators"] as JsonObject;
        if (estimators is null || !estimators.Select(kv => kv.Key).SequenceEqual(names)) problems.Add("Estimators keys differ from Schema");
        else if (estimators.Any(kv => kv.Value?.GetValueKind() != System.Text.Json.JsonValueKind.String || ((string)kv.Value!).Length == 0))
            problems.Add("an Estimators entry is not an estimator name");
        foreach (var trial in history["Trials"]!.AsArray())
        {
            var p = trial!["Parameter"] as JsonObject;
            if (p is null) { problems.Add("a trial has no Parameter object"); continue; }
            if ((string?)p["_SCHEMA_"] != schema) problems.Add($"Parameter._SCHEMA_ '{p["_SCHEMA_"]}' != Schema '{schema}'");
            foreach (var n in names)
                if (p[n] is not JsonObject) problems.Add($"Parameter.{n} is not an object");
            if (p.Count != names.Length + 1) problems.Add("Parameter has keys outside _SCHEMA_ and the pipeline");
            if (estimators is not null && estimators.All(kv => (string?)kv.Value != (string?)trial["TrainerName"]))
                problems.Add($"TrainerName '{trial["TrainerName"]}' is not one of the pipeline's estimators");
        }
        return problems;
    }

    [Fact]
    public void TheSkeletonRejectsTheOldShapeWeUsedToWrite()
    {
        // The shape written before this fix: DataSource version 3, ImageClassificationTrainingOption version 0, no Estimators.
        var old = JsonNode.Parse("""
            { "Scenario": "ImageClassification", "DataSource": { "Version": 3, "Type": "Folder", "FolderPath": "/d", "Format": "Hdf5" },
              "Environment": { "Version": 1, "Type": "LocalCPU", "Device": "cpu" },
              "RunHistory": { "Version": 3, "Type": "Result", "Trials": [ { "Version": 1, "Type": "Trial", "TrainerName": "LbfgsLogisticRegression",
                "Score": 0.3, "RuntimeInSeconds": 1.0, "Parameter": { "L2Regularization": "10" } } ], "MetricName": "NLL", "ModelFilePath": "/m.zip" },
              "Type": "TrainingConfig", "Version": 5,
              "TrainingOption": { "Version": 0, "Type": "ImageClassificationTrainingOption", "LabelColumn": "Label",
                "ValidationOption": { "Version": 0, "Type": "ValidationSplitValidationOption", "Split": "valid" } } }
            """)!;
        var problems = Differences(Skeleton, old);
        Assert.Contains("$.DataSource.Version: expected 1, got 3", problems);
        Assert.Contains("$.TrainingOption.Type: expected \"ClassificationTrainingOption\", got \"ImageClassificationTrainingOption\"", problems);
        Assert.Contains("$.RunHistory.Estimators: missing", problems);
        Assert.Contains("$.RunHistory.MetricName: expected \"MicroAccuracy\", got \"NLL\"", problems);
    }

    [Fact]
    public void BuiltConfigMatchesTheRealSkeletonAndPipelineForm()
    {
        var stages = ModelBuilderExporter.Stages("LbfgsLogisticRegression", "resnet18.onnx");
        var mb = MbConfig.Build("/data", "LocalCPU", stages, MbConfig.TrainerIndex(stages),
            [new MbTrial("LbfgsLogisticRegressionBinary", 0.875, 12.5, new Dictionary<string, string> { ["L2Regularization"] = "100" })],
            "/out/MLModel1.mlnet", 0.13, 60);
        Assert.Empty(Differences(Skeleton, mb));
        Assert.Empty(PipelineDifferences(mb));
        Assert.Equal("MapValueToKey", (string)mb["RunHistory"]!["Estimators"]!["e0"]!);
        var trainer = MbConfig.TrainerIndex(stages);
        Assert.Equal(100.0, (double)mb["RunHistory"]!["Trials"]![0]!["Parameter"]![$"e{trainer}"]!["L2Regularization"]!);
        Assert.Equal(0.875, (double)mb["RunHistory"]!["Trials"]![0]!["Score"]!);
    }

    [SkippableFact]
    public void TrainWritesTheRealShapeWithOneTrialPerHeadCandidate()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        var mb = JsonNode.Parse(File.ReadAllText(RunArtifacts.MbConfigPath(f.ModelPath)))!;
        Assert.Empty(Differences(Skeleton, mb));
        Assert.Empty(PipelineDifferences(mb));
        var trials = mb["RunHistory"]!["Trials"]!.AsArray();
        Assert.Equal(f.Result!.Head.Trials.Count, trials.Count);
        Assert.All(trials, t => Assert.Equal("LbfgsLogisticRegressionBinary", (string)t!["TrainerName"]!));
        Assert.Equal(f.Result.Head.Trials.Select(t => Math.Round(t.Valid.Accuracy, 6)), trials.Select(t => (double)t!["Score"]!));
        Assert.Equal(Path.GetFullPath(f.ModelPath), (string)mb["RunHistory"]!["ModelFilePath"]!);
    }
}
