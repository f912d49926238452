using System.CommandLine;
using System.Diagnostics;
using PCam.MLNet.Featurization;
using PCam.MLNet.Slides;

namespace PCam.Cli.Commands;

/// <summary>`pcam heatmap`: tumour probability maps, QuPath regions and a summary for large images and tiled slides.</summary>
internal sealed class HeatmapCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var defaults = new HeatmapOptions();
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train`.", Required = true };
        var inputs = new Argument<string[]>("inputs") { Description = "PNG, JPEG or TIFF images of any size, or tiled (pyramidal) TIFF slides.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output") { Description = "Folder for STEM.tiles.csv, STEM.heatmap.png, STEM.geojson and STEM.summary.json.", Required = true };
        var stride = new Option<int>("--stride") { Description = "Window step in window pixels at 0.972 um/px (32 = PCam's centre 32x32 label region).", DefaultValueFactory = _ => defaults.Stride };
        var level = new Option<int?>("--level") { Description = "Pyramid level to read (default: the coarsest at or below 0.972 um/px; windows are resampled to 0.972 um/px when the pixel size is known, read as they are when not)." };
        var mpp = new Option<double?>("--mpp") { Description = "Level 0's microns per pixel, for files that lack it (needed, or --level, when the file gives no pixel size)." };
        var threshold = new Option<double>("--threshold") { Description = "Probability at or above which windows form tumour regions (GeoJSON, tumour area).", DefaultValueFactory = _ => defaults.Threshold };
        var batch = new Option<int>("--batch-size") { Description = "Windows per ONNX Runtime call.", DefaultValueFactory = _ => defaults.BatchSize };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var noMask = new Option<bool>("--no-tissue-mask") { Description = "Score every window, glass included." };
        var scoring = new HeatmapAnnotations();
        var minTissue = new Option<double>("--min-tissue") { Description = "Fraction of a window that must be tissue for it to be scored.", DefaultValueFactory = _ => defaults.MinTissueFraction };
        var cmd = new Command("heatmap", "Score 96x96 windows of large images or tiled slides: probability CSV, heatmap PNG, QuPath GeoJSON and a summary per input.")
        {
            model, inputs, output, stride, level, mpp, threshold, batch, device, noMask, minTissue,
        };
        foreach (var o in scoring.All) cmd.Options.Add(o);
        cli.Bind(cmd, (parse, log) =>
        {
            var options = new HeatmapOptions
            {
                Stride = parse.GetValue(stride), Level = parse.GetValue(level), MicronsPerPixel = parse.GetValue(mpp), Threshold = parse.GetValue(threshold),
                BatchSize = parse.GetValue(batch), UseTissueMask = !parse.GetValue(noMask), MinTissueFraction = parse.GetValue(minTissue),
            };
            options.Validate();
            var files = parse.GetValue(inputs)!;
            var outDir = parse.GetValue(output)!;
            var modelPath = parse.GetValue(model)!;
            // Inputs are checked before the model loads; outputs are named by file stem, so two inputs with one stem
            // would overwrite each other's maps.
            foreach (var f in files)
                if (!File.Exists(f)) throw new PCam.MLNet.Data.PCamDataException($"{f}: input image not found.");
            if (files.GroupBy(f => Path.GetFileNameWithoutExtension(f), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } clash)
                throw new PCam.MLNet.Data.PCamDataException($"{string.Join(" and ", clash)}: inputs share the name '{clash.Key}', so their outputs ({clash.Key}.tiles.csv, ...) would overwrite each other; rename one or run them separately.");
            var annotations = scoring.Start(parse, files);
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                using var windowModel = WindowModel.Load(modelPath, ExecutionDevice.Parse(parse.GetValue(device)!), batchSize: options.BatchSize);
                if (windowModel.Featurizer.DeviceDescription.Contains("unavailable", StringComparison.Ordinal)) log.Warning(windowModel.Featurizer.DeviceDescription);
                foreach (var input in files)
                {
                    var clock = Stopwatch.StartNew();
                    HeatmapResult result;
                    WindowProgress? bar = null;
                    try
                    {
                        result = SlideHeatmap.Run(windowModel, input, options, (done, total) =>
                        {
                            bar ??= new WindowProgress(log, Path.GetFileName(input), total);
                            bar.Advance(done);
                        }, m => { if (m.StartsWith("warning: ", StringComparison.Ordinal)) log.Warning(m["warning: ".Length..]); else log.Info(m); }, cancel.Token);
                    }
                    finally
                    {
                        bar?.Dispose();
                    }
                    var paths = HeatmapWriter.Write(result, outDir, modelPath, clock.Elapsed.TotalSeconds, cancel.Token);
                    var top = result.Probability.Where(p => !float.IsNaN(p)).DefaultIfEmpty(float.NaN).Max();
                    log.Info($"{input}: {result.WindowsScored:N0} of {result.WindowsTotal:N0} windows scored in {result.ScoringSeconds:F1} s " +
                             $"({result.WindowsPerSecond:F1} windows/s), max probability {top:F3}.");
                    if (annotations?.Score(result, paths.SummaryJson) is { } scored)
                        log.Info($"{input}: window AUC {scored.WindowAuc:F3}, accuracy {scored.WindowAccuracy:F3}, Dice {scored.Dice:F3}, " +
                                 $"{scored.LesionsDetected} of {scored.DetectableLesions} lesions detected, {scored.FalsePositiveRegions} false-positive region(s).");
                    cli.Out.WriteLine(paths.SummaryJson);
                }
                if (annotations is not null) cli.Out.WriteLine(annotations.Finish(outDir));
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>Turns (done, total) reports into a counted progress bar with windows/s and ETA.</summary>
    private sealed class WindowProgress(ConsoleLog log, string name, long total) : IDisposable
    {
        private readonly PCam.MLNet.Training.IProgressTask _task = log.StartTask(name, total, "windows");
        private long _done;

        public void Advance(long done)
        {
            _task.Advance(done - _done);
            _done = done;
        }

        public void Dispose() => _task.Dispose();
    }
}
