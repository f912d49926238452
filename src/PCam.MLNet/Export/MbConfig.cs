using System.Text.Json.Nodes;
using PCam.MLNet.Configuration;

namespace PCam.MLNet.Export;

/// <summary>One estimator of the pipeline as Model Builder records it: an ML.NET estimator name and its arguments.</summary>
public sealed record MbStage(string Estimator, JsonObject Arguments);

/// <summary>One trial: the trainer's Model Builder name (e.g. LbfgsLogisticRegressionBinary), its validation accuracy, time and parameters.</summary>
public sealed record MbTrial(string TrainerName, double ValidAccuracy, double Seconds, IReadOnlyDictionary<string, string> Parameters);

/// <summary>
/// Model Builder's TrainingConfig version 5 for an image-classification run, in the shape of the .mbconfig files Model
/// Builder writes (Scenario, DataSource Folder v1, Environment v1, RunHistory v3 with `_SCHEMA_`/`Estimators` pipeline
/// trials scored by MicroAccuracy, TrainingOption ClassificationTrainingOption v2 with a TrainValidateSplit validation
/// option). Only keys Model Builder knows; our own facts go to NAME.config.json and NAME.metrics.json.
/// </summary>
public static class MbConfig
{
    public const string MetricName = "MicroAccuracy";

    /// <summary>Indented, and `=>`, `>=` and quotes written as they are (as Model Builder writes its files), not \u-escaped.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <param name="folderPath">The image folder (or data folder) the model was trained from.</param>
    /// <param name="environmentType">LocalCPU or LocalGPU.</param>
    /// <param name="pipeline">The estimators in order; the one at <paramref name="trainerStage"/> takes each trial's parameters.</param>
    /// <param name="splitRatio">Fraction of the labelled rows held out for validation (valid / (train + valid)).</param>
    /// <param name="trainingSeconds">The run's training time in whole seconds (Model Builder's TrainingTime budget).</param>
    public static JsonObject Build(string folderPath, string environmentType, IReadOnlyList<MbStage> pipeline, int trainerStage,
        IReadOnlyList<MbTrial> trials, string modelFilePath, double splitRatio, int trainingSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainerStage);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(trainerStage, pipeline.Count);
        var schema = string.Join(" * ", pipeline.Select((_, i) => $"e{i}"));
        var estimators = new JsonObject();
        for (var i = 0; i < pipeline.Count; i++) estimators[$"e{i}"] = pipeline[i].Estimator;

