using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Training;

/// <summary>One head fitted during selection: what was tried, on how many train rows, and how it scored on the validation split.</summary>
public sealed record HeadTrial(string Trainer, IReadOnlyDictionary<string, string> Parameters, SplitMetrics Valid, double Seconds)
{
    public double ValidNll => Valid.Nll;
    /// <summary>Train rows the head was fitted on (a stratified subsample during selection, all rows for the refit).</summary>
    public long TrainRows { get; init; }
}

/// <summary>One hyper-parameter setting of a head trainer: its parameters and Fit(train, valid, threads).</summary>
internal sealed record HeadCandidate(Dictionary<string, string> Parameters, Func<IDataView, IDataView, int, ITransformer> Fit);

/// <summary>The chosen model, every trial, and the chosen head (the refit on all rows when selection used a subsample).</summary>
public sealed record HeadResult(ITransformer Model, IReadOnlyList<HeadTrial> Trials, HeadTrial Best);

/// <summary>
/// Trains an ML.NET binary head on cached features. The validation split picks the hyper-parameters
/// (lowest NLL), stops boosting early, and fits the Platt calibration; the test split is never seen here.
/// </summary>
/// <remarks>
/// Features are standardised once (the normaliser, fitted on all train rows, is the model's first step); the candidates
/// are compared on a seeded class-stratified subsample (<see cref="HeadSelectionConfig.SelectionRows"/>) and the winner
/// is refitted once on all rows, because the head search on all rows costs minutes where the subsample costs seconds
/// and picks the same head (`pcam bench heads` compares it with the exhaustive baseline). ML.NET's L2 penalty is added
/// to the summed loss, so an L2 value means the same prior on any number of rows and is not rescaled for the
/// subsample. Every fit starts from zero weights: warm starts along the L2 path stall (the float objective barely
/// changes between neighbouring optima, so the relative-improvement stop fires before the weights move).
/// </remarks>
public static class HeadTrainer
{
    private const string Features = FeatureTable.FeaturesColumn;
    private const string Label = PatchSchema.LabelColumn;

    public static HeadResult Train(MLContext ml, IDataView train, IDataView valid, TrainingOptionConfig options,
        Action<string>? log = null)
    {
        var o = options;
        var sel = o.HeadSelection;
        var threads = sel.Threads ?? Environment.ProcessorCount;
        var kind = o.TrainerKind;
        var linear = kind.IsLinear();
        var prep = Stopwatch.StartNew();
        ITransformer? normalizer = linear ? ml.Transforms.NormalizeMeanVariance(Features).Fit(train) : null;
        var trainView = normalizer?.Transform(train) ?? train;
        var validTable = FeatureTable.Load(normalizer?.Transform(valid) ?? valid);
        var labels = FeatureTable.ReadLabels(train);
        var subsample = kind != HeadTrainerKind.SdcaLogisticRegression && sel.SelectionRows > 0 && labels.Length > sel.SelectionRows;
        // Multi-threaded L-BFGS and the tree trainers copy their train rows themselves; a single-threaded L-BFGS and SDCA
        // stream their input every iteration, so they get one dense table instead of the normalizer over the cache file.
        var trainerCopiesRows = kind is HeadTrainerKind.LightGbm or HeadTrainerKind.FastTree || (kind == HeadTrainerKind.LbfgsLogisticRegression && threads > 1);
        var selectionRows = subsample ? sel.SelectionRows : labels.Length;
        ReleaseGarbage();
        var trials = RunTrials();

        // The selection table is loaded in here so that no frame of TrainFast keeps it alive during the refit.
        List<(HeadTrial Trial, ITransformer Model, HeadCandidate Candidate)> RunTrials()
        {
            var selection = subsample ? FeatureTable.Load(trainView, StratifiedSample(labels, sel.SelectionRows, o.Seed))
                : trainerCopiesRows ? trainView : FeatureTable.Load(trainView);
            log?.Invoke($"Head selection on {(subsample ? $"a stratified subsample of {selectionRows:N0}" : $"all {selectionRows:N0}")} " +
                        $"train rows, {threads} thread(s) (prepared in {prep.Elapsed.TotalSeconds:F1} s).");
            var list = new List<(HeadTrial Trial, ITransformer Model, HeadCandidate Candidate)>();
            foreach (var candidate in Candidates(ml, o, o.HeadSelection.LbfgsTolerance))
            {
                var sw = Stopwatch.StartNew();
                var (model, m) = Calibrate(ml, candidate.Fit(selection, validTable, threads), validTable);
                var trial = new HeadTrial(o.Trainer, candidate.Parameters, m, sw.Elapsed.TotalSeconds) { TrainRows = selectionRows };
                log?.Invoke($"{trial.Trainer} {Describe(candidate.Parameters)}: valid NLL {m.Nll:F4}, AUC {m.Auc:F4}, " +
                            $"Acc {m.Accuracy:F4} ({trial.Seconds:F1} s, {selectionRows:N0} rows)");
                list.Add((trial, model, candidate));
                // A trainer that copied every row itself leaves that copy as garbage; collected now, it does not
                // overlap the next trial's copy.
                if (ReferenceEquals(selection, trainView)) ReleaseGarbage();
            }
            return list;
        }

        var best = trials.MinBy(t => t.Trial.ValidNll);
        var (bestModel, bestTrial) = (best.Model, best.Trial);
        if (subsample)
        {
            // The subsample table and the last trainer's copy of it are garbage now.
            ReleaseGarbage();
            var sw = Stopwatch.StartNew();
            // L-BFGS refits on one thread over one dense table (one array, instead of the per-row arrays a multi-threaded
            // ML.NET L-BFGS copies the rows into): the same time, less memory.
            var lbfgs = kind == HeadTrainerKind.LbfgsLogisticRegression;
            var refitInput = trainerCopiesRows && !lbfgs ? trainView : FeatureTable.Load(trainView);
            var (model, m) = Calibrate(ml, best.Candidate.Fit(refitInput, validTable, lbfgs ? 1 : threads), validTable);
            bestTrial = new HeadTrial(o.Trainer, best.Trial.Parameters, m, sw.Elapsed.TotalSeconds) { TrainRows = labels.Length };
            bestModel = model;
            log?.Invoke($"{o.Trainer} {Describe(best.Trial.Parameters)} refitted on all {labels.Length:N0} rows: valid NLL {m.Nll:F4}, " +
                        $"AUC {m.Auc:F4}, Acc {m.Accuracy:F4} ({bestTrial.Seconds:F1} s)");
        }
        var final = normalizer is null ? bestModel : normalizer.Append(bestModel);
        return new HeadResult(final, trials.Select(t => t.Trial).ToList(), bestTrial);
    }

