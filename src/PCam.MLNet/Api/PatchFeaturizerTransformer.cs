using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;

namespace PCam.MLNet;

/// <summary>
/// The fitted featurizer: adds a <c>Features</c> float vector to any view with an <c>Image</c> column of 96x96x3 bytes.
/// <see cref="Transform"/> returns at once and does no work; a cursor featurizes the rows it reads in batches (one ONNX
/// Runtime run per batch, the next batch decoded while the current one runs; <see cref="FeaturizedDataView"/>). It saves
/// (<c>mlContext.Model.Save</c>, alone or inside a pipeline) as ML.NET's own <c>ApplyOnnxModel</c> transform over the
/// composed graph followed by an identity <c>Expression</c> that types <c>Features</c> as a flat
/// <c>Vector&lt;Single, D&gt;</c>, so a saved model needs only the ML.NET and ONNX Runtime packages to load, not this one.
/// Dispose it when done: it holds an ONNX Runtime session (made on the first cursor that needs features).
/// </summary>
/// <remarks>
/// A cursor runs the backbone again for every pass over the data. A trainer that reads its data several times should
/// get the features through ML.NET's cache (<c>.AppendCacheCheckpoint(mlContext)</c> after this transform), or through
/// <see cref="PatchFeaturizerOptions.CacheDirectory"/>, which keeps the features of a PCam view on disk across runs.
/// </remarks>
public sealed class PatchFeaturizerTransformer : ITransformer, IDisposable
{
    private readonly TransformsCatalog _catalog;
    private readonly PatchFeaturizerOptions _options;
    private readonly ExecutionDevice _device;
    private readonly ITrainingLog _log;
    private readonly Lock _gate = new();
    private BatchFeaturizer? _featurizer;
    private ITransformer? _onnx;
    private string? _graphFile;
    private bool _disposed;

    internal PatchFeaturizerTransformer(TransformsCatalog catalog, FeaturizerGraph graph, PatchFeaturizerOptions options, ExecutionDevice device,
        ITrainingLog log, string precisionReason)
    {
        _catalog = catalog;
        Graph = graph;
        _options = options;
        _device = device;
        _log = log;
        PrecisionReason = precisionReason;
    }

    /// <summary>Length of the <c>Features</c> vector.</summary>
    public int FeatureDimension => Graph.FeatureDimension;

    /// <summary>The precision the featurizer runs at (int8 only when calibration and its check succeeded).</summary>
    public FeaturizerPrecision Precision => Graph.Precision;

    /// <summary>Why the featurizer runs at <see cref="Precision"/>: the int8 check's result, the reason int8 was not applied, or fp32 as requested.</summary>
    public string PrecisionReason { get; }

    /// <summary>The activation ranges an int8 featurizer was calibrated with; null in fp32.</summary>
    public CalibrationTable? Calibration => Graph.Calibration;

    /// <summary>Whether the 8 rotations/flips of each patch are averaged (<see cref="PatchFeaturizerOptions.Tta"/>).</summary>
    public bool Tta => Graph.Options.Tta;

    /// <summary>The composed graph this transformer runs and saves.</summary>
    internal FeaturizerGraph Graph { get; }

    /// <summary>What ran the last batch ("cpu", "cuda:0", or why CUDA was not used); empty before the first.</summary>
    internal string DeviceDescription { get; private set; } = "";

