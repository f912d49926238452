using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

/// <summary>`pcam bench read|featurize`: measured throughput and ratios, printed (benchmarks, not tests).</summary>
internal sealed class BenchCommand : ICommandFactory
{
    public const int FullPCamRows = 327_680;

    public Command Create(CliContext cli)
    {
        var bench = new Command("bench", "Measure read and featurization throughput (prints ratios against the baselines).");
        bench.Subcommands.Add(Read(cli));
        bench.Subcommands.Add(Featurize(cli));
        bench.Subcommands.Add(BenchTtaCommand.Create(cli));
        return bench;
    }

    private static (Option<string?> Data, Option<PCamSplit> Split, Option<string?> Cache) DataOptions(PCamSplit defaultSplit) => (
        new Option<string?>("--data") { Description = "Folder with PCam data (default: the generated demo set)." },
        new Option<PCamSplit>("--split") { Description = "Split to read.", DefaultValueFactory = _ => defaultSplit },
        new Option<string?>("--cache-dir") { Description = "Cache folder (default .pcam-cache)." });

    private static PatchDataView OpenData(string? dir, PCamSplit split, string? cacheDir, ITrainingLog log)
    {
        var cache = cacheDir ?? ".pcam-cache";
        if (dir is null)
        {
            dir = DemoData.EnsureGenerated(Path.Combine(cache, "demo"));
            log.Info($"No --data: using the generated demo set in {dir}.");
        }
        return PCamData.Open(dir, split, new PCamDataOptions { CacheDirectory = Path.Combine(cache, "h5"), Warning = log.Warning });
    }

    private static Command Read(CliContext cli)
    {
        var (data, split, cache) = DataOptions(PCamSplit.Train);
        var h5py = new Option<bool>("--h5py") { Description = "Also time h5py reading the same rows in batches of 256." };
        var python = new Option<string>("--python") { Description = "Python interpreter with h5py for --h5py.", DefaultValueFactory = _ => "python3" };
        var cmd = new Command("read", "Read a whole split through the IDataView cursor (Image and Label touched) vs a raw sequential file read.") { data, split, cache, h5py, python };
        cli.Bind(cmd, (parse, log) =>
        {
            using var view = OpenData(parse.GetValue(data), parse.GetValue(split), parse.GetValue(cache), log);
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

    private static Command Featurize(CliContext cli)
    {
        var (data, split, cache) = DataOptions(PCamSplit.Test);
        var config = new Option<string?>("--config") { Description = "Configuration whose backbone, image size and TTA are measured." };
        var rows = new Option<int>("--rows") { Description = "Patches to featurize.", DefaultValueFactory = _ => 256 };
        var stockRows = new Option<int>("--stock-rows") { Description = "Patches for ML.NET's stock DnnImageFeaturizer pipeline (slow; 0 = skip).", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "Batch size for both batched paths.", DefaultValueFactory = _ => 64 };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or cuda:N (default: the config's)." };
        var imageSize = new Option<int?>("--image-size") { Description = "Override TrainingOption.ImageSize." };
        var tta = new Option<bool?>("--tta") { Description = "Override TrainingOption.Tta (the 8-view graph)." };
        var precision = new Option<string?>("--precision") { Description = "Override TrainingOption.Precision: fp32 or int8 (int8 is also timed against fp32, alternating)." };
        var calRows = new Option<int>("--calibration-rows") { Description = "With int8: patches of the benchmark rows the ranges are calibrated on.", DefaultValueFactory = _ => 64 };
        var cmd = new Command("featurize", "Featurization rows/s: our batched path vs bare InferenceSession.Run vs ML.NET's stock DnnImageFeaturizer.")
        {
            data, split, cache, config, rows, stockRows, batch, device, imageSize, tta, precision, calRows,
        };
        cli.Bind(cmd, (parse, log) =>
        {
            var c = TrainCommand.LoadConfig(parse.GetValue(config));
            using var view = OpenData(parse.GetValue(data), parse.GetValue(split), parse.GetValue(cache), log);
            var n = (int)Math.Min(parse.GetValue(rows), view.Source.RowCount);
            if (n < 1) throw new ArgumentException("--rows must be at least 1.");
            var images = new byte[(long)n * PatchSchema.ImageBytes];
            view.Source.ReadImages(0, n, images);
            var t = c.TrainingOption;
            if (parse.GetValue(imageSize) is { } size) t.ImageSize = size;
            if (parse.GetValue(tta) is { } views) t.Tta = views;
            if (parse.GetValue(precision) is { } p) t.Precision = p;
            PCamConfigLoader.Validate(c, "command line");
            var graph = FeaturizerGraph.Build(BackboneResolver.Resolve(t.Backbone), t.ToFeaturizerOptions());
            var dev = parse.GetValue(device) is { } d ? ExecutionDevice.Parse(d) : PCamConfigLoader.ResolveDevice(c);
            if (t.Precision == FeaturizerPrecision.Int8)
                graph = CompareInt8(cli, t, graph, images, n, dev, parse.GetValue(batch), parse.GetValue(calRows), c.Environment.Threads);
            var r = FeaturizerBenchmark.Run(graph, images, n, dev, parse.GetValue(batch), c.Environment.Threads, parse.GetValue(stockRows), log: log.Info);
            var o = cli.Out;
            o.WriteLine($"graph  {t.Backbone} at {t.ImageSize}px{(t.Tta ? ", 8-view TTA" : "")}, {graph.Precision}, {r.FeatureDimension} features, batch {r.BatchSize}, {r.Device}, {Environment.ProcessorCount} cores");
            o.WriteLine($"pcam batched featurizer   {r.FeaturizerRowsPerSecond,8:F1} rows/s  ({r.Rows} rows)");
            o.WriteLine($"bare InferenceSession.Run {r.BareSessionRowsPerSecond,8:F1} rows/s");
            o.WriteLine($"ratio featurizer/bare = {r.RatioToBare:F2} (goal >= 0.9)");
            if (r.StockDnnRowsPerSecond is { } stock)
            {
                o.WriteLine($"ML.NET DnnFeaturizeImage  {stock,8:F1} rows/s  ({r.StockRows} rows, ResNet18 at 224px)");
                o.WriteLine($"speed-up vs stock = {r.SpeedupVsStock:F1}x (goal >= 10x)");
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
}
