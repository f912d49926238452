using System.Security.Cryptography;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace PCam.MLNet.Vision;

/// <summary>The encoded images and label keys of a view, read once (the bottleneck phase's input).</summary>
internal sealed class ImageRows
{
    public required List<byte[]> Images { get; init; }
    /// <summary>0-based class of each row (key - 1).</summary>
    public required int[] Labels { get; init; }
    /// <summary>How errors name row i: "row i" plus its ImagePath when the view has one.</summary>
    public required List<string> Names { get; init; }
    public int Count => Images.Count;

    /// <summary>SHA-256 over every image's bytes and label: the cache key's data part.</summary>
    public string Hash()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < Count; i++)
        {
            h.AppendData(BitConverter.GetBytes(Images[i].Length));
            h.AppendData(Images[i]);
            h.AppendData(BitConverter.GetBytes(Labels[i]));
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    public ImageRows Subset(IReadOnlyList<int> rows) => new()
    {
        Images = rows.Select(r => Images[r]).ToList(),
        Labels = rows.Select(r => Labels[r]).ToArray(),
        Names = rows.Select(r => Names[r]).ToList(),
    };

    /// <summary>Reads <paramref name="data"/>: the feature column must hold bytes, the label column a key with <paramref name="classes"/> values.</summary>
    public static ImageRows Read(IDataView data, string featureColumn, string labelColumn, int classes, string what)
    {
        var image = data.Schema.GetColumnOrNull(featureColumn)
            ?? throw new PCamDataException($"{what}: no column '{featureColumn}' (the encoded image bytes; LoadRawImageBytes makes one).");
        if (image.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Byte)
            throw new PCamDataException($"{what}: column '{featureColumn}' is {image.Type}, not a vector of bytes (the encoded image: LoadRawImageBytes or a byte[] field).");
        var label = data.Schema.GetColumnOrNull(labelColumn)
            ?? throw new PCamDataException($"{what}: no label column '{labelColumn}'.");
        if (label.Type is not KeyDataViewType key || key.Count != (ulong)classes)
            throw new PCamDataException($"{what}: label column '{labelColumn}' is {label.Type}; it must be a key with {classes} values " +
                                        "(MapValueToKey on the train rows, the same for validation rows).");
        var path = data.Schema.GetColumnOrNull("ImagePath") is { Type: TextDataViewType } p ? p : (DataViewSchema.Column?)null;
        var columns = new List<DataViewSchema.Column> { image, label };
        if (path is { } pc) columns.Add(pc);
        var rows = new ImageRows { Images = [], Labels = [], Names = [] };
        var labels = new List<int>();
        using var cursor = data.GetRowCursor(columns);
        var getImage = cursor.GetGetter<VBuffer<byte>>(image);
        var getLabel = cursor.GetGetter<uint>(label);
        var getPath = path is { } c ? cursor.GetGetter<ReadOnlyMemory<char>>(c) : null;
        VBuffer<byte> bytes = default;
        uint value = 0;
        ReadOnlyMemory<char> text = default;
        while (cursor.MoveNext())
        {
            int row = rows.Images.Count;
            getPath?.Invoke(ref text);
            var name = getPath is null ? $"{what} row {row}" : $"{what} row {row} ({text})";
            getImage(ref bytes);
            getLabel(ref value);
            if (value == 0) throw new PCamDataException($"{name}: the label is missing (key 0: a value MapValueToKey did not see on the train rows).");
            rows.Images.Add(bytes.DenseValues().ToArray());
            labels.Add((int)value - 1);
            rows.Names.Add(name);
        }
        if (rows.Images.Count == 0) throw new PCamDataException($"{what}: no rows.");
        return new ImageRows { Images = rows.Images, Labels = labels.ToArray(), Names = rows.Names };
    }
}
