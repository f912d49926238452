using System.CommandLine;
using PCam.MLNet.Export;

namespace PCam.Cli.Commands;

/// <summary>`pcam export`: the model zip as Model Builder's .mlnet, .mbconfig and consumption code (--format modelbuilder), or as one
/// ONNX graph with its NAME.json for Python, JavaScript and C++ (--format onnx).</summary>
internal sealed class ExportCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train` (its .metrics.json and .config.json beside it), or saved from PCam.MLNet.Vision's ImageClassificationTrainer.", Required = true };
        model.MustBeFile("model file");
        var format = new Option<string>("--format") { Description = "Export format: modelbuilder (NAME.mlnet, .mbconfig, .consumption.cs) or onnx (NAME.onnx and NAME.json).", DefaultValueFactory = _ => "modelbuilder", HelpName = "modelbuilder|onnx" };
        var name = new Option<string?>("--name") { Description = "Model name: the files' stem (and the class name for modelbuilder). Default: MLModel1 for modelbuilder, the zip's name for onnx." };
        var ns = new Option<string>("--namespace") { Description = "Namespace of the generated consumption class.", DefaultValueFactory = _ => "PCamModelBuilder" };
        var output = new Option<string>("--output") { Description = "Folder to write to.", Required = true };
        var cmd = new Command("export", "Write the model as ML.NET Model Builder files (NAME.mlnet, NAME.mbconfig, NAME.consumption.cs) or as one ONNX graph (NAME.onnx: uint8 [N,96,96,3] 'image' in, 'probability' and 'features' out; for an ImageClassificationTrainer zip, the stretched [N,S,S,3] image in, 'scores' [N,K] out; NAME.json).")
        {
            model, format, name, ns, output,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var o = cli.Out;
            // Checked here rather than by the parser, so an unknown format is one `error:` line like every other failure.
            if (parse.GetValue(format) is not ("modelbuilder" or "onnx") and var unknown)
                throw new PCamExportException($"--format '{unknown}': unknown export format; use modelbuilder or onnx.");
            if (parse.GetValue(format) == "onnx")
            {
                var x = OnnxExporter.Export(parse.GetValue(model)!, parse.GetValue(output)!, parse.GetValue(name));
                foreach (var path in new[] { x.OnnxPath, x.ExternalDataPath, x.SidecarPath }.OfType<string>()) o.WriteLine(path);
                log.Info($"ONNX opset {x.Opset}, {x.FeatureDimension} features. Self-check: {x.CheckedPatches} {x.CheckedWhat} scored by the zip and by ONNX Runtime on the exported graph agree (max |dP| {x.MaxDifference:G2}).");
                return 0;
            }
            var r = ModelBuilderExporter.Export(parse.GetValue(model)!, parse.GetValue(output)!, parse.GetValue(name) ?? "MLModel1", parse.GetValue(ns));
            foreach (var path in new[] { r.ModelPath, r.MbConfigPath, r.ConsumptionPath, r.ConfigPath, r.MetricsPath }.OfType<string>()) o.WriteLine(path);
            log.Info($"Self-check: {r.CheckedImages} PNG images scored by the zip and the reloaded .mlnet agree (max |dP| {r.MaxDifference:G2}).");
            return 0;
        });
        return cmd;
    }
}
