using System.Text.RegularExpressions;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Data;

namespace PCam.MLNet.Slides.Diagnosis;

/// <summary>
/// Camelyon17's patient pN-stage from the categories of the patient's lymph-node slides (the challenge's rules, a
/// simplification of AJCC/TNM 8: ITC-only nodes do not count as nodes with metastases):
/// pN0 no ITC, micro or macro; pN0(i+) only ITC; pN1mi micro-metastases but no macro; pN1 metastases (micro or macro)
/// in 1-3 nodes, at least one macro; pN2 metastases in 4-9 nodes, at least one macro.
/// </summary>
public static partial class PnStage
{
    public const string N0 = "pN0", N0ItcPlus = "pN0(i+)", N1Mi = "pN1mi", N1 = "pN1", N2 = "pN2";
    /// <summary>The five classes of Camelyon17's kappa, in its order.</summary>
    public static readonly string[] All = [N0, N0ItcPlus, N1Mi, N1, N2];
    /// <summary>Nodes per patient in Camelyon17.</summary>
    public const int NodesPerPatient = 5;

    public static string Of(IEnumerable<string> categories)
    {
        var c = categories.ToList();
        int macro = c.Count(x => x == LesionCategory.Macro), metastases = macro + c.Count(x => x == LesionCategory.Micro);
        if (macro > 0) return metastases <= 3 ? N1 : N2;
        if (metastases > 0) return N1Mi;
        return c.Contains(LesionCategory.Itc) ? N0ItcPlus : N0;
    }

    /// <summary>The stage as Camelyon17 spells it, or null ("pn1mi" and "PN1MI" are pN1mi).</summary>
    public static string? Parse(string text) => All.FirstOrDefault(s => string.Equals(s, text.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The naming rule: a slide id "X_node_N" (Camelyon17's patient_004_node_4) belongs to patient X; else none.</summary>
    public static string? PatientOf(string slideId) => NodeName().Match(slideId) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"^(.+)_node_\d+$", RegexOptions.IgnoreCase)]
    private static partial Regex NodeName();

    /// <summary>
    /// Cohen's kappa with quadratic weights over the five stages (Camelyon17's evaluation calls scikit-learn's
    /// cohen_kappa_score(weights='quadratic', labels=the five stages)): 1 - sum(w O) / sum(w E), w = (i - j)^2,
    /// E = the outer product of the marginals / N. NaN when there is no pair or both raters use one class only.
    /// </summary>
    public static double QuadraticKappa(IReadOnlyList<(string Truth, string Predicted)> pairs) => QuadraticKappa(pairs, All);

    public static double QuadraticKappa(IReadOnlyList<(string Truth, string Predicted)> pairs, IReadOnlyList<string> classes)
    {
        var o = Confusion(pairs, classes);
        int k = classes.Count;
        double n = pairs.Count;
        if (n == 0) return double.NaN;
        var rows = Enumerable.Range(0, k).Select(i => Enumerable.Range(0, k).Sum(j => (double)o[i, j])).ToArray();
        var cols = Enumerable.Range(0, k).Select(j => Enumerable.Range(0, k).Sum(i => (double)o[i, j])).ToArray();
        double observed = 0, expected = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                double w = (i - j) * (i - j);
                observed += w * o[i, j];
                expected += w * rows[i] * cols[j] / n;
            }
        return expected == 0 ? double.NaN : 1 - observed / expected;
    }

    /// <summary>Counts [truth, predicted] in the order of <paramref name="classes"/>; pairs of other names are left out.</summary>
    public static int[,] Confusion(IEnumerable<(string Truth, string Predicted)> pairs, IReadOnlyList<string> classes)
    {
        var m = new int[classes.Count, classes.Count];
        foreach (var (t, p) in pairs)
        {
            int i = IndexOf(classes, t), j = IndexOf(classes, p);
            if (i >= 0 && j >= 0) m[i, j]++;
        }
        return m;
    }

    private static int IndexOf(IReadOnlyList<string> classes, string name)
    {
        for (int i = 0; i < classes.Count; i++) if (classes[i] == name) return i;
        return -1;
    }
}

/// <summary>
/// Truth for staging: Camelyon17's stage_labels.csv (columns patient, stage; a row "patient_004.zip,pN2" is a patient's
/// stage, a row "patient_004_node_4.tif,macro" a slide's category: negative, itc, micro or macro). Names are matched to
/// slide and patient ids without their extension.
/// </summary>
public sealed record StageTruth(Dictionary<string, string> Slides, Dictionary<string, string> Patients)
{
    public static StageTruth Read(string path)
    {
        if (!File.Exists(path)) throw new PCamDataException($"{path}: no such stages file.");
        var lines = File.ReadAllLines(path).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new PCamDataException($"{path}: empty stages file (expected Camelyon17's columns patient,stage).");
        var header = Csv.Split(lines[0]).Select(h => h.Trim().ToLowerInvariant()).ToList();
        int name = header.FindIndex(h => h is "patient" or "slide" or "slide_id"), stage = header.FindIndex(h => h is "stage" or "pn_stage" or "category");
        if (name < 0 || stage < 0) throw new PCamDataException($"{path}: expected columns patient (or slide_id) and stage, as Camelyon17's stage_labels.csv; found {lines[0]}.");
        var slides = new Dictionary<string, string>(StringComparer.Ordinal);
        var patients = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int n = 1; n < lines.Count; n++)
        {
            var cells = Csv.Split(lines[n]);
            if (cells.Count <= Math.Max(name, stage)) throw new PCamDataException($"{path}: line {n + 1} has {cells.Count} cell(s).");
            var id = Path.GetFileNameWithoutExtension(cells[name].Trim());
            var value = cells[stage].Trim();
            if (PnStage.Parse(value) is { } pn) patients[id] = pn;
            else if (LesionCategory.Parse(value) is { } category) slides[id] = category;
            else throw new PCamDataException($"{path}: line {n + 1}: '{value}' is neither a pN-stage ({string.Join(", ", PnStage.All)}) nor a slide category (negative, itc, micro, macro).");
        }
        return new StageTruth(slides, patients);
    }
}
