using System.CommandLine;
using PCam.Benchmarks;
using PCam.MLNet.Configuration;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

/// <summary>`pcam bench tta`: what 1, 2, 4 and 8 test-time views buy on valid and test, and what they cost.</summary>
internal static class BenchTtaCommand
{
    public static Command Create(CliContext cli)
    {
        var options = RunOptions.ForTtaAblation();
        var cmd = new Command("tta", "Test-time augmentation ablation: 1, 2, 4, 8 views averaged on valid/test; metrics and patches/s.");
        options.AddTo(cmd);
        cli.Bind(cmd, (parse, log) =>
        {
            var c = options.Load(parse);
            var t = c.TrainingOption;
            PCamConfigLoader.Validate(c, "command line");
            var rows = TtaAblation.Run(c, log);
            var o = cli.Out;
            o.WriteLine($"TTA ablation: {t.Backbone} at {t.ImageSize}px, {t.Precision}, head {t.Trainer}; train rows {(c.DataSource.MaxTrainRows?.ToString() ?? "all")}, {Environment.ProcessorCount} cores");
            o.WriteLine("| views | which | valid Acc | valid AUC | valid NLL | test Acc | test AUC | test NLL | eval patches/s |");
            o.WriteLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var r in rows)
                o.WriteLine($"| {r.Views} | {r.Which} | {100 * r.Valid.Accuracy:F2} | {100 * r.Valid.Auc:F2} | {r.Valid.Nll:F3} | {100 * r.Test.Accuracy:F2} | {100 * r.Test.Auc:F2} | {r.Test.Nll:F3} | {r.PatchesPerSecond:F1} |");
            return 0;
        });
        return cmd;
    }
}
