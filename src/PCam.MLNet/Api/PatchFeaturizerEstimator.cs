using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet;

/// <summary>
/// The estimator <see cref="PCamCatalog.FeaturizePatches"/> returns. <see cref="Fit(IDataView)"/> composes the featurizer graph
/// (backbone, resize, preprocessing, pooling, TTA) and, for int8, calibrates it on the rows it is fitted on; the
/// <see cref="PatchFeaturizerTransformer"/> it returns adds a <c>Features</c> float vector to views with an <c>Image</c> column.
/// </summary>
public sealed class PatchFeaturizerEstimator : IEstimator<PatchFeaturizerTransformer>
{
    private readonly TransformsCatalog _catalog;
    private readonly PatchFeaturizerOptions _options;
    private readonly ITrainingLog _log;

    internal PatchFeaturizerEstimator(TransformsCatalog catalog, PatchFeaturizerOptions options, ITrainingLog? log = null)
    {
        _catalog = catalog;
        _options = options.Clone();
        _log = log ?? new WarningsToStandardError();
        if (!Enum.IsDefined(_options.Precision))
            throw new ArgumentException($"{nameof(PatchFeaturizerOptions)}.{nameof(PatchFeaturizerOptions.Precision)}: {(int)_options.Precision} is not a {nameof(FeaturizerPrecision)}.");
        if (_options.BatchSize < 1) throw new ArgumentException($"{nameof(PatchFeaturizerOptions)}.{nameof(PatchFeaturizerOptions.BatchSize)} must be at least 1 (got {_options.BatchSize}).");
        if (_options.CalibrationRows < 1) throw new ArgumentException($"{nameof(PatchFeaturizerOptions)}.{nameof(PatchFeaturizerOptions.CalibrationRows)} must be at least 1 (got {_options.CalibrationRows}).");
        Device = ExecutionDevice.Parse(_options.Device);
    }

    internal ExecutionDevice Device { get; }

    /// <summary>Composes (and for int8 calibrates on <paramref name="input"/>) the featurizer.</summary>
    /// <param name="input">Rows with an <c>Image</c> column of 96x96x3 bytes; for int8, a view from <see cref="PCamCatalog.LoadFromPCam"/>
    /// gives a seeded class-balanced calibration sample, any other view its first <see cref="PatchFeaturizerOptions.CalibrationRows"/> rows.
    /// Fit reads only those rows: the features are computed when the transformer's output is read.</param>
    public PatchFeaturizerTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckImageColumn(input.Schema);
        return Fit(input, BuildGraph());
    }

    /// <summary>The input schema plus the <c>Features</c> float vector.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var image = inputSchema.FirstOrDefault(c => c.Name == PatchSchema.ImageColumn);
        if (image.Name is null || image.Kind != SchemaShape.Column.VectorKind.Vector || image.ItemType != NumberDataViewType.Byte)
            throw new ArgumentException($"The input needs an '{PatchSchema.ImageColumn}' column of {PatchSchema.ImageBytes} bytes (96x96x3 RGB); " +
                                        $"load PCam with {nameof(PCamCatalog.LoadFromPCam)} or use {nameof(PatchInput)}.", nameof(inputSchema));
        // A known-size float vector named Features (its length is known only once the graph is composed): ML.NET's own
        // conversion estimator describes exactly that column.
        return _catalog.Conversion.ConvertType(FeaturizerGraph.OutputName, PatchSchema.ImageColumn, DataKind.Single).GetOutputSchema(inputSchema);
    }

    /// <summary>The composed graph (backbone, size, preprocessing, pooling, TTA), before any calibration.</summary>
    internal FeaturizerGraph BuildGraph() => FeaturizerGraph.Build(BackboneResolver.Resolve(_options.Backbone), _options.ToFeaturizerOptions(_options.Tta));

    /// <summary>Fit with the graph already built (PCam.MLNet's trainer builds it before opening any data, so a bad backbone is reported first).</summary>
    internal PatchFeaturizerTransformer Fit(IDataView input, FeaturizerGraph graph)
    {
        var reason = "requested (precision fp32)";
        if (_options.Precision == FeaturizerPrecision.Int8)
        {
            // Ranges are measured on the single-view graph: the 8 views of a patch share its activation statistics.
            var fp32 = graph.Options.Tta ? FeaturizerGraph.Build(graph.Backbone, _options.ToFeaturizerOptions(false)) : graph;
            if (Int8Calibration.TryCalibrate(input, fp32, _options.CalibrationRows, _options.Seed, _options.CalibrationMethod, _options.Threads, _log,
                    out reason) is { } table)
                graph = graph.Quantize(table);
        }
        return new PatchFeaturizerTransformer(_catalog, graph, _options, Device, _log, reason);
    }

    internal static void CheckImageColumn(DataViewSchema schema)
    {
        var image = schema.GetColumnOrNull(PatchSchema.ImageColumn);
        if (image is not { Type: VectorDataViewType { ItemType: var item, Size: PatchSchema.ImageBytes } } || item != NumberDataViewType.Byte)
            throw new ArgumentException($"The input needs an '{PatchSchema.ImageColumn}' column of {PatchSchema.ImageBytes} bytes (96x96x3 RGB, HWC); " +
                                        $"load PCam with {nameof(PCamCatalog.LoadFromPCam)} or use {nameof(PatchInput)} rows.");
    }

    /// <summary>Library default: no progress output, warnings on standard error (as the data layer does).</summary>
    private sealed class WarningsToStandardError : ITrainingLog
    {
        public void Info(string message) { }
        public void Warning(string message) => Console.Error.WriteLine("warning: " + message);
        public IProgressTask StartTask(string description, long total) => new NoTask();
        private sealed class NoTask : IProgressTask { public void Advance(long amount) { } public void Dispose() { } }
    }
}
