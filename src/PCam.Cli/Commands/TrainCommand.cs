using System.CommandLine;
using PCam.MLNet.Configuration;
using PCam.MLNet.Export;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

internal sealed class TrainCommand : ICommandFactory
{
    public const string DefaultConfigFile = "mlnet.config.json";

    public Command Create(CliContext cli)
    {
        var config = new Option<string?>("--config") { Description = $"Training configuration (default: {DefaultConfigFile} when present, else built-in defaults)." };
        var data = new Option<string?>("--data") { Description = "Folder with PCam data: official .h5/.h5.gz files, <split>/<0|1>/ image folders, or the Kaggle layout." };
        var model = new Option<string?>("--model") { Description = "Output model zip (TrainingOption.ModelPath)." };
        var backbone = new Option<string?>("--backbone") { Description = "Backbone name or backbone JSON (TrainingOption.Backbone)." };
        var imageSize = new Option<int?>("--image-size") { Description = "Resize patches to this side before the backbone (TrainingOption.ImageSize)." };
        var tta = new Option<bool?>("--tta") { Description = "Test-time augmentation: average the 8 rotations/flips for valid, test and the model (TrainingOption.Tta)." };
        var ttaTrain = new Option<bool?>("--tta-train") { Description = "With --tta, also for the train features (TrainingOption.TtaTrain)." };
        var precision = new Option<string?>("--precision") { Description = "Featurizer precision: fp32 or int8 (static quantisation calibrated on train rows; TrainingOption.Precision)." };
        var trainer = new Option<string?>("--trainer") { Description = "Head: LbfgsLogisticRegression, LightGbm, FastTree, SdcaLogisticRegression." };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or cuda:N (Environment.Device)." };
        var seed = new Option<int?>("--seed") { Description = "MLContext and sampling seed (TrainingOption.Seed)." };
        var maxRows = new Option<long?>("--max-train-rows") { Description = "Train the head on a seeded class-balanced sample of N train rows." };
        var cache = new Option<string?>("--cache-dir") { Description = "Where decompressed .h5 files and cached features go (DataSource.CacheDirectory)." };
        var noVerify = DataOptions.NoVerify();
        var cmd = new Command("train", "Featurize train/valid/test with the backbone, train and calibrate the head, write the model zip, metrics, configs and report.")
        {
            config, data, model, backbone, imageSize, tta, ttaTrain, precision, trainer, device, seed, maxRows, cache, noVerify,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var configPath = parse.GetValue(config) ?? (File.Exists(DefaultConfigFile) ? DefaultConfigFile : null);
            var c = LoadConfig(parse.GetValue(config));
            var t = c.TrainingOption;
            if (parse.GetValue(data) is { } d) c.DataSource.Directory = d;
            if (parse.GetValue(model) is { } m) t.ModelPath = m;
            if (parse.GetValue(backbone) is { } b) t.Backbone = b;
            if (parse.GetValue(imageSize) is { } s) t.ImageSize = s;
            if (parse.GetValue(tta) is { } a) t.Tta = a;
            if (parse.GetValue(ttaTrain) is { } at) t.TtaTrain = at;
            if (parse.GetValue(precision) is { } pr) t.Precision = pr;
            if (parse.GetValue(trainer) is { } tr) t.Trainer = tr;
            if (parse.GetValue(device) is { } dv) { c.Environment.Device = dv; c.Environment.Type = dv == "cpu" ? "LocalCPU" : "LocalGPU"; }
            if (parse.GetValue(seed) is { } sd) t.Seed = sd;
            if (parse.GetValue(maxRows) is { } mr) c.DataSource.MaxTrainRows = mr;
            if (parse.GetValue(cache) is { } cd) c.DataSource.CacheDirectory = cd;
            if (parse.GetValue(noVerify)) c.DataSource.VerifyChecksums = false;
            var source = configPath is null ? "command line" : $"{configPath} (with the command line's options)";
            PCamConfigLoader.Validate(c, source);

            using var result = new PCamTrainer(c, log) { Verbose = log.Verbose, ConfigSource = source }.Train();
            RunArtifacts.Write(result, c);
            var o = cli.Out;
            o.WriteLine();
            o.WriteLine("| Name | Acc | AUC | NLL |");
            o.WriteLine("|---|---|---|---|");
            var name = Path.GetFileNameWithoutExtension(result.ModelPath);
            o.WriteLine(PCamMetrics.BenchmarkRow($"{name} (valid)", result.Valid));
            if (result.Test is not null) o.WriteLine(PCamMetrics.BenchmarkRow($"{name} (test)", result.Test));
            if (result.DemoData) o.WriteLine("(DEMO data: these numbers are not PCam results; see `pcam download`.)");
            o.WriteLine();
            o.WriteLine($"Model:   {result.ModelPath}");
            o.WriteLine($"Metrics: {RunArtifacts.MetricsPath(result.ModelPath)}");
            o.WriteLine($"Config:  {RunArtifacts.ConfigPath(result.ModelPath)}, {RunArtifacts.MbConfigPath(result.ModelPath)}");
            if (result.Test is not null) o.WriteLine($"Report:  {RunArtifacts.Stem(result.ModelPath)}.report.md");
            return 0;
        });
        return cmd;
    }

    /// <summary>An explicit --config must exist; without one, mlnet.config.json is used when present.</summary>
    public static PCamConfig LoadConfig(string? path)
    {
        if (path is not null) return PCamConfigLoader.Load(path);
        return File.Exists(DefaultConfigFile) ? PCamConfigLoader.Load(DefaultConfigFile) : new PCamConfig();
    }
}
