using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Slides.Windows;

/// <summary>
/// A lazy IDataView of 96x96 windows of a slide: the grid cell (Column, Row), X and Y (top-left, pixels of the read
/// level) and the zip featurizer's Features.
/// A cursor reads one batch of windows from the slide (windows in row-major order, so the slide keeps only the tile
/// band under the current row), featurizes the batch in one ONNX Runtime call and serves its rows. While ONNX Runtime
/// scores a batch, the next batch's windows are decoded on a worker thread (<see cref="FeatureBatches"/>' double
/// buffering; the slide is only ever touched by one thread at a time), so decoding hides behind inference. Memory is two batches of pixels, one of
/// features, plus the band. Single cursor, no shuffling (one pass over a slide).
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

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly WindowDataView view;
        private readonly FeatureBatches? _batches;
        private long _position = -1;
        private int _batchStart, _batchCount;
        private int _nextRead;

        public Cursor(WindowDataView view, bool featuresActive)
        {
            this.view = view;
            if (featuresActive) _batches = new FeatureBatches(view._featurizer, view._batch, Read, view._cancel);
        }

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

        /// <summary>Decodes the next windows (sorted by row) into <paramref name="pixels"/>; FeatureBatches calls it one thread at a time.</summary>
        private int Read(byte[] pixels, int max)
        {
            int n = Math.Min(max, view._windows.Count - _nextRead);
            for (int i = 0; i < n; i++)
            {
                view._cancel.ThrowIfCancellationRequested();
                var (ci, cj) = view._windows[_nextRead + i];
                var (x, y) = view._grid.Origin(ci, cj);
                view._grid.Evict(y); // windows come sorted by row: tiles above this one are done with
                view._grid.ReadAtLevel(x, y, pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
            }
            _nextRead += n;
            return n;
        }

        private void Fill(int start)
        {
            view._cancel.ThrowIfCancellationRequested();
            int n = Math.Min(view._batch, view._windows.Count - start);
            if (_batches is not null)
            {
                if (!_batches.MoveNext() || _batches.Count != n) throw new InvalidOperationException($"The slide's windows from {start} did not make a batch of {n}.");
            }
            _batchStart = start;
            _batchCount = n;
            view._onBatch?.Invoke(n);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _batches?.Dispose(); // never leave a thread reading a slide that is about to be closed
            base.Dispose(disposing);
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
                    _batches!.Features.AsSpan(Row * d, d).CopyTo(editor.Values);
                    v = editor.Commit();
                }),
                _ => throw new ArgumentOutOfRangeException(nameof(column)),
            };
            return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column {column.Name} is not of type {typeof(TValue).Name}.");
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);
    }
}
