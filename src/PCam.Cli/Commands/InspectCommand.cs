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
            if (output.GetColumnOrNull(ImageDecoding.EncodedColumn) is not null)
            {
                PrintImageClassifier(o, path, loaded, input, output);
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
    private static void PrintImageClassifier(TextWriter o, string path, ITransformer model, DataViewSchema input, DataViewSchema output)
    {
        var info = new FileInfo(path);
        string sha;
        using (var s = File.OpenRead(path)) sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(s));
        o.WriteLine($"Model: {path} ({info.Length / 1e6:F1} MB, {info.Length} bytes)");
        o.WriteLine($"SHA-256: {sha}");
        o.WriteLine("Kind: image classification (ImageClassificationTrainer drop-in: encoded image bytes in, PredictedLabel + Score out)");
        var decoded = output.GetColumnOrNull(ImageDecoding.OutputColumn)?.Type as VectorDataViewType;
        var side = decoded is { Size: > 0 } ? (int)Math.Round(Math.Sqrt(decoded.Size / (double)PatchSchema.Channels)) : 0;
        o.WriteLine($"Backbone input: {(side > 0 ? $"{side}x{side}x{PatchSchema.Channels} (images are decoded and stretched to {side} px)" : "unknown")}");
        o.WriteLine($"Precision: {(ZipHoldsQuantizedGraph(path) ? "int8" : "fp32")} (read from the featurizer graph's operators)");
        var features = output.GetColumnOrNull(FeaturizerGraph.OutputName)?.Type as VectorDataViewType;
        o.WriteLine($"Feature dimension: {(features is { Size: > 0 } ? features.Size.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown")}");
        var classes = Classes(output);
        o.WriteLine($"Classes ({classes.Count}): {(classes.Count > 0 ? string.Join(", ", classes) : "unknown (the label carries no key values)")}");
        o.WriteLine("Input:");
        foreach (var c in input) o.WriteLine($"  {c.Name}: {Describe(c.Type)}");
        o.WriteLine("Output:");
        foreach (var c in output.Where(c => !c.IsHidden && input.GetColumnOrNull(c.Name) is null && c.Name != ImageDecoding.EncodedColumn
                                            && c.Name != ImageDecoding.OutputColumn && c.Name != FeaturizerGraph.OutputName))
            o.WriteLine($"  {c.Name}: {Describe(c.Type)}");
        o.WriteLine("Pipeline:");
        var i = 0;
        foreach (var stage in Stages(model)) o.WriteLine($"  {++i}. {StageName(stage)}");
    }

    /// <summary>The class names: the key values of the last key-typed column that carries them (the scorer's PredictedLabel).</summary>
    private static List<string> Classes(DataViewSchema output)
    {
        for (var i = output.Count - 1; i >= 0; i--)
        {
            var c = output[i];
            if (c.Type is not KeyDataViewType || c.Annotations.Schema.GetColumnOrNull("KeyValues") is not { } kv) continue;
            if (kv.Type is not VectorDataViewType { ItemType: TextDataViewType }) continue;
            VBuffer<ReadOnlyMemory<char>> values = default;
            c.Annotations.GetValue("KeyValues", ref values);
            return values.DenseValues().Select(v => v.ToString()).ToList();
        }
        return [];
    }

    /// <summary>ONNX stores operator types as plain strings, so a quantised graph's QuantizeLinear nodes show in its zip entry's bytes.</summary>
    private static bool ZipHoldsQuantizedGraph(string path)
    {
        var needle = System.Text.Encoding.ASCII.GetBytes("QuantizeLinear");
        using var zip = System.IO.Compression.ZipFile.OpenRead(path);
        foreach (var e in zip.Entries)
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            if (m.GetBuffer().AsSpan(0, (int)m.Length).IndexOf(needle) >= 0) return true;
        }
        return false;
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
