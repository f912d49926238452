using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using PCam.MLNet.Slides.Evaluation;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides.Diagnosis;

/// <summary>Settings of the slide classifier (defaults documented here and in docs/slides.md).</summary>
public sealed class SlideClassifierOptions
{
    /// <summary>Cross-validation folds, stratified by label (fewer when a class has fewer slides).</summary>
    public int Folds { get; init; } = 5;
    /// <summary>Seed of the fold split, the trainers and the bootstrap.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Bootstrap resamples of the slides for the 95% intervals.</summary>
    public int Bootstrap { get; init; } = 2000;

    public void Validate()
    {
        if (Folds < 2) throw new ArgumentException($"SlideClassifierOptions.Folds must be at least 2 (got {Folds}).");
        if (Bootstrap < 100) throw new ArgumentException($"SlideClassifierOptions.Bootstrap must be at least 100 (got {Bootstrap}).");
    }
}

/// <summary>One labelled slide: its id, features and truth.</summary>
public sealed record LabelledSlide(string SlideId, SlideFeatures Features, bool Tumour);

/// <summary>An AUC with its bootstrap 95% interval (percentiles 2.5 and 97.5).</summary>
public sealed record AucInterval(double Auc, double Low, double High);

/// <summary>What cross-validation found: each trainer's out-of-fold AUC, the chosen one, and the baseline on the same folds.</summary>
public sealed record SlideCvResult(
    IReadOnlyDictionary<string, double> TrainerAuc, string Chosen, AucInterval Model, AucInterval MaxScore, AucInterval Difference,
    int Folds, int Slides, int Tumour, IReadOnlyList<(string SlideId, bool Tumour, int Fold, double Score, double MaxScore)> OutOfFold);

/// <summary>
/// A slide-level tumour classifier on <see cref="SlideFeatures"/> (the Camelyon16 winners' recipe: heatmap features into
/// a tree ensemble). Candidates (logistic regression, FastTree, FastForest) are compared by out-of-fold AUC on the same
/// seeded, label-stratified folds as the max-score baseline (the slide score alone); the best is refit on every slide
/// and saved as an ML.NET zip whose input is the feature vector. Choosing among three candidates on the same folds
/// that report its AUC flatters it slightly; the interval says how much the cohort's size allows to conclude.
/// </summary>
public sealed class SlideClassifier
{
    public const string FeaturesColumn = "Features";

    /// <summary>The ML.NET input row.</summary>
    public sealed class Row
    {
        [VectorType(SlideFeatures.Count)] public float[] Features { get; set; } = [];
        public bool Label { get; set; }
    }

    private sealed class Output
    {
        public float Probability { get; set; }
    }

    public static readonly string[] Trainers = ["LogisticRegression", "FastTree", "FastForest"];

