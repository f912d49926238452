using System.Text.Json.Nodes;
using Microsoft.ML;
using PCam.MLNet.Data;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Slides.Diagnosis;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Tests.Slides;

/// <summary>Camelyon17's rules on their own, and the cohort's diagnosis files from hand-made slide summaries.</summary>
public sealed class DiagnosisRuleTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("pN0", "none,none,none,none,none")]
    [InlineData("pN0(i+)", "itc,none,itc,none,none")]
    [InlineData("pN1mi", "micro,itc,none,none,none")]
    [InlineData("pN1mi", "micro,micro,micro,micro,none")] // no macro: pN1mi however many nodes
    [InlineData("pN1", "macro,none,none,none,none")]
    [InlineData("pN1", "macro,micro,micro,itc,itc")]      // ITC nodes do not count: 3 nodes with metastases
    [InlineData("pN2", "macro,micro,micro,micro,none")]
    [InlineData("pN2", "macro,macro,macro,macro,macro")]
    public void PnStageFollowsCamelyon17(string expected, string categories) =>
        Assert.Equal(expected, PnStage.Of(categories.Split(',')));

    [Theory]
    [InlineData(null, "none")]
    [InlineData(0.05, "itc")]
    [InlineData(0.2, "itc")]
    [InlineData(0.2001, "micro")]
    [InlineData(2.0, "micro")]
    [InlineData(2.0001, "macro")]
    public void CategoryBySizeRule(double? mm, string expected) => Assert.Equal(expected, LesionCategory.Of(mm));

    [Fact]
    public void KappaIsScikitLearnsQuadraticWeightedKappa()
    {
        // scikit-learn's cohen_kappa_score(weights="quadratic") formula worked by hand: sum(wO) = 5, sum(wE) = 505/25, kappa = 76/101.
        var pairs = new[] { ("pN0", "pN0"), ("pN0", "pN1mi"), ("pN1", "pN1"), ("pN2", "pN1"), ("pN0(i+)", "pN0(i+)") };
        Assert.Equal(76.0 / 101, PnStage.QuadraticKappa(pairs), 9);
        Assert.Equal(1.0, PnStage.QuadraticKappa(PnStage.All.Select(s => (s, s)).ToList()), 9);
        Assert.True(double.IsNaN(PnStage.QuadraticKappa([("pN0", "pN0")]))); // one class on both sides: undefined, as scikit-learn
    }

    [Fact]
    public void FeretDiameterOfCells()
    {
        var one = RegionPolygons.Trace([true], 1, 1)[0];
        Assert.Equal(Math.Sqrt(2), SlideFeatures.FeretCells(one), 9);
        var row = RegionPolygons.Trace([true, true, true], 3, 1)[0];
        Assert.Equal(Math.Sqrt(10), SlideFeatures.FeretCells(row), 9);
        // An L: corners (0,0) and (2,3) are farthest apart.
        var l = RegionPolygons.Trace([true, false, true, false, true, true], 2, 3)[0];
        Assert.Equal(Math.Sqrt(13), SlideFeatures.FeretCells(l), 9);
    }

    [Fact]
    public void PatientsFollowCamelyonNames()
    {
        Assert.Equal("patient_004", PnStage.PatientOf("patient_004_node_4"));
        Assert.Null(PnStage.PatientOf("tumor_001"));
    }

    /// <summary>A results folder with the given slides' diagnosis objects (what `pcam heatmap` writes into summary.json).</summary>
    internal static List<SlideRecord> WriteResults(string results, IEnumerable<(string Id, SlideFeatures F)> slides)
    {
        var rows = new List<SlideRecord>();
        foreach (var (id, f) in slides)
        {
            var paths = HeatmapWriter.PathsFor(CohortRunner.SlideFolder(results, id), id);
            Directory.CreateDirectory(paths.Folder);
            File.WriteAllText(paths.SummaryJson, new JsonObject { ["slideId"] = id, ["diagnosis"] = f.ToJson() }.ToJsonString());
            rows.Add(new SlideRecord { SlideId = id, Path = id + ".tif", Status = SlideRecord.Ok, LesionCategory = f.LesionCategory, LargestDiameterMm = f.LargestDiameterMm });
        }
        SlideRecord.WriteAll(Path.Combine(results, "slides.csv"), rows);
        return rows;
    }

    static SlideFeatures Slide(string category, double diameter) => new()
    {
        MaxProbability = 0.9, TopKMeanProbability = 0.8, MeanProbability = 0.1, SlideScore = 0.85, TumourArea050Mm2 = 0.1, TumourArea090Mm2 = 0.01,
        Regions = category == "none" ? 0 : 1, LargestRegionAreaMm2 = 0.1, LargestDiameterMm = diameter, TissueAreaMm2 = 5, TumourFraction = 0.02,
        LesionCategory = category, LesionRegion = category == "none" ? null : 0, WindowsScored = 1000,
    };

    [Fact]
    public void BadInputIsOneLineEachAndTheRestIsWritten()
    {
        var results = _dir["results"];
        var slides = new List<(string, SlideFeatures)>();
        for (int n = 0; n < 6; n++) slides.Add(($"patient_001_node_{n}", Slide(n == 0 ? "macro" : "none", n == 0 ? 3 : 0))); // six nodes
        for (int n = 0; n < 5; n++) slides.Add(($"patient_002_node_{n}", Slide(n == 0 ? "micro" : "none", n == 0 ? 1 : 0)));
        slides.Add(("patient_003_node_0", new SlideFeatures { WindowsScored = 0 })); // no tissue: its patient has no categorised slide
        var rows = WriteResults(results, slides);
        var stages = _dir["stage_labels.csv"];
        File.WriteAllLines(stages, ["patient,stage", "patient_001.zip,pN1", "patient_002.zip,pN1mi", "patient_009.zip,pN0",
            "patient_001_node_0.tif,macro", "patient_002_node_0.tif,micro", "patient_077_node_1.tif,itc"]);

        var d = CohortDiagnosis.Write(results, rows, stages);

        Assert.Contains(d.Warnings, w => w.StartsWith("patient_001: 6 slides", StringComparison.Ordinal));
        Assert.Contains(d.Warnings, w => w.StartsWith("patient_009: no slides in this run", StringComparison.Ordinal));
        Assert.Contains(d.Warnings, w => w.StartsWith("patient_003_node_0: no tissue", StringComparison.Ordinal));
        Assert.Contains(d.Warnings, w => w.Contains("1 slide(s) not in this run", StringComparison.Ordinal) && w.Contains("patient_077_node_1", StringComparison.Ordinal));
        var patients = File.ReadAllLines(d.PatientsCsv);
        Assert.Equal("patient,pn_stage,nodes,slides,categories,true_stage,note", patients[0]);
        Assert.StartsWith("patient_001,pN1,6,", patients[1]);
        Assert.StartsWith("patient_002,pN1mi,5,", patients[2]);
        Assert.StartsWith("patient_003,,1,", patients[3]);
        Assert.StartsWith("patient_009,,0,", patients[4]);
        Assert.Equal(2, d.KappaPatients);
        Assert.Equal(1.0, d.Kappa!.Value, 9); // both staged patients right (the unstaged ones are left out)
        Assert.Equal(1, d.CategoryConfusion![3, 3]);
        Assert.Equal(1, d.CategoryConfusion[2, 2]);
        Assert.Equal(13, File.ReadAllLines(d.SlideFeaturesCsv).Length); // header + 12 slides, the no-tissue one with empty features
    }

    [Fact]
    public void LabelsReadOursCamelyon16sAndCamelyon17s()
    {
        var ours = _dir["ours.csv"];
        File.WriteAllLines(ours, ["slide_id,label", "a,tumor", "b,normal", "c,1"]);
        Assert.Equal(new Dictionary<string, bool> { ["a"] = true, ["b"] = false, ["c"] = true }, CohortDiagnosis.ReadLabels(ours));
        var c16 = _dir["reference.csv"];
        File.WriteAllLines(c16, ["test_001,Tumor,Macro", "test_002,Normal"]);
        Assert.Equal(new Dictionary<string, bool> { ["test_001"] = true, ["test_002"] = false }, CohortDiagnosis.ReadLabels(c16));
        var c17 = _dir["stage_labels.csv"];
        File.WriteAllLines(c17, ["patient,stage", "patient_000.zip,pN0", "patient_000_node_0.tif,negative", "patient_000_node_1.tif,itc"]);
        Assert.Equal(new Dictionary<string, bool> { ["patient_000_node_0"] = false, ["patient_000_node_1"] = true }, CohortDiagnosis.ReadLabels(c17));
        var bad = _dir["bad.csv"];
        File.WriteAllLines(bad, ["slide_id,label", "a,maybe"]);
        Assert.Contains("line 2", Assert.Throws<PCamDataException>(() => CohortDiagnosis.ReadLabels(bad)).Message);
    }

    [Fact]
    public void UnknownStageValuesAreRefusedNamingTheLine()
    {
        var stages = _dir["bad.csv"];
        File.WriteAllLines(stages, ["patient,stage", "patient_001.zip,pN3"]);
        var e = Assert.Throws<PCamDataException>(() => StageTruth.Read(stages));
        Assert.Contains("line 2", e.Message);
        Assert.Contains(stages, e.Message);
    }
}

