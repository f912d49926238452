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
        var config = new Option<string?>("--config") { Description = "Configuration (backbone, image size, precision, head)." };
        var data = new Option<string?>("--data") { Description = "Folder with train, valid and test splits." };
        var cache = new Option<string?>("--cache-dir") { Description = "Cache folder (train features are shared with `pcam train`)." };
        var imageSize = new Option<int?>("--image-size") { Description = "Override TrainingOption.ImageSize." };
        var precision = new Option<string?>("--precision") { Description = "Override TrainingOption.Precision (fp32 or int8)." };
        var maxRows = new Option<long?>("--max-train-rows") { Description = "Train the head on a seeded class-balanced sample of N train rows." };
        var noVerify = DataOptions.NoVerify();
        var cmd = new Command("tta", "Test-time augmentation ablation: 1, 2, 4, 8 views averaged on valid/test; metrics and patches/s.")
        {
            config, data, cache, imageSize, precision, maxRows, noVerify,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var c = TrainCommand.LoadConfig(parse.GetValue(config));
            var t = c.TrainingOption;
            if (parse.GetValue(data) is { } d) c.DataSource.Directory = d;
            if (parse.GetValue(cache) is { } cd) c.DataSource.CacheDirectory = cd;
            if (parse.GetValue(imageSize) is { } s) t.ImageSize = s;
            if (parse.GetValue(precision) is { } p) t.Precision = p;
            if (parse.GetValue(maxRows) is { } mr) c.DataSource.MaxTrainRows = mr;
            if (parse.GetValue(noVerify)) c.DataSource.VerifyChecksums = false;
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
