using System.Diagnostics;
using System.Globalization;
using PCam.Benchmarks.Synthetic;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Slides.Evaluation;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Training;

namespace PCam.Cli.Commands;

/// <summary>
/// `pcam bench heatmap --disc DATA`: the cost and quality of the scoring settings on a slide with a known lesion (a
/// disc of real tumour test patches in normal ones, <see cref="DiscMosaic"/>), written as a 10x TIFF and a 20x
/// pyramid. For each model: exhaustive stride 32 and coarse-to-fine, 8 views (TTA models) and 1, run alternately in
/// one process (rounds; each setting's best seconds). Window AUC is over every tissue cell of the stride-32 grid
/// (truth: the window's centre lies in a tumour patch); coverage is the largest region's share of the disc's cells.
/// </summary>
internal static class HeatmapSettingsBench
{
    private sealed record Setting(string Model, WindowModel Window, bool Refine, string Slide, string SlidePath);

    public static int Run(CliContext cli, ConsoleLog log, IReadOnlyList<string> models, string data, int patches, double radius, int rounds,
        HeatmapOptions baseOptions, string work, bool pyramid)
    {
        var o = cli.Out;
        DiscMosaic mosaic;
        using (var view = PCamData.Open(data, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(work, "cache") }))
            mosaic = DiscMosaic.Build(view.Source, patches, radius);
        var slides = new List<(string Name, string Path)> { ("10x", Path.Combine(work, "disc-10x.tif")) };
        mosaic.WriteTiff(slides[0].Path);
        if (pyramid)
        {
            slides.Add(("20x", Path.Combine(work, "disc-20x.tif")));
            mosaic.WriteTiff(slides[1].Path, pyramid20x: true);
        }
        o.WriteLine($"slide  {patches} x {patches} real test patches ({mosaic.Side:N0} px at 0.972 um/px), tumour disc of radius {radius} patches; 10x TIFF{(pyramid ? " and 20x pyramid" : "")}");

        var loaded = new List<WindowModel>();
        try
        {
            var settings = new List<Setting>();
            foreach (var path in models)
            {
                // The scoring default (one view when the zip has its single-view graph), and the zip's own 8 views.
                var scoring = WindowModel.Load(path, ExecutionDevice.Cpu, batchSize: baseOptions.BatchSize);
                loaded.Add(scoring);
                var windows = new List<WindowModel> { scoring };
                if (scoring.TrainedViews > 1 && scoring.Views != scoring.TrainedViews)
                {
                    var own = WindowModel.Load(path, ExecutionDevice.Cpu, batchSize: baseOptions.BatchSize, views: scoring.TrainedViews);
                    loaded.Add(own);
                    windows.Insert(0, own);
                }
                foreach (var (slide, slidePath) in slides)
                    foreach (var w in windows)
                        foreach (var refine in new[] { false, true })
                            settings.Add(new Setting(Path.GetFileName(path), w, refine, slide, slidePath));
            }
            var best = new Dictionary<Setting, (double Seconds, HeatmapResult Result)>();
            for (int round = 0; round < Math.Max(1, rounds); round++)
                foreach (var s in settings)
                {
                    var options = new HeatmapOptions
                    {
                        Stride = baseOptions.Stride, Refine = s.Refine, CoarseStride = baseOptions.CoarseStride, RefineThreshold = baseOptions.RefineThreshold,
                        BatchSize = baseOptions.BatchSize, Views = s.Window.Views,
                    };
                    var clock = Stopwatch.StartNew();
                    var r = SlideHeatmap.Run(s.Window, s.SlidePath, options);
                    double seconds = clock.Elapsed.TotalSeconds;
                    log.Info($"round {round + 1}: {s.Model} {s.Slide} {Describe(s)}: {r.WindowsScored:N0} windows in {seconds:F1} s");
                    if (!best.TryGetValue(s, out var b) || seconds < b.Seconds) best[s] = (seconds, r);
                }

            var baseline = settings.Where(s => s.Slide == "10x" && !s.Refine && s.Window.Views == s.Window.TrainedViews).ToDictionary(s => s.Model, s => best[s].Seconds);
            o.WriteLine($"{Environment.ProcessorCount} cores, {rounds} round(s), best seconds of each; stride {baseOptions.Stride}, coarse stride {baseOptions.CoarseStride}, refine threshold {baseOptions.RefineThreshold}");
            o.WriteLine("| model | slide | setting | windows scored | seconds | x exhaustive own views | window AUC | regions | disc coverage |");
            o.WriteLine("|---|---|---|---|---|---|---|---|---|");
            void Row(string model, string slide, string setting, HeatmapResult r, double seconds)
            {
                var disc = mosaic.DiscCells(baseOptions.Stride, r.GridWidth, r.GridHeight);
                var cells = Enumerable.Range(0, r.Probability.Length).Where(c => !float.IsNaN(r.Probability[c])).Select(c => (r.Probability[c], disc.Contains(c))).ToList();
                double auc = Curves.Auc(cells);
                double coverage = r.Lesions.Lesions.Count > 0 ? r.Lesions.Lesions[0].Region.Cells.Count(disc.Contains) / (double)disc.Count : 0;
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {model} | {slide} | {setting} | {r.WindowsScored:N0} | {seconds:F1} | {seconds / baseline[model]:F2} | {auc:F4} | {r.Lesions.Lesions.Count} | {coverage:P1} |"));
            }
            foreach (var s in settings) Row(s.Model, s.Slide, Describe(s), best[s].Result, best[s].Seconds);
            // The refine threshold, replayed from each exhaustive 10x run (the same windows; seconds estimated from its seconds per window).
            foreach (var s in settings.Where(s => s.Slide == "10x" && !s.Refine))
                foreach (var t in new[] { 0.5, 0.7, 0.8, 0.9, 0.95 })
                {
                    var options = new HeatmapOptions { Stride = baseOptions.Stride, CoarseStride = baseOptions.CoarseStride, RefineThreshold = t, Views = s.Window.Views };
                    var (seconds, r) = best[s];
                    var replay = CoarseToFine.Replay(r, options);
                    Row(s.Model, s.Slide, $"replayed coarse-to-fine, refine >= {t}, {s.Window.Views} view{(s.Window.Views > 1 ? "s" : "")}", replay, seconds * replay.WindowsScored / r.WindowsScored);
                }
            return 0;
        }
        finally
        {
            foreach (var m in loaded) m.Dispose();
        }
    }

    private static string Describe(Setting s) => $"{(s.Refine ? "coarse-to-fine" : "exhaustive")}, {s.Window.Views} view{(s.Window.Views > 1 ? "s" : "")}";
}