    /// <summary>
    /// Streaming the cache file (normaliser fit, valid and subsample loads) leaves the GC heap holding hundreds of MB of
    /// freed row buffers that it keeps committed. A collection at the head stage's boundaries returns them to the OS; the
    /// finalizers run in between because what a pending finalizer references survives the first collection (262,144 x
    /// 896 in `pcam bench heads`: 0.94 GB live before the first trial without the wait, 0.40 GB with it).
    /// </summary>
    private static void ReleaseGarbage()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>Re-fits the probability mapping on the validation split (frozen-feature heads are over-confident on train) and scores valid.</summary>
    internal static (ITransformer Model, SplitMetrics Valid) Calibrate(MLContext ml, ITransformer head, IDataView valid)
    {
        var scored = head.Transform(valid);
        var calibrator = ml.BinaryClassification.Calibrators.Platt(Label, "Score").Fit(scored);
        // The head's PredictedLabel is Score > 0; after recalibration the decision must be Probability >= 0.5.
        var decision = ml.Transforms.Expression("PredictedLabel", "p => p >= 0.5", "Probability").Fit(calibrator.Transform(scored));
        var model = head.Append(calibrator).Append(decision);
        var (m, _) = PCamMetrics.Evaluate(ml, model.Transform(valid), "valid");
        return (model, m);
    }

    /// <summary>
    /// Row positions (ascending) of a seeded sample of <paramref name="size"/> rows with the classes in the same
    /// proportions as <paramref name="labels"/> (each class keeps at least one row when it has one).
    /// </summary>
    public static long[] StratifiedSample(IReadOnlyList<bool> labels, int size, int seed)
    {
        if (size >= labels.Count) return Enumerable.Range(0, labels.Count).Select(i => (long)i).ToArray();
        var positive = new List<long>();
        var negative = new List<long>();
        for (var i = 0; i < labels.Count; i++) (labels[i] ? positive : negative).Add(i);
        var takePositive = (int)Math.Round((double)size * positive.Count / labels.Count);
        if (positive.Count > 0) takePositive = Math.Clamp(takePositive, 1, Math.Min(positive.Count, size - (negative.Count > 0 ? 1 : 0)));
        var rand = new Random(seed);
        var p = positive.ToArray();
        var n = negative.ToArray();
        rand.Shuffle(p);
        rand.Shuffle(n);
        return p.Take(takePositive).Concat(n.Take(size - takePositive)).Order().ToArray();
    }

