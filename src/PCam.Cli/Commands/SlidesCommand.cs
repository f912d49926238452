using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Slides.Diagnosis;
using PCam.MLNet.Reporting;

namespace PCam.Cli.Commands;

/// <summary>
/// `pcam slides train --results DIR --labels CSV --model slide.zip`: a slide-level classifier on the heatmap features
/// of a `pcam heatmap` results folder, chosen by seeded cross-validation and compared with the max-score baseline on the
/// same folds (bootstrap 95% intervals), written with its report (slide.cv.json, slide.cv.md) beside the zip.
/// </summary>
internal sealed class SlidesCommand : ICommandFactory
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public Command Create(CliContext cli)
    {
        var defaults = new SlideClassifierOptions();
        var results = new Option<string>("--results") { Description = "Results folder written by `pcam heatmap` (its slides.csv and summaries).", Required = true };
        var labels = new Option<string>("--labels") { Description = "CSV of slide truth: slide_id,label (tumour/normal, 1/0) or Camelyon17's stage_labels.csv (patient,stage).", Required = true };
        var model = new Option<string>("--model") { Description = "Where to write the slide model zip (its report goes beside it: NAME.cv.json, NAME.cv.md).", Required = true };
        var folds = new Option<int>("--folds") { Description = "Cross-validation folds, stratified by label.", DefaultValueFactory = _ => defaults.Folds };
        var seed = new Option<int>("--seed") { Description = "Seed of the folds, trainers and bootstrap.", DefaultValueFactory = _ => defaults.Seed };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the 95% intervals.", DefaultValueFactory = _ => defaults.Bootstrap };
        var train = new Command("train", "Train a slide classifier on heatmap features (LR, FastTree, FastForest chosen by cross-validated AUC) and compare it with the max-score baseline on the same folds.")
        {
            results, labels, model, folds, seed, bootstrap,
        };
        cli.Bind(train, (parse, log) =>
        {
            var options = new SlideClassifierOptions { Folds = parse.GetValue(folds), Seed = parse.GetValue(seed), Bootstrap = parse.GetValue(bootstrap) };
            options.Validate();
            var dir = parse.GetValue(results)!;
            var slidesCsv = Path.Combine(dir, "slides.csv");
            if (!File.Exists(slidesCsv)) throw new PCamDataException($"{dir}: no slides.csv (run `pcam heatmap`, or `pcam heatmap-report` to merge shards).");
            var labelsPath = parse.GetValue(labels)!;
            var truth = CohortDiagnosis.ReadLabels(labelsPath);
            var slides = CohortDiagnosis.Read(dir, SlideRecord.ReadAll(slidesCsv));
            var ids = slides.Select(s => s.Row.SlideId).ToHashSet(StringComparer.Ordinal);
            var unknown = truth.Keys.Where(k => !ids.Contains(k)).Order(StringComparer.Ordinal).ToList();
            if (unknown.Count > 0)
                log.Warning($"{labelsPath}: {unknown.Count} labelled slide(s) not in {dir}, left out: {string.Join(", ", unknown.Take(10))}{(unknown.Count > 10 ? ", ..." : "")}.");
            var unlabelled = slides.Count(s => !truth.ContainsKey(s.Row.SlideId));
            if (unlabelled > 0) log.Info($"{unlabelled} slide(s) of the run have no label; left out.");
            var labelled = new List<LabelledSlide>();
            foreach (var s in slides.Where(s => truth.ContainsKey(s.Row.SlideId)))
            {
                if (s.Features is not { Complete: true } f) { log.Warning($"{s.Row.SlideId}: no complete features (no tissue scored, unknown pixel size, or an older summary); left out."); continue; }
                labelled.Add(new LabelledSlide(s.Row.SlideId, f, truth[s.Row.SlideId]));
            }
            log.Info($"{labelled.Count} labelled slide(s) ({labelled.Count(s => s.Tumour)} tumour); {options.Folds}-fold cross-validation, seed {options.Seed}.");
            var (cv, fitted, ml) = SlideClassifier.Train(labelled, options);
            var modelPath = parse.GetValue(model)!;
            SlideClassifier.Save(ml, fitted, modelPath);
            var stem = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath));
            string json = stem + ".cv.json", md = stem + ".cv.md";
            AtomicFile.WriteAllText(json, ReportJson(cv, dir, labelsPath, modelPath, options).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            AtomicFile.WriteAllText(md, Markdown(cv, dir, labelsPath, options));
            foreach (var line in Lines(cv)) cli.Out.WriteLine(line);
            log.Info($"report: {md}, {json}");
            cli.Out.WriteLine(modelPath);
            return 0;
        });
        return new Command("slides", "Slide-level answers from a `pcam heatmap` results folder.") { train };
    }

    private static string F(double v) => v.ToString("0.000", Inv);
    private static string Ci(AucInterval a) => $"{F(a.Auc)} [{F(a.Low)}, {F(a.High)}]";

    internal static IEnumerable<string> Lines(SlideCvResult cv)
    {
        yield return $"cross-validated slide AUC ({cv.Folds} folds, {cv.Slides} slides, {cv.Tumour} tumour):";
        foreach (var (t, auc) in cv.TrainerAuc) yield return $"  {t,-20} {F(auc)}{(t == cv.Chosen ? "  <- chosen" : "")}";
        yield return $"  {cv.Chosen,-20} {Ci(cv.Model)} (bootstrap 95%)";
        yield return $"  {"max score",-20} {Ci(cv.MaxScore)} (the slide score alone, same slides)";
        yield return $"  {"difference",-20} {(cv.Difference.Auc >= 0 ? "+" : "")}{Ci(cv.Difference)}";
    }

    private static JsonObject ReportJson(SlideCvResult cv, string dir, string labels, string modelPath, SlideClassifierOptions o)
    {
        static JsonObject A(AucInterval a) => new() { ["auc"] = Math.Round(a.Auc, 6), ["low"] = Math.Round(a.Low, 6), ["high"] = Math.Round(a.High, 6) };
        return new JsonObject
        {
            ["results"] = Path.GetFullPath(dir), ["labels"] = Path.GetFullPath(labels), ["model"] = Path.GetFullPath(modelPath),
            ["folds"] = cv.Folds, ["seed"] = o.Seed, ["bootstrap"] = o.Bootstrap, ["slides"] = cv.Slides, ["tumour"] = cv.Tumour,
            ["features"] = new JsonArray(SlideFeatures.Names.Select(n => (JsonNode)n).ToArray()),
            ["trainers"] = new JsonObject(cv.TrainerAuc.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 6)))),
            ["chosen"] = cv.Chosen, ["modelAuc"] = A(cv.Model), ["maxScoreAuc"] = A(cv.MaxScore), ["difference"] = A(cv.Difference),
            ["outOfFold"] = new JsonArray(cv.OutOfFold.Select(r => (JsonNode)new JsonObject
            {
                ["slideId"] = r.SlideId, ["tumour"] = r.Tumour, ["fold"] = r.Fold, ["probability"] = Math.Round(r.Score, 6), ["maxScore"] = Math.Round(r.MaxScore, 6),
            }).ToArray()),
        };
    }

    private static string Markdown(SlideCvResult cv, string dir, string labels, SlideClassifierOptions o)
    {
        var sb = new StringBuilder();
        sb.Append("# Slide classifier\n\n");
        sb.Append($"Results `{dir}`, labels `{labels}`: {cv.Slides} slides ({cv.Tumour} tumour), {cv.Folds}-fold cross-validation stratified by label, seed {o.Seed}; ")
          .Append($"95% intervals from {o.Bootstrap} paired bootstrap resamples of the slides.\n\n");
        sb.Append("| Scorer | Out-of-fold slide AUC | 95% interval |\n|---|---|---|\n");
        foreach (var (t, auc) in cv.TrainerAuc)
            sb.Append($"| {t}{(t == cv.Chosen ? " (chosen)" : "")} | {F(auc)} | {(t == cv.Chosen ? $"{F(cv.Model.Low)} to {F(cv.Model.High)}" : "")} |\n");
        sb.Append($"| max score (baseline) | {F(cv.MaxScore.Auc)} | {F(cv.MaxScore.Low)} to {F(cv.MaxScore.High)} |\n");
        sb.Append($"| chosen minus baseline | {F(cv.Difference.Auc)} | {F(cv.Difference.Low)} to {F(cv.Difference.High)} |\n\n");
        sb.Append("The chosen trainer is the one with the best out-of-fold AUC, so its figure is slightly optimistic; the final model is refit on every slide.\n");
        return sb.ToString();
    }
}
