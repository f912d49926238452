namespace PCam.MLNet.Data;

/// <summary>Official PCam file names, row counts and MD5 checksums (zenodo record 2546921).</summary>
public static class PCamChecksums
{
    /// <summary>Official file stem for a split and dataset ("x" or "y"), without extension.</summary>
    public static string FileStem(PCamSplit split, char dataset) =>
        $"camelyonpatch_level_2_split_{split.FileToken()}_{dataset}";

    public static long OfficialRowCount(PCamSplit split) => split == PCamSplit.Train ? 262_144 : 32_768;

    /// <summary>MD5 of the uncompressed official `.h5` files: the authority.</summary>
    public static readonly IReadOnlyDictionary<string, string> H5 = new Dictionary<string, string>
    {
        ["camelyonpatch_level_2_split_train_x.h5"] = "01844da899645b4d6f84946d417ba453",
        ["camelyonpatch_level_2_split_train_y.h5"] = "0781386bf6c2fb62d58ff18891466aca",
        ["camelyonpatch_level_2_split_valid_x.h5"] = "81cf9680f1724c40673f10dc88e909b1",
        ["camelyonpatch_level_2_split_valid_y.h5"] = "94d8aacc249253159ce2a2e78a86e658",
        ["camelyonpatch_level_2_split_test_x.h5"] = "2614b2e6717d6356be141d9d6dbfcb7e",
        ["camelyonpatch_level_2_split_test_y.h5"] = "11ed647efe9fe457a4eb45df1dba19ba",
    };

    /// <summary>MD5 of the official `.h5.gz` archives. valid_x/test_x were re-uploaded, so a mismatch here
    /// is only a warning when the decompressed file matches <see cref="H5"/>.</summary>
    public static readonly IReadOnlyDictionary<string, string> Gz = new Dictionary<string, string>
    {
        ["camelyonpatch_level_2_split_train_x.h5.gz"] = "1571f514728f59376b705fc836ff4b63",
        ["camelyonpatch_level_2_split_train_y.h5.gz"] = "35c2d7259d906cfc8143347bb8e05be7",
        ["camelyonpatch_level_2_split_valid_x.h5.gz"] = "d8c2d60d490dbd479f8199bdfa0cf6ec",
        ["camelyonpatch_level_2_split_valid_y.h5.gz"] = "60a7035772fbdb7f34eb86d4420cf66a",
        ["camelyonpatch_level_2_split_test_x.h5.gz"] = "d5b63470df7cfa627aeec8b9dc0c066e",
        ["camelyonpatch_level_2_split_test_y.h5.gz"] = "2b85f58b927af9964a4c15b8f7e8f179",
    };

    /// <summary>MD5 of the official meta CSVs.</summary>
    public static readonly IReadOnlyDictionary<string, string> Meta = new Dictionary<string, string>
    {
        ["camelyonpatch_level_2_split_train_meta.csv"] = "5a3dd671e465cfd74b5b822125e65b0a",
        ["camelyonpatch_level_2_split_valid_meta.csv"] = "3455fd69135b66734e1008f3af684566",
        ["camelyonpatch_level_2_split_test_meta.csv"] = "67589e00a4a37ec317f2d1932c7502ca",
    };

    /// <summary>Reads a `checksums.md5` (lines "md5  filename", optional '*' before the name) into name → md5.</summary>
    public static Dictionary<string, string> ReadChecksumFile(string path)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in File.ReadLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int space = line.IndexOfAny([' ', '\t']);
            if (space != 32) continue;
            var name = line[space..].Trim().TrimStart('*');
            map[Path.GetFileName(name)] = line[..32].ToLowerInvariant();
        }
        return map;
    }

    /// <summary>The `checksums.md5` entries beside a file, or an empty map.</summary>
    internal static Dictionary<string, string> ChecksumsBeside(string file)
    {
        var sums = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, "checksums.md5");
        return File.Exists(sums) ? ReadChecksumFile(sums) : new Dictionary<string, string>();
    }
}
