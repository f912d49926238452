using System.Diagnostics;
using Microsoft.ML;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Training;

/// <summary>
/// Everything a training run produced. Dispose it when done: <see cref="Model"/> holds ONNX Runtime sessions and the
/// graph file ML.NET unpacked into the temp folder, which only disposing deletes.
/// </summary>
public sealed class TrainingResult : IDisposable
{
    public required string ModelPath { get; init; }
    public required string DataDirectory { get; init; }
    public required bool DemoData { get; init; }
    public required SplitMetrics Valid { get; init; }
    public SplitMetrics? Test { get; init; }
    public List<ScoredPatch>? TestRows { get; init; }
    public required HeadResult Head { get; init; }
    public required FeaturizerGraph Graph { get; init; }
    /// <summary>Why the featurizer runs at <see cref="FeaturizerGraph.Precision"/> (int8 check result, fallback reason, or requested fp32).</summary>
    public string? PrecisionReason { get; init; }
    public required BackboneConfig Backbone { get; init; }
    public required string Device { get; init; }
    public required Dictionary<string, double> Seconds { get; init; }
    public required Dictionary<string, long> Rows { get; init; }
    public required ITransformer Model { get; init; }
    /// <summary>The test rows (for the report's error gallery).</summary>
    public PatchDataView? TestData { get; init; }

    public void Dispose()
    {
        PCamModel.Owner(Model).Dispose();
        TestData?.Dispose();
    }
}

/// <summary>
/// The transfer-learning run: frozen ONNX backbone over the patches (batched, cached), ML.NET head selected and
/// calibrated on valid, metrics on valid and test, one model zip. The fixed protocol: train fits, valid selects,
/// test is only evaluated.
/// </summary>
public sealed class PCamTrainer(PCamConfig config, ITrainingLog log)
{
    public const string DefaultDataDirectory = "data/pcam";

    /// <summary>Forward ML.NET's own log to the training log.</summary>
    public bool Verbose { get; init; }

