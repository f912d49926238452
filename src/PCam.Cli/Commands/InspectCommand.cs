using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;
using PCam.MLNet.Vision;

namespace PCam.Cli.Commands;

internal sealed class InspectCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var model = new Argument<string>("model") { Description = "Model zip to describe." };
        model.MustBeFile("model file");
        var cmd = new Command("inspect", "Show a model zip's input/output schema, pipeline stages, and the metrics and config it was trained with.") { model };
        cli.Bind(cmd, (parse, log) =>
        {
            var path = parse.GetValue(model)!;
            var ml = new MLContext(seed: 1);
            var loaded = PCamModel.LoadMlNet(ml, path, out var input);
            using var release = PCamModel.Owner(loaded); // disposes the ONNX sessions and ML.NET's unpacked graph files
            var o = cli.Out;
            var output = loaded.GetOutputSchema(input);
            if (ImageClassifierZip.Is(output))
            {
                PrintImageClassifier(o, ImageClassifierZip.Open(path, loaded, input));
                return 0;
            }
            if (input.GetColumnOrNull(PatchSchema.ImageColumn) is not { Type: VectorDataViewType { ItemType: var item, Size: PatchSchema.ImageBytes } } || item != NumberDataViewType.Byte)
                throw PCamModel.NotAPatchModel(path);
            o.WriteLine($"Model: {path} ({new FileInfo(path).Length / 1e6:F1} MB)");
            o.WriteLine("Input:");
            foreach (var c in input) o.WriteLine($"  {c.Name}: {Describe(c.Type)}");
            o.WriteLine("Output:");
            foreach (var c in loaded.GetOutputSchema(input).Where(c => !c.IsHidden && input.GetColumnOrNull(c.Name) is null))
                o.WriteLine($"  {c.Name}: {Describe(c.Type)}");
            o.WriteLine("Pipeline:");
            var i = 0;
            foreach (var stage in Stages(loaded)) o.WriteLine($"  {++i}. {StageName(stage)}");

            var metricsPath = RunArtifacts.MetricsPath(path);
            if (File.Exists(metricsPath)) PrintMetrics(o, metricsPath, log);
            else o.WriteLine($"(no {Path.GetFileName(metricsPath)} beside the model)");
            var configPath = RunArtifacts.ConfigPath(path);
            if (File.Exists(configPath)) { o.WriteLine($"Config ({Path.GetFileName(configPath)}):"); o.WriteLine(File.ReadAllText(configPath).TrimEnd()); }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// A zip saved from the ImageClassificationTrainer drop-in: encoded image bytes in, decoded and stretched to the
    /// featurizer graph's side, features, ML.NET's multiclass scorer. Everything shown is read from the zip itself.
    /// </summary>
    private static void PrintImageClassifier(TextWriter o, ImageClassifierZip zip)
    {
        var info = new FileInfo(zip.Path);
        o.WriteLine($"Model: {zip.Path} ({info.Length / 1e6:F1} MB, {info.Length} bytes)");
        o.WriteLine($"SHA-256: {ExternalData.Sha256(zip.Path)}");
        o.WriteLine("Kind: image classification (ImageClassificationTrainer drop-in: encoded image bytes in, PredictedLabel + Score out)");
        var side = zip.ImageSide;
        o.WriteLine($"Backbone input: {(side > 0 ? $"{side}x{side}x{PatchSchema.Channels} (images are decoded and stretched to {side} px)" : "unknown")}");
        o.WriteLine($"Precision: {zip.Precision} (read from the featurizer graph's operators)");
        o.WriteLine($"Feature dimension: {(zip.FeatureDimension > 0 ? zip.FeatureDimension.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown")}");
        var classes = zip.Classes;
        o.WriteLine($"Classes ({classes.Count}): {(classes.Count > 0 ? string.Join(", ", classes) : "unknown (the label carries no key values)")}");
        o.WriteLine("Input:");
        foreach (var c in zip.InputSchema) o.WriteLine($"  {c.Name}: {Describe(c.Type)}");
        o.WriteLine("Output:");
        foreach (var c in zip.OutputSchema.Where(c => !c.IsHidden && zip.InputSchema.GetColumnOrNull(c.Name) is null && c.Name != ImageDecoding.EncodedColumn
                                                  && c.Name != ImageDecoding.OutputColumn && c.Name != FeaturizerGraph.OutputName))
            o.WriteLine($"  {c.Name}: {Describe(c.Type)}");
        o.WriteLine("Pipeline:");
        var i = 0;
        foreach (var stage in Stages(zip.Model)) o.WriteLine($"  {++i}. {StageName(stage)}");
    }

    /// <summary>The run's metrics file is informational: a damaged one is a warning naming it and its key, the model is still described.</summary>
    private static void PrintMetrics(TextWriter o, string metricsPath, ConsoleLog log)
    {
        JsonObject m;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(metricsPath)) is not JsonObject obj)
            {
                log.Warning($"{metricsPath}: not a JSON object; metrics not shown.");
                return;
            }
            m = obj;
        }
        catch (System.Text.Json.JsonException e)
        {
            log.Warning($"{metricsPath}: not valid JSON ({e.Message}); metrics not shown.");
            return;
        }
        string Text(string key, params string[] path)
        {
            JsonNode? n = m;
            foreach (var p in path) n = n is JsonObject jo ? jo[p] : null;
            return n switch
            {
                null => "n/a",
                JsonValue v when v.TryGetValue<double>(out var d) => key == "num" ? d.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : v.ToJsonString(),
                JsonValue v when v.TryGetValue<string>(out var str) => str,
                _ => n.ToJsonString(),
            };
        }
        o.WriteLine($"Backbone: {Text("", "backbone", "name")} at {Text("", "backbone", "imageSize")}px, TTA {Text("", "backbone", "tta")}, {Text("", "backbone", "featureDimension")} features");
        o.WriteLine($"Precision: {Text("", "backbone", "precision")} ({(m["backbone"]?["precisionReason"] is null ? "reason not recorded (older model)" : Text("", "backbone", "precisionReason"))})");
        o.WriteLine($"Head: {Text("", "head", "trainer")} {Text("", "head", "parameters")}");
        if (m["demoData"] is JsonValue demo && demo.TryGetValue<bool>(out var isDemo) && isDemo) o.WriteLine("Trained on the generated DEMO data (not PCam).");
        foreach (var split in new[] { "valid", "test" })
            if (m[split] is JsonObject)
                o.WriteLine($"Metrics {split}: Acc {Text("num", split, "accuracy")}  AUC {Text("num", split, "auc")}  NLL {Text("num", split, "nll")}  rows {Text("", split, "rows")}");
    }

    private static string Describe(DataViewType t) => t switch
    {
        VectorDataViewType { IsKnownSize: false } v => $"Vector<{v.ItemType.RawType.Name}>[variable]",
        VectorDataViewType v => $"Vector<{v.ItemType.RawType.Name}>[{string.Join('x', v.Dimensions)}]",
        TextDataViewType => "String",
        _ => t.RawType.Name,
    };

    private static IEnumerable<ITransformer> Stages(ITransformer t)
    {
        if (t is IEnumerable<ITransformer> chain) { foreach (var s in chain) foreach (var inner in Stages(s)) yield return inner; }
        else yield return t;
    }

    private static string StageName(ITransformer t)
    {
        var type = t.GetType();
        var name = type.IsGenericType ? type.Name[..type.Name.IndexOf('`')] : type.Name;
        if (t is ISingleFeaturePredictionTransformer<object> p) name += $" ({p.Model.GetType().Name}, features '{p.FeatureColumnName}')";
        return name;
    }
}