    /// <summary>
    /// The candidates of the configured trainer, one per hyper-parameter setting, each fitting the bare trainer
    /// (no normaliser) on (train, valid) with a thread count. The search and the benchmark's exhaustive baseline both
    /// use them; L-BFGS stops at <paramref name="lbfgsTolerance"/>.
    /// </summary>
    internal static IEnumerable<HeadCandidate> Candidates(MLContext ml, TrainingOptionConfig o, double lbfgsTolerance)
    {
        switch (o.TrainerKind)
        {
            case HeadTrainerKind.LbfgsLogisticRegression:
                foreach (var l2 in o.Lbfgs.L2Regularization)
                    yield return new HeadCandidate(LinearParameters(l2, o.Lbfgs.L1Regularization), (train, _, threads) =>
                        ml.BinaryClassification.Trainers.LbfgsLogisticRegression(new LbfgsLogisticRegressionBinaryTrainer.Options
                        {
                            LabelColumnName = Label, FeatureColumnName = Features,
                            L2Regularization = (float)l2, L1Regularization = (float)o.Lbfgs.L1Regularization,
                            OptimizationTolerance = (float)lbfgsTolerance, MaximumNumberOfIterations = 1000,
                            NumberOfThreads = threads,
                        }).Fit(train));
                break;
            case HeadTrainerKind.SdcaLogisticRegression:
                foreach (var l2 in o.Sdca.L2Regularization)
                    yield return new HeadCandidate(LinearParameters(l2, o.Sdca.L1Regularization), (train, _, _) =>
                        ml.BinaryClassification.Trainers.SdcaLogisticRegression(new SdcaLogisticRegressionBinaryTrainer.Options
                        {
                            LabelColumnName = Label, FeatureColumnName = Features, L2Regularization = (float)l2,
                            L1Regularization = (float)o.Sdca.L1Regularization,
                            NumberOfThreads = 1, MaximumNumberOfIterations = 100, Shuffle = false,
                        }).Fit(train));
                break;
            case HeadTrainerKind.LightGbm:
                foreach (var leaves in o.LightGbm.NumberOfLeaves)
                    yield return new HeadCandidate(TreeParameters(o.LightGbm, leaves), (train, valid, threads) => LightGbm(ml, o, leaves, threads).Fit(train, valid));
                break;
            case HeadTrainerKind.FastTree:
                foreach (var leaves in o.FastTree.NumberOfLeaves)
                    yield return new HeadCandidate(TreeParameters(o.FastTree, leaves), (train, valid, threads) => FastTree(ml, o, leaves, threads).Fit(train, valid));
                break;
            default:
                throw new PCamConfigException($"Unknown trainer '{o.Trainer}'.");
        }
    }

    private static LightGbmBinaryTrainer LightGbm(MLContext ml, TrainingOptionConfig o, int leaves, int threads) =>
        ml.BinaryClassification.Trainers.LightGbm(new LightGbmBinaryTrainer.Options
        {
            LabelColumnName = Label, FeatureColumnName = Features, NumberOfLeaves = leaves,
            LearningRate = o.LightGbm.LearningRate, NumberOfIterations = o.LightGbm.NumberOfTrees,
            MinimumExampleCountPerLeaf = o.LightGbm.MinimumExampleCountPerLeaf,
            EarlyStoppingRound = 50, Seed = o.Seed, Deterministic = true, NumberOfThreads = threads, Silent = true,
            Booster = new GradientBooster.Options { FeatureFraction = 0.5 },
        });

    private static FastTreeBinaryTrainer FastTree(MLContext ml, TrainingOptionConfig o, int leaves, int threads) =>
        ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
        {
            LabelColumnName = Label, FeatureColumnName = Features, NumberOfLeaves = leaves,
            LearningRate = o.FastTree.LearningRate, NumberOfTrees = o.FastTree.NumberOfTrees,
            MinimumExampleCountPerLeaf = o.FastTree.MinimumExampleCountPerLeaf,
            EarlyStoppingRule = new TolerantEarlyStoppingRule(), EarlyStoppingMetric = EarlyStoppingMetric.L1Norm,
            FeatureFraction = 0.5, Seed = o.Seed, NumberOfThreads = threads,
        });

    private static Dictionary<string, string> LinearParameters(double l2, double l1) =>
        new() { ["L2Regularization"] = F(l2), ["L1Regularization"] = F(l1) };

    public static string Describe(IReadOnlyDictionary<string, string> p) => string.Join(", ", p.Select(kv => $"{kv.Key}={kv.Value}"));

    private static Dictionary<string, string> TreeParameters(TreeHeadConfig t, int leaves) => new()
    {
        ["NumberOfLeaves"] = leaves.ToString(), ["LearningRate"] = F(t.LearningRate),
        ["NumberOfTrees"] = t.NumberOfTrees.ToString(), ["MinimumExampleCountPerLeaf"] = t.MinimumExampleCountPerLeaf.ToString(),
    };

    private static string F(double v) => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
}
