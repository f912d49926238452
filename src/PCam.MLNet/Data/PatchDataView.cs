using Microsoft.ML;
using Microsoft.ML.Data;

namespace PCam.MLNet.Data;

// CONTRACT (to be implemented by the data-layer work): a real IDataView over an IPatchSource.
// Schema: Image = Vector<Byte, 96, 96, 3> (HWC RGB), Label = Boolean, Index = Int64.
public sealed class PatchDataView : IDataView, IDisposable
{
    public IPatchSource Source => throw new NotImplementedException();
    /// <summary>Rows of the source this view exposes, in order (null = all rows).</summary>
    public IReadOnlyList<long>? Rows => throw new NotImplementedException();
    public static PatchDataView Create(IPatchSource source, IReadOnlyList<long>? rows = null) => throw new NotImplementedException();
    /// <summary>First n rows, without copying.</summary>
    public PatchDataView Take(long n) => throw new NotImplementedException();
    /// <summary>A seeded sample of n rows balanced by class, in source order.</summary>
    public PatchDataView SampleBalanced(long n, int seed) => throw new NotImplementedException();
    public bool CanShuffle => throw new NotImplementedException();
    public DataViewSchema Schema => throw new NotImplementedException();
    public long? GetRowCount() => throw new NotImplementedException();
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => throw new NotImplementedException();
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => throw new NotImplementedException();
    public void Dispose() => throw new NotImplementedException();
}
