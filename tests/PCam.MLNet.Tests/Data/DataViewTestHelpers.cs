using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;

namespace PCam.MLNet.Tests.Data;

public static class ViewReader
{
    /// <summary>(Index, Label) of every row a cursor returns, without touching pixels.</summary>
    public static List<(long Index, bool Label)> IndexAndLabels(DataViewRowCursor cursor)
    {
        var schema = cursor.Schema;
        var idx = cursor.GetGetter<long>(schema[PatchSchema.IndexColumn]);
        var lab = cursor.GetGetter<bool>(schema[PatchSchema.LabelColumn]);
        var list = new List<(long, bool)>();
        long i = 0; bool l = false;
        while (cursor.MoveNext()) { idx(ref i); lab(ref l); list.Add((i, l)); }
        return list;
    }

    /// <summary>Index → image bytes for every row.</summary>
    public static Dictionary<long, byte[]> Images(PatchDataView view, Random? rand = null)
    {
        var s = view.Schema;
        using var c = view.GetRowCursor(s, rand);
        var img = c.GetGetter<VBuffer<byte>>(s[PatchSchema.ImageColumn]);
        var idx = c.GetGetter<long>(s[PatchSchema.IndexColumn]);
        var map = new Dictionary<long, byte[]>();
        VBuffer<byte> v = default; long i = 0;
        while (c.MoveNext()) { img(ref v); idx(ref i); map[i] = v.DenseValues().ToArray(); }
        return map;
    }
}
