using Microsoft.ML;
using Microsoft.ML.Data;

namespace PCam.MLNet.Featurization;

/// <summary>
/// A feature cache file (ML.NET binary IDataView format) read through a fresh ML.NET BinaryLoader per cursor, which is
/// disposed with the cursor.
/// </summary>
/// <remarks>
/// Why not <c>ml.Data.LoadFromBinary</c> itself: a BinaryLoader keeps every block buffer its cursors ever used in an
/// unbounded pool that lives as long as the loader. The head stage reads the train cache several times (normaliser fit,
/// labels, selection sample, refit), and one long-lived loader over a 262,144 x 896 cache held about 0.7 GB of such
/// buffers after those passes, on top of the 0.94 GB refit table (peak 2.16x the table; `pcam bench heads`). With one
/// loader per cursor the buffers go when a pass ends. The schema is the file's columns without annotations (the cache
/// is written from <see cref="FeatureTable"/>, which has none).
/// </remarks>
public sealed class CacheFileView : IDataView
{
    private readonly MLContext _ml;
    private readonly long? _rows;

    public CacheFileView(MLContext ml, string path)
    {
        _ml = ml;
        Path = path;
        var loader = ml.Data.LoadFromBinary(path);
        try
        {
            var b = new DataViewSchema.Builder();
            foreach (var c in loader.Schema) b.AddColumn(c.Name, c.Type);
            Schema = b.ToSchema();
            _rows = loader.GetRowCount();
        }
        finally
        {
            (loader as IDisposable)?.Dispose();
        }
    }

    public string Path { get; }
    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _rows;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var loader = _ml.Data.LoadFromBinary(Path);
        try
        {
            var inner = loader.GetRowCursor(columnsNeeded.Select(c => loader.Schema[c.Index]));
            return new Cursor(this, inner, loader);
        }
        catch
        {
            (loader as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>One cursor: the loader's own read-ahead already overlaps decompression with the consumer.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(CacheFileView view, DataViewRowCursor inner, IDataView loader) : DataViewRowCursor
    {
        public override DataViewSchema Schema => view.Schema;
        public override long Position => inner.Position;
        public override long Batch => inner.Batch;
        public override bool MoveNext() => inner.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(inner.Schema[column.Index]);
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(inner.Schema[column.Index]);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                (loader as IDisposable)?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
