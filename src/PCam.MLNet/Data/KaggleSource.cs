namespace PCam.MLNet.Data;

/// <summary>
/// Kaggle "Histopathologic Cancer Detection" layout: `train/&lt;id&gt;.tif` + `train_labels.csv` (id,label), and an
/// unlabelled `test/&lt;id&gt;.tif`. Train rows follow the CSV; Index = the row number in the CSV.
/// Test rows (<see cref="OpenUnlabelledTest"/>) are sorted by id, Index = row number, and every label is false:
/// check <see cref="IsLabelled"/> before using labels.
/// </summary>
public sealed class KaggleSource : IPatchSource
{
    public const string LabelsFile = "train_labels.csv";
    private readonly string[] _paths;
    private readonly bool[] _labels;

    public string Description { get; }
    public long RowCount => _paths.Length;
    /// <summary>False for the Kaggle test folder (all labels read as false).</summary>
    public bool IsLabelled { get; }

    private KaggleSource(string description, string[] paths, bool[] labels, bool labelled)
    {
        Description = description;
        _paths = paths;
        _labels = labels;
        IsLabelled = labelled;
    }

    public static bool IsKaggle(string dir) => File.Exists(Path.Combine(dir, LabelsFile)) && Directory.Exists(Path.Combine(dir, "train"));

    /// <summary>Opens the labelled train set.</summary>
    public static KaggleSource Open(string dir)
    {
        var csv = Path.Combine(dir, LabelsFile);
        if (!File.Exists(csv)) throw new PCamDataException($"{csv}: not found (Kaggle layout needs train_labels.csv with id,label)");
        var paths = new List<string>();
        var labels = new List<bool>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(csv))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = Csv.Split(line);
            if (lineNo == 1 && parts[0].Trim().Equals("id", StringComparison.OrdinalIgnoreCase)) continue; // header
            if (parts.Count != 2 || parts[1].Trim() is not ("0" or "1"))
                throw new PCamDataException($"{csv}: line {lineNo}: expected 'id,label' with label 0 or 1, found '{line}'");
            var path = Path.Combine(dir, "train", parts[0].Trim() + ".tif");
            if (!File.Exists(path)) throw new PCamDataException($"{csv}: line {lineNo}: image {path} not found");
            paths.Add(path);
            labels.Add(parts[1].Trim() == "1");
        }
        if (paths.Count == 0) throw new PCamDataException($"{csv}: no rows");
        return new KaggleSource(csv, [.. paths], [.. labels], labelled: true);
    }

    /// <summary>Opens the unlabelled Kaggle `test/` folder (labels all false), sorted by id.</summary>
    public static KaggleSource OpenUnlabelledTest(string dir)
    {
        var testDir = Path.Combine(dir, "test");
        if (!Directory.Exists(testDir)) throw new PCamDataException($"{testDir}: not found (Kaggle layout test/<id>.tif)");
        var paths = Directory.EnumerateFiles(testDir, "*.tif").Order(StringComparer.Ordinal).ToArray();
        if (paths.Length == 0) throw new PCamDataException($"{testDir}: no .tif images");
        return new KaggleSource(testDir, paths, new bool[paths.Length], labelled: false);
    }

    public void ReadImages(long row, int count, Span<byte> destination)
    {
        for (int i = 0; i < count; i++)
            PatchImageDecoder.DecodeFile(_paths[row + i], destination.Slice(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
    }

    public bool GetLabel(long row) => _labels[row];
    public long GetIndex(long row) => row;
    public string? GetPath(long row) => _paths[row];
    public void Dispose() { }
}
