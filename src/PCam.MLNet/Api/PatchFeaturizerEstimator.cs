using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;

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
    /// <param name="input">Rows with an <c>Image</c> column of 96x96x3 bytes; a view from <see cref="PCamCatalog.LoadFromPCam"/>
    /// gives a seeded class-balanced calibration sample, any other view its first <see cref="PatchFeaturizerOptions.CalibrationRows"/> rows.</param>
    public PatchFeaturizerTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckImageColumn(input.Schema);
        return Fit(input, BuildGraphs());
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

    /// <summary>The graph saved in the model and used for every view, and the one for the rows Fit sees (single view with TTA and not TtaTrain).</summary>
    internal (FeaturizerGraph Graph, FeaturizerGraph TrainGraph) BuildGraphs()
    {
        var backbone = BackboneResolver.Resolve(_options.Backbone);
        var graph = FeaturizerGraph.Build(backbone, _options.ToFeaturizerOptions(_options.Tta));
        var trainGraph = _options.Tta && !_options.TtaTrain ? FeaturizerGraph.Build(backbone, _options.ToFeaturizerOptions(false)) : graph;
        return (graph, trainGraph);
    }

    /// <summary>Fit with graphs already built (pcam train builds them before opening any data, so a bad backbone is reported first).</summary>
    internal PatchFeaturizerTransformer Fit(IDataView input, (FeaturizerGraph Graph, FeaturizerGraph TrainGraph) graphs)
    {
        var (graph, trainGraph) = graphs;
        LastPrecisionReason = "requested (precision fp32)";
        if (_options.Precision == FeaturizerPrecision.Int8)
        {
            var fp32 = trainGraph.Options.Tta ? FeaturizerGraph.Build(graph.Backbone, _options.ToFeaturizerOptions(false)) : trainGraph;
            if (Int8Calibration.TryCalibrate(input, fp32, _options.CalibrationRows, _options.Seed, _options.CalibrationMethod, _options.Threads, _log,
                    out var reason) is { } table)
            {
                var quantised = graph.Quantize(table);
                trainGraph = ReferenceEquals(graph, trainGraph) ? quantised : trainGraph.Quantize(table);
                graph = quantised;
                LastCalibration = table;
            }
            LastPrecisionReason = reason;
        }
        return new PatchFeaturizerTransformer(_catalog, graph, trainGraph, input, _options, Device, _log);
    }

    /// <summary>The activation ranges of the last int8 Fit (for the CLI's log), or null.</summary>
    internal Featurization.Passes.CalibrationTable? LastCalibration { get; private set; }

    /// <summary>Why the last Fit's featurizer runs at its precision (int8 check result, fallback reason, or requested fp32).</summary>
    internal string? LastPrecisionReason { get; private set; }

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
