using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization;

/// <summary>
/// (Features, Label, Index) rows of a split, computed in one batched pass (one ONNX Runtime run per batch instead of
/// ML.NET's one run per row) and held in memory: ML.NET's binary saver reads its input twice, so a streaming view
/// would featurize every row twice. Memory is rows x dimension floats (0.9 GB for PCam's 262,144 train rows at 896).
/// </summary>
internal sealed class FeatureTable : IDataView
{
    public const string FeaturesColumn = FeaturizerGraph.OutputName;

    private readonly float[] _features;
    private readonly bool[] _labels;
    private readonly long[] _indices;
    private readonly int _dim;

    private FeatureTable(float[] features, bool[] labels, long[] indices, int dim)
    {
        _features = features;
        _labels = labels;
        _indices = indices;
        _dim = dim;
        var b = new DataViewSchema.Builder();
        b.AddColumn(FeaturesColumn, new VectorDataViewType(NumberDataViewType.Single, dim));
        b.AddColumn(PatchSchema.LabelColumn, BooleanDataViewType.Instance);
        b.AddColumn(PatchSchema.IndexColumn, NumberDataViewType.Int64);
        Schema = b.ToSchema();
    }

    /// <summary>Featurizes every row of <paramref name="source"/> (Image, Label, Index) in double-buffered batches
    /// (<see cref="FeaturizedDataView"/>); onRows reports progress.</summary>
    public static FeatureTable Compute(IDataView source, BatchFeaturizer featurizer, int batchSize, Action<long>? onRows, CancellationToken cancel = default)
    {
        var n = source.GetRowCount() ?? throw new InvalidOperationException("The patch view must know its row count.");
        var view = new FeaturizedDataView(source, PatchSchema.ImageColumn, featurizer, batchSize, onBatch: onRows is null ? null : rows => onRows(rows), cancel: cancel);
        var dim = featurizer.FeatureDimension;
        var features = new float[checked(n * dim)];
        var labels = new bool[n];
        var indices = new long[n];
        var s = view.Schema;
        using var cursor = view.GetRowCursor([s[FeaturesColumn], s[PatchSchema.LabelColumn], s[PatchSchema.IndexColumn]]);
        var feature = cursor.GetGetter<VBuffer<float>>(s[FeaturesColumn]);
        var label = cursor.GetGetter<bool>(s[PatchSchema.LabelColumn]);
        var index = cursor.GetGetter<long>(s[PatchSchema.IndexColumn]);
        VBuffer<float> buffer = default;
        long row = 0;
        while (row < n && cursor.MoveNext())
        {
            feature(ref buffer);
            buffer.CopyTo(features.AsSpan((int)(row * dim), dim));
            label(ref labels[row]);
            index(ref indices[row]);
            row++;
        }
        if (row != n) throw new InvalidOperationException($"The patch view promised {n} rows but gave {row}.");
        return new FeatureTable(features, labels, indices, dim);
    }

    /// <summary>A table over arrays the caller made (rows x dim features, row-major); the arrays are not copied.</summary>
    internal static FeatureTable FromArrays(float[] features, bool[] labels, long[] indices, int dim)
    {
        if (dim < 1 || features.Length != (long)labels.Length * dim || indices.Length != labels.Length)
            throw new ArgumentException($"Expected {labels.Length} x {dim} features and {labels.Length} indices.");
        return new FeatureTable(features, labels, indices, dim);
    }

    public int Dimension => _dim;

    /// <summary>Bytes held by the feature values (rows x dimension x 4).</summary>
    public long FeatureBytes => (long)_features.Length * sizeof(float);

    /// <summary>
    /// Reads Features and Label (and Index when present, else the row position) of <paramref name="rows"/> (ascending
    /// row positions; null = every row) of any view into one dense table: one pass, one copy.
    /// </summary>
    public static FeatureTable Load(IDataView source, IReadOnlyList<long>? rows = null)
    {
        var s = source.Schema;
        var featuresColumn = s.GetColumnOrNull(FeaturesColumn)
            ?? throw new InvalidOperationException($"The view has no '{FeaturesColumn}' column.");
        var dim = featuresColumn.Type is VectorDataViewType { Size: > 0 } v && v.ItemType == NumberDataViewType.Single
            ? v.Size : throw new InvalidOperationException($"'{FeaturesColumn}' must be a fixed-size vector of Single.");
        var labelColumn = s[PatchSchema.LabelColumn];
        var indexColumn = s.GetColumnOrNull(PatchSchema.IndexColumn) is { Type: var t } c && t == NumberDataViewType.Int64 ? c : (DataViewSchema.Column?)null;
        var n = rows?.Count ?? source.GetRowCount() ?? ReadLabels(source).Length;
        var features = new float[checked(n * dim)];
        var labels = new bool[n];
        var indices = new long[n];
        var cols = new List<DataViewSchema.Column> { featuresColumn, labelColumn };
        if (indexColumn is { } ic) cols.Add(ic);
        using var cursor = source.GetRowCursor(cols);
        var feature = cursor.GetGetter<VBuffer<float>>(featuresColumn);
        var label = cursor.GetGetter<bool>(labelColumn);
        var index = indexColumn is { } i ? cursor.GetGetter<long>(i) : null;
        VBuffer<float> buffer = default;
        long position = -1, k = 0;
        while (k < n && cursor.MoveNext())
        {
            position++;
            if (rows is not null && rows[(int)k] != position) continue;
            feature(ref buffer);
            buffer.CopyTo(features.AsSpan((int)(k * dim), dim));
            label(ref labels[k]);
            if (index is null) indices[k] = position; else index(ref indices[k]);
            k++;
        }
        if (k != n) throw new InvalidOperationException($"Expected {n} rows, read {k}.");
        return new FeatureTable(features, labels, indices, dim);
    }

    /// <summary>The Label column of a view, in row order (reads only that column).</summary>
    public static bool[] ReadLabels(IDataView source)
    {
        var column = source.Schema[PatchSchema.LabelColumn];
        var labels = new List<bool>((int)(source.GetRowCount() ?? 0));
        using var cursor = source.GetRowCursor([column]);
        var label = cursor.GetGetter<bool>(column);
        bool l = false;
        while (cursor.MoveNext()) { label(ref l); labels.Add(l); }
        return labels.ToArray();
    }

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _labels.Length;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(this)];

    private sealed class Cursor(FeatureTable table) : DataViewRowCursor
    {
        private long _position = -1;

        public override DataViewSchema Schema => table.Schema;
        public override long Position => _position;
        public override long Batch => 0;
        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);
        public override bool IsColumnActive(DataViewSchema.Column column) => true;
        public override bool MoveNext() => ++_position < table._labels.Length;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            Delegate getter = column.Index switch
            {
                0 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
                {
                    var editor = VBufferEditor.Create(ref dst, table._dim);
                    table._features.AsSpan((int)(_position * table._dim), table._dim).CopyTo(editor.Values);
                    dst = editor.Commit();
                }),
                1 => (ValueGetter<bool>)((ref bool dst) => dst = table._labels[_position]),
                2 => (ValueGetter<long>)((ref long dst) => dst = table._indices[_position]),
                _ => throw new ArgumentOutOfRangeException(nameof(column)),
            };
            return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column '{column.Name}' is not of type {typeof(TValue).Name}.");
        }
    }
}
