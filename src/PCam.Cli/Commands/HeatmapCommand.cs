using System.CommandLine;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Training;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Heatmap;

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
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train`, or NAME.onnx written by `pcam export --format onnx` (its NAME.json beside it).", Required = true };
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
        var stride = new Option<int>("--stride") { Description = "Window step in window pixels at 0.972 um/px (32 = PCam's centre 32x32 label region); with refinement, the step around likely tumour.", DefaultValueFactory = _ => defaults.Stride };
        var (noRefine, coarseStride, refineThreshold, views) = ScoringOptions(defaults);
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
        Option<string?> slideModel = SlideDiagnosisLines.SlideModel(), stages = SlideDiagnosisLines.Stages();
        var cmd = new Command("heatmap", "Score 96x96 windows at 0.972 um/px over a cohort of slides: per slide a tiles CSV, heatmap PNG, QuPath GeoJSON, tissue thumbnail and summary; slides.csv and run.json. Exit 3 when a slide failed.")
        {
            model, inputs, output, recursive, list, force, failFast, shard, shards, stride, noRefine, coarseStride, refineThreshold, views, level, mpp, threshold, smoothing, minRegion, reader, batch, device, noMask, minTissue,
            slideModel, stages,
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
                Refine = !parse.GetValue(noRefine), CoarseStride = parse.GetValue(coarseStride), RefineThreshold = parse.GetValue(refineThreshold), Views = parse.GetValue(views),
            };
            options.Validate();
            var files = parse.GetValue(inputs) ?? [];
            var listFile = parse.GetValue(list);
            if (files.Length == 0 && listFile is null) throw new ArgumentException("give slide files or folders, or --list FILE.csv.");
            var modelPath = parse.GetValue(model)!;
            var theShard = Shard.Resolve(parse.GetValue(shard), parse.GetValue(shards), cli.Environment);
            // Inputs are gathered (and a missing folder or list refused) before the model loads.
            var slides = SlideInputs.Collect(files, parse.GetValue(recursive), listFile);
            if (slides.Count == 0) throw new PCamDataException($"{string.Join(", ", files)}: no slide files found (extensions {string.Join(" ", SlideInputs.Extensions)}{(parse.GetValue(recursive) ? "" : "; --recursive looks in subfolders")}).");
            var results = parse.GetValue(output)!;
            var annotator = scoring.Start(parse, slides);
            SlideDiagnosisLines.Check(parse.GetValue(stages), parse.GetValue(slideModel));

            {
                using var windowModel = WindowModel.Load(modelPath, parse.GetValue(device) ?? ExecutionDevice.Cpu, batchSize: options.BatchSize, views: options.Views);
                if (windowModel.Featurizer.DeviceDescription.Contains("unavailable", StringComparison.Ordinal)) log.Warning(windowModel.Featurizer.DeviceDescription);
                var cohortOptions = new CohortOptions { Output = results, Force = parse.GetValue(force), FailFast = parse.GetValue(failFast), Shard = theShard };
                // The planned work: the slides this shard will score (not those already complete), their tissue windows and a warm-up's rate.
                var toScore = CohortRunner.ToScore(slides, windowModel.Path, options, cohortOptions);
                var plan = HeatmapPlan.Make(windowModel, toScore.Select(s => s.Path), options, cancel: cancel);
                log.Info(Describe(plan, options, windowModel, toScore.Count));
                var progress = new HeatmapProgress(log, cli.Err, plan);
                var runner = new CohortRunner(windowModel, options, cohortOptions)
                {
                    Annotator = annotator, Info = progress.Info, Warning = progress.Warning, Error = progress.Error, Progress = progress.Progress,
                };
                var rows = progress.Run(toScore.Select(s => (s.SlideId, s.Path)), () => runner.Run(slides, cancel));
                int failed = rows.Count(r => r.Status == SlideRecord.Failed);
                var record = theShard.Count == 1 ? Path.Combine(results, "slides.csv") : Path.Combine(CohortRunner.ShardsFolder(results), theShard.Name + ".csv");
                log.Info($"{rows.Count} slide(s): {rows.Count(r => r.Status == SlideRecord.Ok)} ok, {rows.Count(r => r.Status == SlideRecord.Skipped)} skipped, {failed} failed -> {record}" +
                         (theShard.Count > 1 ? $" (merge the shards with `pcam heatmap-report {results}`)" : ""));
                cli.Out.WriteLine(record);
                if (annotator is not null && theShard.Count == 1 && HeatmapAnnotations.Summary(results) is { } line) cli.Out.WriteLine(line);
                if (theShard.Count == 1) foreach (var l in SlideDiagnosisLines.Write(results, parse.GetValue(stages), parse.GetValue(slideModel), log)) cli.Out.WriteLine(l);
                return failed > 0 ? SlidesFailed : 0;
            }
        });
        return cmd;
    }

    /// <summary>The coarse-to-fine and views options (shared with `pcam bench heatmap`), defaults from <see cref="HeatmapOptions"/>.</summary>
    internal static (Option<bool> NoRefine, Option<int> CoarseStride, Option<double> RefineThreshold, Option<int?> Views) ScoringOptions(HeatmapOptions defaults) =>
    (
        new Option<bool>("--no-refine") { Description = "Score every tissue window at --stride (exhaustive; `--stride 32 --no-refine` is the full stride-32 run). Default: coarse-to-fine." },
        new Option<int>("--coarse-stride") { Description = "Stride of the coarse stage (a multiple of --stride; 96 = windows that do not overlap).", DefaultValueFactory = _ => defaults.CoarseStride },
        new Option<double>("--refine-threshold") { Description = "Coarse windows at or above this probability are rescored at --stride with their neighbours.", DefaultValueFactory = _ => defaults.RefineThreshold },
        new Option<int?>("--views") { Description = "Views per window: 1, or 8 (dihedral TTA; needs a model trained with TTA). Default: 1 when the model zip carries its single-view graph (`pcam train` writes it), else the model's own." }
    );

    /// <summary>The plan line: slides, tissue windows per stage, views and the warm-up's estimate.</summary>
    internal static string Describe(HeatmapPlan plan, HeatmapOptions o, WindowModel model, int slides)
    {
        static string Time(double? s) => s is { } v ? TimeSpan.FromSeconds(Math.Round(v)).ToString(@"d\.hh\:mm\:ss").TrimStart('0', '.') : "?";
        var unreadable = plan.Slides.Count(s => s.Error is not null);
        var first = o.CoarseFactor > 1
            ? $"{plan.FirstStageWindows:N0} tissue windows at the coarse stride {o.CoarseStride} (of {plan.TissueWindows:N0} at stride {o.Stride}), about {Time(plan.FirstStageSeconds)} " +
              $"at {plan.WindowsPerSecond:N0} windows/s, plus the refine stage at stride {o.Stride} around windows >= {o.RefineThreshold} (at most {Time(plan.ExhaustiveSeconds)} in all)"
            : $"{plan.TissueWindows:N0} tissue windows at stride {o.Stride}, about {Time(plan.ExhaustiveSeconds)} at {plan.WindowsPerSecond:N0} windows/s";
        return $"Plan: {slides} slide(s) to score{(unreadable > 0 ? $" ({unreadable} could not be opened)" : "")}, {model.Views} view(s) per window; {first}.";
    }
}

/// <summary>
/// `pcam heatmap-report RESULTS`: merges the shard records into slides.csv and run.json and says which slides are
/// missing, not planned or failed. Exit codes: 0 all slides ok or skipped; 3 some failed; 4 none failed but some are
/// missing or not planned.
/// </summary>
internal sealed class HeatmapReportCommand : ICommandFactory
{
    public const int SlidesMissing = 4;

    public Command Create(CliContext cli)
    {
        var results = new Argument<string>("results") { Description = "Results folder written by `pcam heatmap` (one or more shards)." };
        Option<string?> slideModel = SlideDiagnosisLines.SlideModel(), stages = SlideDiagnosisLines.Stages();
        var cmd = new Command("heatmap-report", "Merge the shards of a `pcam heatmap` results folder into slides.csv and run.json; list missing, not planned and failed slides. Exit 3 when a slide failed, 4 when one is missing or not planned.") { results, slideModel, stages };
        cli.Bind(cmd, (parse, log) =>
        {
            var dir = parse.GetValue(results)!;
            if (!Directory.Exists(dir)) throw new PCamDataException($"{dir}: no such results folder.");
            SlideDiagnosisLines.Check(parse.GetValue(stages), parse.GetValue(slideModel));
            var s = CohortReport.Merge(dir);
            foreach (var r in s.Rows.Where(r => r.Status == SlideRecord.Failed)) log.Info($"failed  {r.SlideId}: {r.Error}");
            foreach (var m in s.Missing) log.Info($"missing {m.SlideId} ({m.Path})");
            foreach (var m in s.NotPlanned) log.Info($"not planned {m.SlideId} ({m.Path}): it came after the shard plan was written; the next run scores it");
            log.Info($"{s.Rows.Count + s.Missing.Count + s.NotPlanned.Count} slide(s): {s.Ok} ok, {s.Skipped} skipped, {s.Failed} failed, {s.Missing.Count} missing, {s.NotPlanned.Count} not planned -> {s.SlidesCsv}");
            cli.Out.WriteLine(s.SlidesCsv);
            foreach (var l in SlideDiagnosisLines.Write(dir, parse.GetValue(stages), parse.GetValue(slideModel), log)) cli.Out.WriteLine(l);
            return s.Failed > 0 ? HeatmapCommand.SlidesFailed : s.Missing.Count + s.NotPlanned.Count > 0 ? SlidesMissing : 0;
        });
        return cmd;
    }
}
