using System.CommandLine;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Slides;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

/// <summary>
/// `pcam heatmap`: a cohort of slides in (files, folders, a CSV list), one results folder out (per slide: tiles CSV,
/// heatmap PNG, QuPath GeoJSON, tissue thumbnail, summary; slides.csv and run.json), resumable and shardable.
/// Exit codes: 0 every slide ok or skipped; 3 some slide failed (see slides.csv); 1 bad arguments, model or list;
/// 130 cancelled.
/// </summary>
internal sealed class HeatmapCommand : ICommandFactory
{
    public const int SlidesFailed = 3;

    public Command Create(CliContext cli)
    {
        var defaults = new HeatmapOptions();
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train`.", Required = true };
        model.MustBeFile("model file");
        var inputs = new Argument<string[]>("inputs") { Description = "Slide files (TIFF, SVS, NDPI, MRXS, SCN, ...; PNG/JPEG images) and folders of them.", Arity = ArgumentArity.ZeroOrMore };
        var output = new Option<string>("--output") { Description = "Results folder: slides/ID/ per slide, slides.csv, run.json, shards/.", Required = true };
        var recursive = new Option<bool>("--recursive") { Description = "Look for slides in subfolders of the folders given." };
        var list = new Option<string?>("--list") { Description = "CSV of slides: column 'path' (relative to the CSV), optional 'slide_id' and 'label'." };
        list.MustBeFile("slide list");
        var force = new Option<bool>("--force") { Description = "Redo every slide (default: skip slides whose outputs are complete for this model, settings and file)." };
        var failFast = new Option<bool>("--fail-fast") { Description = "Stop at the first slide that fails (default: record it and go on)." };
        var shard = new Option<string?>("--shard") { Description = "Run shard K of N (K/N, 0-based). Default: from SLURM_ARRAY_TASK_ID/MIN/COUNT or JOB_COMPLETION_INDEX with --shards, else the whole cohort." };
        var shards = new Option<int?>("--shards") { Description = "Number of shards, for Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX) or to override SLURM_ARRAY_TASK_COUNT." };
        var stride = new Option<int>("--stride") { Description = "Window step in window pixels at 0.972 um/px (32 = PCam's centre 32x32 label region).", DefaultValueFactory = _ => defaults.Stride };
        var level = new Option<int?>("--level") { Description = "Pyramid level to read (default: the coarsest at or below 0.972 um/px; windows are resampled to 0.972 um/px when the pixel size is known, read as they are when not)." };
        var mpp = new Option<double?>("--mpp") { Description = "Level 0's microns per pixel, for files that lack it (needed, or --level, when the file gives no pixel size)." };
        var threshold = new Option<double>("--threshold") { Description = "Smoothed probability at or above which windows form tumour regions.", DefaultValueFactory = _ => defaults.Threshold };
        var smoothing = new Option<int>("--smoothing") { Description = "Radius of the mean filter on the probability grid before thresholding (1 = 3x3, 0 = none).", DefaultValueFactory = _ => defaults.SmoothingRadius };
        var minRegion = new Option<double>("--min-region-um2") { Description = "Drop tumour regions smaller than this many square microns.", DefaultValueFactory = _ => defaults.MinRegionUm2 };
        var reader = new Option<SlideReaderKind>("--reader") { Description = "auto (LibTiff for TIFF/SVS, OpenSlide for NDPI, MRXS, SCN, BIF, VMS...), libtiff or openslide.", DefaultValueFactory = _ => SlideReaderKind.Auto };
        var batch = new Option<int>("--batch-size") { Description = "Windows per ONNX Runtime call.", DefaultValueFactory = _ => defaults.BatchSize };
        var device = OptionKinds.Device("cpu (default), cuda or cuda:N.", configKey: null);
        var noMask = new Option<bool>("--no-tissue-mask") { Description = "Score every window, glass included." };
        var minTissue = new Option<double>("--min-tissue") { Description = "Fraction of a window that must be tissue for it to be scored.", DefaultValueFactory = _ => defaults.MinTissueFraction };
        var cmd = new Command("heatmap", "Score 96x96 windows at 0.972 um/px over a cohort of slides: per slide a tiles CSV, heatmap PNG, QuPath GeoJSON, tissue thumbnail and summary; slides.csv and run.json. Exit 3 when a slide failed.")
        {
            model, inputs, output, recursive, list, force, failFast, shard, shards, stride, level, mpp, threshold, smoothing, minRegion, reader, batch, device, noMask, minTissue,
        };
        var scoring = new HeatmapAnnotations();
        foreach (var o in scoring.All) cmd.Options.Add(o);
        cli.Bind(cmd, (parse, log, cancel) =>
        {
            var options = new HeatmapOptions
            {
                Stride = parse.GetValue(stride), Level = parse.GetValue(level), MicronsPerPixel = parse.GetValue(mpp), Threshold = parse.GetValue(threshold),
                SmoothingRadius = parse.GetValue(smoothing), MinRegionUm2 = parse.GetValue(minRegion), Reader = parse.GetValue(reader),
                BatchSize = parse.GetValue(batch), UseTissueMask = !parse.GetValue(noMask), MinTissueFraction = parse.GetValue(minTissue),
            };
            options.Validate();
            var files = parse.GetValue(inputs) ?? [];
            var listFile = parse.GetValue(list);
            if (files.Length == 0 && listFile is null) throw new ArgumentException("give slide files or folders, or --list FILE.csv.");
            var modelPath = parse.GetValue(model)!;
            var theShard = Shard.Resolve(parse.GetValue(shard), parse.GetValue(shards));
            // Inputs are gathered (and a missing folder or list refused) before the model loads.
            var slides = SlideInputs.Collect(files, parse.GetValue(recursive), listFile);
            if (slides.Count == 0) throw new PCamDataException($"{string.Join(", ", files)}: no slide files found (extensions {string.Join(" ", SlideInputs.Extensions)}{(parse.GetValue(recursive) ? "" : "; --recursive looks in subfolders")}).");
            var results = parse.GetValue(output)!;
            var annotator = scoring.Start(parse, slides);

            {
                using var windowModel = WindowModel.Load(modelPath, parse.GetValue(device) ?? ExecutionDevice.Cpu, batchSize: options.BatchSize);
                if (windowModel.Featurizer.DeviceDescription.Contains("unavailable", StringComparison.Ordinal)) log.Warning(windowModel.Featurizer.DeviceDescription);
                WindowProgress? bar = null;
                string? barFor = null;
                var runner = new CohortRunner(windowModel, options, new CohortOptions { Output = results, Force = parse.GetValue(force), FailFast = parse.GetValue(failFast), Shard = theShard })
                {
                    Annotator = annotator, Info = log.Info, Warning = log.Warning, Error = m => { bar?.Dispose(); bar = null; cli.Err.WriteLine("error: " + FlagNames.Apply(m)); },
                    Progress = (id, done, total) =>
                    {
                        if (barFor != id) { bar?.Dispose(); bar = new WindowProgress(log, id, total); barFor = id; }
                        bar!.Advance(done);
                        if (done >= total) { bar.Dispose(); bar = null; }
                    },
                };
                List<SlideRecord> rows;
                try { rows = runner.Run(slides, cancel); }
                finally { bar?.Dispose(); }
                int failed = rows.Count(r => r.Status == SlideRecord.Failed);
                var record = theShard.Count == 1 ? Path.Combine(results, "slides.csv") : Path.Combine(CohortRunner.ShardsFolder(results), theShard.Name + ".csv");
                log.Info($"{rows.Count} slide(s): {rows.Count(r => r.Status == SlideRecord.Ok)} ok, {rows.Count(r => r.Status == SlideRecord.Skipped)} skipped, {failed} failed -> {record}" +
                         (theShard.Count > 1 ? $" (merge the shards with `pcam heatmap-report {results}`)" : ""));
                cli.Out.WriteLine(record);
                if (annotator is not null && theShard.Count == 1 && HeatmapAnnotations.Summary(results) is { } line) cli.Out.WriteLine(line);
                return failed > 0 ? SlidesFailed : 0;
            }
        });
        return cmd;
    }

    /// <summary>Turns (done, total) reports into a counted progress bar with windows/s and ETA.</summary>
    private sealed class WindowProgress(ConsoleLog log, string name, long total) : IDisposable
    {
        private readonly PCam.MLNet.Featurization.IProgressTask _task = log.StartTask(name, total, "windows");
        private long _done;
        private bool _disposed;

        public void Advance(long done)
        {
            _task.Advance(done - _done);
            _done = done;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _task.Dispose();
        }
    }
}

/// <summary>
/// `pcam heatmap-report RESULTS`: merges the shard records into slides.csv and run.json and says which slides are
/// missing or failed. Exit codes: 0 all slides ok or skipped; 3 some failed; 4 none failed but some are missing.
/// </summary>
internal sealed class HeatmapReportCommand : ICommandFactory
{
    public const int SlidesMissing = 4;

    public Command Create(CliContext cli)
    {
        var results = new Argument<string>("results") { Description = "Results folder written by `pcam heatmap` (one or more shards)." };
        var cmd = new Command("heatmap-report", "Merge the shards of a `pcam heatmap` results folder into slides.csv and run.json; list missing and failed slides. Exit 3 when a slide failed, 4 when one is missing.") { results };
        cli.Bind(cmd, (parse, log) =>
        {
            var dir = parse.GetValue(results)!;
            if (!Directory.Exists(dir)) throw new PCamDataException($"{dir}: no such results folder.");
            var s = CohortReport.Merge(dir);
            foreach (var r in s.Rows.Where(r => r.Status == SlideRecord.Failed)) log.Info($"failed  {r.SlideId}: {r.Error}");
            foreach (var m in s.Missing) log.Info($"missing {m.SlideId} ({m.Path})");
            log.Info($"{s.Rows.Count + s.Missing.Count} slide(s): {s.Ok} ok, {s.Skipped} skipped, {s.Failed} failed, {s.Missing.Count} missing -> {s.SlidesCsv}");
            cli.Out.WriteLine(s.SlidesCsv);
            return s.Failed > 0 ? HeatmapCommand.SlidesFailed : s.Missing.Count > 0 ? SlidesMissing : 0;
        });
        return cmd;
    }
}
