using System.CommandLine;
using System.Globalization;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Slides.Diagnosis;

namespace PCam.Cli.Commands;

/// <summary>The `--slide-model` and `--stages` part of `pcam heatmap`: the up-front check and the cohort's diagnosis lines.</summary>
internal static class SlideDiagnosisLines
{
    public static Option<string?> SlideModel() => new("--slide-model") { Description = "Slide model zip from `pcam slides train`: adds slide_probability to slides.csv and slide_features.csv." };
    public static Option<string?> Stages() => new("--stages") { Description = "Camelyon17 stage_labels.csv (patient,stage): slide and patient truth for the pN-stage kappa and the category confusion (diagnosis.json)." };

    /// <summary>Refuses a missing or unreadable slide model or stages file before any slide is scored.</summary>
    public static void Check(string? stages, string? slideModel)
    {
        if (stages is not null) StageTruth.Read(stages);
        if (slideModel is not null) SlideClassifier.Load(slideModel);
    }

    /// <summary>Writes the cohort's diagnosis files; warnings go to the log, the summary lines are returned for stdout.</summary>
    public static IEnumerable<string> Write(string results, string? stages, string? slideModel, ConsoleLog log)
    {
        var rows = SlideRecord.ReadAll(Path.Combine(results, "slides.csv"));
        var d = CohortDiagnosis.Write(results, rows, stages, slideModel);
        foreach (var w in d.Warnings) log.Warning(w);
        var lines = new List<string> { $"{d.Slides} slide(s), {d.Patients} patient(s) -> {d.SlideFeaturesCsv}, {d.PatientsCsv}" };
        if (stages is not null)
        {
            lines.Add($"pN-stage quadratic weighted kappa: {(d.Kappa is { } k ? k.ToString("0.000", CultureInfo.InvariantCulture) : "n/a")} over {d.KappaPatients} patient(s) -> {d.DiagnosisJson}");
            if (d.CategoryConfusion is { } c) lines.AddRange(CohortDiagnosis.Format(c, LesionCategory.All));
        }
        return lines;
    }
}
