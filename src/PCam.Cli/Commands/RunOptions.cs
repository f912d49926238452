using System.CommandLine;
using PCam.MLNet.Configuration;
using PCam.MLNet.Featurization;

namespace PCam.Cli.Commands;

/// <summary>
/// The options that override the training configuration, shared by `train` and `bench tta` (one spelling, one
/// description, one way each lands in <see cref="PCamConfig"/>). A command takes all of them or the ones it names.
/// </summary>
internal sealed class RunOptions
{
    public const string DefaultConfigFile = "mlnet.config.json";

    public readonly Option<string?> Config = new Option<string?>("--config") { Description = $"Training configuration (default: {DefaultConfigFile} when present, else built-in defaults)." }.MustBeFile("configuration file");
    public readonly Option<string?> Data = new Option<string?>("--data") { Description = "Folder with PCam data: official .h5/.h5.gz files, <split>/<0|1>/ image folders, or the Kaggle layout." }.MustBeFolder("data directory");
    public readonly Option<string?> Model = new("--model") { Description = "Output model zip (TrainingOption.ModelPath)." };
    public readonly Option<string?> Backbone = new("--backbone") { Description = "Backbone name or backbone JSON (TrainingOption.Backbone)." };
    public readonly Option<int?> ImageSize = new("--image-size") { Description = "Resize patches to this side before the backbone (TrainingOption.ImageSize)." };
    public readonly Option<bool?> Tta = new("--tta") { Description = "Test-time augmentation: average the 8 rotations/flips for valid, test and the model (TrainingOption.Tta)." };
    public readonly Option<bool?> TtaTrain = new("--tta-train") { Description = "With --tta, also for the train features (TrainingOption.TtaTrain)." };
    public readonly Option<FeaturizerPrecision?> Precision = OptionKinds.Precision("Featurizer precision: fp32 or int8 (static quantisation calibrated on train rows; TrainingOption.Precision).");
    public readonly Option<HeadTrainerKind?> Trainer = OptionKinds.Trainer("Head: LbfgsLogisticRegression, LightGbm, FastTree, SdcaLogisticRegression (TrainingOption.Trainer).");
    public readonly Option<ExecutionDevice?> Device = OptionKinds.Device("cpu, cuda or cuda:N (Environment.Device).");
    public readonly Option<int?> Seed = new("--seed") { Description = "MLContext and sampling seed (TrainingOption.Seed)." };
    public readonly Option<long?> MaxRows = new("--max-train-rows") { Description = "Train the head on a seeded class-balanced sample of N train rows." };
    public readonly Option<string?> Cache = new("--cache-dir") { Description = "Where decompressed .h5 files and cached features go (DataSource.CacheDirectory)." };
    public readonly Option<bool> NoVerify = DataOptions.NoVerify();

    private readonly Option[] _used;

    private RunOptions(Func<RunOptions, Option[]> used) => _used = used(this);

    /// <summary>Every override (`pcam train`).</summary>
    public static RunOptions All() =>
        new(o => [o.Config, o.Data, o.Model, o.Backbone, o.ImageSize, o.Tta, o.TtaTrain, o.Precision, o.Trainer, o.Device, o.Seed, o.MaxRows, o.Cache, o.NoVerify]);

    /// <summary>The overrides that change what the ablation measures (`pcam bench tta`).</summary>
    public static RunOptions ForTtaAblation() =>
        new(o => [o.Config, o.Data, o.Cache, o.ImageSize, o.Precision, o.MaxRows, o.NoVerify]);

    public void AddTo(Command command)
    {
        foreach (var option in _used) command.Options.Add(option);
    }

    /// <summary>The config file (explicit --config, else mlnet.config.json when present), else the defaults.</summary>
    public string? ConfigPath(ParseResult parse) => parse.GetValue(Config) ?? (File.Exists(DefaultConfigFile) ? DefaultConfigFile : null);

    /// <summary>Loads the configuration and applies the command line's overrides (not yet validated).</summary>
    public PCamConfig Load(ParseResult parse)
    {
        var c = LoadConfig(parse.GetValue(Config));
        var t = c.TrainingOption;
        if (Value(parse, Data) is { } d) c.DataSource.Directory = d;
        if (Value(parse, Model) is { } m) t.ModelPath = m;
        if (Value(parse, Backbone) is { } b) t.Backbone = b;
        if (Value(parse, ImageSize) is { } s) t.ImageSize = s;
        if (Value(parse, Tta) is { } a) t.Tta = a;
        if (Value(parse, TtaTrain) is { } at) t.TtaTrain = at;
        if (Value(parse, Precision) is { } pr) t.Precision = pr.Name();
        if (Value(parse, Trainer) is { } tr) t.Trainer = tr.ToString();
        if (Value(parse, Device) is { } dv) { c.Environment.Device = dv.ToString(); c.Environment.Type = dv.Cuda ? "LocalGPU" : "LocalCPU"; }
        if (Value(parse, Seed) is { } sd) t.Seed = sd;
        if (Value(parse, MaxRows) is { } mr) c.DataSource.MaxTrainRows = mr;
        if (Value(parse, Cache) is { } cd) c.DataSource.CacheDirectory = cd;
        if (_used.Contains(NoVerify) && parse.GetValue(NoVerify)) c.DataSource.VerifyChecksums = false;
        return c;
    }

    private T? Value<T>(ParseResult parse, Option<T> option) => _used.Contains(option) ? parse.GetValue(option) : default;

    /// <summary>An explicit --config must exist; without one, mlnet.config.json is used when present.</summary>
    public static PCamConfig LoadConfig(string? path)
    {
        if (path is not null) return PCamConfigLoader.Load(path);
        return File.Exists(DefaultConfigFile) ? PCamConfigLoader.Load(DefaultConfigFile) : new PCamConfig();
    }
}