    public TrainingResult Train()
    {
        var total = Stopwatch.StartNew();
        var t = config.TrainingOption;
        var ml = new MLContext(seed: t.Seed);
        if (Verbose) ml.Log += (_, e) => log.Info(e.Message);
        var cacheDir = RunSetup.CacheDirectory(config);
        var seconds = new Dictionary<string, double>();

        // The featurizer is the public estimator (PCamCatalog.FeaturizePatches); backbone and image size are checked first,
        // so a bad value is reported before any decompression or featurization.
        var device = PCamConfigLoader.ResolveDevice(config);
        var estimator = new PatchFeaturizerEstimator(ml.Transforms, FeaturizerOptions(config, device), log);
        var graph = BuildGraph(estimator, t);
        var backbone = graph.Backbone;
        log.Info($"Backbone {backbone.Name} at {graph.ImageSize}x{graph.ImageSize}{TtaText(t)}, {t.Precision}: {graph.FeatureDimension} features.");
        var (dataDir, demo) = ResolveDataDirectory(config, cacheDir, log);
        using var dataProgress = new StageProgress(log);
        var dataOptions = RunSetup.DataOptions(config, cacheDir, log, dataProgress);
        var train = PCamData.Open(dataDir, PCamSplit.Train, dataOptions);
        PatchDataView valid;
        if (PCamData.HasSplit(dataDir, PCamSplit.Valid)) valid = PCamData.Open(dataDir, PCamSplit.Valid, dataOptions);
        else
        {
            (train, valid) = HoldOut(train, 0.1, t.Seed);
            log.Warning($"{dataDir} has no valid split: holding out {valid.GetRowCount():N0} seeded train rows for validation.");
        }
        PatchDataView? test = PCamData.HasSplit(dataDir, PCamSplit.Test) ? PCamData.Open(dataDir, PCamSplit.Test, dataOptions) : null;
        if (test is null) log.Warning($"{dataDir} has no test split: only validation metrics will be reported.");
        train = RunSetup.LimitTrainRows(config, train);
        // Both classes in train and valid, checked before any featurization (a one-class split cannot fit or select a head).
        RequireBothClasses(train, "train", dataDir);
        RequireBothClasses(valid, PCamData.HasSplit(dataDir, PCamSplit.Valid) ? "valid" : "valid (held out from train)", dataDir);
        if (test is not null && ClassCounts(test) is { Negative: 0 } or { Positive: 0 })
            log.Warning($"{dataDir}: split 'test' has {Describe(ClassCounts(test))}: AUC and other two-class metrics are undefined (written as null).");
        foreach (var warning in graph.Warnings) log.Warning(warning);
        if (graph.ExternalData.Count > 0)
            log.Info($"Backbone weights are external data ({string.Join(", ", graph.ExternalData.Select(f => $"{f.Location}, {f.Length / 1048576.0:F0} MB"))}): " +
                     $"the model is {t.ModelPath} plus {(graph.ExternalData.Count == 1 ? "that file" : "those files")} beside it.");
        var calibrationClock = Stopwatch.StartNew();
        // Fit calibrates an int8 featurizer on train (never valid or test). The saved graph is its graph; with Tta and not
        // TtaTrain the train rows get its single-view form (same ranges, 8x cheaper), as test-time augmentation is usually done.
        using var featurizer = estimator.Fit(train, graph);
        using var singleView = t.Tta && !t.TtaTrain ? featurizer.SingleView() : null;
        graph = featurizer.Graph;
        var trainGraph = (singleView ?? featurizer).Graph;
        if (featurizer.Calibration is { } table)
        {
            seconds["calibration"] = calibrationClock.Elapsed.TotalSeconds;
            log.Info($"INT8 featurizer: activation ranges by {table.Describe()} in {calibrationClock.Elapsed.TotalSeconds:F1} s.");
        }

        // The feature cache is its own step: features of each split in batches (FeaturizedDataView's double-buffered
        // cursor), kept under .pcam-cache/features keyed by the rows and the graph's fingerprint.
        var featureCache = RunSetup.FeatureCache(new MLContext(t.Seed), cacheDir);
        var deviceDescription = device.ToString();
        BatchFeaturizer NewFeaturizer(FeaturizerGraph g)
        {
            var f = new BatchFeaturizer(g, device, config.Environment.Threads);
            deviceDescription = f.DeviceDescription;
            if (device.Cuda && !f.DeviceDescription.StartsWith("cuda", StringComparison.Ordinal)) log.Warning(f.DeviceDescription);
            return f;
        }
        IDataView Features(PatchDataView data, string split, FeaturizerGraph g)
        {
            var sw = Stopwatch.StartNew();
            var rows = data.GetRowCount() ?? 0;
            IDataView result;
            bool computed;
            using (var task = log.StartTask($"Features {split}", rows))
                result = featureCache.GetOrCompute(data, g, () => NewFeaturizer(g), t.BatchSize, split, task.Advance, out computed);
            seconds[$"features_{split}"] = sw.Elapsed.TotalSeconds;
            log.Info(computed
                ? $"Features {split}: {rows:N0} rows in {sw.Elapsed.TotalSeconds:F1} s ({rows / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):F0} rows/s)."
                : $"Features {split}: {rows:N0} rows reused from the cache.");
            return result;
        }

        var trainFeatures = Features(train, "train", trainGraph);
        var validFeatures = Features(valid, "valid", graph);
        var testFeatures = test is null ? null : Features(test, "test", graph);

        var sw = Stopwatch.StartNew();
        // The cached feature files go in as they are: the head search holds its own dense tables (see HeadTrainer).
        var head = HeadTrainer.Train(ml, trainFeatures, validFeatures, t, m => { log.Info(m); TestHooks.Reached("head"); });
        seconds["head"] = sw.Elapsed.TotalSeconds;
        log.Info($"Head: {head.Best.Trainer} {HeadTrainer.Describe(head.Best.Parameters)} (lowest valid NLL of {head.Trials.Count}).");

        // The zip is written under a staging name, proved (ZipSelfCheck) and only then renamed; the metrics come from
        // the reloaded zip's own head over the features of the graph the zip holds.
        sw.Restart();
        var staged = PCamModel.StagingPath(t.ModelPath);
        ITransformer model;
        SplitMetrics validMetrics;
        SplitMetrics? testMetrics = null;
        List<ScoredPatch>? testRows = null;
        try
        {
            // The single-view graph the zip carries for `pcam heatmap --views 1`: the train graph when it is one already.
            PCamModel.Compose(ml, graph, head.Model, staged, singleView?.Graph);
            var (checkData, checkSplit, checkFeatures) = test is not null && testFeatures is not null
                ? (test, "test", testFeatures) : (valid, "valid", validFeatures);
            var expected = PCamMetrics.ReadScored(head.Model.Transform(ml.Data.TakeRows(checkFeatures, ZipSelfCheck.Rows)));
            if (deviceDescription.StartsWith("cuda", StringComparison.Ordinal))
            {
                // ML.NET runs the zip on the CPU; GPU arithmetic (e.g. TF32 convolutions) differs from it by more than the
                // tolerance, so the reference is the same graph and head on the CPU for these rows. The GPU difference is reported.
                using var cpu = new BatchFeaturizer(graph, ExecutionDevice.Cpu, config.Environment.Threads);
                using var rows = checkData.Take(ZipSelfCheck.Rows);
                var onCpu = PCamMetrics.ReadScored(head.Model.Transform(FeatureTable.Compute(rows, cpu, ZipSelfCheck.Rows, null)));
                log.Info($"Self-check reference on the CPU: the {deviceDescription} features' probabilities differ from it by at most " +
                         $"{expected.Zip(onCpu, (g, c) => Math.Abs((double)g.Probability - c.Probability)).DefaultIfEmpty(0).Max():G2} on {onCpu.Count} {checkSplit} rows.");
                expected = onCpu;
            }
            (model, var check) = ZipSelfCheck.Verify(staged, t.ModelPath, checkData, checkSplit, expected, t.Seed);
            try
            {
                var zipHead = ZipSelfCheck.Head(model, t.ModelPath);
                (validMetrics, _) = PCamMetrics.Evaluate(ml, zipHead.Transform(validFeatures), "valid");
                if (testFeatures is not null) (testMetrics, testRows) = PCamMetrics.Evaluate(ml, zipHead.Transform(testFeatures), "test");
                File.Move(staged, t.ModelPath, overwrite: true);
            }
            catch
            {
                PCamModel.Owner(model).Dispose();
                throw;
            }
            seconds["zip"] = sw.Elapsed.TotalSeconds;
            log.Info(check.Describe());
        }
        finally
        {
            if (File.Exists(staged)) File.Delete(staged);
        }
        seconds["total"] = total.Elapsed.TotalSeconds;
        return new TrainingResult
        {
            ModelPath = t.ModelPath, DataDirectory = dataDir, DemoData = demo, Valid = validMetrics, Test = testMetrics,
            TestRows = testRows, Head = head, Graph = graph, PrecisionReason = featurizer.PrecisionReason, Backbone = backbone, Device = deviceDescription, Seconds = seconds,
            Rows = new() { ["train"] = train.GetRowCount() ?? 0, ["valid"] = valid.GetRowCount() ?? 0, ["test"] = test?.GetRowCount() ?? 0 },
            Model = model, TestData = test,
        };
    }

