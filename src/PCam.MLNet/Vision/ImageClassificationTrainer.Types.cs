using Microsoft.ML;

namespace PCam.MLNet.Vision;

public sealed partial class ImageClassificationTrainer
{
    /// <summary>The backbone. ML.NET's names compile; only <see cref="ResNet18"/> ships with PCam.MLNet (any other ONNX
    /// backbone comes through <see cref="Options.BackboneJson"/>). The other names fail at Fit with what to use instead.</summary>
    public enum Architecture
    {
        /// <summary>ResNet-v2 101 at 299 px (TensorFlow weights; not available here).</summary>
        ResnetV2101,
        /// <summary>Inception-v3 at 299 px (TensorFlow weights; not available here).</summary>
        InceptionV3,
        /// <summary>MobileNet-v2 at 224 px (TensorFlow weights; not available here).</summary>
        MobilenetV2,
        /// <summary>ResNet-v2 50 at 299 px, ML.NET's default (TensorFlow weights; not available here).</summary>
        ResnetV250,
        /// <summary>ImageNet ResNet18 (Microsoft.ML.DnnImageFeaturizer.ResNet18) at 224 px: the default here.</summary>
        ResNet18,
    }

    /// <summary>The metric early stopping watches.</summary>
    public enum EarlyStoppingMetric
    {
        /// <summary>Accuracy (higher is better).</summary>
        Accuracy,
        /// <summary>Cross-entropy (lower is better).</summary>
        Loss,
    }

    /// <summary>Metrics of one epoch on one dataset.</summary>
    public sealed class TrainMetrics
    {
        /// <summary>Train or validation rows.</summary>
        public ImageClassificationMetrics.Dataset DatasetUsed { get; set; }
        /// <summary>Mini-batches processed in the epoch.</summary>
        public int BatchProcessedCount { get; set; }
        /// <summary>The epoch (0-based).</summary>
        public int Epoch { get; set; }
        /// <summary>Accuracy over the dataset's rows.</summary>
        public float Accuracy { get; set; }
        /// <summary>Mean cross-entropy (nats).</summary>
        public float CrossEntropy { get; set; }
        /// <summary>The learning rate of the epoch's last batch.</summary>
        public float LearningRate { get; set; }

        /// <summary>The line ML.NET's trainer prints.</summary>
        public override string ToString() => DatasetUsed == ImageClassificationMetrics.Dataset.Train
            ? $"Phase: Training, Dataset used: {DatasetUsed,10}, Batch Processed Count: {BatchProcessedCount,3}, Epoch: {Epoch,3}, Accuracy: {Accuracy,10}, Cross-Entropy: {CrossEntropy,10}, Learning Rate: {LearningRate,10}"
            : $"Phase: Training, Dataset used: {DatasetUsed,10}, Batch Processed Count: {BatchProcessedCount,3}, Epoch: {Epoch,3}, Accuracy: {Accuracy,10}, Cross-Entropy: {CrossEntropy,10}";
    }

    /// <summary>Progress of the bottleneck phase: one per image.</summary>
    public sealed class BottleneckMetrics
    {
        /// <summary>Train or validation rows.</summary>
        public ImageClassificationMetrics.Dataset DatasetUsed { get; set; }
        /// <summary>Index of the image within its dataset.</summary>
        public int Index { get; set; }

        /// <summary>The line ML.NET's trainer prints.</summary>
        public override string ToString() => $"Phase: Bottleneck Computation, Dataset used: {DatasetUsed,10}, Image Index: {Index,3}";
    }

    /// <summary>What <see cref="Options.MetricsCallback"/> receives: <see cref="Bottleneck"/> while bottlenecks are computed, then <see cref="Train"/> once per epoch and dataset.</summary>
    public sealed class ImageClassificationMetrics
    {
        /// <summary>Which rows a metric is on.</summary>
        public enum Dataset
        {
            /// <summary>Train rows.</summary>
            Train,
            /// <summary>Validation rows.</summary>
            Validation,
        }

