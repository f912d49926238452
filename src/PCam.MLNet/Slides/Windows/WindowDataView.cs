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
/// scores a batch, the next batch's windows are decoded on a worker thread (double buffering; the slide is only ever
/// touched by one thread at a time), so decoding hides behind inference. Memory is two batches of pixels, one of
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

    private sealed class Cursor(WindowDataView view, bool featuresActive) : DataViewRowCursor
    {
        private readonly byte[][] _pixels = [new byte[view._batch * PatchSchema.ImageBytes], new byte[view._batch * PatchSchema.ImageBytes]];
        private readonly float[] _features = new float[view._batch * view._featurizer.FeatureDimension];
        private long _position = -1;
        private int _batchStart, _batchCount, _current;
        private Task? _prefetch;
        private int _prefetchStart = -1;

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

        private int Count(int start) => Math.Min(view._batch, view._windows.Count - start);

        /// <summary>Decodes windows [start, start + n) into <paramref name="pixels"/> (one thread at a time).</summary>
        private void Read(int start, byte[] pixels)
        {
            int n = Count(start);
            for (int i = 0; i < n; i++)
            {
                view._cancel.ThrowIfCancellationRequested();
                var (ci, cj) = view._windows[start + i];
                var (x, y) = view._grid.Origin(ci, cj);
                view._grid.Evict(y); // windows come sorted by row: tiles above this one are done with
                view._grid.ReadAtLevel(x, y, pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
            }
        }

        private void Fill(int start)
        {
            view._cancel.ThrowIfCancellationRequested();
            int n = Count(start);
            if (featuresActive)
            {
                if (_prefetch is not null && _prefetchStart == start)
                {
                    var done = _prefetch;
                    _prefetch = null;
                    done.GetAwaiter().GetResult(); // rethrows the reader's own exception (a damaged tile names the file)
                    _current = 1 - _current;
                }
                else
                {
                    WaitPrefetch();
                    Read(start, _pixels[_current]);
                }
                int next = start + n;
                if (next < view._windows.Count)
                {
                    var buffer = _pixels[1 - _current];
                    _prefetchStart = next;
                    _prefetch = Task.Run(() => Read(next, buffer));
                }
                view._featurizer.Featurize(_pixels[_current], n, _features);
            }
            _batchStart = start;
            _batchCount = n;
            view._onBatch?.Invoke(n);
        }

        private void WaitPrefetch()
        {
            if (_prefetch is null) return;
            try { _prefetch.Wait(); }
            catch (AggregateException) { } // an abandoned read-ahead: its error is not this batch's
            _prefetch = null;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) WaitPrefetch(); // never leave a thread reading a slide that is about to be closed
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
