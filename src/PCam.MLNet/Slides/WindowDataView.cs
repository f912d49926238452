using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Slides;

/// <summary>
/// A lazy IDataView of 96x96 windows of a slide: the grid cell (Column, Row), X and Y (top-left, pixels of the read
/// level) and the zip featurizer's Features.
/// A cursor reads one batch of windows from the slide (windows in row-major order, so the slide keeps only the tile
/// band under the current row), featurizes the batch in one ONNX Runtime call and serves its rows; memory is one
/// batch of pixels and features plus the band. Single cursor, no shuffling (one pass over a slide).
/// </summary>
public sealed class WindowDataView : IDataView
{
    public const string ColumnColumn = "Column";
    public const string RowColumn = "Row";
    public const string XColumn = "X";
    public const string YColumn = "Y";
    public const string FeaturesColumn = FeaturizerGraph.OutputName;

    private readonly SlideWindows _grid;
    private readonly IReadOnlyList<(int I, int J)> _windows;
    private readonly BatchFeaturizer _featurizer;
    private readonly int _batch;
    private readonly Action<int>? _onBatch;
    private readonly CancellationToken _cancel;

    /// <param name="windows">Grid cells (column, row) of <paramref name="grid"/>, sorted by row then column.</param>
    /// <param name="onBatch">Called after each featurized batch with its row count (progress).</param>
    public WindowDataView(SlideWindows grid, IReadOnlyList<(int I, int J)> windows, BatchFeaturizer featurizer, int batchSize,
        Action<int>? onBatch = null, CancellationToken cancel = default)
    {
        _grid = grid;
        _windows = windows;
        _featurizer = featurizer;
        _batch = Math.Max(1, batchSize);
        _onBatch = onBatch;
        _cancel = cancel;
        var b = new DataViewSchema.Builder();
        b.AddColumn(ColumnColumn, NumberDataViewType.Int32);
        b.AddColumn(RowColumn, NumberDataViewType.Int32);
        b.AddColumn(XColumn, NumberDataViewType.Int32);
        b.AddColumn(YColumn, NumberDataViewType.Int32);
        b.AddColumn(FeaturesColumn, new VectorDataViewType(NumberDataViewType.Single, featurizer.FeatureDimension));
        Schema = b.ToSchema();
    }

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _windows.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, columnsNeeded.Any(c => c.Index == FeaturesIndex));

    private const int FeaturesIndex = 4;

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(WindowDataView view, bool featuresActive) : DataViewRowCursor
    {
        private readonly byte[] _pixels = new byte[view._batch * PatchSchema.ImageBytes];
        private readonly float[] _features = new float[view._batch * view._featurizer.FeatureDimension];
        private long _position = -1;
        private int _batchStart, _batchCount;

        public override DataViewSchema Schema => view.Schema;
        public override long Position => _position;
        public override long Batch => 0;
        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext()
        {
            if (_position + 1 >= view._windows.Count) return false;
            _position++;
            if (_position >= _batchStart + _batchCount) Fill((int)_position);
            return true;
        }

        private void Fill(int start)
        {
            view._cancel.ThrowIfCancellationRequested();
            int n = Math.Min(view._batch, view._windows.Count - start);
            if (featuresActive)
            {
                for (int i = 0; i < n; i++)
                {
                    var (ci, cj) = view._windows[start + i];
                    var (x, y) = view._grid.Origin(ci, cj);
                    view._grid.Evict(y); // windows come sorted by row: tiles above this one are done with
                    view._grid.ReadAtLevel(x, y, _pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
                }
                view._featurizer.Featurize(_pixels, n, _features);
            }
            _batchStart = start;
            _batchCount = n;
            view._onBatch?.Invoke(n);
        }

        private int Row => (int)_position - _batchStart;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            Delegate getter = column.Index switch
            {
                0 => (ValueGetter<int>)((ref int v) => v = view._windows[(int)_position].I),
                1 => (ValueGetter<int>)((ref int v) => v = view._windows[(int)_position].J),
                2 => (ValueGetter<int>)((ref int v) => { var c = view._windows[(int)_position]; v = view._grid.Origin(c.I, c.J).X; }),
                3 => (ValueGetter<int>)((ref int v) => { var c = view._windows[(int)_position]; v = view._grid.Origin(c.I, c.J).Y; }),
                FeaturesIndex => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
                {
                    int d = view._featurizer.FeatureDimension;
                    var editor = VBufferEditor.Create(ref v, d);
                    _features.AsSpan(Row * d, d).CopyTo(editor.Values);
                    v = editor.Commit();
                }),
                _ => throw new ArgumentOutOfRangeException(nameof(column)),
            };
            return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column {column.Name} is not of type {typeof(TValue).Name}.");
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);
    }
}
