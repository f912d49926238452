using System.Text;
using System.Text.RegularExpressions;
using PCam.MLNet.Data;

namespace PCam.MLNet.Slides.Cohort;

/// <summary>One slide of a cohort: its id (the name of its results folder), file and optional label.</summary>
public sealed record SlideInput(string SlideId, string Path, string? Label = null);

/// <summary>
/// Gathers a cohort from files, folders (slide files by extension; <c>recursive</c> descends) and a CSV list (column
/// <c>path</c>, relative to the list's folder; optional <c>slide_id</c>, <c>label</c>). A file given by name is taken
/// whatever its extension (its format is detected from its content when it is opened). Ids: the list's, else the file
/// stem, made unique (ignoring case) with -2, -3, ... in path order; characters outside [A-Za-z0-9._-] become '_'.
/// </summary>
public static partial class SlideInputs
{
    /// <summary>Extensions picked up in folders: the formats LibTiff, SkiaSharp and OpenSlide read.</summary>
    public static readonly string[] Extensions =
        [".tif", ".tiff", ".svs", ".tf8", ".btf", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".vmu", ".svslide", ".dcm", ".png", ".jpg", ".jpeg"];

    public static List<SlideInput> Collect(IEnumerable<string> paths, bool recursive = false, string? list = null)
    {
        var found = new List<(string Path, string? Id, string? Label)>();
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
            {
                var files = Directory.EnumerateFiles(p, "*", new EnumerationOptions { RecurseSubdirectories = recursive, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden })
                    .Where(f => Extensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
                    .Order(StringComparer.Ordinal);
                found.AddRange(files.Select(f => (System.IO.Path.GetFullPath(f), (string?)null, (string?)null)));
            }
            else if (File.Exists(p)) found.Add((System.IO.Path.GetFullPath(p), null, null));
            else throw new PCamDataException($"{p}: no such file or folder.");
        }
        if (list is not null) found.AddRange(ReadList(list));
        // The same file twice (a folder and a file inside it) is one slide.
        var unique = found.GroupBy(f => f.Path, StringComparer.Ordinal).Select(g => g.First()).ToList();
        // Ids name folders: unique ignoring case, so "A" and "a" never share a folder on macOS or Windows file systems.
        var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var f in unique.Where(f => f.Id is not null))
            if (!ids.Add(f.Id!)) throw new PCamDataException($"{list}: slide_id '{f.Id}' appears twice (ignoring case); ids name the results folders and must be unique.");
        var result = new List<SlideInput>();
        foreach (var f in unique)
        {
            var id = f.Id;
            if (id is null)
            {
                var stem = Sanitize(System.IO.Path.GetFileNameWithoutExtension(f.Path));
                id = stem;
                for (int k = 2; !ids.Add(id); k++) id = $"{stem}-{k}";
            }
            result.Add(new SlideInput(id, f.Path, f.Label));
        }
        return result;
    }

    [GeneratedRegex("[^A-Za-z0-9._-]")]
    private static partial Regex Unsafe();

    public static string Sanitize(string id)
    {
        var s = Unsafe().Replace(id, "_");
        return s.Length == 0 || s.All(c => c == '.') ? "_" + s : s;
    }

    private static IEnumerable<(string Path, string? Id, string? Label)> ReadList(string list)
    {
        if (!File.Exists(list)) throw new PCamDataException($"{list}: no such slide list.");
        var lines = File.ReadAllLines(list).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new PCamDataException($"{list}: empty slide list (expected a header with a 'path' column).");
        var header = Csv.Split(lines[0]).Select(h => h.Trim().ToLowerInvariant()).ToList();
        int pi = header.IndexOf("path"), ii = header.IndexOf("slide_id"), li = header.IndexOf("label");
        if (pi < 0) throw new PCamDataException($"{list}: no 'path' column in the header ({string.Join(",", header)}).");
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(list))!;
        var rows = new List<(string, string?, string?)>();
        for (int n = 1; n < lines.Count; n++)
        {
            var cells = Csv.Split(lines[n]);
            string Cell(int i) => i >= 0 && i < cells.Count ? cells[i].Trim() : "";
            var path = Cell(pi);
            if (path.Length == 0) throw new PCamDataException($"{list}: line {n + 1} has no path.");
            var id = Cell(ii);
            if (id.Length > 0 && Sanitize(id) != id) throw new PCamDataException($"{list}: line {n + 1}: slide_id '{id}' may only hold letters, digits, '.', '_' and '-' (it names a folder).");
            var label = Cell(li);
            rows.Add((System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, path)), id.Length > 0 ? id : null, label.Length > 0 ? label : null));
        }
        return rows;
    }
}