        /// <summary>Per-epoch metrics (null during the bottleneck phase).</summary>
        public TrainMetrics? Train { get; set; }
        /// <summary>Bottleneck progress (null during training).</summary>
        public BottleneckMetrics? Bottleneck { get; set; }

        /// <summary>The line ML.NET's trainer prints.</summary>
        public override string ToString() => Train?.ToString() ?? Bottleneck?.ToString() ?? "";
    }

    /// <summary>Stops training when the watched metric has not improved by <see cref="MinDelta"/> for <see cref="Patience"/> epochs (ML.NET's rule, after Keras).</summary>
    public sealed class EarlyStopping
    {
        private readonly EarlyStoppingMetric _metric;
        private float _best;
        private int _wait;

        /// <summary>Smallest change that counts as an improvement.</summary>
        public float MinDelta { get; set; }
        /// <summary>Epochs without improvement before training stops.</summary>
        public int Patience { get; set; }
        /// <summary>Whether the metric should rise (accuracy) or fall (loss); set from the metric.</summary>
        public bool CheckIncreasing { get; set; }

        /// <summary>ML.NET's defaults: accuracy, 0.01, 20 epochs.</summary>
        public EarlyStopping(float minDelta = 0.01f, int patience = 20, EarlyStoppingMetric metric = EarlyStoppingMetric.Accuracy, bool checkIncreasing = true)
        {
            _metric = metric;
            MinDelta = Math.Abs(minDelta);
            Patience = patience;
            CheckIncreasing = metric == EarlyStoppingMetric.Accuracy || (metric != EarlyStoppingMetric.Loss && checkIncreasing);
            Reset();
        }

        internal void Reset() { _wait = 0; _best = CheckIncreasing ? 0f : float.PositiveInfinity; }

        /// <summary>Called after every epoch; true when training should stop.</summary>
        public bool ShouldStop(TrainMetrics currentMetrics)
        {
            ArgumentNullException.ThrowIfNull(currentMetrics);
            float value = _metric == EarlyStoppingMetric.Accuracy ? currentMetrics.Accuracy : currentMetrics.CrossEntropy;
            bool improved = CheckIncreasing ? value - _best >= MinDelta : _best - value >= MinDelta;
            if (improved) { _wait = 0; _best = value; return false; }
            return ++_wait >= Patience;
        }
    }

