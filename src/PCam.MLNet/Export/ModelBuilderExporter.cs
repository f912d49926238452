using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Training;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Export;

/// <summary>What <see cref="ModelBuilderExporter.Export"/> wrote, and the self-check it ran.</summary>
/// <remarks>MetricsPath is null for an ImageClassificationTrainer zip, which has no training metrics beside it.</remarks>
public sealed record ModelBuilderExport(string ModelPath, string MbConfigPath, string ConfigPath, string? MetricsPath,
    string ConsumptionPath, int CheckedImages, double MaxDifference);

/// <summary>
/// `pcam export --format modelbuilder`: a model zip and its sidecars as Model Builder's files, NAME.mlnet (the same
/// featurizer, head and calibration behind Model Builder's image-classification contract), NAME.mbconfig
/// (TrainingConfig v5), NAME.config.json and NAME.metrics.json (our own facts) and NAME.consumption.cs. An
/// ImageClassificationTrainer zip (PCam.MLNet.Vision) becomes Model Builder's image scenario as its trainer produces it
/// (<see cref="ExportImageClassifier"/>).
/// </summary>
public static class ModelBuilderExporter
{
    /// <summary>Images the export scores with both the zip and the reloaded .mlnet before it reports success.</summary>
    public const int SelfCheckImages = 4;
    public const double SelfCheckTolerance = 1e-4;

    public static ModelBuilderExport Export(string zipPath, string outputDirectory, string name = "MLModel1", string? ns = null)
    {
        ns ??= "PCamModelBuilder";
        if (!IsIdentifier(name)) throw new PCamExportException($"model name '{name}': not a C# identifier (Model Builder names the class after the model).");
        if (!ns.Split('.').All(IsIdentifier)) throw new PCamExportException($"namespace '{ns}': not a C# namespace.");
        var ml = new MLContext(seed: 1);
        var zip = PCamModel.LoadMlNet(ml, zipPath, out var inputSchema);
        using var releaseZip = PCamModel.Owner(zip); // ONNX sessions and the graph file ML.NET unpacked into the temp folder
        if (ImageClassifierZip.Is(zip.GetOutputSchema(inputSchema)))
            return ExportImageClassifier(ml, ImageClassifierZip.Open(zipPath, zip, inputSchema), outputDirectory, name, ns);
        PCamModel.RequirePatchInput(zipPath, inputSchema);
        var metricsPath = RunArtifacts.MetricsPath(zipPath);
        var configPath = RunArtifacts.ConfigPath(zipPath);
        foreach (var p in new[] { metricsPath, configPath })
            if (!File.Exists(p))
                throw new PCamExportException($"{p}: not found; the export needs the metrics and config `pcam train` writes beside {zipPath}.");
        JsonNode metrics;
        try { metrics = JsonNode.Parse(File.ReadAllText(metricsPath)) ?? throw new JsonException("empty file"); }
        catch (JsonException e) { throw new PCamExportException($"{metricsPath}: not valid JSON ({e.Message}).", e); }
        var config = PCamConfigLoader.Load(configPath);

        Directory.CreateDirectory(outputDirectory);
        var stem = Path.Combine(Path.GetFullPath(outputDirectory), name);
        var mlnet = stem + ".mlnet";
        var model = ModelBuilderModel.Build(ml, zip);
        ModelBuilderModel.Save(ml, model, mlnet);
        var difference = SelfCheck(ml, zip, mlnet);

        var mbconfig = MbConfigJson(metrics, config, mlnet);
        RunArtifacts.WriteAtomically(stem + ".mbconfig", mbconfig.ToJsonString(MbConfig.JsonOptions));
        RunArtifacts.WriteAtomically(stem + ".config.json", File.ReadAllText(configPath).TrimEnd());
        RunArtifacts.WriteAtomically(stem + ".metrics.json", File.ReadAllText(metricsPath).TrimEnd());
        RunArtifacts.WriteAtomically(stem + ".consumption.cs", ConsumptionCode.Generate(ns, name).TrimEnd());
        return new(mlnet, stem + ".mbconfig", stem + ".config.json", stem + ".metrics.json", stem + ".consumption.cs", SelfCheckImages, difference);
    }