    public static string TtaText(TrainingOptionConfig t) =>
        !t.Tta ? "" : t.TtaTrain ? ", 8-view TTA (all splits)" : ", 8-view TTA (valid, test, model; train single view)";

    /// <summary>The configured folder, else data/pcam when it holds data, else the generated demo set (said loudly).</summary>
    public static (string Directory, bool Demo) ResolveDataDirectory(PCamConfig config, string cacheDir, ITrainingLog log)
    {
        if (config.DataSource.Directory is { } dir)
        {
            if (!Directory.Exists(dir)) throw new PCamDataException($"{dir}: data directory not found.");
            if (PCamData.Detect(dir) == PatchSourceKind.None)
                throw new PCamDataException($"{dir}: no PCam data found (expected camelyonpatch_level_2_split_*_x.h5[.gz] files, " +
                                            "<split>/<0|1>/ image folders, or the Kaggle train/ + train_labels.csv layout).");
            return (dir, DemoData.IsDemo(dir));
        }
        if (Directory.Exists(DefaultDataDirectory) && PCamData.Detect(DefaultDataDirectory) != PatchSourceKind.None)
            return (DefaultDataDirectory, false);
        var demo = DemoData.EnsureGenerated(Path.Combine(cacheDir, "demo"));
        log.Warning($"No PCam data found (no DataSource.Directory, no {DefaultDataDirectory}/): training on the generated DEMO set in {demo}. " +
                    "Its metrics say nothing about PCam. Get the real benchmark with `pcam download`.");
        return (demo, true);
    }

