using System.CommandLine;
using System.Text.Json;
using Microsoft.ML;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

internal sealed class EvaluateCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train`.", Required = true };
        model.MustBeFile("model file");
        var data = new Option<string>("--data") { Description = "Folder with the split to evaluate (any supported layout).", Required = true };
        data.MustBeFolder("data directory");
        var split = new Option<PCamSplit>("--split") { Description = "Split to evaluate: Train, Valid or Test.", DefaultValueFactory = _ => PCamSplit.Test };
        var maxRows = new Option<long?>("--max-rows") { Description = "Evaluate only the first N rows." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object to stdout instead of a table." };
        var cache = new Option<string?>("--cache-dir") { Description = $"Where .h5.gz files are decompressed (default {PCamDataOptions.DefaultCacheFolder}/h5)." };
        var noVerify = DataOptions.NoVerify();
        var cmd = new Command("evaluate", "Run a model zip over a split and print Accuracy, AUC, NLL (nats), F1, AUPRC, ECE and the confusion matrix.")
        {
            model, data, split, maxRows, json, cache, noVerify,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            // The data is opened (and checked) before the model loads: a bad input costs no model load.
            var s = parse.GetValue(split);
            if (!File.Exists(parse.GetValue(model))) throw new PCamModelException($"{parse.GetValue(model)}: model file not found.");
            var view = PCamData.Open(parse.GetValue(data)!, s, new PCamDataOptions
            {
                CacheDirectory = Path.Combine(parse.GetValue(cache) ?? PCamDataOptions.DefaultCacheFolder, "h5"), Warning = log.Warning,
                VerifyChecksums = !parse.GetValue(noVerify),
            });
            var ml = new MLContext(seed: 1);
            var loaded = PCamModel.Load(ml, parse.GetValue(model)!, out _);
            using var release = PCamModel.Owner(loaded); // disposes the ONNX sessions and ML.NET's unpacked graph files
            if (parse.GetValue(maxRows) is { } n && n < (view.GetRowCount() ?? long.MaxValue)) view = view.Take(n);
            List<ScoredRow> rows;
            using (var task = log.StartTask($"Evaluate {s.FileToken()}", view.GetRowCount() ?? 0))
                rows = PCamMetrics.ReadScored(loaded.Transform(view), task.Advance);
            var m = PCamMetrics.Compute(ml, rows, s.FileToken());
            if (parse.GetValue(json))
            {
                var obj = RunArtifacts.MetricsJson(m);
                obj["split"] = m.Split;
                obj["model"] = parse.GetValue(model);
                cli.Out.WriteLine(obj.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
                return 0;
            }
            var o = cli.Out;
            o.WriteLine("| Name | Acc | AUC | NLL |");
            o.WriteLine("|---|---|---|---|");
            o.WriteLine(PCamMetrics.BenchmarkRow($"{Path.GetFileNameWithoutExtension(parse.GetValue(model))} ({m.Split})", m));
            o.WriteLine();
            o.WriteLine($"rows {m.Rows:N0}  F1 {m.F1:F4}  precision {m.Precision:F4}  recall {m.Recall:F4}  AUPRC {m.Auprc:F4}  ECE {m.Ece:F4}");
            o.WriteLine($"confusion: TP {m.TruePositives}  FP {m.FalsePositives}  TN {m.TrueNegatives}  FN {m.FalseNegatives}");
            return 0;
        });
        return cmd;
    }
}
