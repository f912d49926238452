using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

internal sealed class InspectCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var model = new Argument<string>("model") { Description = "Model zip to describe." };
        var cmd = new Command("inspect", "Show a model zip's input/output schema, pipeline stages, and the metrics and config it was trained with.") { model };
        cli.Bind(cmd, (parse, _) =>
        {
            var path = parse.GetValue(model)!;
            var ml = new MLContext(seed: 1);
            var loaded = PCamModel.Load(ml, path, out var input);
            var o = cli.Out;
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
            if (File.Exists(metricsPath) && JsonNode.Parse(File.ReadAllText(metricsPath)) is JsonObject m)
            {
                o.WriteLine($"Backbone: {m["backbone"]?["name"]} at {m["backbone"]?["imageSize"]}px, TTA {m["backbone"]?["tta"]}, {m["backbone"]?["precision"]?.ToString() ?? "fp32"}, {m["backbone"]?["featureDimension"]} features");
                o.WriteLine($"Head: {m["head"]?["trainer"]} {m["head"]?["parameters"]?.ToJsonString()}");
                if (m["demoData"]?.GetValue<bool>() == true) o.WriteLine("Trained on the generated DEMO data (not PCam).");
                foreach (var split in new[] { "valid", "test" })
                    if (m[split] is JsonObject s)
                        o.WriteLine($"Metrics {split}: Acc {(double)s["accuracy"]!:F4}  AUC {(double)s["auc"]!:F4}  NLL {(double)s["nll"]!:F4}  rows {s["rows"]}");
            }
            else o.WriteLine($"(no {Path.GetFileName(metricsPath)} beside the model)");
            var configPath = RunArtifacts.ConfigPath(path);
            if (File.Exists(configPath)) { o.WriteLine($"Config ({Path.GetFileName(configPath)}):"); o.WriteLine(File.ReadAllText(configPath).TrimEnd()); }
            return 0;
        });
        return cmd;
    }

    private static string Describe(DataViewType t) => t switch
    {
        VectorDataViewType v => $"Vector<{v.ItemType.RawType.Name}>[{string.Join('x', v.Dimensions)}]",
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