    /// <summary>The exported pipeline: Label to key, the image front, the zip's stages, then Score[2] and PredictedLabel.</summary>
    public static List<MbStage> Stages(string trainer, string backboneOnnx)
    {
        var stages = new List<MbStage>
        {
            new("MapValueToKey", new JsonObject { ["OutputColumnName"] = "Label", ["InputColumnName"] = "Label", ["AddKeyValueAnnotationsAsText"] = false }),
            new("ResizeImages", new JsonObject
            {
                ["OutputColumnName"] = ModelBuilderModel.ResizedColumn, ["InputColumnName"] = ModelBuilderModel.DecodedColumn,
                ["ImageWidth"] = PatchSchema.Width, ["ImageHeight"] = PatchSchema.Height, ["Resizing"] = "IsoCrop", ["CropAnchor"] = "Center",
            }),
            new("ExtractPixels", new JsonObject
            {
                ["OutputColumnName"] = PatchSchema.ImageColumn, ["InputColumnName"] = ModelBuilderModel.ResizedColumn,
                ["ColorsToExtract"] = "Rgb", ["OrderOfExtraction"] = "ARGB", ["InterleavePixelColors"] = true, ["OutputAsFloatArray"] = false,
            }),
        };
        stages.AddRange(MbConfig.ZipStages(trainer, backboneOnnx));
        stages.Add(new("Expression", new JsonObject { ["OutputColumnName"] = ModelBuilderModel.NegativeColumn, ["InputColumnName"] = "Probability", ["Expression"] = "p => 1 - p" }));
        stages.Add(new("Concatenate", new JsonObject { ["OutputColumnName"] = "Score", ["InputColumnNames"] = new JsonArray(ModelBuilderModel.NegativeColumn, "Probability") }));
        stages.Add(new("Expression", new JsonObject { ["OutputColumnName"] = "PredictedLabel", ["InputColumnName"] = "Probability", ["Expression"] = "p => p >= 0.5 ? \"1\" : \"0\"" }));
        return stages;
    }