/// <summary>
/// A generated cohort from the sample's real test patches, scored from their known per-patch probabilities (the sample
/// model's, one prediction per patch): 32 x 32-patch slides (2.99 mm) whose windows at stride 32 take the probability of
/// the patch under their centre. Patient slides hold one drawn deposit (none, one patch, or a disc of patches) of
/// correctly classified tumour patches in correctly classified normal tissue, so their categories and stages follow the
/// geometry; the "normal_fp" slides scatter the normal patches the model scores highest over normal tissue, the case
/// where the max score is fooled.
/// </summary>
[Collection(SampleModelCollection.Name)]
public sealed class GeneratedCohortTests(SampleModelFixture f) : IDisposable
{
    const int P = PatchSchema.Width, G = 32, Stride = 32;
    const double PatchMm = P * 0.972 / 1000;
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>(probability, is tumour) of every test patch of the sample, by the sample model.</summary>
    List<(float P, bool T)> PatchProbabilities()
    {
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(f.CacheDir, "h5") });
        var src = view.Source;
        var ml = new MLContext(seed: 1);
        var loaded = PCamModel.Load(ml, f.ModelPath, out _);
        using var release = PCamModel.Owner(loaded);
        var engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(loaded);
        var result = new List<(float, bool)>();
        for (long r = 0; r < src.RowCount; r++)
        {
            var patch = new byte[PatchSchema.ImageBytes];
            src.ReadImages(r, 1, patch);
            result.Add((engine.Predict(new PatchInput { Image = patch }).Probability, src.GetLabel(r)));
        }
        return result;
    }

    /// <summary>The window grid of a G x G patch mosaic whose patch (a, b) has probability patches[b * G + a].</summary>
    static (float[] Grid, int Width) Windows(float[] patches)
    {
        int w = (G * P - P) / Stride + 1;
        var grid = new float[w * w];
        for (int j = 0; j < w; j++)
            for (int i = 0; i < w; i++)
                grid[j * w + i] = patches[(j * Stride + P / 2) / P * G + (i * Stride + P / 2) / P];
        return (grid, w);
    }

    sealed record Drawn(string Id, bool[] Tumour, string Category, double DiameterMm);

    /// <summary>A deposit: none (r &lt; 0), one patch (r = 0), or the patches whose centres lie within r patches of the centre.</summary>
    static Drawn Draw(string id, double r)
    {
        var t = new bool[G * G];
        for (int b = 0; b < G; b++)
            for (int a = 0; a < G; a++)
                t[b * G + a] = r == 0 ? a == G / 2 && b == G / 2 : r > 0 && Math.Pow(a + 0.5 - G / 2.0, 2) + Math.Pow(b + 0.5 - G / 2.0, 2) <= r * r;
        var regions = RegionPolygons.Trace(t, G, G);
        double d = regions.Count == 0 ? 0 : regions.Max(SlideFeatures.FeretCells) * PatchMm;
        return new Drawn(id, t, LesionCategory.Of(regions.Count == 0 ? null : d), d);
    }

    [SkippableFact]
    public void CategoriesStagesAndKappaFollowTheDrawnGeometry()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var patches = PatchProbabilities();
        var tumour = patches.Where(p => p.T && p.P >= 0.5).Select(p => p.P).ToArray();
        var normal = patches.Where(p => !p.T && p.P < 0.5).Select(p => p.P).ToArray();
        var prone = patches.Where(p => !p.T).OrderByDescending(p => p.P).Take(8).Select(p => p.P).ToArray();
        Assert.True(tumour.Length >= 20 && normal.Length >= 20, $"{tumour.Length} tumour, {normal.Length} normal patches classified right");

        // Radii in patches: -1 none, 0 one patch (itc), 2..6 micro, 12..14 macro.
        var plan = new Dictionary<string, double[]>
        {
            ["patient_000"] = [-1, -1, -1, -1, -1],     // pN0
            ["patient_001"] = [0, -1, -1, -1, -1],      // pN0(i+)
            ["patient_002"] = [2, 0, -1, -1, -1],       // pN1mi
            ["patient_003"] = [12, -1, -1, -1, -1],     // pN1
            ["patient_004"] = [14, 4, 6, -1, -1],       // pN1
            ["patient_005"] = [13, 3, 5, 2, -1],        // pN2
            ["patient_006"] = [4, 6, -1, -1, -1],       // pN1mi
            ["patient_007"] = [0, 0, -1, -1, -1],       // pN0(i+)
        };
        var random = new Random(7);
        var options = new HeatmapOptions { MinRegionUm2 = 2_000 }; // low enough to keep one-patch deposits (the default keeps >= 0.25 mm)
        double cell = Stride * 0.972;
        var drawn = new List<Drawn>();
        var features = new List<(string Id, SlideFeatures F)>();
        SlideFeatures Score(bool[] tumourPatch, Func<int, float?>? extra = null)
        {
            var p = new float[G * G];
            for (int k = 0; k < p.Length; k++)
                p[k] = extra?.Invoke(k) ?? (tumourPatch[k] ? tumour[random.Next(tumour.Length)] : normal[random.Next(normal.Length)]);
            var (grid, w) = Windows(p);
            return SlideFeatures.Of(grid, w, SlideLesions.Find(grid, w, w, cell, options), cell);
        }
        foreach (var (patient, radii) in plan)
            for (int n = 0; n < radii.Length; n++)
            {
                var d = Draw($"{patient}_node_{n}", radii[n]);
                drawn.Add(d);
                features.Add((d.Id, Score(d.Tumour)));
            }
        // Normal slides with the most tumour-like normal patches scattered 8 patches apart (16 per slide).
        for (int s = 0; s < 6; s++)
        {
            int offset = s;
            features.Add(($"normal_fp_{s}", Score(new bool[G * G], k => (k % G) % 8 == 3 && (k / G + offset) % 8 == 3 ? prone[random.Next(prone.Length)] : null)));
        }

        foreach (var (id, fp) in features.Where(x => x.Id.StartsWith("normal_fp", StringComparison.Ordinal)))
            Console.WriteLine($"{id}: measured {fp.LesionCategory} {fp.LargestDiameterMm:F3} mm, {fp.Regions} regions, slide score {fp.SlideScore:F3}");
        foreach (var d in drawn)
        {
            var got = features.First(x => x.Id == d.Id).F;
            var line = $"{d.Id}: drawn {d.Category} {d.DiameterMm:F3} mm, measured {got.LesionCategory} {got.LargestDiameterMm:F3} mm";
            Console.WriteLine(line);
            Assert.True(d.Category == got.LesionCategory, line);
            if (d.Category is "micro" or "macro") Assert.True(Math.Abs(d.DiameterMm - got.LargestDiameterMm!.Value) <= 0.1, line);
        }

        var results = _dir["results"];
        var rows = DiagnosisRuleTests.WriteResults(results, features);
        var stages = _dir["stage_labels.csv"];
        var truth = new List<string> { "patient,stage" };
        foreach (var (patient, _) in plan)
            truth.Add($"{patient}.zip,{PnStage.Of(drawn.Where(d => d.Id.StartsWith(patient + "_", StringComparison.Ordinal)).Select(d => d.Category))}");
        truth.AddRange(drawn.Select(d => $"{d.Id}.tif,{(d.Category == "none" ? "negative" : d.Category)}"));
        File.WriteAllLines(stages, truth);

        var summary = CohortDiagnosis.Write(results, rows, stages);
        Assert.Empty(summary.Warnings);
        Assert.Equal(8, summary.KappaPatients);
        Assert.Equal(1.0, summary.Kappa!.Value, 9);
        var expected = new[] { "pN0", "pN0(i+)", "pN1mi", "pN1", "pN1", "pN2", "pN1mi", "pN0(i+)" };
        var patients = File.ReadAllLines(summary.PatientsCsv).Skip(1).Select(l => Csv.Split(l)).ToList();
        Assert.Equal(expected, patients.Select(c => c[1]));
        Assert.Equal(patients.Select(c => c[5]), patients.Select(c => c[1])); // truth column = predicted
        for (int i = 0; i < 4; i++) Assert.Equal(drawn.Count(d => d.Category == LesionCategory.All[i]), summary.CategoryConfusion![i, i]);

        // The slide classifier on the same cohort: tumour = any drawn deposit.
        var labelled = features.Select(x => new LabelledSlide(x.Id, x.F, drawn.FirstOrDefault(d => d.Id == x.Id)?.Category is { } c && c != "none")).ToList();
        var (cv, _, _) = SlideClassifier.Train(labelled, new SlideClassifierOptions { Folds = 5, Seed = 1, Bootstrap = 500 });
        var report = $"chosen {cv.Chosen}: AUC {cv.Model.Auc:F3} [{cv.Model.Low:F3}, {cv.Model.High:F3}], max score {cv.MaxScore.Auc:F3} [{cv.MaxScore.Low:F3}, {cv.MaxScore.High:F3}] " +
                     $"({string.Join(", ", cv.TrainerAuc.Select(kv => $"{kv.Key} {kv.Value:F3}"))}; {cv.Slides} slides, {cv.Tumour} tumour)";
        Console.WriteLine(report);
        Assert.True(cv.Model.Auc >= cv.MaxScore.Auc, report);
        Assert.InRange(cv.Model.Low, 0, cv.Model.Auc);
        Assert.InRange(cv.Model.High, cv.Model.Auc, 1);
    }
}

