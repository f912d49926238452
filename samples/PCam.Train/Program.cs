using Microsoft.ML;
using PCam.MLNet;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

// A PCam folder (official .h5/.h5.gz files, <split>/<0|1>/ image folders or the Kaggle layout); default: a generated demo set.
var dataDir = args.Length > 0 ? args[0] : DemoData.EnsureGenerated(Path.Combine(Path.GetTempPath(), "pcam-demo"));
var modelPath = args.Length > 1 ? args[1] : "pcam-model.zip";

var ml = new MLContext(seed: 1);
var train = ml.Data.LoadFromPCam(dataDir, PCamSplit.Train);
var test = ml.Data.LoadFromPCam(dataDir, PCamSplit.Test);

// Frozen ImageNet ResNet18 features (96 px, one view, fp32: the fast setting), standardised, then logistic regression.
var pipeline = ml.Transforms.FeaturizePatches(new PatchFeaturizerOptions { ImageSize = 96, Tta = false, Precision = FeaturizerPrecision.Fp32 })
    .AppendCacheCheckpoint(ml)   // featurize once; the normaliser and the trainer's passes read the cached features
    .Append(ml.Transforms.NormalizeMeanVariance("Features"))
    .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(featureColumnName: "Features"));

Console.WriteLine($"Training on {train.GetRowCount():N0} patches from {dataDir} ...");
using var model = pipeline.Fit(train);

var metrics = ml.BinaryClassification.Evaluate(model.Transform(test));
Console.WriteLine($"Test ({test.GetRowCount():N0} patches): accuracy {metrics.Accuracy:P2}, AUC {metrics.AreaUnderRocCurve:F4}, " +
                  $"log-loss {metrics.LogLoss:F4} bits");

// The zip holds ML.NET's own transforms: a consuming app needs only ML.NET and ONNX Runtime (see src/PCam.Predict).
ml.Model.Save(model, train.Schema, modelPath);
Console.WriteLine($"Saved {Path.GetFullPath(modelPath)}");