    /// <summary>Where the configuration came from (a file path or "command line"), named in configuration errors.</summary>
    public string ConfigSource { get; init; } = "configuration";

    /// <summary>The featurizer options of a training configuration (what `pcam train` passes to FeaturizePatches).</summary>
    internal static PatchFeaturizerOptions FeaturizerOptions(PCamConfig config, ExecutionDevice device)
    {
        var t = config.TrainingOption;
        return new PatchFeaturizerOptions
        {
            Backbone = t.Backbone, ImageSize = t.ImageSize, Tta = t.Tta, CenterPool = t.CenterPool,
            ColorStats = t.ColorStats, Precision = t.PrecisionKind, CalibrationRows = t.CalibrationRows, CalibrationMethod = t.CalibrationMethod,
            Seed = t.Seed, BatchSize = t.BatchSize, Threads = config.Environment.Threads, Device = device.ToString(),
        };
    }

    private FeaturizerGraph BuildGraph(PatchFeaturizerEstimator estimator, TrainingOptionConfig t)
    {
        try
        {
            return estimator.BuildGraph();
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException or System.Text.Json.JsonException
                                       or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or PCamBackboneException)
        {
            var key = e.Message.Contains("does not run at", StringComparison.Ordinal) ? $"TrainingOption.ImageSize' ({t.ImageSize}) with 'TrainingOption.Backbone"
                : "TrainingOption.Backbone";
            throw new PCamConfigException($"{ConfigSource}: '{key}' (\"{t.Backbone}\"): {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }

    /// <summary>Rows of each class in a view (its row subset, or all rows).</summary>
    public static (long Negative, long Positive) ClassCounts(PatchDataView data)
    {
        long pos = 0, n = 0;
        foreach (var r in data.Rows ?? (IEnumerable<long>)LongRange(data.Source.RowCount)) { n++; if (data.Source.GetLabel(r)) pos++; }
        return (n - pos, pos);
    }

    private static string Describe((long Negative, long Positive) c) => $"{c.Negative:N0} normal (label 0) and {c.Positive:N0} tumour (label 1) rows";

    private static void RequireBothClasses(PatchDataView data, string split, string dataDir)
    {
        var c = ClassCounts(data);
        if (c.Negative == 0 || c.Positive == 0)
            throw new PCamDataException($"{dataDir}: split '{split}' has {Describe(c)}; training needs both classes in train and valid.");
    }

    private static IEnumerable<long> LongRange(long n) { for (long i = 0; i < n; i++) yield return i; }

    /// <summary>
    /// Splits a view into (rest, held-out fraction), stratified by class: each class is shuffled with the seed and the
    /// same fraction of it (at least one row) is held out, so both parts keep both classes. A class with fewer than two
    /// rows cannot be split: a PCamDataException naming the split and its class counts.
    /// </summary>
    public static (PatchDataView Remaining, PatchDataView HeldOut) HoldOut(PatchDataView data, double fraction, int seed)
    {
        var rows = data.Rows?.ToArray() ?? LongRange(data.Source.RowCount).ToArray();
        var rng = new Random(seed);
        var held = new List<long>();
        var counts = new long[2];
        foreach (var label in new[] { false, true })
        {
            var cls = rows.Where(r => data.Source.GetLabel(r) == label).ToArray();
            counts[label ? 1 : 0] = cls.Length;
            rng.Shuffle(cls);
            held.AddRange(cls.Take(Math.Max(1, (int)Math.Round(cls.Length * fraction))));
        }
        if (counts[0] < 2 || counts[1] < 2)
            throw new PCamDataException($"{data.Source.Description}: split 'train' has {Describe((counts[0], counts[1]))}; a validation hold-out " +
                                        "needs at least 2 rows of each class (add a valid split or more data).");
        var heldSet = held.ToHashSet();
        return (PatchDataView.Create(data.Source, rows.Where(r => !heldSet.Contains(r)).ToArray()), PatchDataView.Create(data.Source, held.Order().ToArray()));
    }
}
