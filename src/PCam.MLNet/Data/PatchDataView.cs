using Microsoft.ML;
using Microsoft.ML.Data;

namespace PCam.MLNet.Data;

/// <summary>
/// A real IDataView over an <see cref="IPatchSource"/> (no LoadFromEnumerable): cursors stream pixels in
/// batches with bounded memory, read no pixels when Image is inactive, and support seeded random order and
/// parallel cursor sets. Schema: Image = Vector&lt;Byte, 96, 96, 3&gt; (HWC RGB), Label = Boolean, Index = Int64.
/// A view made by <see cref="Create"/> or <see cref="PCamData.Open"/> owns its source; views made by
/// <see cref="Take"/> and <see cref="SampleBalanced"/> share it and do not dispose it.
/// </summary>
public sealed class PatchDataView : IDataView, IDisposable
{
    /// <summary>Rows per read: 256 x 27,648 B = 7 MB buffer per cursor.</summary>
    public const int DefaultBatchRows = 256;

    private static readonly DataViewSchema SharedSchema = BuildSchema();
    private readonly long[]? _rows;
    private readonly bool _ownsSource;

    public IPatchSource Source { get; }
    /// <summary>Rows of the source this view exposes, in order (null = all rows).</summary>
    public IReadOnlyList<long>? Rows => _rows;
    /// <summary>Rows per ReadImages call in cursors.</summary>
    public int BatchRows { get; init; } = DefaultBatchRows;

    private PatchDataView(IPatchSource source, long[]? rows, bool ownsSource)
    {
        Source = source;
        _rows = rows;
        _ownsSource = ownsSource;
    }

    /// <summary>A view over <paramref name="source"/> (which it then owns), optionally restricted to some rows.</summary>
    public static PatchDataView Create(IPatchSource source, IReadOnlyList<long>? rows = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new PatchDataView(source, rows == null ? null : CheckRows(source, rows), ownsSource: true);
    }

    /// <summary>A view that does not own (dispose) the source.</summary>
    internal static PatchDataView Borrow(IPatchSource source) => new(source, null, ownsSource: false);

    private static long[] CheckRows(IPatchSource source, IReadOnlyList<long> rows)
    {
        var copy = rows.ToArray();
        foreach (var r in copy)
            if (r < 0 || r >= source.RowCount) throw new ArgumentOutOfRangeException(nameof(rows), $"row {r} outside 0..{source.RowCount - 1}");
        return copy;
    }

    internal long Count => _rows?.LongLength ?? Source.RowCount;
    internal long SourceRow(long position) => _rows != null ? _rows[position] : position;

    /// <summary>First n rows, without copying pixels.</summary>
    public PatchDataView Take(long n)
    {
        long count = Math.Clamp(n, 0, Count);
        var rows = new long[count];
        for (long i = 0; i < count; i++) rows[i] = SourceRow(i);
        return new PatchDataView(Source, rows, ownsSource: false) { BatchRows = BatchRows };
    }

    /// <summary>A seeded sample of n rows balanced by class (n/2 each; a class with too few rows is taken whole and
    /// the other fills up to n), in source order, without copying pixels.</summary>
    public PatchDataView SampleBalanced(long n, int seed)
    {
        var pos = new List<long>();
        var neg = new List<long>();
        for (long i = 0; i < Count; i++)
        {
            long r = SourceRow(i);
            (Source.GetLabel(r) ? pos : neg).Add(r);
        }
        n = Math.Clamp(n, 0, Count);
        long wantPos = Math.Min(pos.Count, n / 2 + (n % 2));
        long wantNeg = Math.Min(neg.Count, n - wantPos);
        wantPos = Math.Min(pos.Count, n - wantNeg);
        var rng = new Random(seed);
        var picked = PartialShuffle(pos, (int)wantPos, rng).Concat(PartialShuffle(neg, (int)wantNeg, rng)).ToArray();
        Array.Sort(picked);
        return new PatchDataView(Source, picked, ownsSource: false) { BatchRows = BatchRows };
    }

    private static IEnumerable<long> PartialShuffle(List<long> items, int k, Random rng)
    {
        for (int i = 0; i < k; i++)
        {
            int j = rng.Next(i, items.Count);
            (items[i], items[j]) = (items[j], items[i]);
        }
        return items.Take(k);
    }

    public bool CanShuffle => true;
    public DataViewSchema Schema => SharedSchema;
    public long? GetRowCount() => Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var active = ActiveColumns(columnsNeeded);
        var order = rand == null ? null : Permutation(Count, rand);
        return new PatchCursor(this, order, 0, Count, active, batch: 0);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        var active = ActiveColumns(columnsNeeded);
        n = Math.Max(1, (int)Math.Min(n, Math.Max(1, Count)));
        var order = rand == null ? null : Permutation(Count, rand);
        var cursors = new DataViewRowCursor[n];
        // Contiguous slices: each cursor reads long sequential runs with its own buffer.
        for (int i = 0; i < n; i++)
            cursors[i] = new PatchCursor(this, order, Count * i / n, Count * (i + 1) / n, active, batch: i);
        return cursors;
    }

    private bool[] ActiveColumns(IEnumerable<DataViewSchema.Column> columnsNeeded)
    {
        var active = new bool[SharedSchema.Count];
        foreach (var c in columnsNeeded ?? [])
        {
            if (c.Index < 0 || c.Index >= active.Length) throw new ArgumentOutOfRangeException(nameof(columnsNeeded), $"unknown column {c.Name}");
            active[c.Index] = true;
        }
        return active;
    }

    private static long[] Permutation(long count, Random rand)
    {
        var p = new long[count];
        for (long i = 0; i < count; i++) p[i] = i;
        for (long i = count - 1; i > 0; i--)
        {
            long j = rand.NextInt64(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    private static DataViewSchema BuildSchema()
    {
        var b = new DataViewSchema.Builder();
        b.AddColumn(PatchSchema.ImageColumn, new VectorDataViewType(NumberDataViewType.Byte, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels));
        b.AddColumn(PatchSchema.LabelColumn, BooleanDataViewType.Instance);
        b.AddColumn(PatchSchema.IndexColumn, NumberDataViewType.Int64);
        return b.ToSchema();
    }

    public void Dispose()
    {
        if (_ownsSource) Source.Dispose();
    }
}