    /// <summary>
    /// ML.NET's options, same names and defaults (fields, as ML.NET declares them), plus what this engine adds
    /// (<see cref="BackboneJson"/>, <see cref="ImageSize"/>, <see cref="Precision"/>, <see cref="Device"/>, <see cref="Seed"/>).
    /// Options with no effect here say so.
    /// </summary>
    public sealed class Options
    {
        /// <summary>The encoded image bytes (VarVector&lt;byte&gt;, from LoadRawImageBytes or a byte[] field).</summary>
        public string FeatureColumnName = "Features";
        /// <summary>The label: a key column with at least 2 values.</summary>
        public string LabelColumnName = "Label";
        /// <summary>Output: probabilities of every class, in key order, summing to 1.</summary>
        public string ScoreColumnName = "Score";
        /// <summary>Output: the most probable key.</summary>
        public string PredictedLabelColumnName = "PredictedLabel";
        /// <summary>Rows per mini-batch of the softmax layer's gradient descent. Default 10.</summary>
        public int BatchSize = 10;
        /// <summary>Passes over the train bottlenecks (fewer with early stopping). Default 200.</summary>
        public int Epoch = 200;
        /// <summary>Gradient-descent step size when <see cref="LearningRateScheduler"/> is null. Default 0.01.</summary>
        public float LearningRate = 0.01f;
        /// <summary>
        /// Weight decay of the softmax layer (on the standardised features; biases are not decayed): each step subtracts
        /// step size x (gradient + L2Regularization x weights). Not one of ML.NET's options: its layer has no
        /// regularization, which on a few thousand images overfits (1.5-4 points below pcam train's logistic regression on
        /// the PCam sample). Default 0.1; 0 trains ML.NET's unregularized layer.
        /// </summary>
        public float L2Regularization = 0.1f;
        /// <summary>Stops training when the validation metric (train metric without validation rows) stops improving; null = all epochs.</summary>
        public EarlyStopping? EarlyStoppingCriteria = new();
        /// <summary>The backbone: <see cref="Architecture.ResNet18"/> (default here), or the backbone in <see cref="BackboneJson"/>.
        /// ML.NET's other names fail at Fit: their TensorFlow weights are not part of this engine.</summary>
        public Architecture Arch = Architecture.ResNet18;
        /// <summary>No effect here (ML.NET names its TensorFlow checkpoint files with it; nothing is checkpointed).</summary>
        public string FinalModelPrefix = "custom_retrained_model_based_on_";
        /// <summary>Called for every image of the bottleneck phase, then once per epoch with train (if <see cref="TestOnTrainSet"/>) and validation metrics.</summary>
        public Action<ImageClassificationMetrics>? MetricsCallback;
        /// <summary>Folder for the bottleneck cache files; null = no cache files (ML.NET uses a temporary folder it deletes).</summary>
        public string? WorkspacePath;
        /// <summary>Report train metrics every epoch. Default true.</summary>
        public bool TestOnTrainSet = true;
        /// <summary>Reuse the train bottlenecks cached in <see cref="WorkspacePath"/> when they were computed from the same images, labels and featurizer.</summary>
        public bool ReuseTrainSetBottleneckCachedValues;
        /// <summary>As <see cref="ReuseTrainSetBottleneckCachedValues"/> for the validation rows.</summary>
        public bool ReuseValidationSetBottleneckCachedValues;
        /// <summary>Validation rows (encoded images and labels, same columns as the train rows).</summary>
        public IDataView? ValidationSet;
        /// <summary>Without <see cref="ValidationSet"/>, this fraction of the train rows (seeded) is held out for validation; null = none. Default 0.1.</summary>
        public float? ValidationSetFraction = 0.1f;
        /// <summary>File name of the train bottleneck cache in <see cref="WorkspacePath"/>.</summary>
        public string TrainSetBottleneckCachedValuesFileName = "trainSetBottleneckFile.csv";
        /// <summary>File name of the validation bottleneck cache in <see cref="WorkspacePath"/>.</summary>
        public string ValidationSetBottleneckCachedValuesFileName = "validationSetBottleneckFile.csv";
        /// <summary>Learning-rate schedule; null = the constant <see cref="LearningRate"/>. Default: ML.NET's <see cref="ExponentialLRDecay"/>.</summary>
        public LearningRateScheduler? LearningRateScheduler = new ExponentialLRDecay();

        /// <summary>This engine: a backbone JSON (backbones/*.json, made with scripts/export_backbone.py) instead of <see cref="Arch"/>.</summary>
        public string? BackboneJson;
        /// <summary>This engine: the side images are stretched to (0 = the backbone's input size, 224 for ResNet18).</summary>
        public int ImageSize;
        /// <summary>This engine: featurizer precision. Int8 (default) is calibrated on train images and checked against fp32 (mean feature cosine); it falls back to fp32 with a warning when it drifts.</summary>
        public Featurization.FeaturizerPrecision Precision = Featurization.FeaturizerPrecision.Int8;
        /// <summary>This engine: "cpu" (default) or "cuda:N" for the bottleneck phase (falls back to the CPU when CUDA is not available).</summary>
        public string Device = "cpu";
        /// <summary>This engine: seed of the validation split, the int8 calibration sample and the mini-batch order.</summary>
        public int Seed = 1;
    }
}
