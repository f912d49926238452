using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Data;
using PCam.MLNet.Reporting;

namespace PCam.MLNet.Slides.Diagnosis;

/// <summary>What a results folder says at slide and patient level.</summary>
public sealed record DiagnosisSummary(
    string SlideFeaturesCsv, string PatientsCsv, string DiagnosisJson, int Slides, int Patients,
    double? Kappa, int KappaPatients, int[,]? CategoryConfusion, int[,]? StageConfusion, IReadOnlyList<string> Warnings);

/// <summary>
/// The cohort's diagnosis files, from each slide's summary.json "diagnosis" object: RESULTS/slide_features.csv (the
/// feature vector, category and, with a slide model, slide_probability), RESULTS/patients.csv (pN-stage per patient by
/// <see cref="PnStage"/>), RESULTS/diagnosis.json (with stage truth: Camelyon17's kappa and the confusion matrices).
/// Problems with one slide or patient become warnings (one line each); the files are still written.
/// </summary>
public static class CohortDiagnosis
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record SlideDiagnosis(SlideRecord Row, SlideFeatures? Features, string? Patient);

    /// <summary>The features of every ok or skipped slide of the cohort's rows (null where its summary has none).</summary>
    public static List<SlideDiagnosis> Read(string results, IEnumerable<SlideRecord> rows)
    {
        var list = new List<SlideDiagnosis>();
        foreach (var row in rows.Where(r => r.Status != SlideRecord.Failed))
        {
            var summary = HeatmapWriter.PathsFor(CohortRunner.SlideFolder(results, row.SlideId), row.SlideId).SummaryJson;
            SlideFeatures? features = null;
            try { features = File.Exists(summary) ? SlideSummary.Read(summary).Features : null; }
            catch (JsonException) { }
            list.Add(new SlideDiagnosis(row, features, PnStage.PatientOf(row.SlideId)));
        }
        return list;
    }

    public static DiagnosisSummary Write(string results, IReadOnlyList<SlideRecord> rows, string? stages = null, string? slideModel = null)
    {
        var warnings = new List<string>();
        var truth = stages is null ? null : StageTruth.Read(stages);
        var slides = Read(results, rows);
        foreach (var s in slides.Where(s => s.Features is null))
            warnings.Add($"{s.Row.SlideId}: its summary.json has no diagnosis (written by an older pcam; score it again with CohortOptions.Force).");
        foreach (var s in slides.Where(s => s.Features is { WindowsScored: 0 }))
            warnings.Add($"{s.Row.SlideId}: no tissue was scored; no category, and its patient is staged without it.");
        double[]? probability = null;
        if (slideModel is not null)
        {
            var model = SlideClassifier.Load(slideModel);
            var usable = slides.Where(s => s.Features is not null).ToList();
            var p = model.Predict(usable.Select(s => s.Features!).ToList());
            probability = slides.Select(s => usable.IndexOf(s) is var i and >= 0 ? p[i] : double.NaN).ToArray();
            var byId = slides.Select((s, i) => (s.Row.SlideId, P: probability[i])).ToDictionary(x => x.SlideId, x => x.P, StringComparer.Ordinal);
            SlideRecord.WriteAll(Path.Combine(results, "slides.csv"),
                rows.Select(r => byId.TryGetValue(r.SlideId, out var v) && double.IsFinite(v) ? r with { SlideProbability = v } : r));
        }

        // slide_features.csv
        var csv = new StringBuilder();
        csv.Append("slide_id,patient,label,lesion_category,lesion_region,").Append(string.Join(",", SlideFeatures.Names)).Append(",slide_probability\n");
        for (int i = 0; i < slides.Count; i++)
        {
            var (row, f, patient) = (slides[i].Row, slides[i].Features, slides[i].Patient);
            csv.Append(Csv.Field(row.SlideId)).Append(',').Append(Csv.Field(patient)).Append(',').Append(Csv.Field(row.Label)).Append(',')
               .Append(f?.LesionCategory ?? "").Append(',').Append(f?.LesionRegion?.ToString(Inv) ?? "").Append(',')
               .Append(string.Join(",", f?.CsvCells() ?? Enumerable.Repeat("", SlideFeatures.Count))).Append(',')
               .Append(probability is not null && double.IsFinite(probability[i]) ? probability[i].ToString("0.######", Inv) : "").Append('\n');
        }
        var featuresCsv = Path.Combine(results, "slide_features.csv");
        AtomicFile.WriteAllText(featuresCsv, csv.ToString());

        // patients.csv
        var byPatient = slides.Where(s => s.Patient is not null).GroupBy(s => s.Patient!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(s => s.Row.SlideId, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var patients = byPatient.Keys.Union(truth?.Patients.Keys ?? Enumerable.Empty<string>(), StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var staged = new Dictionary<string, string>(StringComparer.Ordinal);
        var pcsv = new StringBuilder("patient,pn_stage,nodes,slides,categories,true_stage,note\n");
        foreach (var patient in patients)
        {
            var mine = byPatient.GetValueOrDefault(patient) ?? [];
            var categorised = mine.Where(s => s.Features?.LesionCategory is not null).ToList();
            string note = "";
            if (mine.Count == 0) note = "no slides in this run; not staged";
            else if (categorised.Count == 0) note = "no slide with a category; not staged";
            else if (mine.Count > PnStage.NodesPerPatient) note = $"{mine.Count} slides; Camelyon17 stages {PnStage.NodesPerPatient} nodes per patient (staged from all)";
            else if (categorised.Count < mine.Count) note = $"staged from {categorised.Count} of {mine.Count} slides";
            if (note.Length > 0) warnings.Add($"{patient}: {note}.");
            string stage = categorised.Count > 0 ? PnStage.Of(categorised.Select(s => s.Features!.LesionCategory!)) : "";
            if (stage.Length > 0) staged[patient] = stage;
            pcsv.Append(Csv.Field(patient)).Append(',').Append(stage).Append(',').Append(mine.Count.ToString(Inv)).Append(',')
                .Append(Csv.Field(string.Join(";", mine.Select(s => s.Row.SlideId)))).Append(',')
                .Append(Csv.Field(string.Join(";", mine.Select(s => s.Features?.LesionCategory ?? "")))).Append(',')
                .Append(Csv.Field(truth?.Patients.GetValueOrDefault(patient))).Append(',').Append(Csv.Field(note)).Append('\n');
        }
        var patientsCsv = Path.Combine(results, "patients.csv");
        AtomicFile.WriteAllText(patientsCsv, pcsv.ToString());

        // diagnosis.json: with truth, kappa over the patients staged on both sides and the slide-category confusion.
        double? kappa = null;
        int kappaPatients = 0;
        int[,]? categoryConfusion = null, stageConfusion = null;
        var json = new JsonObject
        {
            ["slides"] = slides.Count, ["patients"] = patients.Count,
            ["categories"] = new JsonObject(LesionCategory.All.Select(c => KeyValuePair.Create(c, (JsonNode?)slides.Count(s => s.Features?.LesionCategory == c)))),
            ["stages"] = new JsonObject(PnStage.All.Select(c => KeyValuePair.Create(c, (JsonNode?)staged.Values.Count(v => v == c)))),
        };
        if (truth is not null)
        {
            var ids = slides.Select(s => s.Row.SlideId).ToHashSet(StringComparer.Ordinal);
            var unknown = truth.Slides.Keys.Where(k => !ids.Contains(k)).Order(StringComparer.Ordinal).ToList();
            if (unknown.Count > 0) warnings.Add($"{stages}: {unknown.Count} slide(s) not in this run, left out: {string.Join(", ", unknown.Take(10))}{(unknown.Count > 10 ? ", ..." : "")}.");
            var slidePairs = slides.Where(s => truth.Slides.ContainsKey(s.Row.SlideId) && s.Features?.LesionCategory is not null)
                .Select(s => (truth.Slides[s.Row.SlideId], s.Features!.LesionCategory!)).ToList();
            var stagePairs = truth.Patients.Where(p => staged.ContainsKey(p.Key)).Select(p => (p.Value, staged[p.Key])).ToList();
            categoryConfusion = PnStage.Confusion(slidePairs, LesionCategory.All);
            stageConfusion = PnStage.Confusion(stagePairs, PnStage.All);
            kappaPatients = stagePairs.Count;
            var k = PnStage.QuadraticKappa(stagePairs);
            kappa = double.IsFinite(k) ? k : null;
            json["truth"] = Path.GetFullPath(stages!);
            json["kappa"] = kappa is { } kv ? Math.Round(kv, 6) : null;
            json["kappaPatients"] = kappaPatients;
            json["stageAccuracy"] = stagePairs.Count > 0 ? Math.Round(stagePairs.Count(p => p.Item1 == p.Item2) / (double)stagePairs.Count, 6) : null;
            json["slideCategoryAccuracy"] = slidePairs.Count > 0 ? Math.Round(slidePairs.Count(p => p.Item1 == p.Item2) / (double)slidePairs.Count, 6) : null;
            json["categoryConfusion"] = Matrix(categoryConfusion, LesionCategory.All);
            json["stageConfusion"] = Matrix(stageConfusion, PnStage.All);
        }
        if (slideModel is not null) json["slideModel"] = Path.GetFullPath(slideModel);
        json["warnings"] = new JsonArray(warnings.Select(w => (JsonNode)w).ToArray());
        var diagnosisJson = Path.Combine(results, "diagnosis.json");
        AtomicFile.WriteAllText(diagnosisJson, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new DiagnosisSummary(featuresCsv, patientsCsv, diagnosisJson, slides.Count, patients.Count, kappa, kappaPatients, categoryConfusion, stageConfusion, warnings);
    }

    /// <summary>{"rows": truth, "columns": predicted, "counts": [[...]]}.</summary>
    private static JsonObject Matrix(int[,] m, IReadOnlyList<string> classes) => new()
    {
        ["rows"] = "truth", ["columns"] = new JsonArray(classes.Select(c => (JsonNode)c).ToArray()),
        ["counts"] = new JsonArray(Enumerable.Range(0, classes.Count).Select(i => (JsonNode)new JsonArray(
            Enumerable.Range(0, classes.Count).Select(j => (JsonNode)m[i, j]).ToArray())).ToArray()),
    };

    /// <summary>The confusion matrix as text lines (truth down, predicted across).</summary>
    public static IEnumerable<string> Format(int[,] m, IReadOnlyList<string> classes)
    {
        int w = Math.Max(8, classes.Max(c => c.Length) + 1);
        yield return "truth \\ predicted".PadRight(w + 10) + string.Concat(classes.Select(c => c.PadLeft(w)));
        for (int i = 0; i < classes.Count; i++)
            yield return classes[i].PadRight(w + 10) + string.Concat(Enumerable.Range(0, classes.Count).Select(j => m[i, j].ToString(Inv).PadLeft(w)));
    }

    /// <summary>
    /// Labels for training: a CSV with a slide column (slide_id, slide, image or Camelyon17's patient) and a label column
    /// (label, class, tumour or Camelyon17's stage): tumour/tumor/positive/1/true/itc/micro/macro are tumour,
    /// normal/negative/0/false are not; Camelyon17's patient rows (pN-stages) are ignored. Camelyon16's header-less
    /// reference.csv (name, Tumor|Normal, ...) is read as it is.
    /// </summary>
    public static Dictionary<string, bool> ReadLabels(string path)
    {
        if (!File.Exists(path)) throw new PCamDataException($"{path}: no such labels file.");
        var lines = File.ReadAllLines(path).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new PCamDataException($"{path}: no labels (expected a header and one row per slide).");
        var header = Csv.Split(lines[0]).Select(h => h.Trim().ToLowerInvariant()).ToList();
        int id = header.FindIndex(h => h is "slide_id" or "slide" or "image" or "patient"), label = header.FindIndex(h => h is "label" or "class" or "tumour" or "tumor" or "stage");
        // Camelyon16's reference.csv has no header: name, Tumor|Normal[, Macro|Micro].
        bool headerless = (id < 0 || label < 0) && header.Count >= 2 && header[1] is "tumor" or "normal";
        if (headerless) (id, label) = (0, 1);
        if (id < 0 || label < 0) throw new PCamDataException($"{path}: expected columns slide_id and label (or Camelyon17's patient and stage); found {lines[0]}.");
        var labels = new Dictionary<string, bool>(StringComparer.Ordinal);
        for (int n = headerless ? 0 : 1; n < lines.Count; n++)
        {
            var cells = Csv.Split(lines[n]);
            if (cells.Count <= Math.Max(id, label)) throw new PCamDataException($"{path}: line {n + 1} has {cells.Count} cell(s).");
            var value = cells[label].Trim().ToLowerInvariant();
            if (PnStage.Parse(value) is not null) continue;
            bool? tumour = value switch
            {
                "tumour" or "tumor" or "positive" or "1" or "true" or "itc" or "micro" or "macro" => true,
                "normal" or "negative" or "0" or "false" or "none" => false,
                _ => null,
            };
            labels[Path.GetFileNameWithoutExtension(cells[id].Trim())] = tumour
                ?? throw new PCamDataException($"{path}: line {n + 1}: label '{cells[label]}' is neither tumour (tumour, tumor, positive, 1, itc, micro, macro) nor normal (normal, negative, 0).");
        }
        return labels;
    }
}