    private static IEstimator<ITransformer> Pipeline(MLContext ml, string trainer, int seed)
    {
        var normalize = ml.Transforms.NormalizeMeanVariance(FeaturesColumn);
        // Small trees: a cohort has tens to hundreds of slides, not thousands.
        return trainer switch
        {
            "LogisticRegression" => normalize.Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(l2Regularization: 1f)),
            "FastTree" => normalize.Append(ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
            {
                NumberOfLeaves = 4, NumberOfTrees = 50, MinimumExampleCountPerLeaf = 2, NumberOfThreads = 1, Seed = seed,
            })),
            "FastForest" => normalize.Append(ml.BinaryClassification.Trainers.FastForest(new FastForestBinaryTrainer.Options
            {
                NumberOfLeaves = 4, NumberOfTrees = 100, MinimumExampleCountPerLeaf = 2, NumberOfThreads = 1, Seed = seed,
            })).Append(ml.BinaryClassification.Calibrators.Platt()),
            _ => throw new ArgumentException($"unknown trainer {trainer}."),
        };
    }

    /// <summary>Cross-validates every candidate and the baseline, then refits the best on all slides.</summary>
    public static (SlideCvResult Result, ITransformer Model, MLContext Context) Train(IReadOnlyList<LabelledSlide> slides, SlideClassifierOptions options)
    {
        options.Validate();
        int tumour = slides.Count(s => s.Tumour), normal = slides.Count - tumour;
        if (tumour < 2 || normal < 2)
            throw new PCamDataException($"slide classifier: need at least 2 tumour and 2 normal slides with features (have {tumour} tumour, {normal} normal).");
        int folds = Math.Min(options.Folds, Math.Min(tumour, normal));
        var fold = Folds(slides, folds, options.Seed);
        var ml = new MLContext(seed: options.Seed);
        var rows = slides.Select(s => new Row { Features = s.Features.Vector(), Label = s.Tumour }).ToArray();
        var scores = new Dictionary<string, double[]>();
        foreach (var trainer in Trainers)
        {
            var oof = new double[slides.Count];
            for (int k = 0; k < folds; k++)
            {
                var train = ml.Data.LoadFromEnumerable(rows.Where((_, i) => fold[i] != k));
                var model = Pipeline(ml, trainer, options.Seed).Fit(train);
                var held = Enumerable.Range(0, rows.Length).Where(i => fold[i] == k).ToArray();
                var predicted = Score(ml, model, held.Select(i => rows[i]));
                for (int n = 0; n < held.Length; n++) oof[held[n]] = predicted[n];
            }
            scores[trainer] = oof;
        }
        var truth = slides.Select(s => s.Tumour).ToArray();
        var baseline = slides.Select(s => s.Features.SlideScore ?? 0).ToArray();
        var aucs = Trainers.ToDictionary(t => t, t => Auc(scores[t], truth));
        var chosen = Trainers.OrderByDescending(t => aucs[t]).First(); // ties keep the simpler, earlier candidate
        var (m, b, d) = Intervals(scores[chosen], baseline, truth, options.Bootstrap, options.Seed);
        var final = Pipeline(ml, chosen, options.Seed).Fit(ml.Data.LoadFromEnumerable(rows));
        var oofRows = slides.Select((s, i) => (s.SlideId, s.Tumour, fold[i], scores[chosen][i], baseline[i])).ToList();
        return (new SlideCvResult(aucs, chosen, m, b, d, folds, slides.Count, tumour, oofRows), final, ml);
    }

    /// <summary>Label-stratified folds: each class shuffled with the seed and dealt round-robin.</summary>
    public static int[] Folds(IReadOnlyList<LabelledSlide> slides, int folds, int seed)
    {
        var fold = new int[slides.Count];
        var random = new Random(seed);
        foreach (var cls in new[] { true, false })
        {
            var members = Enumerable.Range(0, slides.Count).Where(i => slides[i].Tumour == cls).OrderBy(i => slides[i].SlideId, StringComparer.Ordinal).ToArray();
            random.Shuffle(members);
            for (int n = 0; n < members.Length; n++) fold[members[n]] = n % folds;
        }
        return fold;
    }

    private static double Auc(double[] score, bool[] truth) => Curves.Auc(score.Select((s, i) => ((float)s, truth[i])).ToList());

    /// <summary>Paired bootstrap over slides: the model's AUC, the baseline's and their difference on the same resamples.</summary>
    public static (AucInterval Model, AucInterval Baseline, AucInterval Difference) Intervals(double[] model, double[] baseline, bool[] truth, int resamples, int seed)
    {
        var random = new Random(seed);
        var am = new List<double>(resamples);
        var ab = new List<double>(resamples);
        var ad = new List<double>(resamples);
        int n = truth.Length;
        var pick = new int[n];
        while (am.Count < resamples)
        {
            for (int i = 0; i < n; i++) pick[i] = random.Next(n);
            var t = pick.Select(i => truth[i]).ToArray();
            if (t.All(x => x) || !t.Any(x => x)) continue; // AUC needs both classes
            double x1 = Auc(pick.Select(i => model[i]).ToArray(), t), x2 = Auc(pick.Select(i => baseline[i]).ToArray(), t);
            am.Add(x1); ab.Add(x2); ad.Add(x1 - x2);
        }
        AucInterval Ci(double point, List<double> draws)
        {
            draws.Sort();
            return new AucInterval(point, Percentile(draws, 0.025), Percentile(draws, 0.975));
        }
        double pm = Auc(model, truth), pb = Auc(baseline, truth);
        return (Ci(pm, am), Ci(pb, ab), Ci(pm - pb, ad));
    }

    private static double Percentile(List<double> sorted, double q)
    {
        double at = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(at), hi = Math.Min(sorted.Count - 1, lo + 1);
        return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
    }

    private static double[] Score(MLContext ml, ITransformer model, IEnumerable<Row> rows)
    {
        var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
        return scored.GetColumn<float>("Probability").Select(p => (double)p).ToArray();
    }

    /// <summary>Saves the model (temp file + rename).</summary>
    public static void Save(MLContext ml, ITransformer model, string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var schema = ml.Data.LoadFromEnumerable(Array.Empty<Row>()).Schema;
            ml.Model.Save(model, schema, tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>A saved slide model, ready to score feature vectors.</summary>
    public sealed class Loaded(MLContext ml, ITransformer model)
    {
        /// <summary>P(tumour) per slide; NaN for a slide without complete features.</summary>
        public double[] Predict(IReadOnlyList<SlideFeatures> slides)
        {
            var result = Enumerable.Repeat(double.NaN, slides.Count).ToArray();
            var usable = Enumerable.Range(0, slides.Count).Where(i => slides[i].Complete).ToArray();
            if (usable.Length == 0) return result;
            var p = Score(ml, model, usable.Select(i => new Row { Features = slides[i].Vector() }));
            for (int n = 0; n < usable.Length; n++) result[usable[n]] = p[n];
            return result;
        }
    }

    public static Loaded Load(string path)
    {
        if (!File.Exists(path)) throw new PCamModelException($"{path}: slide model not found (write one with `pcam slides train`).");
        var ml = new MLContext(seed: 1);
        ITransformer model;
        DataViewSchema input;
        try { model = ml.Model.Load(path, out input); }
        catch (Exception e) when (e is InvalidDataException or FormatException or InvalidOperationException or IOException or ArgumentException)
        {
            throw new PCamModelException($"{path}: not an ML.NET model zip ({e.Message}).", e);
        }
        if (input.GetColumnOrNull(FeaturesColumn) is not { } column || column.Type is not VectorDataViewType { Size: SlideFeatures.Count }
            || model.GetOutputSchema(input).GetColumnOrNull("Probability") is null)
            throw new PCamModelException($"{path}: not a slide model (expected a {SlideFeatures.Count}-feature '{FeaturesColumn}' input and a Probability output, as `pcam slides train` writes).");
        return new Loaded(ml, model);
    }
}
