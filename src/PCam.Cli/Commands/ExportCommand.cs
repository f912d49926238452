using System.CommandLine;
using PCam.MLNet.Export;

namespace PCam.Cli.Commands;

/// <summary>`pcam export --format modelbuilder`: the model zip as Model Builder's .mlnet, .mbconfig and consumption code.</summary>
internal sealed class ExportCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train` (its .metrics.json and .config.json beside it).", Required = true };
        model.MustBeFile("model file");
        var format = new Option<string>("--format") { Description = "Export format: modelbuilder.", DefaultValueFactory = _ => "modelbuilder" };
        format.AcceptOnlyFromAmong("modelbuilder");
        var name = new Option<string>("--name") { Description = "Model name: NAME.mlnet, NAME.mbconfig, NAME.consumption.cs and the class name.", DefaultValueFactory = _ => "MLModel1" };
        var ns = new Option<string>("--namespace") { Description = "Namespace of the generated consumption class.", DefaultValueFactory = _ => "PCamModelBuilder" };
        var output = new Option<string>("--output") { Description = "Folder to write to.", Required = true };
        var cmd = new Command("export", "Write the model as ML.NET Model Builder files: NAME.mlnet (encoded image bytes in), NAME.mbconfig, NAME.consumption.cs.")
        {
            model, format, name, ns, output,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var r = ModelBuilderExporter.Export(parse.GetValue(model)!, parse.GetValue(output)!, parse.GetValue(name)!, parse.GetValue(ns));
            var o = cli.Out;
            foreach (var path in new[] { r.ModelPath, r.MbConfigPath, r.ConsumptionPath, r.ConfigPath, r.MetricsPath }) o.WriteLine(path);
            log.Info($"Self-check: {r.CheckedImages} PNG patches scored by the zip and the reloaded .mlnet agree (max |dP| {r.MaxDifference:G2}).");
            return 0;
        });
        return cmd;
    }
}
