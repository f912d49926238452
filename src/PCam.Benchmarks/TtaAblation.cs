using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Reporting;

namespace PCam.Benchmarks;

/// <summary>One row of the TTA ablation: how many dihedral views are averaged at evaluation, and what that buys.</summary>
public sealed record TtaRow(int Views, string Which, SplitMetrics Valid, SplitMetrics Test, double PatchesPerSecond);

/// <summary>
/// What 1, 2, 4 and 8 test-time views buy, on the trainer's protocol: train features from one view (cached as the
/// trainer caches them), valid and test featurized once per dihedral view and averaged over each subset (the TTA
/// graph averages the per-view features exactly so), the head selected and calibrated on valid, test reported.
/// Cost: measured single-view rows/s of the same graph divided by the views.
/// </summary>
public static class TtaAblation
{
    /// <summary>Views in the order the TTA graph stacks them: {identity, flip W, flip H, flip both}, then each transposed.</summary>
    public static readonly (int Views, string Which, int[] Indices)[] Subsets =
    [
        (1, "identity", [0]),
        (2, "identity + transpose", [0, 4]),
        (4, "rotations 0/90/180/270", [0, 3, 5, 6]),
        (8, "dihedral (rotations x flips)", [0, 1, 2, 3, 4, 5, 6, 7]),
    ];

    public static List<TtaRow> Run(PCamConfig config, ITrainingLog log)
    {
        var t = config.TrainingOption;
        var ml = new MLContext(seed: t.Seed);
        var cacheDir = RunSetup.CacheDirectory(config);
        var (dataDir, _) = PCamTrainer.ResolveDataDirectory(config, cacheDir, log);
        var dataOptions = RunSetup.DataOptions(config, cacheDir, log);
        var train = RunSetup.LimitTrainRows(config, PCamData.Open(dataDir, PCamSplit.Train, dataOptions));
        using var valid = PCamData.Open(dataDir, PCamSplit.Valid, dataOptions);
        using var test = PCamData.Open(dataDir, PCamSplit.Test, dataOptions);

        var backbone = BackboneResolver.Resolve(t.Backbone);
        var graph = FeaturizerGraph.Build(backbone, t.ToFeaturizerOptions(tta: false));
        if (t.PrecisionKind == FeaturizerPrecision.Int8 && Int8Calibration.TryCalibrate(train, graph, t.CalibrationRows, t.Seed, t.CalibrationMethod, config.Environment.Threads, log, out _) is { } table)
            graph = graph.Quantize(table);
        var device = PCamConfigLoader.ResolveDevice(config);
        var cache = RunSetup.FeatureCache(ml, cacheDir);
        var trainFeatures = cache.GetOrCompute(train, graph, () => new BatchFeaturizer(graph, device, config.Environment.Threads), t.BatchSize, "train", null, out _);

        using var featurizer = new BatchFeaturizer(graph, device, config.Environment.Threads) { MaxBatch = t.BatchSize };
        double seconds = 0;
        long featurized = 0;
        (float[][] Views, bool[] Labels, long[] Index) PerView(PatchDataView data)
        {
            int n = (int)data.Source.RowCount;
            var images = new byte[(long)n * PatchSchema.ImageBytes];
            data.Source.ReadImages(0, n, images);
            var labels = Enumerable.Range(0, n).Select(r => data.Source.GetLabel(r)).ToArray();
            var index = Enumerable.Range(0, n).Select(r => data.Source.GetIndex(r)).ToArray();
            var views = new float[8][];
            var viewed = new byte[images.Length];
            for (int v = 0; v < 8; v++)
            {
                for (int r = 0; r < n; r++)
                    Dihedral(images.AsSpan(r * PatchSchema.ImageBytes, PatchSchema.ImageBytes), viewed.AsSpan(r * PatchSchema.ImageBytes, PatchSchema.ImageBytes), v);
                var sw = Stopwatch.StartNew();
                views[v] = featurizer.Featurize(viewed, n);
                seconds += sw.Elapsed.TotalSeconds;
                featurized += n;
                log.Info($"TTA ablation: {data.Source.Description} view {v + 1}/8 featurized ({n / sw.Elapsed.TotalSeconds:F1} rows/s).");
            }
            return (views, labels, index);
        }
        var validViews = PerView(valid);
        var testViews = PerView(test);
        double rowsPerSecond = featurized / seconds;

        var rows = new List<TtaRow>();
        foreach (var (views, which, indices) in Subsets)
        {
            var v = View(ml, Average(validViews.Views, indices), validViews.Labels, validViews.Index, graph.FeatureDimension);
            var te = View(ml, Average(testViews.Views, indices), testViews.Labels, testViews.Index, graph.FeatureDimension);
            var head = HeadTrainer.Train(ml, ml.Data.Cache(trainFeatures), v, t, _ => { });
            var (testMetrics, _) = PCamMetrics.Evaluate(ml, head.Model.Transform(te), "test");
            rows.Add(new TtaRow(views, which, head.Best.Valid, testMetrics, rowsPerSecond / views));
            log.Info($"TTA ablation: {views} view(s) done.");
        }
        return rows;
    }

    /// <summary>View <paramref name="v"/> (0..7, the TTA graph's order) of one HWC patch.</summary>
    public static void Dihedral(ReadOnlySpan<byte> src, Span<byte> dst, int v)
    {
        const int S = PatchSchema.Height, C = PatchSchema.Channels;
        bool flipW = (v & 1) != 0, flipH = (v & 2) != 0, transpose = v >= 4;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
            {
                // The graph flips first, then transposes: out[y][x] = flipped[x][y] when transposed.
                int fy = transpose ? x : y, fx = transpose ? y : x;
                int sy = flipH ? S - 1 - fy : fy, sx = flipW ? S - 1 - fx : fx;
                src.Slice((sy * S + sx) * C, C).CopyTo(dst.Slice((y * S + x) * C, C));
            }
    }

    static float[] Average(float[][] views, int[] indices)
    {
        var avg = new float[views[0].Length];
        foreach (var i in indices) for (int k = 0; k < avg.Length; k++) avg[k] += views[i][k];
        for (int k = 0; k < avg.Length; k++) avg[k] /= indices.Length;
        return avg;
    }

    sealed class Row
    {
        public float[] Features { get; set; } = [];
        public bool Label { get; set; }
        public long Index { get; set; }
    }

    static IDataView View(MLContext ml, float[] features, bool[] labels, long[] index, int dim)
    {
        var rows = Enumerable.Range(0, labels.Length)
            .Select(r => new Row { Features = features.AsSpan(r * dim, dim).ToArray(), Label = labels[r], Index = index[r] }).ToList();
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dim);
        schema[nameof(Row.Features)].ColumnName = FeatureTable.FeaturesColumn;
        schema[nameof(Row.Label)].ColumnName = PatchSchema.LabelColumn;
        schema[nameof(Row.Index)].ColumnName = PatchSchema.IndexColumn;
        return ml.Data.Cache(ml.Data.LoadFromEnumerable(rows, schema));
    }
}
