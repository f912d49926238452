using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Reporting;

namespace PCam.MLNet.Training;

/// <summary>One head fitted during selection: what was tried and how it scored on the validation split.</summary>
public sealed record HeadTrial(string Trainer, IReadOnlyDictionary<string, string> Parameters, SplitMetrics Valid, double Seconds)
{
    public double ValidNll => Valid.Nll;
}

public sealed record HeadResult(ITransformer Model, IReadOnlyList<HeadTrial> Trials, HeadTrial Best);

/// <summary>
/// Trains an ML.NET binary head on cached features. The validation split picks the hyper-parameters
/// (lowest NLL), stops boosting early, and fits the Platt calibration; the test split is never seen here.
/// </summary>
public static class HeadTrainer
{
    private const string Features = FeatureTable.FeaturesColumn;
    private const string Label = PatchSchema.LabelColumn;

    public static HeadResult Train(MLContext ml, IDataView train, IDataView valid, TrainingOptionConfig options,
        Action<string>? log = null)
    {
        var trials = new List<(HeadTrial Trial, ITransformer Model)>();
        foreach (var (parameters, fit) in Candidates(ml, options))
        {
            var sw = Stopwatch.StartNew();
            var head = fit(train, valid);
            // Re-fit the probability mapping on the validation split: frozen-feature heads are over-confident on train.
            var calibrator = ml.BinaryClassification.Calibrators.Platt(Label, "Score").Fit(head.Transform(valid));
            // The head's PredictedLabel is Score > 0; after recalibration the decision must be Probability >= 0.5.
            var decision = ml.Transforms.Expression("PredictedLabel", "p => p >= 0.5", "Probability").Fit(calibrator.Transform(head.Transform(valid)));
            var model = head.Append(calibrator).Append(decision);
            var (m, _) = PCamMetrics.Evaluate(ml, model.Transform(valid), "valid");
            var trial = new HeadTrial(options.Trainer, parameters, m, sw.Elapsed.TotalSeconds);
            log?.Invoke($"{trial.Trainer} {Describe(parameters)}: valid NLL {m.Nll:F4}, AUC {m.Auc:F4}, " +
                        $"Acc {m.Accuracy:F4} ({trial.Seconds:F1} s)");
            trials.Add((trial, model));
        }
        var best = trials.MinBy(t => t.Trial.ValidNll);
        return new HeadResult(best.Model, trials.Select(t => t.Trial).ToList(), best.Trial);
    }

    public static string Describe(IReadOnlyDictionary<string, string> p) => string.Join(", ", p.Select(kv => $"{kv.Key}={kv.Value}"));

    private static IEnumerable<(Dictionary<string, string>, Func<IDataView, IDataView, ITransformer>)> Candidates(MLContext ml, TrainingOptionConfig o)
    {
        switch (o.Trainer)
        {
            case "LbfgsLogisticRegression":
                foreach (var l2 in o.Lbfgs.L2Regularization)
                    yield return (new() { ["L2Regularization"] = F(l2), ["L1Regularization"] = F(o.Lbfgs.L1Regularization) },
                        (train, _) => ml.Transforms.NormalizeMeanVariance(Features)
                            .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(new LbfgsLogisticRegressionBinaryTrainer.Options
                            {
                                LabelColumnName = Label, FeatureColumnName = Features,
                                L2Regularization = (float)l2, L1Regularization = (float)o.Lbfgs.L1Regularization,
                                OptimizationTolerance = 1e-7f, MaximumNumberOfIterations = 1000, NumberOfThreads = 1,
                            })).Fit(train));
                break;
            case "SdcaLogisticRegression":
                foreach (var l2 in o.Sdca.L2Regularization)
                    yield return (new() { ["L2Regularization"] = F(l2), ["L1Regularization"] = F(o.Sdca.L1Regularization) },
                        (train, _) => ml.Transforms.NormalizeMeanVariance(Features)
                            .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(new SdcaLogisticRegressionBinaryTrainer.Options
                            {
                                LabelColumnName = Label, FeatureColumnName = Features, L2Regularization = (float)l2,
                                L1Regularization = (float)o.Sdca.L1Regularization,
                                NumberOfThreads = 1, MaximumNumberOfIterations = 100, Shuffle = false,
                            })).Fit(train));
                break;
            case "LightGbm":
                foreach (var leaves in o.LightGbm.NumberOfLeaves)
                    yield return (TreeParameters(o.LightGbm, leaves), (train, valid) =>
                        ml.BinaryClassification.Trainers.LightGbm(new LightGbmBinaryTrainer.Options
                        {
                            LabelColumnName = Label, FeatureColumnName = Features, NumberOfLeaves = leaves,
                            LearningRate = o.LightGbm.LearningRate, NumberOfIterations = o.LightGbm.NumberOfTrees,
                            MinimumExampleCountPerLeaf = o.LightGbm.MinimumExampleCountPerLeaf,
                            EarlyStoppingRound = 50, Seed = o.Seed, Deterministic = true, NumberOfThreads = 1, Silent = true,
                            Booster = new GradientBooster.Options { FeatureFraction = 0.5 },
                        }).Fit(train, valid));
                break;
            case "FastTree":
                foreach (var leaves in o.FastTree.NumberOfLeaves)
                    yield return (TreeParameters(o.FastTree, leaves), (train, valid) =>
                        ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
                        {
                            LabelColumnName = Label, FeatureColumnName = Features, NumberOfLeaves = leaves,
                            LearningRate = o.FastTree.LearningRate, NumberOfTrees = o.FastTree.NumberOfTrees,
                            MinimumExampleCountPerLeaf = o.FastTree.MinimumExampleCountPerLeaf,
                            EarlyStoppingRule = new TolerantEarlyStoppingRule(), EarlyStoppingMetric = EarlyStoppingMetric.L1Norm,
                            FeatureFraction = 0.5, Seed = o.Seed, NumberOfThreads = 1,
                        }).Fit(train, valid));
                break;
            default:
                throw new PCamConfigException($"Unknown trainer '{o.Trainer}'.");
        }
    }

    private static Dictionary<string, string> TreeParameters(TreeHeadConfig t, int leaves) => new()
    {
        ["NumberOfLeaves"] = leaves.ToString(), ["LearningRate"] = F(t.LearningRate),
        ["NumberOfTrees"] = t.NumberOfTrees.ToString(), ["MinimumExampleCountPerLeaf"] = t.MinimumExampleCountPerLeaf.ToString(),
    };

    private static string F(double v) => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
}