    /// <summary>
    /// The same featurizer without test-time augmentation: one view per patch (8x cheaper), the same backbone, size and,
    /// for int8, the same activation ranges. <c>pcam train</c> featurizes its train rows with it unless TtaTrain is set;
    /// the saved model and every evaluated split keep the 8-view average. Dispose the result too.
    /// </summary>
    public PatchFeaturizerTransformer SingleView()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!Graph.Options.Tta) return new PatchFeaturizerTransformer(_catalog, Graph, _options, _device, _log, PrecisionReason);
        var single = FeaturizerGraph.Build(Graph.Backbone, _options.ToFeaturizerOptions(tta: false));
        if (Graph.Calibration is { } table) single = single.Quantize(table);
        return new PatchFeaturizerTransformer(_catalog, single, _options, _device, _log, PrecisionReason);
    }

    /// <summary>Whether an ONNX Runtime session (batched, or ML.NET's with its graph file) has been made.</summary>
    internal bool SessionStarted
    {
        get { lock (_gate) return _featurizer is not null || _onnx is not null; }
    }

    /// <summary>Whether the featurizer has a row-to-row mapper (it does: ML.NET's ONNX transform).</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the <c>Features</c> column (a vector of <see cref="FeatureDimension"/> floats): the schema
    /// of <see cref="Transform"/>'s result. Starts no ONNX Runtime session and writes no file.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        PatchFeaturizerEstimator.CheckImageColumn(inputSchema);
        return FeaturizedDataView.OutputSchema(inputSchema, FeaturizerGraph.OutputName, FeatureDimension);
    }

    /// <summary>The saved model's row mapper (for prediction engines): ML.NET's ONNX transform, one row per run.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Onnx.GetRowToRowMapper(inputSchema);

    /// <summary>Saves the ML.NET ONNX transform this featurizer stands for.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)Onnx).Save(ctx);

    /// <summary>
    /// Adds <c>Features</c> to <paramref name="input"/>, lazily: nothing runs until a cursor asks for the column. With
    /// <see cref="PatchFeaturizerOptions.CacheDirectory"/> and a view from <see cref="PCamCatalog.LoadFromPCam"/>, the
    /// first such cursor fills (or finds) the cache file and every cursor reads the features from it.
    /// </summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ObjectDisposedException.ThrowIf(_disposed, this);
        PatchFeaturizerEstimator.CheckImageColumn(input.Schema);
        Func<IDataView>? cached = null;
        if (_options.CacheDirectory is { } folder && input is PatchDataView patches)
        {
            var features = new Lazy<IDataView>(() => Cached(patches, folder));
            cached = () => features.Value;
        }
        return new FeaturizedDataView(input, PatchSchema.ImageColumn, FeatureDimension, cached is null ? Featurizer : null, cached,
            _options.BatchSize, FeaturizerGraph.OutputName, null, default);
    }

    private IDataView Cached(PatchDataView data, string folder)
    {
        using var task = _log.StartTask("Features", data.GetRowCount() ?? 0);
        var cache = new FeatureCache(new MLContext(_options.Seed), folder);
        return cache.GetOrCompute(data, Graph, NewFeaturizer, _options.BatchSize, "features", task.Advance, out _);
    }

    /// <summary>The batched session every cursor shares, made on the first cursor that needs features.</summary>
    private BatchFeaturizer Featurizer()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _featurizer ??= NewFeaturizer();
        }
    }

    private BatchFeaturizer NewFeaturizer()
    {
        var f = new BatchFeaturizer(Graph, _device, _options.Threads);
        DeviceDescription = f.DeviceDescription;
        if (_device.Cuda && !f.DeviceDescription.StartsWith("cuda", StringComparison.Ordinal)) _log.Warning(f.DeviceDescription);
        return f;
    }

    /// <summary>ML.NET's ONNX transform over the composed graph, made when a row mapper or the saved form is asked for.</summary>
    private ITransformer Onnx
    {
        get
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_onnx is not null) return _onnx;
                if (Graph.ExternalData.Count > 0)
                    throw new PCamBackboneException($"{Graph.Backbone.Where}: a backbone whose weights are ONNX external data cannot be saved " +
                                                    "through ML.NET's model saver (it would leave the weights out); train it with PCam.MLNet's trainer, which writes them beside the zip.");
                var file = Path.Combine(Path.GetTempPath(), $"pcam-{Environment.ProcessId}-{Guid.NewGuid():N}.featurizer.onnx");
                Graph.Save(file);
                try
                {
                    // The same two steps a trained zip starts with: ML.NET's ONNX transform, then the identity that gives
                    // Features the flat Vector<Single, D> type every head is trained on.
                    var onnx = FeaturizerTransforms.Apply(_catalog, file);
                    _onnx = new TransformerChain<ITransformer>(onnx, FeaturizerTransforms.FeatureShape(new MLContext(), onnx));
                }
                catch
                {
                    File.Delete(file);
                    throw;
                }
                _graphFile = file;
                return _onnx;
            }
        }
    }

    /// <summary>Closes the ONNX Runtime sessions and deletes the graph file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _featurizer?.Dispose();
            (_onnx as IDisposable)?.Dispose();
            if (_graphFile is not null && File.Exists(_graphFile)) File.Delete(_graphFile);
        }
    }
}
