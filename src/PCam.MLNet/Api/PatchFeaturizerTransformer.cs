using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;

namespace PCam.MLNet;

/// <summary>
/// The fitted featurizer. It saves (<c>mlContext.Model.Save</c>, alone or inside a pipeline) as ML.NET's own
/// <c>ApplyOnnxModel</c> transform over the composed graph followed by an identity <c>Expression</c> that types
/// <c>Features</c> as a flat <c>Vector&lt;Single, D&gt;</c>, so a saved model needs only the ML.NET and ONNX Runtime
/// packages to load, not this one. Dispose it when done: it holds an ONNX Runtime session and a graph file in the temp folder.
/// </summary>
/// <remarks>
/// A view from <see cref="PCamCatalog.LoadFromPCam"/> is featurized in batches (one ONNX Runtime run per batch) once, and
/// the result (Features, Label and Index columns) is kept in memory, or in <see cref="PatchFeaturizerOptions.CacheDirectory"/>,
/// so a trainer's repeated passes do not run the backbone again. Any other view is transformed lazily, row by row, by the
/// same ML.NET transform that the saved model holds.
/// </remarks>
public sealed class PatchFeaturizerTransformer : ITransformer, IDisposable
{
    private readonly TransformsCatalog _catalog;
    private readonly PatchFeaturizerOptions _options;
    private readonly ExecutionDevice _device;
    private readonly ITrainingLog _log;
    private readonly WeakReference<IDataView> _fittedOn;
    private readonly ConditionalWeakTable<IDataView, IDataView> _computed = new();
    private readonly Lock _gate = new();
    private ITransformer? _onnx;
    private string? _graphFile;
    private bool _disposed;

    internal PatchFeaturizerTransformer(TransformsCatalog catalog, FeaturizerGraph graph, FeaturizerGraph trainGraph, IDataView fittedOn,
        PatchFeaturizerOptions options, ExecutionDevice device, ITrainingLog log)
    {
        _log = log;
        _catalog = catalog;
        Graph = graph;
        TrainGraph = trainGraph;
        _fittedOn = new WeakReference<IDataView>(fittedOn);
        _options = options;
        _device = device;
    }

    /// <summary>Length of the <c>Features</c> vector.</summary>
    public int FeatureDimension => Graph.FeatureDimension;

    /// <summary>The graph in the saved model (and for every view but the one the featurizer was fitted on).</summary>
    internal FeaturizerGraph Graph { get; }

    /// <summary>The graph for the rows the featurizer was fitted on (single view with Tta and not TtaTrain).</summary>
    internal FeaturizerGraph TrainGraph { get; }

    /// <summary>Whether the featurizer has a row-to-row mapper (it does: ML.NET's ONNX transform).</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the <c>Features</c> column, as the saved model gives it.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Onnx.GetOutputSchema(inputSchema);

    /// <summary>The saved model's row mapper (for prediction engines).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Onnx.GetRowToRowMapper(inputSchema);

    /// <summary>Saves the ML.NET ONNX transform this featurizer stands for.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)Onnx).Save(ctx);

    /// <summary>Adds <c>Features</c> to <paramref name="input"/> (see the remarks on the class for how a PCam view is featurized).</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ObjectDisposedException.ThrowIf(_disposed, this);
        PatchFeaturizerEstimator.CheckImageColumn(input.Schema);
        if (input is not PatchDataView patches) return Onnx.Transform(input);
        lock (_gate)
        {
            if (_computed.TryGetValue(input, out var done)) return done;
            var features = Featurize(patches, "features", _log, out _);
            _computed.AddOrUpdate(input, features);
            return features;
        }
    }

    /// <summary>
    /// Features of a PCam view computed in batches: from <see cref="PatchFeaturizerOptions.CacheDirectory"/> when set (computed
    /// there first when absent), else in memory. The view the featurizer was fitted on gets <see cref="TrainGraph"/>.
    /// </summary>
    internal IDataView Featurize(PatchDataView data, string split, ITrainingLog log, out bool computed, string? cacheDirectory = null)
    {
        var graph = _fittedOn.TryGetTarget(out var fitted) && ReferenceEquals(fitted, data) ? TrainGraph : Graph;
        var rows = data.GetRowCount() ?? 0;
        using var task = log.StartTask($"Features {split}", rows);
        var folder = cacheDirectory ?? _options.CacheDirectory;
        if (folder is null)
        {
            computed = true;
            using var f = NewBatchFeaturizer(graph, log);
            return FeatureTable.Compute(data, f, _options.BatchSize, task.Advance);
        }
        var cache = new FeatureCache(new MLContext(_options.Seed), folder);
        return cache.GetOrCompute(data, graph, () => NewBatchFeaturizer(graph, log), _options.BatchSize, split, task.Advance, out computed);
    }

    /// <summary>What ran the last batched featurization ("cpu", "cuda:0", or why CUDA was not used).</summary>
    internal string DeviceDescription { get; private set; } = "";

    private BatchFeaturizer NewBatchFeaturizer(FeaturizerGraph graph, ITrainingLog log)
    {
        var f = new BatchFeaturizer(graph, _device, _options.Threads);
        DeviceDescription = f.DeviceDescription;
        if (_device.Cuda && !f.DeviceDescription.StartsWith("cuda", StringComparison.Ordinal)) log.Warning(f.DeviceDescription);
        return f;
    }

    /// <summary>ML.NET's ONNX transform over the composed graph, made on first use (pcam train featurizes in batches only).</summary>
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
                                                    "through ML.NET's model saver (it would leave the weights out); train it with `pcam train`, which writes them beside the zip.");
                var file = Path.Combine(Path.GetTempPath(), $"pcam-{Environment.ProcessId}-{Guid.NewGuid():N}.featurizer.onnx");
                Graph.Save(file);
                try
                {
                    // The same two steps pcam train's zip starts with: ML.NET's ONNX transform, then the identity that gives
                    // Features the flat Vector<Single, D> type every head is trained on (PCamModel.FeatureShape).
                    var onnx = PCamModel.ApplyFeaturizer(_catalog, file);
                    _onnx = new TransformerChain<ITransformer>(onnx, PCamModel.FeatureShape(new MLContext(), onnx));
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

    /// <summary>Closes the ONNX Runtime session and deletes the graph file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            (_onnx as IDisposable)?.Dispose();
            if (_graphFile is not null && File.Exists(_graphFile)) File.Delete(_graphFile);
        }
    }
}
