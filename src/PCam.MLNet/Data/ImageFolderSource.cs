namespace PCam.MLNet.Data;

/// <summary>
/// Model Builder image folders: `&lt;splitDir&gt;/&lt;label&gt;/*.{png,jpg,jpeg,tif,tiff}` with label folders `0`/`1` or
/// `negative`/`positive`. Rows are sorted by the number in the file name (the PCam index, e.g. patch0000123.jpg → 123),
/// then by path; files without a number get their row number as Index. Images are decoded on demand; a bad image
/// fails the read with a PCamDataException naming the file.
/// </summary>
public sealed class ImageFolderSource : IPatchSource
{
    private readonly string[] _paths;
    private readonly bool[] _labels;
    private readonly long[] _indices;

    public string Description { get; }
    public long RowCount => _paths.Length;

    private ImageFolderSource(string dir, string[] paths, bool[] labels, long[] indices)
    {
        Description = dir;
        _paths = paths;
        _labels = labels;
        _indices = indices;
    }

    private static bool? LabelOf(string folderName) => folderName.ToLowerInvariant() switch
    {
        "0" or "negative" => false,
        "1" or "positive" => true,
        _ => null,
    };

    internal static bool IsSplitDirectory(string splitDir) =>
        Directory.Exists(splitDir) && Directory.EnumerateDirectories(splitDir).Any(d => LabelOf(Path.GetFileName(d)) != null);

    public static bool HasSplit(string root, PCamSplit split) => IsSplitDirectory(Path.Combine(root, split.FileToken()));

    /// <summary>Opens one split folder (the folder holding the label folders).</summary>
    public static ImageFolderSource Open(string splitDir)
    {
        if (!IsSplitDirectory(splitDir))
            throw new PCamDataException($"{splitDir}: expected label folders 0/1 or negative/positive with .png/.jpg/.tif images");
        var rows = new List<(long? Number, string Path, bool Label)>();
        foreach (var labelDir in Directory.EnumerateDirectories(splitDir))
        {
            if (LabelOf(Path.GetFileName(labelDir)) is not bool label) continue;
            foreach (var file in Directory.EnumerateFiles(labelDir))
            {
                if (!PatchImageDecoder.Extensions.Contains(Path.GetExtension(file).ToLowerInvariant())) continue;
                rows.Add((NumberInName(file), file, label));
            }
        }
        if (rows.Count == 0) throw new PCamDataException($"{splitDir}: no .png/.jpg/.tif images in the label folders");
        rows.Sort((a, b) =>
        {
            int c = (a.Number ?? long.MaxValue).CompareTo(b.Number ?? long.MaxValue);
            return c != 0 ? c : string.CompareOrdinal(a.Path, b.Path);
        });
        var indices = new long[rows.Count];
        for (int i = 0; i < rows.Count; i++) indices[i] = rows[i].Number ?? i;
        return new ImageFolderSource(splitDir, rows.Select(r => r.Path).ToArray(), rows.Select(r => r.Label).ToArray(), indices);
    }

    /// <summary>The last run of digits in the file name (without extension), if any.</summary>
    internal static long? NumberInName(string path)
    {
        var stem = Path.GetFileNameWithoutExtension(path);
        int end = stem.Length;
        while (end > 0 && !char.IsAsciiDigit(stem[end - 1])) end--;
        int start = end;
        while (start > 0 && char.IsAsciiDigit(stem[start - 1])) start--;
        return end > start && end - start <= 18 ? long.Parse(stem.AsSpan(start, end - start)) : null;
    }

    public void ReadImages(long row, int count, Span<byte> destination)
    {
        for (int i = 0; i < count; i++)
            PatchImageDecoder.DecodeFile(_paths[row + i], destination.Slice(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
    }

    public bool GetLabel(long row) => _labels[row];
    public long GetIndex(long row) => _indices[row];
    public string? GetPath(long row) => _paths[row];
    public void Dispose() { }
}
