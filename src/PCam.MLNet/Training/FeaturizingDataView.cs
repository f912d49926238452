using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Training;

/// <summary>
/// Streams (Features, Label, Index) rows computed in batches from a patch view: one ONNX Runtime run per
/// batch instead of ML.NET's one run per row. Memory is bounded by one batch; only read once, by the cache writer.
/// </summary>
internal sealed class FeaturizingDataView : IDataView
{
    public const string FeaturesColumn = FeaturizerGraph.OutputName;

    private readonly IDataView _source;
    private readonly BatchFeaturizer _featurizer;
    private readonly int _batchSize;
    private readonly Action<long>? _onRows;

    public FeaturizingDataView(IDataView source, BatchFeaturizer featurizer, int batchSize, Action<long>? onRows)
    {
        _source = source;
        _featurizer = featurizer;
        _batchSize = batchSize;
        _onRows = onRows;
        var b = new DataViewSchema.Builder();
        b.AddColumn(FeaturesColumn, new VectorDataViewType(NumberDataViewType.Single, featurizer.FeatureDimension));
        b.AddColumn(PatchSchema.LabelColumn, BooleanDataViewType.Instance);
        b.AddColumn(PatchSchema.IndexColumn, NumberDataViewType.Int64);
        Schema = b.ToSchema();
    }

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [new Cursor(this)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly FeaturizingDataView _view;
        private readonly DataViewRowCursor _input;
        private readonly ValueGetter<VBuffer<byte>> _image;
        private readonly ValueGetter<bool> _label;
        private readonly ValueGetter<long> _index;
        private readonly byte[] _pixels;
        private readonly float[] _features;
        private readonly bool[] _labels;
        private readonly long[] _indices;
        private readonly int _dim;
        private int _inBatch, _at = -1;
        private long _position = -1;
        private VBuffer<byte> _imageBuffer;

        public Cursor(FeaturizingDataView view)
        {
            _view = view;
            var s = view._source.Schema;
            _input = view._source.GetRowCursor([s[PatchSchema.ImageColumn], s[PatchSchema.LabelColumn], s[PatchSchema.IndexColumn]]);
            _image = _input.GetGetter<VBuffer<byte>>(s[PatchSchema.ImageColumn]);
            _label = _input.GetGetter<bool>(s[PatchSchema.LabelColumn]);
            _index = _input.GetGetter<long>(s[PatchSchema.IndexColumn]);
            _dim = view._featurizer.FeatureDimension;
            _pixels = new byte[view._batchSize * PatchSchema.ImageBytes];
            _features = new float[view._batchSize * _dim];
            _labels = new bool[view._batchSize];
            _indices = new long[view._batchSize];
        }

        public override DataViewSchema Schema => _view.Schema;
        public override long Position => _position;
        public override long Batch => 0;
        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);
        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext()
        {
            if (++_at < _inBatch) { _position++; return true; }
            _inBatch = 0;
            while (_inBatch < _labels.Length && _input.MoveNext())
            {
                _image(ref _imageBuffer);
                _imageBuffer.GetValues().CopyTo(_pixels.AsSpan(_inBatch * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
                _label(ref _labels[_inBatch]);
                _index(ref _indices[_inBatch]);
                _inBatch++;
            }
            if (_inBatch == 0) return false;
            _view._featurizer.Featurize(_pixels.AsSpan(0, _inBatch * PatchSchema.ImageBytes), _inBatch, _features.AsSpan(0, _inBatch * _dim));
            _view._onRows?.Invoke(_inBatch);
            _at = 0;
            _position++;
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            Delegate getter = column.Index switch
            {
                0 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
                {
                    var editor = VBufferEditor.Create(ref dst, _dim);
                    _features.AsSpan(_at * _dim, _dim).CopyTo(editor.Values);
                    dst = editor.Commit();
                }),
                1 => (ValueGetter<bool>)((ref bool dst) => dst = _labels[_at]),
                2 => (ValueGetter<long>)((ref long dst) => dst = _indices[_at]),
                _ => throw new ArgumentOutOfRangeException(nameof(column)),
            };
            return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column '{column.Name}' is not of type {typeof(TValue).Name}.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _input.Dispose();
            base.Dispose(disposing);
        }
    }
}
