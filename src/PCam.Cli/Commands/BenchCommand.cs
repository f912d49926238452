using Microsoft.ML;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using PCam.Benchmarks;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

/// <summary>`pcam bench read|featurize|heads`: measured throughput and ratios, printed (benchmarks, not tests).</summary>
internal sealed class BenchCommand : ICommandFactory
{
    public const int FullPCamRows = 327_680;

    public Command Create(CliContext cli)
    {
        var bench = new Command("bench", "Measure read, featurization and head-selection speed (prints ratios against the baselines).");
        bench.Subcommands.Add(Read(cli));
        bench.Subcommands.Add(Featurize(cli));
        bench.Subcommands.Add(RandomVitCommand(cli));
        bench.Subcommands.Add(HeatmapBench.Create(cli));
        bench.Subcommands.Add(BenchTtaCommand.Create(cli));
        bench.Subcommands.Add(Heads(cli));
        bench.Subcommands.Add(ImageClassification(cli));
        return bench;
    }

    private static (Option<string?> Data, Option<PCamSplit> Split, Option<string?> Cache, Option<bool> NoVerify) DataOptions(PCamSplit defaultSplit) => (
        new Option<string?>("--data") { Description = "Folder with PCam data (default: the generated demo set)." },
        new Option<PCamSplit>("--split") { Description = "Split to read.", DefaultValueFactory = _ => defaultSplit },
        new Option<string?>("--cache-dir") { Description = $"Cache folder (default {PCamDataOptions.DefaultCacheFolder})." },
        Commands.DataOptions.NoVerify());

    private static PatchDataView OpenData(string? dir, PCamSplit split, string? cacheDir, bool verify, ITrainingLog log)
    {
        var cache = cacheDir ?? PCamDataOptions.DefaultCacheFolder;
        if (dir is null)
        {
            dir = DemoData.EnsureGenerated(Path.Combine(cache, "demo"));
            log.Info($"No --data: using the generated demo set in {dir}.");
        }
        return PCamData.Open(dir, split, new PCamDataOptions { CacheDirectory = Path.Combine(cache, "h5"), Warning = log.Warning, VerifyChecksums = verify });
    }

