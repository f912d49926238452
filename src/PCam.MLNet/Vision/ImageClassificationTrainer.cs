using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;
using PCam.MLNet.Training;

namespace PCam.MLNet.Vision;

/// <summary>
/// ML.NET's ImageClassificationTrainer without TensorFlow: transfer learning on encoded images of any size. Fit
/// computes each image's bottleneck features once (decoded and stretched to the backbone's side, <see cref="ImageDecoding"/>;
/// the PCam featurizer graph, int8 by default with its cosine check, in batches), trains ML.NET's softmax layer on them
/// (<see cref="SoftmaxLayer"/>: Epoch, BatchSize, LearningRate, scheduler, early stopping, MetricsCallback as in ML.NET),
/// and returns a model made of ML.NET transforms only: CopyColumns, the decoding CustomMapping, ApplyOnnxModel (the
/// featurizer), an identity Expression and MulticlassPredictionTransformer over MaximumEntropyModelParameters.
/// </summary>
public sealed partial class ImageClassificationTrainer : IEstimator<ImageClassificationModel>
{
    private readonly Options _options;

    internal ImageClassificationTrainer(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (name, value) in new[] { ("FeatureColumnName", options.FeatureColumnName), ("LabelColumnName", options.LabelColumnName),
                     ("ScoreColumnName", options.ScoreColumnName), ("PredictedLabelColumnName", options.PredictedLabelColumnName) })
            if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"Options.{name} is empty.", nameof(options));
        if (options.Epoch < 1) throw new ArgumentException($"Options.Epoch must be >= 1 (got {options.Epoch}).", nameof(options));
        if (options.BatchSize < 1) throw new ArgumentException($"Options.BatchSize must be >= 1 (got {options.BatchSize}).", nameof(options));
        if (!(options.LearningRate > 0)) throw new ArgumentException($"Options.LearningRate must be > 0 (got {options.LearningRate}).", nameof(options));
        if (!(options.L2Regularization >= 0) || float.IsInfinity(options.L2Regularization)) throw new ArgumentException($"Options.L2Regularization must be >= 0 (got {options.L2Regularization}).", nameof(options));
        if (options.ValidationSetFraction is { } f && f is not (>= 0 and < 1)) throw new ArgumentException($"Options.ValidationSetFraction must be in [0, 1) (got {f}).", nameof(options));
        _options = options;
    }

    /// <summary>Seeded train images the int8 featurizer is calibrated on; the same images check its features against fp32
    /// (<see cref="Int8Calibration.CheckRows"/>). Calibration runs the float graph with every activation as an output, so it
    /// costs several bottleneck passes per image; 64 keeps it a few seconds.</summary>
    public const int CalibrationImages = Int8Calibration.CheckRows;

    /// <summary>The backbones this engine has, and how to bring another (named in the error for ML.NET's other architectures).</summary>
    public const string AvailableBackbones =
        "Available: Architecture.ResNet18 (the default), or any ONNX backbone through Options.BackboneJson (a backbone JSON " +
        "as in backbones/*.json; scripts/export_backbone.py exports timm/Hugging Face models to ONNX and writes the JSON).";

    /// <summary>The output columns: Score (vector of float) and PredictedLabel (a key), added to the input's.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var columns = inputSchema.ToDictionary(c => c.Name);
        if (!columns.ContainsKey(_options.FeatureColumnName)) throw new ArgumentException($"no column '{_options.FeatureColumnName}' (the encoded images).", nameof(inputSchema));
        if (!columns.TryGetValue(_options.LabelColumnName, out var label) || !label.IsKey)
            throw new ArgumentException($"the label column '{_options.LabelColumnName}' must be a key (MapValueToKey).", nameof(inputSchema));
        var output = inputSchema.ToList();
        output.RemoveAll(c => c.Name == _options.ScoreColumnName || c.Name == _options.PredictedLabelColumnName);
        var result = new SchemaShape(output).ToList();
        return new SchemaShape(result.Concat(new ImageClassificationMetricsSchema(_options, label).Columns));
    }

    /// <summary>Computes the bottlenecks, trains the softmax layer and returns the model.</summary>
    public ImageClassificationModel Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        MlNetInternals.Check();
        var o = _options;
        var backbone = ResolveBackbone(o);
        int side = backbone.SideFor(o.ImageSize);
        if (!ImageDecoding.Sides.Contains(side))
            throw new PCamBackboneException($"{backbone.Where}: image side {side} px; the image-classification trainer decodes to {string.Join(", ", ImageDecoding.Sides)} px (Options.ImageSize).");
        var labelColumn = input.Schema.GetColumnOrNull(o.LabelColumnName)
            ?? throw new PCamDataException($"no label column '{o.LabelColumnName}'.");
        if (labelColumn.Type is not KeyDataViewType { Count: > 0 } key)
            throw new PCamDataException($"label column '{o.LabelColumnName}' is {labelColumn.Type}; it must be a key (MapValueToKey).");
        int classes = (int)key.Count;
        if (classes < 2) throw new PCamDataException($"Only one class found in the {o.LabelColumnName} column; the image classifier needs 2 or more.");

        var train = ImageRows.Read(input, o.FeatureColumnName, o.LabelColumnName, classes, "train");
        ImageRows? valid = o.ValidationSet is { } vs ? ImageRows.Read(vs, o.FeatureColumnName, o.LabelColumnName, classes, "validation") : null;

        var log = new SilentLog();
        var device = ExecutionDevice.Parse(o.Device);
        var graph = FeaturizerGraph.Build(backbone, new FeaturizerOptions { ImageSize = side, InputSize = side });
        string precisionReason = "fp32 as asked";
        if (o.Precision == FeaturizerPrecision.Int8)
        {
            var sample = Enumerable.Range(0, train.Count).OrderBy(_ => 0).ToArray();
            new Random(o.Seed).Shuffle(sample);
            var rows = sample.Take(Math.Min(train.Count, CalibrationImages)).ToArray();
            var pixels = ImageFeaturizer.Decode(train, rows, side);
            var table = Int8Calibration.TryCalibrate(pixels, rows.Length, graph, o.Seed, CalibrationMethod.MinMax, null, log, out precisionReason);
            if (table is not null) graph = graph.Quantize(table);
        }

        var trainFeatures = Bottlenecks(train, graph, device, o.TrainSetBottleneckCachedValuesFileName, o.ReuseTrainSetBottleneckCachedValues, ImageClassificationMetrics.Dataset.Train);
        int d = graph.FeatureDimension;
        float[] x = trainFeatures; int[] y = train.Labels; int n = train.Count;
        float[]? vx = null; int[]? vy = null; int vn = 0;
        if (valid is not null)
        {
            vx = Bottlenecks(valid, graph, device, o.ValidationSetBottleneckCachedValuesFileName, o.ReuseValidationSetBottleneckCachedValues, ImageClassificationMetrics.Dataset.Validation);
            vy = valid.Labels; vn = valid.Count;
        }
        else if (o.ValidationSetFraction is { } fraction && fraction > 0 && n >= 4)
        {
            var order = Enumerable.Range(0, n).ToArray();
            new Random(o.Seed).Shuffle(order);
            vn = Math.Max(1, (int)Math.Round(n * fraction));
            var held = order.Take(vn).Order().ToArray();
            var kept = order.Skip(vn).Order().ToArray();
            vx = Gather(trainFeatures, held, d); vy = held.Select(i => train.Labels[i]).ToArray();
            x = Gather(trainFeatures, kept, d); y = kept.Select(i => train.Labels[i]).ToArray(); n = kept.Length;
        }

        var layer = SoftmaxLayer.Train(x, y, n, d, classes, vx, vy, vn, o, o.MetricsCallback);
        return ImageClassificationModel.Compose(graph, layer, input, o, log.Messages, precisionReason);
    }

    private float[] Bottlenecks(ImageRows rows, FeaturizerGraph graph, ExecutionDevice device, string fileName, bool reuse, ImageClassificationMetrics.Dataset dataset)
    {
        var callback = _options.MetricsCallback;
        Action<int>? onImage = callback is null ? null : i => callback(new ImageClassificationMetrics { Bottleneck = new BottleneckMetrics { DatasetUsed = dataset, Index = i } });
        if (string.IsNullOrEmpty(_options.WorkspacePath)) return ImageFeaturizer.Compute(rows, graph, device, onImage);
        var path = Path.Combine(_options.WorkspacePath, string.IsNullOrEmpty(fileName) ? $"{dataset}SetBottleneckFile.bin" : fileName);
        var cacheKey = $"{graph.Fingerprint}|{rows.Hash()}";
        if (reuse && BottleneckFile.TryRead(path, cacheKey, rows.Count, graph.FeatureDimension) is { } cached) return cached;
        var features = ImageFeaturizer.Compute(rows, graph, device, onImage);
        BottleneckFile.Write(path, cacheKey, rows.Count, graph.FeatureDimension, features);
        return features;
    }

    private static float[] Gather(float[] features, int[] rows, int d)
    {
        var result = new float[(long)rows.Length * d];
        for (int i = 0; i < rows.Length; i++) Array.Copy(features, (long)rows[i] * d, result, (long)i * d, d);
        return result;
    }

    private static BackboneConfig ResolveBackbone(Options o)
    {
        if (!string.IsNullOrEmpty(o.BackboneJson)) return BackboneConfig.Load(o.BackboneJson);
        if (o.Arch == Architecture.ResNet18) return BackboneConfig.ResNet18();
        throw new PCamBackboneException($"Architecture.{o.Arch} is ML.NET's TensorFlow network, whose weights PCam.MLNet does not have " +
                                        $"(no other network is substituted). {AvailableBackbones}");
    }

    /// <summary>The schema columns the trainer adds (score vector and predicted key with the label's key values).</summary>
    private sealed class ImageClassificationMetricsSchema(Options o, SchemaShape.Column label)
    {
        public IEnumerable<SchemaShape.Column> Columns =>
        [
            MlNetInternals.Column(o.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false),
            MlNetInternals.Column(o.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, label.ItemType, true, label.Annotations),
        ];
    }
}

/// <summary>A cache file of bottleneck features: a key line (featurizer fingerprint and a hash of the images and labels), then the floats.</summary>
internal static class BottleneckFile
{
    public static float[]? TryRead(string path, string key, int rows, int d)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var r = new BinaryReader(File.OpenRead(path));
            if (r.ReadString() != key || r.ReadInt32() != rows || r.ReadInt32() != d) return null;
            var bytes = r.ReadBytes(rows * d * sizeof(float));
            if (bytes.Length != rows * d * sizeof(float)) return null;
            var values = new float[rows * d];
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            return values;
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or UnauthorizedAccessException) { return null; }
    }

    public static void Write(string path, string key, int rows, int d, float[] features)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            using (var w = new BinaryWriter(File.Create(tmp)))
            {
                w.Write(key); w.Write(rows); w.Write(d);
                var bytes = new byte[features.Length * sizeof(float)];
                Buffer.BlockCopy(features, 0, bytes, 0, bytes.Length);
                w.Write(bytes);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally { if (File.Exists(tmp)) File.Delete(tmp); }
    }
}
