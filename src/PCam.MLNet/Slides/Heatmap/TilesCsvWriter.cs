using System.Globalization;
using System.Text;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>STEM.tiles.csv: one row per scored window, in WSInfer's columns.</summary>
public static class TilesCsvWriter
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public const string CsvHeader = "minx,miny,width,height,level,x,y,size,probability";

    /// <summary>
    /// One row per scored window, row-major: minx, miny, width, height = the window in level-0 pixels (WSInfer's
    /// columns); level, x, y, size = the square read from that level (before resampling to 96 px); probability.
    /// </summary>
    public static void Write(HeatmapResult r, string path)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        w.WriteLine(CsvHeader);
        int size = r.Sampling.RegionSize, level = r.Sampling.Level;
        for (int j = 0; j < r.GridHeight; j++)
            for (int i = 0; i < r.GridWidth; i++)
            {
                var p = r.Probability[(long)j * r.GridWidth + i];
                if (!r.IsMeasured((long)j * r.GridWidth + i)) continue; // coarse-to-fine: cells filled from a coarse window are not rows
                var (minX, minY, width, height) = r.Windows.Level0Rect(i, j);
                var (x, y) = r.Windows.Origin(i, j);
                w.WriteLine(string.Create(Inv, $"{minX},{minY},{width},{height},{level},{x},{y},{size},{p:F6}"));
            }
    }
}
