using Microsoft.ML;
using Microsoft.ML.Data;

namespace PCam.MLNet.Data;

/// <summary>
/// Cursor over positions [start, end) of a view (through an optional permutation). Pixels are read in batches
/// of consecutive source rows into a buffer owned by this cursor, and only when the Image column is active.
/// </summary>
internal sealed class PatchCursor : DataViewRowCursor
{
    private const int ImageCol = 0, LabelCol = 1, IndexCol = 2;
    private readonly PatchDataView _view;
    private readonly long[]? _order;
    private readonly long _start, _end;
    private readonly bool[] _active;
    private readonly long _batch;
    private readonly byte[]? _pixels;
    private readonly long[] _batchRows;
    private long _k = -1;          // cursor-local row number
    private long _bufferStart = -1; // k of the first row in the buffer
    private int _bufferCount;
    private long _sourceRow = -1;
    private bool _disposed;

    private readonly ValueGetter<VBuffer<byte>> _imageGetter;
    private readonly ValueGetter<bool> _labelGetter;
    private readonly ValueGetter<long> _indexGetter;

    public PatchCursor(PatchDataView view, long[]? order, long start, long end, bool[] active, long batch)
    {
        _view = view;
        _order = order;
        _start = start;
        _end = end;
        _active = active;
        _batch = batch;
        int batchRows = Math.Max(1, view.BatchRows);
        _batchRows = new long[batchRows];
        if (active[ImageCol]) _pixels = new byte[(long)batchRows * PatchSchema.ImageBytes];
        _imageGetter = GetImage;
        _labelGetter = (ref bool v) => { EnsureRow(); v = _view.Source.GetLabel(_sourceRow); };
        _indexGetter = (ref long v) => { EnsureRow(); v = _view.Source.GetIndex(_sourceRow); };
    }

    public override DataViewSchema Schema => _view.Schema;
    public override long Position => _k;
    public override long Batch => _batch;

    private long SourceRowAt(long k)
    {
        long pos = _start + k;
        return _view.SourceRow(_order != null ? _order[pos] : pos);
    }

    public override bool MoveNext()
    {
        if (_disposed) return false;
        if (_k + 1 >= _end - _start)
        {
            _k = _end - _start;
            _sourceRow = -1;
            return false;
        }
        _k++;
        _sourceRow = SourceRowAt(_k);
        return true;
    }

    private void EnsureRow()
    {
        if (_sourceRow < 0) throw new InvalidOperationException("The cursor is not on a row (call MoveNext first).");
    }

    private void GetImage(ref VBuffer<byte> value)
    {
        EnsureRow();
        if (_k < _bufferStart || _k >= _bufferStart + _bufferCount) Fill(_k);
        var editor = VBufferEditor.Create(ref value, PatchSchema.ImageBytes); // reuses value's arrays
        _pixels.AsSpan((int)(_k - _bufferStart) * PatchSchema.ImageBytes, PatchSchema.ImageBytes).CopyTo(editor.Values);
        value = editor.Commit();
    }

    /// <summary>Loads the next batch of rows from k on, one ReadImages call per run of consecutive source rows.</summary>
    private void Fill(long k)
    {
        int count = (int)Math.Min(_batchRows.Length, _end - _start - k);
        for (int i = 0; i < count; i++) _batchRows[i] = SourceRowAt(k + i);
        var source = _view.Source;
        for (int i = 0; i < count;)
        {
            int j = i + 1;
            while (j < count && _batchRows[j] == _batchRows[j - 1] + 1) j++;
            source.ReadImages(_batchRows[i], j - i, _pixels.AsSpan(i * PatchSchema.ImageBytes, (j - i) * PatchSchema.ImageBytes));
            i = j;
        }
        _bufferStart = k;
        _bufferCount = count;
    }

    public override ValueGetter<DataViewRowId> GetIdGetter() =>
        (ref DataViewRowId v) => { EnsureRow(); v = new DataViewRowId((ulong)_sourceRow, 0); };

    public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index < 0 || column.Index >= _active.Length || !_active[column.Index])
            throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
        Delegate d = column.Index switch
        {
            ImageCol => _imageGetter,
            LabelCol => _labelGetter,
            _ => _indexGetter,
        };
        return d as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not {typeof(TValue).Name}.");
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }
}