    static JsonObject MbConfigJson(JsonNode metrics, PCamConfig config, string mlnetPath)
    {
        var head = metrics["head"];
        var trainer = (string?)head?["trainer"] ?? config.TrainingOption.Trainer;
        var parameters = (head?["parameters"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "") ?? [];
        var validAccuracy = (double?)metrics["valid"]?["accuracy"] ?? double.NaN;
        var seconds = (double?)metrics["seconds"]?["head"] ?? 0;
        double train = (double?)metrics["rows"]?["train"] ?? 0, valid = (double?)metrics["rows"]?["valid"] ?? 0;
        var stages = Stages(trainer, (string?)metrics["backbone"]?["onnx"] ?? "");
        return MbConfig.Build((string?)metrics["dataDirectory"] ?? "", config.Environment.Type, stages, MbConfig.TrainerIndex(stages),
            [new MbTrial(MbConfig.TrainerName(trainer), validAccuracy, seconds, parameters)], mlnetPath,
            train + valid > 0 ? valid / (train + valid) : 0, (int)Math.Ceiling((double?)metrics["seconds"]?["total"] ?? 0));
    }

    /// <summary>Scores synthetic PNG patches with the zip and with the reloaded .mlnet (fresh MLContext); they must agree.</summary>
    static double SelfCheck(MLContext ml, ITransformer zip, string mlnet)
    {
        var fresh = new MLContext(seed: 1);
        var exported = fresh.Model.Load(mlnet, out _);
        // Each engine owns its model: disposing it deletes the graph file ML.NET unpacked into the temp folder.
        using var engine = fresh.Model.CreatePredictionEngine<ModelBuilderInput, ModelBuilderOutput>(exported);
        using var zipEngine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(zip);
        var rng = new Random(7);
        double worst = 0;
        for (var i = 0; i < SelfCheckImages; i++)
        {
            var rgb = new byte[PatchSchema.ImageBytes];
            rng.NextBytes(rgb);
            var expected = zipEngine.Predict(new PatchInput { Image = rgb }).Probability;
            var o = engine.Predict(new ModelBuilderInput { ImageSource = PatchImageEncoder.EncodePng(rgb) });
            var diff = Math.Max(Math.Abs(o.Score[1] - expected), Math.Abs(o.Score[0] - (1 - expected)));
            if (!(diff <= SelfCheckTolerance) || o.PredictedLabel != (expected >= 0.5f ? "1" : "0"))
                throw new InvalidOperationException($"{mlnet}: the exported model disagrees with the zip (P {o.Score[1]:F6} vs {expected:F6}).");
            worst = Math.Max(worst, diff);
        }
        return worst;
    }

    /// <summary>
    /// An ImageClassificationTrainer zip as Model Builder's image scenario: NAME.mlnet (<see cref="ModelBuilderModel.BuildImageClassifier"/>:
    /// Model Builder's ModelInput in, its ModelOutput out), NAME.mbconfig (MapValueToKey, ImageClassificationMulti,
    /// MapKeyToValue), NAME.config.json (what the zip records: classes, backbone input, precision, columns) and
    /// NAME.consumption.cs. The zip records no training run, so the .mbconfig's data folder is empty and its trial's
    /// score, run time, split ratio and training time are 0; NAME.config.json lists what is not recorded.
    /// The .mlnet gets its name only after the self-check has passed.
    /// </summary>
    static ModelBuilderExport ExportImageClassifier(MLContext ml, ImageClassifierZip zip, string outputDirectory, string name, string ns)
    {
        if (zip.Classes.Count < 2)
            throw new PCamExportException($"{zip.Path}: the label's key values are not text class names, so PredictedLabel cannot be written as Model Builder's string; " +
                                          "train with the label mapped by MapValueToKey from a text column.");
        Directory.CreateDirectory(outputDirectory);
        var stem = Path.Combine(Path.GetFullPath(outputDirectory), name);
        var mlnet = stem + ".mlnet";
        var staged = Path.Combine(Path.GetFullPath(outputDirectory), $".{name}.mlnet.{Environment.ProcessId}.unverified");
        double difference;
        try
        {
            var model = ModelBuilderModel.BuildImageClassifier(ml, zip); // holds the zip's own steps: released with the zip
            ModelBuilderModel.Save(model, ml.Data.LoadFromEnumerable(Array.Empty<ModelBuilderImageInput>()).Schema, ml, staged);
            difference = SelfCheckImageClassifier(ml, zip, staged, mlnet);
            File.Move(staged, mlnet, overwrite: true);
        }
        finally
        {
            if (File.Exists(staged)) File.Delete(staged);
        }

        var stages = MbConfig.ImageClassificationStages();
        var mbconfig = MbConfig.Build("", "LocalCPU", stages, 1, [new MbTrial(MbConfig.ImageClassificationTrainer, 0, 0, new Dictionary<string, string>())],
            mlnet, 0, 0);
        RunArtifacts.WriteAtomically(stem + ".mbconfig", mbconfig.ToJsonString(MbConfig.JsonOptions));
        RunArtifacts.WriteAtomically(stem + ".config.json", ImageClassifierFacts(zip).ToJsonString(MbConfig.JsonOptions));
        RunArtifacts.WriteAtomically(stem + ".consumption.cs", ConsumptionCode.GenerateImageClassifier(ns, name, zip.Classes).TrimEnd());
        return new(mlnet, stem + ".mbconfig", stem + ".config.json", null, stem + ".consumption.cs", SelfCheckImages, difference);
    }

    /// <summary>NAME.config.json of an ImageClassificationTrainer export: what the zip records, and what it does not.</summary>
    static JsonObject ImageClassifierFacts(ImageClassifierZip zip)
    {
        return new JsonObject
        {
            ["kind"] = "ImageClassificationTrainer",
            ["model"] = Path.GetFileName(zip.Path),
            ["modelSha256"] = ExternalData.Sha256(zip.Path),
            ["classes"] = new JsonArray(zip.Classes.Select(c => (JsonNode)c).ToArray()),
            ["backbone"] = new JsonObject
            {
                ["imageSize"] = zip.ImageSide, ["featureDimension"] = zip.FeatureDimension, ["precision"] = zip.Precision,
                ["resize"] = $"decoded (PNG, JPEG, BMP, GIF, WebP, TIFF) and stretched to {zip.ImageSide}x{zip.ImageSide} RGB, bilinear with half-pixel centres; aspect ratio not kept, nothing cropped",
            },
            ["zipColumns"] = new JsonObject
            {
                ["input"] = new JsonArray(zip.InputSchema.Select(c => (JsonNode)c.Name).ToArray()),
                ["score"] = zip.ScoreColumn, ["predictedLabel"] = zip.PredictedLabelColumn,
            },
            ["notRecorded"] = new JsonArray("architecture name", "Epoch", "BatchSize", "LearningRate", "training data folder", "validation accuracy", "training time"),
        };
    }

    /// <summary>
    /// Scores generated PNGs of several sizes with the zip's own steps and with the staged .mlnet reloaded in a fresh
    /// MLContext through Model Builder's ModelInput/ModelOutput: every probability within the tolerance, the same class names.
    /// </summary>
    static double SelfCheckImageClassifier(MLContext ml, ImageClassifierZip zip, string staged, string mlnet)
    {
        var images = SelfCheckPngs(SelfCheckImages);
        var expected = zip.Score(ml, images);
        var fresh = new MLContext(seed: 1);
        ITransformer exported;
        try { exported = fresh.Model.Load(staged, out _); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new PCamExportException($"{mlnet}: the exported model does not load back ({e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}); nothing was written.", e);
        }
        using var engine = fresh.Model.CreatePredictionEngine<ModelBuilderImageInput, ModelBuilderOutput>(exported); // disposes the model
        double worst = 0;
        for (var i = 0; i < images.Count; i++)
        {
            var o = engine.Predict(new ModelBuilderImageInput { ImageSource = images[i] });
            var (score, predicted) = expected[i];
            var diff = o.Score.Length == score.Length ? score.Select((p, c) => (double)Math.Abs(p - o.Score[c])).Max() : double.PositiveInfinity;
            if (!(diff <= SelfCheckTolerance) || o.PredictedLabel != predicted)
                throw new PCamExportException($"{mlnet}: the exported model disagrees with the zip on a self-check image (PredictedLabel '{o.PredictedLabel}' vs " +
                                              $"'{predicted}', max |dScore| {diff:G3}); nothing was written (this is a bug in PCam.MLNet: please report it).");
            worst = Math.Max(worst, diff);
        }
        return worst;
    }

    /// <summary>Generated PNGs of different sizes (gradients with noise), the same on every run, for the self-checks.</summary>
    internal static List<byte[]> SelfCheckPngs(int count)
    {
        var rng = new Random(7);
        return Enumerable.Range(0, count).Select(i =>
        {
            int w = 40 + 37 * i, h = 120 - 19 * i;
            var rgb = new byte[w * h * 3];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                        rgb[(y * w + x) * 3 + c] = (byte)Math.Clamp((c + 1) * (x * 97 / w + y * 61 / h) + rng.Next(-40, 41), 0, 255);
            return PatchImageEncoder.EncodePng(rgb, w, h);
        }).ToList();
    }

    static bool IsIdentifier(string s) =>
        s.Length > 0 && (char.IsLetter(s[0]) || s[0] == '_') && s.All(c => char.IsLetterOrDigit(c) || c == '_');
}
