using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization;

/// <summary>
/// A lazy IDataView: the input's columns plus a features column computed from its image column (a known-size vector
/// of 96x96x3 HWC RGB bytes) in batches as a cursor reads. Building it does no work; a cursor that does not ask for
/// the features is the input's own cursor. A cursor that asks for them reads the image column ahead with a second
/// cursor of the input (double-buffered with <see cref="FeatureBatches"/>: the next batch is decoded while the current
/// one runs in ONNX Runtime) and serves every other column from the input's cursor, row for row, so the input must
/// give its rows in the same order to every cursor (as IDataView's contract asks of an unshuffled cursor).
/// </summary>
/// <example>
/// <code>
/// using var featurizer = new BatchFeaturizer(graph, ExecutionDevice.Cpu);
/// var features = new FeaturizedDataView(images, "Image", featurizer); // Image, ..., Features
/// </code>
/// </example>
public sealed class FeaturizedDataView : IDataView
{
    private readonly IDataView _input;
    private readonly DataViewSchema.Column _image;
    private readonly Func<BatchFeaturizer>? _featurizer;
    private readonly Func<IDataView>? _precomputed;
    private readonly int _batchSize;
    private readonly Action<int>? _onBatch;
    private readonly CancellationToken _cancel;

    /// <summary>Features computed by <paramref name="featurizer"/> (not owned: keep it until the last cursor is disposed).</summary>
    /// <param name="input">Any view with <paramref name="imageColumn"/>.</param>
    /// <param name="imageColumn">A vector of <see cref="PatchSchema.ImageBytes"/> bytes per row (96x96x3 HWC RGB).</param>
    /// <param name="featurizer">The batched ONNX Runtime featurizer.</param>
    /// <param name="batchSize">Rows per batch. Default 64.</param>
    /// <param name="featuresColumn">Name of the added column. Default <c>Features</c>.</param>
    /// <param name="onBatch">Called after each featurized batch with its row count (progress).</param>
    /// <param name="cancel">Checked before every batch.</param>
    public FeaturizedDataView(IDataView input, string imageColumn, BatchFeaturizer featurizer, int batchSize = 64,
        string featuresColumn = FeaturizerGraph.OutputName, Action<int>? onBatch = null, CancellationToken cancel = default)
        : this(input, imageColumn, featurizer?.FeatureDimension ?? throw new ArgumentNullException(nameof(featurizer)), () => featurizer,
            null, batchSize, featuresColumn, onBatch, cancel)
    {
    }

    /// <summary>
    /// The general form: the featurizer is asked for only when a cursor needs features (so building the view, or its
    /// schema, starts no ONNX Runtime session); or, with <paramref name="precomputed"/>, the features are read from a
    /// view of the same rows (for example a feature cache file), made on the first cursor that needs them.
    /// </summary>
    internal FeaturizedDataView(IDataView input, string imageColumn, int featureDimension, Func<BatchFeaturizer>? featurizer,
        Func<IDataView>? precomputed, int batchSize, string featuresColumn, Action<int>? onBatch, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentException.ThrowIfNullOrEmpty(imageColumn);
        ArgumentException.ThrowIfNullOrEmpty(featuresColumn);
        if (featurizer is null && precomputed is null) throw new ArgumentException("A featurizer or precomputed features are needed.");
        _input = input;
        _image = ImageColumn(input.Schema, imageColumn);
        _featurizer = featurizer;
        _precomputed = precomputed;
        _batchSize = Math.Max(1, batchSize);
        _onBatch = onBatch;
        _cancel = cancel;
        Schema = OutputSchema(input.Schema, featuresColumn, featureDimension);
    }

