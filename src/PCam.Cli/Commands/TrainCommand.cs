using System.CommandLine;
using PCam.MLNet.Configuration;
using PCam.MLNet.Export;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

internal sealed class TrainCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var options = RunOptions.All();
        var cmd = new Command("train", "Featurize train/valid/test with the backbone, train and calibrate the head, write the model zip, metrics, configs and report.");
        options.AddTo(cmd);
        cli.Bind(cmd, (parse, log) =>
        {
            var configPath = options.ConfigPath(parse);
            var c = options.Load(parse);
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
}
