using PCam.MLNet.Slides.Reading;

namespace PCam.Benchmarks.Synthetic;

/// <summary>
/// A slide with a known lesion: G x G real PCam patches at 0.972 um/px, tumour patches inside a disc of radius R
/// patches around the centre and normal ones elsewhere (the source's rows reused in turn). Each window of a heatmap
/// grid has a truth: its centre lies in a tumour patch (<see cref="InDisc"/>). Written as a tiled TIFF, single level
/// (10x) or a 20x pyramid (level 0 upsampled 2x at 0.486 um/px, level 1 the mosaic).
/// </summary>
public sealed class DiscMosaic
{
    private DiscMosaic(int patches, double radius, byte[] rgb)
    {
        Patches = patches;
        Radius = radius;
        Rgb = rgb;
    }

    public const int P = PatchSchema.Width;
    /// <summary>Patches per side.</summary>
    public int Patches { get; }
    /// <summary>Disc radius in patches.</summary>
    public double Radius { get; }
    public int Side => Patches * P;
    /// <summary>Side x Side x 3 RGB.</summary>
    public byte[] Rgb { get; }

    /// <summary>Builds it from a labelled split (tumour rows inside the disc, normal rows outside).</summary>
    public static DiscMosaic Build(IPatchSource source, int patches = 32, double radius = 7.0)
    {
        var tumour = new List<long>();
        var normal = new List<long>();
        for (long row = 0; row < source.RowCount; row++) (source.GetLabel(row) ? tumour : normal).Add(row);
        if (tumour.Count == 0 || normal.Count == 0) throw new ArgumentException($"{source.Description}: needs tumour and normal rows.", nameof(source));
        var m = new DiscMosaic(patches, radius, new byte[patches * P * patches * P * 3]);
        var patch = new byte[PatchSchema.ImageBytes];
        int nt = 0, nn = 0, side = m.Side;
        for (int j = 0; j < patches; j++)
            for (int i = 0; i < patches; i++)
            {
                bool t = m.InDisc((i + 0.5) * P, (j + 0.5) * P);
                source.ReadImages(t ? tumour[nt++ % tumour.Count] : normal[nn++ % normal.Count], 1, patch);
                for (int y = 0; y < P; y++) patch.AsSpan(y * P * 3, P * 3).CopyTo(m.Rgb.AsSpan(((j * P + y) * side + i * P) * 3, P * 3));
            }
        return m;
    }

    /// <summary>Whether the patch holding pixel (x, y) is a tumour patch.</summary>
    public bool InDisc(double x, double y)
    {
        double px = (Math.Floor(x / P) + 0.5) - Patches / 2.0, py = (Math.Floor(y / P) + 0.5) - Patches / 2.0;
        return px * px + py * py <= Radius * Radius;
    }

    /// <summary>Cells of a heatmap grid (stride in pixels, width in cells) whose window centre lies in a tumour patch.</summary>
    public HashSet<int> DiscCells(int stride, int gridWidth, int gridHeight)
    {
        var cells = new HashSet<int>();
        for (int j = 0; j < gridHeight; j++)
            for (int i = 0; i < gridWidth; i++)
                if (InDisc(i * stride + P / 2.0, j * stride + P / 2.0)) cells.Add(j * gridWidth + i);
        return cells;
    }

    /// <summary>Writes a tiled TIFF (128 px tiles): one level at 0.972 um/px, or with <paramref name="pyramid20x"/> a
    /// level 0 at 0.486 um/px (the mosaic upsampled 2x) over it.</summary>
    public void WriteTiff(string path, bool pyramid20x = false)
    {
        const int Tile = 128;
        int side = Side;
        if (!pyramid20x)
        {
            TiledTiffWriter.Write(path, [(side, side, SlideImage.PCamMicronsPerPixel)], Tile, (_, x, y, tile) => TiledTiffWriter.CopyTile(Rgb, side, side, x, y, tile, Tile));
            return;
        }
        var big = new byte[side * 2 * side * 2 * 3];
        for (int y = 0; y < side * 2; y++)
            for (int x = 0; x < side * 2; x++)
                Rgb.AsSpan(((y / 2) * side + x / 2) * 3, 3).CopyTo(big.AsSpan((y * side * 2 + x) * 3, 3));
        TiledTiffWriter.Write(path, [(side * 2, side * 2, SlideImage.PCamMicronsPerPixel / 2), (side, side, SlideImage.PCamMicronsPerPixel)], Tile,
            (level, x, y, tile) => TiledTiffWriter.CopyTile(level == 0 ? big : Rgb, level == 0 ? side * 2 : side, level == 0 ? side * 2 : side, x, y, tile, Tile));
    }
}