    /// <summary>The input's columns (hidden ones included, at the same indices) plus the features vector as the last column.</summary>
    public static DataViewSchema OutputSchema(DataViewSchema input, string featuresColumn, int featureDimension)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureDimension, 1);
        var b = new DataViewSchema.Builder();
        b.AddColumns(input);
        b.AddColumn(featuresColumn, new VectorDataViewType(NumberDataViewType.Single, featureDimension));
        return b.ToSchema();
    }

    /// <summary>The image column, checked: a vector of <see cref="PatchSchema.ImageBytes"/> bytes. The message names the column and its type.</summary>
    public static DataViewSchema.Column ImageColumn(DataViewSchema schema, string name)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var column = schema.GetColumnOrNull(name);
        if (column is not { Type: VectorDataViewType { ItemType: var item, Size: PatchSchema.ImageBytes } } || item != NumberDataViewType.Byte)
            throw new ArgumentException(column is null
                ? $"The input has no '{name}' column; it needs one of {PatchSchema.ImageBytes} bytes per row (96x96x3 RGB, HWC)."
                : $"The input's '{name}' column is {column.Value.Type}, not a vector of {PatchSchema.ImageBytes} bytes (96x96x3 RGB, HWC).");
        return column.Value;
    }

    /// <summary>The view the features are added to.</summary>
    public IDataView Input => _input;

    /// <inheritdoc/>
    public bool CanShuffle => false;

    /// <inheritdoc/>
    public DataViewSchema Schema { get; }

    /// <inheritdoc/>
    public long? GetRowCount() => _input.GetRowCount();

    private int FeaturesIndex => Schema.Count - 1;

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        var featuresNeeded = needed.Any(c => c.Index == FeaturesIndex);
        var inputNeeded = needed.Where(c => c.Index != FeaturesIndex).Select(c => _input.Schema[c.Index]).ToList();
        var follower = _input.GetRowCursor(inputNeeded);
        if (!featuresNeeded) return new Cursor(this, follower, null, null);
        try
        {
            if (_precomputed is not null)
            {
                var features = _precomputed();
                var column = features.Schema[FeaturizerGraph.OutputName];
                return new Cursor(this, follower, null, features.GetRowCursor([column]));
            }
            return new Cursor(this, follower, Batches(), null);
        }
        catch
        {
            follower.Dispose();
            throw;
        }
    }

    /// <summary>One cursor: the batches already use every core ONNX Runtime is given.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    /// <summary>Batches of the image column, read ahead by a cursor of their own.</summary>
    private (FeatureBatches Batches, DataViewRowCursor Leader) Batches()
    {
        var leader = _input.GetRowCursor([_image]);
        try
        {
            var getter = leader.GetGetter<VBuffer<byte>>(_image);
            VBuffer<byte> buffer = default;
            long row = 0;
            int Read(byte[] pixels, int max)
            {
                var n = 0;
                while (n < max && leader.MoveNext())
                {
                    getter(ref buffer);
                    if (buffer.Length != PatchSchema.ImageBytes)
                        throw new PCamDataException($"row {row}: the '{_image.Name}' column holds {buffer.Length} bytes, not {PatchSchema.ImageBytes} (96x96x3).");
                    buffer.CopyTo(pixels.AsSpan(n * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
                    n++;
                    row++;
                }
                return n;
            }
            return (new FeatureBatches(_featurizer!(), _batchSize, Read, _cancel), leader);
        }
        catch
        {
            leader.Dispose();
            throw;
        }
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly FeaturizedDataView _view;
        private readonly DataViewRowCursor _follower;
        private readonly FeatureBatches? _batches;
        private readonly DataViewRowCursor? _leader;
        private readonly DataViewRowCursor? _precomputed;
        private readonly ValueGetter<VBuffer<float>>? _precomputedGetter;
        private VBuffer<float> _row;
        private long _position = -1;
        private int _inBatch, _batchCount;

        public Cursor(FeaturizedDataView view, DataViewRowCursor follower, (FeatureBatches, DataViewRowCursor)? batches, DataViewRowCursor? precomputed)
        {
            _view = view;
            _follower = follower;
            (_batches, _leader) = batches is { } b ? (b.Item1, b.Item2) : (null, null);
            _precomputed = precomputed;
            if (precomputed is not null) _precomputedGetter = precomputed.GetGetter<VBuffer<float>>(precomputed.Schema[FeaturizerGraph.OutputName]);
        }

        private bool FeaturesActive => _batches is not null || _precomputed is not null;

        public override DataViewSchema Schema => _view.Schema;
        public override long Position => _position;
        public override long Batch => 0;
        public override ValueGetter<DataViewRowId> GetIdGetter() => _follower.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index == _view.FeaturesIndex ? FeaturesActive : _follower.IsColumnActive(_follower.Schema[column.Index]);

        public override bool MoveNext()
        {
            if (!_follower.MoveNext()) return false;
            _position++;
            if (_precomputed is not null)
            {
                if (!_precomputed.MoveNext()) throw new InvalidOperationException($"The precomputed features end at row {_position}, before the input's rows.");
                _precomputedGetter!(ref _row);
            }
            else if (_batches is not null && ++_inBatch >= _batchCount)
            {
                if (!_batches.MoveNext())
                    throw new InvalidOperationException($"The input gave {_position} image rows to the featurizer's cursor but more rows to the other columns' cursor; its cursors must give the same rows.");
                _inBatch = 0;
                _batchCount = _batches.Count;
                _view._onBatch?.Invoke(_batchCount);
            }
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index != _view.FeaturesIndex) return _follower.GetGetter<TValue>(_follower.Schema[column.Index]);
            if (!FeaturesActive) throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
            ValueGetter<VBuffer<float>> getter = _precomputed is not null
                ? (ref VBuffer<float> dst) => _row.CopyTo(ref dst)
                : (ref VBuffer<float> dst) =>
                {
                    var d = _batches!.FeatureDimension;
                    var editor = VBufferEditor.Create(ref dst, d);
                    _batches.Features.AsSpan(_inBatch * d, d).CopyTo(editor.Values);
                    dst = editor.Commit();
                };
            return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column '{column.Name}' is a vector of Single, not {typeof(TValue).Name}.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _batches?.Dispose(); // waits for the read-ahead before its cursor closes
                _leader?.Dispose();
                _precomputed?.Dispose();
                _follower.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