    private static Command Read(CliContext cli)
    {
        var (data, split, cache, noVerify) = DataOptions(PCamSplit.Train);
        var h5py = new Option<bool>("--h5py") { Description = "Also time h5py reading the same rows in batches of 256." };
        var python = new Option<string>("--python") { Description = "Python interpreter with h5py for --h5py.", DefaultValueFactory = _ => "python3" };
        var cmd = new Command("read", "Read a whole split through the IDataView cursor (Image and Label touched) vs a raw sequential file read.") { data, split, cache, noVerify, h5py, python };
        cli.Bind(cmd, (parse, log) =>
        {
            using var view = OpenData(parse.GetValue(data), parse.GetValue(split), parse.GetValue(cache), !parse.GetValue(noVerify), log);
            if (view.Source is not Hdf5PatchSource h5)
                throw new PCamDataException($"{view.Source.Description}: `bench read` needs the official HDF5 layout (see `pcam import`).");
            var r = ReadBenchmark.Run(h5.XPath, h5.YPath);
            var o = cli.Out;
            o.WriteLine($"file   {r.XPath} ({r.ReadMode})");
            o.WriteLine($"cursor {r.View.RowsPerSecond,12:N0} rows/s {r.View.MegabytesPerSecond,9:N0} MB/s");
            o.WriteLine($"raw    {r.Raw.RowsPerSecond,12:N0} rows/s {r.Raw.MegabytesPerSecond,9:N0} MB/s");
            o.WriteLine($"ratio cursor/raw = {r.Ratio:F2} (goal >= 0.50)");
            if (parse.GetValue(h5py))
            {
                var py = H5py(parse.GetValue(python)!, h5.XPath, log);
                if (py is { } rate)
                {
                    o.WriteLine($"h5py   {rate,12:N0} rows/s (batches of 256)");
                    o.WriteLine($"ratio cursor/h5py = {r.View.RowsPerSecond / rate:F2} (goal >= 1.0)");
                }
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>Times h5py reading x in batches of 256 (touching every byte, as the cursor pass does); null if unavailable.</summary>
    private static double? H5py(string python, string xPath, ITrainingLog log)
    {
        const string script = """
            import sys, time, h5py, numpy as np
            f = h5py.File(sys.argv[1], 'r'); x = f['x']; n = x.shape[0]; s = 0
            t = time.perf_counter()
            for i in range(0, n, 256):
                s += int(np.asarray(x[i:i+256]).sum(dtype=np.uint64))
            print(n / (time.perf_counter() - t))
            """;
        try
        {
            var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-c"); psi.ArgumentList.Add(script); psi.ArgumentList.Add(xPath);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEnd();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode == 0) return double.Parse(stdout.Trim(), CultureInfo.InvariantCulture);
            log.Warning($"h5py comparison skipped: {stderr.Trim().Split('\n').Last()}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            log.Warning($"h5py comparison skipped: {python} not found ({e.Message}).");
        }
        return null;
    }

    /// <summary>`pcam bench random-vit`: writes a random-weight ViT export + backbone JSON to measure a backbone's cost before getting real weights.</summary>
    private static Command RandomVitCommand(CliContext cli)
    {
        var preset = new Option<string>("--preset") { Description = "s16, b16 or l16 (ViT-S/16, ViT-B/16, ViT-L/16 at 224 px).", DefaultValueFactory = _ => "s16" };
        var output = new Option<string>("--out") { Description = "Folder to write NAME.onnx (+ .onnx.data) and NAME.json.", Required = true };
        var fp16 = new Option<bool>("--fp16") { Description = "float16 input, weights and output." };
        var external = new Option<bool>("--external-data") { Description = "Weights as ONNX external data in NAME.onnx.data." };
        var fixedBatch = new Option<bool>("--fixed-batch") { Description = "Export with the batch fixed at 1." };
        var registers = new Option<int>("--registers") { Description = "Register tokens after the class token." };
        var pooled = new Option<bool>("--pooled") { Description = "Output the class token [N,D] instead of all tokens [N,T,D]." };
        var cmd = new Command("random-vit", "Write a random-weight ViT ONNX export and its backbone JSON (for benchmarks; not a trained model).")
        {
            preset, output, fp16, external, fixedBatch, registers, pooled,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var o = PCam.Benchmarks.Synthetic.RandomVitOptions.Preset(parse.GetValue(preset)!);
            o.Float16 = parse.GetValue(fp16);
            o.ExternalData = parse.GetValue(external);
            o.FixedBatch = parse.GetValue(fixedBatch);
            o.RegisterTokens = parse.GetValue(registers);
            o.Output = parse.GetValue(pooled) ? PCam.Benchmarks.Synthetic.VitOutput.Pooled : PCam.Benchmarks.Synthetic.VitOutput.Tokens;
            var dir = parse.GetValue(output)!;
            var name = $"random_vit_{parse.GetValue(preset)}{(o.Float16 ? "_fp16" : "")}{(o.ExternalData ? "_ext" : "")}{(o.FixedBatch ? "_b1" : "")}";
            var sw = Stopwatch.StartNew();
            var parameters = PCam.Benchmarks.Synthetic.RandomVit.Write(Path.Combine(dir, name + ".onnx"), o);
            var config = new BackboneConfig
            {
                Name = name, OnnxPath = name + ".onnx", ChannelOrder = ChannelOrder.RGB, Scale = 1 / 255f,
                Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f], InputSize = o.ImageSize, PatchSize = o.PatchSize,
                AcceptedSizes = [o.ImageSize], TokenPooling = TokenPoolings.ClsMean, PrefixTokens = 1 + o.RegisterTokens,
                Source = "random weights (pcam bench random-vit); not a trained model",
            };
            config.Save(Path.Combine(dir, name + ".json"));
            var bytes = Directory.GetFiles(dir, name + ".onnx*").Sum(f => new FileInfo(f).Length);
            cli.Out.WriteLine($"{Path.Combine(dir, name + ".json")}: {parameters / 1e6:F1}M parameters, {bytes / 1048576.0:F0} MB on disk, written in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }

    private static Command Featurize(CliContext cli)
    {
        var (data, split, cache, noVerify) = DataOptions(PCamSplit.Test);
        var config = new Option<string?>("--config") { Description = "Configuration whose backbone, image size and TTA are measured." }.MustBeFile("configuration file");
        var rows = new Option<int>("--rows") { Description = "Patches to featurize.", DefaultValueFactory = _ => 256 };
        var stockRows = new Option<int>("--stock-rows") { Description = "Patches for ML.NET's stock pipeline from PNG files (LoadImages, ResizeImages, ExtractPixels, DnnFeaturizeImage; slow; 0 = skip).", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "Batch size for both batched paths.", DefaultValueFactory = _ => 64 };
        var device = OptionKinds.Device("cpu, cuda or cuda:N (default: the config's).", configKey: null);
        var imageSize = new Option<int?>("--image-size") { Description = "Override TrainingOption.ImageSize." };
        var tta = new Option<bool?>("--tta") { Description = "Override TrainingOption.Tta (the 8-view graph)." };
        var backbone = new Option<string?>("--backbone") { Description = "Override TrainingOption.Backbone: a built-in name or a backbone .json file." };
        var precision = OptionKinds.Precision("Override TrainingOption.Precision: fp32 or int8 (int8 is also timed against fp32, alternating).", configKey: null);
        var calRows = new Option<int>("--calibration-rows") { Description = "With int8: patches of the benchmark rows the ranges are calibrated on.", DefaultValueFactory = _ => 64 };
        var cmd = new Command("featurize", "Featurization rows/s: our batched path vs bare InferenceSession.Run vs ML.NET's stock DnnImageFeaturizer.")
        {
            data, split, cache, noVerify, config, rows, stockRows, batch, device, imageSize, tta, backbone, precision, calRows,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            // Configuration and backbone first: a bad value is reported before any data is decompressed.
            var c = RunOptions.LoadConfig(parse.GetValue(config));
            var t = c.TrainingOption;
            if (parse.GetValue(imageSize) is { } size) t.ImageSize = size;
            if (parse.GetValue(tta) is { } views) t.Tta = views;
            if (parse.GetValue(backbone) is { } b) t.Backbone = b;
            if (parse.GetValue(precision) is { } p) t.Precision = p.Name();
            PCamConfigLoader.Validate(c, parse.GetValue(config) ?? "command line");
            if (parse.GetValue(rows) < 1) throw new ArgumentException("--rows must be at least 1.");
            var sw = Stopwatch.StartNew();
            var graph = FeaturizerGraph.Build(BackboneResolver.Resolve(t.Backbone), t.ToFeaturizerOptions());
            log.Info($"Graph built in {sw.Elapsed.TotalSeconds:F1} s.");
            foreach (var warning in graph.Warnings) log.Warning(warning);
            using var view = OpenData(parse.GetValue(data), parse.GetValue(split), parse.GetValue(cache), !parse.GetValue(noVerify), log);
            var n = (int)Math.Min(parse.GetValue(rows), view.Source.RowCount);
            if (n < 1) throw new PCamDataException($"{view.Source.Description}: the split has no rows to featurize.");
            var images = new byte[(long)n * PatchSchema.ImageBytes];
            view.Source.ReadImages(0, n, images);
            var dev = parse.GetValue(device) ?? PCamConfigLoader.ResolveDevice(c);
            if (t.PrecisionKind == FeaturizerPrecision.Int8 && graph.Int8Unsupported() is { } why) log.Warning($"Precision int8 is not applied: {why}.");
            else if (t.PrecisionKind == FeaturizerPrecision.Int8)
                graph = CompareInt8(cli, t, graph, images, n, dev, parse.GetValue(batch), parse.GetValue(calRows), c.Environment.Threads);
            var r = FeaturizerBenchmark.Run(graph, images, n, dev, parse.GetValue(batch), c.Environment.Threads, parse.GetValue(stockRows), log: log.Info);
            var o = cli.Out;
            o.WriteLine($"graph  {t.Backbone} at {graph.ImageSize}px{(t.Tta ? ", 8-view TTA" : "")}, {graph.Precision.Name()}, {r.FeatureDimension} features, batch {r.BatchSize}, {r.Device}, {Environment.ProcessorCount} cores");
            o.WriteLine($"pcam batched featurizer   {r.FeaturizerRowsPerSecond,8:F1} patches/s = {r.FeaturizerViewsPerSecond:F1} views/s ({r.Views} view{(r.Views > 1 ? "s" : "")} per patch, {r.Rows} patches)");
            o.WriteLine($"bare InferenceSession.Run {r.BareSessionRowsPerSecond,8:F1} patches/s");
            o.WriteLine($"ratio featurizer/bare = {r.RatioToBare:F2} (goal >= 0.9)");
            if (r.StockDnnRowsPerSecond is { } stock)
            {
                o.WriteLine($"ML.NET stock pipeline     {stock,8:F1} images/s ({r.StockRows} PNG files: LoadImages, ResizeImages 224, ExtractPixels, DnnFeaturizeImage ResNet18; one view each)");
                o.WriteLine($"speed-up vs stock, views/s = {r.SpeedupVsStock:F1}x (goal >= 10x; like with like: one backbone run each)");
                if (r.Views > 1) o.WriteLine($"speed-up vs stock, patches/s = {r.PatchSpeedupVsStock:F1}x (with our {r.Views} views per patch)");
            }
            o.WriteLine($"full PCam ({FullPCamRows:N0} patches) at this rate: {TimeSpan.FromSeconds(FullPCamRows / r.FeaturizerRowsPerSecond):hh\\:mm\\:ss}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Calibrates on the benchmark rows' single-view fp32 graph, prints int8 vs fp32 (alternating, same rows), returns the int8 graph.</summary>
    private static FeaturizerGraph CompareInt8(CliContext cli, TrainingOptionConfig t, FeaturizerGraph fp32, byte[] images, int n,
        ExecutionDevice device, int batch, int calibrationRows, int? threads)
    {
        int calN = Math.Clamp(calibrationRows, 1, n);
        var single = t.Tta ? FeaturizerGraph.Build(BackboneResolver.Resolve(t.Backbone), t.ToFeaturizerOptions(tta: false)) : fp32;
        var table = single.Calibrate(images, calN, t.Seed, threads).ToTable(t.CalibrationMethod);
        var int8 = fp32.Quantize(table);
        var r = PrecisionBenchmark.Run(fp32, int8, images, n, device, batch, threads);
        var o = cli.Out;
        o.WriteLine($"int8 vs fp32 (alternating, {r.Rows} rows, batch {r.BatchSize}; ranges: {table.Describe().Replace("train rows", "benchmark rows")})");
        o.WriteLine($"fp32 featurizer           {r.Fp32RowsPerSecond,8:F1} rows/s");
        o.WriteLine($"int8 featurizer           {r.Int8RowsPerSecond,8:F1} rows/s");
        o.WriteLine($"int8/fp32 = {r.Speedup:F2}x (goal >= 2x); feature cosine min {r.MinCosine:F4}, mean {r.MeanCosine:F4}");
        return int8;
    }

    private static Command ImageClassification(CliContext cli)
    {
        var images = new Option<int>("--images") { Description = "Generated photos.", DefaultValueFactory = _ => 160 };
        var classes = new Option<int>("--classes") { Description = "Classes.", DefaultValueFactory = _ => 5 };
        var precision = new Option<string>("--precision") { Description = "Featurizer precision: int8 (the trainer's default) or fp32.", DefaultValueFactory = _ => "int8" };
        var cmd = new Command("image-classification", "The image-classification trainer's Fit on generated 320x240 JPEG photos: bottleneck images/s and whole Fit seconds.")
        {
            images, classes, precision,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var (n, k) = (parse.GetValue(images), parse.GetValue(classes));
            if (n < 2 * k || k < 2) throw new PCamConfigException("--classes must be at least 2 and --images at least twice --classes.");
            if (!FeaturizerPrecisions.TryParse(parse.GetValue(precision), out var p)) throw new PCamConfigException($"--precision must be one of {string.Join(", ", FeaturizerPrecisions.Names)}.");
            var photos = ImageClassificationBenchmark.Generate(n, k, 320, 240, seed: 1);
            var r = ImageClassificationBenchmark.Run(photos, p, seed: 1);
            cli.Out.WriteLine($"image-classification: {r.Images} JPEG photos 320x240, {k} classes, ResNet18 at 224 px, {r.Precision}, {Environment.ProcessorCount} cores");
            cli.Out.WriteLine($"bottleneck phase (decode + stretch + featurize): {r.BottleneckSeconds:F1} s, {r.Images / r.BottleneckSeconds:F1} images/s ({1000 * r.BottleneckSeconds / r.Images:F0} ms/image)");
            cli.Out.WriteLine($"whole Fit (graph, {(r.Precision == "int8" ? "int8 calibration and check, " : "")}bottlenecks, {r.Epochs} epochs): {r.FitSeconds:F1} s");
            return 0;
        });
        return cmd;
    }

    private static Command Heads(CliContext cli)
    {
        var rows = new Option<int>("--rows") { Description = "Generated train rows.", DefaultValueFactory = _ => 262_144 };
        var validRows = new Option<int>("--valid-rows") { Description = "Generated valid rows.", DefaultValueFactory = _ => 32_768 };
        var dim = new Option<int>("--dim") { Description = "Feature dimension.", DefaultValueFactory = _ => 896 };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated table and of the search.", DefaultValueFactory = _ => 1 };
        var old = new Option<bool>("--old") { Description = "Run the original exhaustive search (without --new: only it)." };
        var @new = new Option<bool>("--new") { Description = "Run the default search (without --old: only it). Neither flag: both, alternating." };
        var repeat = new Option<int>("--repeat") { Description = "Rounds (each runs every chosen path once, alternating).", DefaultValueFactory = _ => 1 };
        var trainer = OptionKinds.Trainer("Head trainer (default LbfgsLogisticRegression).", configKey: null);
        var threads = new Option<int?>("--threads") { Description = "HeadSelection.Threads for the default path (default: all cores)." };
        var selectionRows = new Option<int?>("--selection-rows") { Description = "HeadSelection.SelectionRows for the default path." };
        var tolerance = new Option<double?>("--tolerance") { Description = "HeadSelection.LbfgsTolerance for the default path." };
        var cache = new Option<string?>("--cache-dir") { Description = $"Cache folder for the generated tables (default {PCamDataOptions.DefaultCacheFolder})." };
        var cmd = new Command("heads", "Head selection (all candidates + calibration) on a generated PCam-sized feature table: original exhaustive search vs the default search.")
        {
            rows, validRows, dim, seed, old, @new, repeat, trainer, threads, selectionRows, tolerance, cache,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var (n, nValid, d) = (parse.GetValue(rows), parse.GetValue(validRows), parse.GetValue(dim));
            if (n < 2 || nValid < 2 || d < 1) throw new PCamConfigException("--rows and --valid-rows must be at least 2 and --dim at least 1.");
            var t = new TrainingOptionConfig { Trainer = (parse.GetValue(trainer) ?? HeadTrainerKind.LbfgsLogisticRegression).ToString(), Seed = parse.GetValue(seed) };
            if (parse.GetValue(threads) is { } th) t.HeadSelection.Threads = th;
            if (parse.GetValue(selectionRows) is { } sr) t.HeadSelection.SelectionRows = sr;
            if (parse.GetValue(tolerance) is { } tol) t.HeadSelection.LbfgsTolerance = tol;
            var config = new PCamConfig { TrainingOption = t };
            PCamConfigLoader.Validate(config, "command line");
            var runOld = parse.GetValue(old) || !parse.GetValue(@new);
            var runNew = parse.GetValue(@new) || !parse.GetValue(old);
            var ml = new MLContext(seed: t.Seed);
            var dir = Path.Combine(parse.GetValue(cache) ?? PCamDataOptions.DefaultCacheFolder, "bench-heads");
            var (trainPath, validPath) = HeadBenchmark.EnsureTables(ml, dir, n, nValid, d, t.Seed, log.Info);
            var o = cli.Out;
            var tableBytes = (long)n * d * sizeof(float);
            o.WriteLine($"table  train {n:N0} x {d} ({tableBytes / 1e9:F2} GB as float32), valid {nValid:N0}; generated, seed {t.Seed} ({trainPath})");
            o.WriteLine($"host   {Environment.ProcessorCount} cores, load average {LoadAverage()} at start");
            var runs = new List<HeadBenchRun>();
            for (var round = 0; round < Math.Max(1, parse.GetValue(repeat)); round++)
                foreach (var exhaustive in new[] { true, false }.Where(e => e ? runOld : runNew))
                {
                    var r = HeadBenchmark.Run(ml, trainPath, validPath, t, exhaustive, log.Info);
                    runs.Add(r);
                    o.WriteLine(Line(r, tableBytes));
                }
            o.WriteLine($"host   load average {LoadAverage()} at end; process peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e9:F2} GB");
            var olds = runs.Where(r => r.Exhaustive).ToList();
            var news = runs.Where(r => !r.Exhaustive).ToList();
            if (olds.Count > 0 && news.Count > 0)
            {
                o.WriteLine($"ratio  old/new total seconds = {olds.Average(r => r.Seconds) / news.Average(r => r.Seconds):F1}x " +
                            $"(means over {olds.Count} + {news.Count} runs)");
                o.WriteLine($"delta  valid NLL new - old = {Signed(news[0].Result.Best.ValidNll - olds[0].Result.Best.ValidNll)} (goal |delta| <= 0.002); " +
                            $"same choice: {HeadTrainer.Describe(news[0].Result.Best.Parameters) == HeadTrainer.Describe(olds[0].Result.Best.Parameters)}");
            }
            return 0;
        });
        return cmd;
    }

    private static string Line(HeadBenchRun r, long tableBytes)
    {
        var trials = string.Join(" ", r.Result.Trials.Select(t => $"{Short(t.Parameters)}:{t.Seconds:F1}s/{t.ValidNll:F4}"));
        var refit = r.Result.Trials.Contains(r.Result.Best) ? "" : $" refit {r.Result.Best.TrainRows:N0} rows {r.Result.Best.Seconds:F1}s;";
        return $"{(r.Exhaustive ? "old" : "new"),-6} total {r.Seconds,7:F1} s; trials (param:s/NLL, {r.Result.Trials[0].TrainRows:N0} rows) {trials};{refit} " +
               $"chosen {Short(r.Result.Best.Parameters)} valid NLL {r.Result.Best.ValidNll:F4}; " +
               $"peak working set {r.PeakWorkingSetBytes / 1e9:F2} GB ({(double)r.PeakWorkingSetBytes / tableBytes:F2}x table; {r.StartWorkingSetBytes / 1e9:F2} GB before)";
    }

    private static string Signed(double d) => (d >= 0 ? "+" : "") + d.ToString("F4", CultureInfo.InvariantCulture);

    private static string Short(IReadOnlyDictionary<string, string> p) =>
        p.TryGetValue("L2Regularization", out var l2) ? $"L2={l2}" : p.TryGetValue("NumberOfLeaves", out var leaves) ? $"leaves={leaves}" : HeadTrainer.Describe(p);

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
        catch (UnauthorizedAccessException) { return "n/a"; }
    }
}