/// <summary>
/// The commands end to end on small PNG slides of real patches, scored by the sample model: `pcam heatmap --stages`,
/// `pcam slides train`, then `pcam heatmap --slide-model` on the same results folder.
/// </summary>
[Collection(SampleModelCollection.Name)]
public sealed class DiagnosisCommandTests(SampleModelFixture f) : IDisposable
{
    const int P = PatchSchema.Width, G = 8;
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void HeatmapStagesTrainAndSlideModel()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(f.CacheDir, "h5") });
        var src = view.Source;
        var tumour = new List<long>();
        var normal = new List<long>();
        for (long r = 0; r < src.RowCount; r++) (src.GetLabel(r) ? tumour : normal).Add(r);
        var slides = _dir["slides"];
        Directory.CreateDirectory(slides);
        int next = 0;
        // Tumour blocks of side k patches in the top-left corner (0 = none).
        var blocks = new Dictionary<string, int>
        {
            ["patient_000_node_0"] = 4, ["patient_000_node_1"] = 0, ["patient_000_node_2"] = 0, ["patient_000_node_3"] = 0, ["patient_000_node_4"] = 0,
            ["patient_001_node_0"] = 6, ["patient_001_node_1"] = 3, ["patient_001_node_2"] = 0, ["patient_001_node_3"] = 0, ["patient_001_node_4"] = 0,
        };
        var patch = new byte[PatchSchema.ImageBytes];
        foreach (var (id, k) in blocks)
        {
            var rgb = new byte[G * P * G * P * 3];
            for (int b = 0; b < G; b++)
                for (int a = 0; a < G; a++)
                {
                    bool t = a < k && b < k;
                    src.ReadImages(t ? tumour[next % tumour.Count] : normal[next % normal.Count], 1, patch);
                    next++;
                    for (int y = 0; y < P; y++) patch.AsSpan(y * P * 3, P * 3).CopyTo(rgb.AsSpan(((b * P + y) * G * P + a * P) * 3, P * 3));
                }
            HeatmapTests.WritePng(Path.Combine(slides, id + ".png"), rgb, G * P, G * P);
        }
        var blank = new byte[G * P * G * P * 3];
        Array.Fill(blank, (byte)250);
        HeatmapTests.WritePng(Path.Combine(slides, "patient_001_node_5.png"), blank, G * P, G * P); // a sixth node, and no tissue
        var stages = _dir["stage_labels.csv"];
        File.WriteAllLines(stages, ["patient,stage", "patient_000.zip,pN1mi", "patient_001.zip,pN1", "patient_000_node_0.tif,micro",
            "patient_001_node_0.tif,micro", "patient_001_node_1.tif,micro", "patient_009_node_0.tif,macro"]);
        var results = _dir["results"];
        string[] heatmap = ["heatmap", "--model", f.ModelPath, slides, "--output", results, "--mpp", "0.972", "--stride", "96", "--min-region-um2", "0"];

        var run = CliTests.Pcam([.. heatmap, "--stages", stages]);
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("pN-stage quadratic weighted kappa:", run.Out);
        Assert.Contains("truth \\ predicted", run.Out);
        Assert.Contains("warning: patient_001_node_5: no tissue was scored", run.Err);
        Assert.Contains("warning: patient_001: 6 slides", run.Err);
        Assert.Contains("1 slide(s) not in this run, left out: patient_009_node_0", run.Err);
        var slidesCsv = File.ReadAllLines(Path.Combine(results, "slides.csv"));
        var header = Csv.Split(slidesCsv[0]);
        int category = header.IndexOf("lesion_category"), probability = header.IndexOf("slide_probability");
        Assert.True(category >= 0 && probability >= 0);
        Assert.Equal(10, slidesCsv.Skip(1).Count(l => Csv.Split(l)[category].Length > 0)); // all but the blank slide
        var patients = File.ReadAllLines(Path.Combine(results, "patients.csv"));
        Assert.Equal(3, patients.Length);
        Assert.All(patients.Skip(1), l => Assert.Contains(Csv.Split(l)[1], PnStage.All));
        Assert.True(File.Exists(Path.Combine(results, "slide_features.csv")) && File.Exists(Path.Combine(results, "diagnosis.json")));

        var labels = _dir["labels.csv"];
        File.WriteAllLines(labels, ["slide_id,label", .. blocks.Select(b => $"{b.Key},{(b.Value > 0 ? "tumor" : "normal")}"), "patient_001_node_5,normal", "ghost_slide,tumor"]);
        var model = _dir["slide.zip"];
        var train = CliTests.Pcam("slides", "train", "--results", results, "--labels", labels, "--model", model, "--folds", "2", "--bootstrap", "200");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("ghost_slide", train.Err);
        Assert.Contains("patient_001_node_5: no complete features", train.Err);
        Assert.Contains("max score", train.Out);
        Assert.True(File.Exists(model) && File.Exists(_dir["slide.cv.json"]) && File.Exists(_dir["slide.cv.md"]));
        var cv = JsonNode.Parse(File.ReadAllText(_dir["slide.cv.json"]))!;
        Assert.Equal(10, (int)cv["slides"]!);
        Assert.Contains((string)cv["chosen"]!, SlideClassifier.Trainers);

        var again = CliTests.Pcam([.. heatmap, "--slide-model", model]);
        Assert.True(again.Code == 0, again.Err);
        slidesCsv = File.ReadAllLines(Path.Combine(results, "slides.csv"));
        var probabilities = slidesCsv.Skip(1).Select(l => Csv.Split(l)[probability]).Where(p => p.Length > 0).Select(p => double.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(10, probabilities.Count);
        Assert.All(probabilities, p => Assert.InRange(p, 0, 1));

        var bad = CliTests.Pcam([.. heatmap, "--slide-model", labels]);
        Assert.Equal(1, bad.Code);
        Assert.StartsWith("error: " + labels, bad.Err.Trim());
    }
}