        return new JsonObject
        {
            ["Scenario"] = "ImageClassification",
            ["DataSource"] = new JsonObject { ["Type"] = "Folder", ["Version"] = 1, ["FolderPath"] = folderPath },
            ["Environment"] = new JsonObject { ["Type"] = environmentType, ["Version"] = 1 },
            ["RunHistory"] = new JsonObject
            {
                ["Version"] = 3,
                ["Type"] = "Result",
                ["Trials"] = new JsonArray(trials.Select(t => (JsonNode)new JsonObject
                {
                    ["Version"] = 1, ["Type"] = "Trial", ["TrainerName"] = t.TrainerName,
                    ["Score"] = Math.Round(t.ValidAccuracy, 6), ["RuntimeInSeconds"] = Math.Round(t.Seconds, 3),
                    ["Parameter"] = Parameter(schema, pipeline, trainerStage, t),
                }).ToArray()),
                ["Estimators"] = estimators,
                ["Schema"] = schema,
                ["MetricName"] = MetricName,
                ["ModelFilePath"] = modelFilePath,
            },
            ["Type"] = "TrainingConfig",
            ["Version"] = 5,
            ["TrainingOption"] = new JsonObject
            {
                ["Version"] = 2,
                ["Subsampling"] = false,
                ["Type"] = "ClassificationTrainingOption",
                ["TrainingTime"] = trainingSeconds,
                ["OptimizeMetric"] = MetricName,
                ["ValidationOption"] = new JsonObject
                {
                    ["Version"] = 0, ["Type"] = "TrainValidateSplitValidationOption", ["SplitRatio"] = Math.Round(splitRatio, 4),
                },
            },
        };
    }

    private static JsonObject Parameter(string schema, IReadOnlyList<MbStage> pipeline, int trainerStage, MbTrial trial)
    {
        var p = new JsonObject { ["_SCHEMA_"] = schema };
        for (var i = 0; i < pipeline.Count; i++)
        {
            var args = (JsonObject)pipeline[i].Arguments.DeepClone();
            if (i == trainerStage)
                foreach (var (key, value) in trial.Parameters) args[key] = Value(value);
            p[$"e{i}"] = args;
        }
        return p;
    }

    // Numbers stay numbers (as Model Builder writes them); anything else is a string.
    private static JsonNode Value(string s) =>
        double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d)
            ? JsonValue.Create(d) : JsonValue.Create(s);

    /// <summary>ML.NET's binary trainer name (catalog name + task suffix, as AutoML and Model Builder name them).</summary>
    public static string TrainerName(string configTrainer) => configTrainer + "Binary";

    /// <summary>Pipeline estimators of a PCam model zip from its Image column on (featurizer, head, calibration, decision).</summary>
    public static List<MbStage> ZipStages(string trainer, string backboneOnnx)
    {
        var stages = new List<MbStage>
        {
            new("ApplyOnnxModel", new JsonObject { ["OutputColumnName"] = "Features", ["InputColumnName"] = "Image", ["ModelFile"] = backboneOnnx }),
            // PCamModel.FeatureShape: the ONNX output typed [1,D] becomes the flat [D] vector the head was trained on.
            new("Expression", new JsonObject { ["OutputColumnName"] = "Features", ["InputColumnName"] = "Features", ["Expression"] = "x => x" }),
        };
        if (HeadTrainers.TryParse(trainer, out var kind) && kind.IsLinear())
            stages.Add(new("NormalizeMeanVariance", new JsonObject { ["OutputColumnName"] = "Features", ["InputColumnName"] = "Features" }));
        stages.Add(new(TrainerName(trainer), new JsonObject { ["LabelColumnName"] = "Label", ["FeatureColumnName"] = "Features" }));
        stages.Add(new("Platt", new JsonObject { ["LabelColumnName"] = "Label", ["ScoreColumnName"] = "Score" }));
        stages.Add(new("Expression", new JsonObject
        {
            ["OutputColumnName"] = "PredictedLabel", ["InputColumnName"] = "Probability", ["Expression"] = "p => p >= 0.5",
        }));
        return stages;
    }

    /// <summary>ML.NET's image-classification trainer as Model Builder names it in a trial and in Estimators.</summary>
    public const string ImageClassificationTrainer = "ImageClassificationMulti";

    /// <summary>
    /// The pipeline Model Builder's image scenario records: MapValueToKey on Label, ImageClassificationMulti on
    /// ImageSource, MapKeyToValue on PredictedLabel. The trainer's arguments are the columns only: an
    /// ImageClassificationTrainer zip does not record Arch, Epoch or BatchSize.
    /// </summary>
    public static List<MbStage> ImageClassificationStages() =>
    [
        new("MapValueToKey", new JsonObject { ["OutputColumnName"] = "Label", ["InputColumnName"] = "Label", ["AddKeyValueAnnotationsAsText"] = false }),
        new(ImageClassificationTrainer, new JsonObject { ["LabelColumnName"] = "Label", ["ScoreColumnName"] = "Score", ["FeatureColumnName"] = "ImageSource" }),
        new("MapKeyToValue", new JsonObject { ["OutputColumnName"] = "PredictedLabel", ["InputColumnName"] = "PredictedLabel" }),
    ];

    /// <summary>The index of the trainer in <see cref="ZipStages"/>.</summary>
    public static int TrainerIndex(IReadOnlyList<MbStage> stages) =>
        stages.Select((s, i) => (s, i)).First(x => x.s.Estimator.EndsWith("Binary", StringComparison.Ordinal)).i;
}
