using System.Text;

namespace PCam.MLNet.Data;

/// <summary>Minimal RFC 4180 CSV: quoted fields with doubled quotes, no line breaks inside fields.</summary>
public static class Csv
{
    /// <summary>The fields of one line.</summary>
    public static List<string> Split(string line)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }
        cells.Add(cell.ToString());
        return cells;
    }

    /// <summary>A field as written: quoted when it holds a comma or a quote; line breaks become spaces.</summary>
    public static string Field(string? v)
    {
        if (v is null) return "";
        v = v.ReplaceLineEndings(" ");
        return v.IndexOfAny([',', '"']) >= 0 ? "\"" + v.Replace("\"", "\"\"") + "\"" : v;
    }
}
