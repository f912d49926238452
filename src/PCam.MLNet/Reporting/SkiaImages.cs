using System.Globalization;
using PCam.MLNet.Data;
using PCam.MLNet.Training;
using SkiaSharp;

namespace PCam.MLNet.Reporting;

/// <summary>Report images drawn directly with SkiaSharp: the confusion matrix and the error galleries.</summary>
internal static class SkiaImages
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static readonly string[] ClassNames = ["normal (0)", "tumour (1)"];

    public static byte[] EncodePng(SKSurface surface)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("PNG encoding failed.");
        return data.ToArray();
    }

    static SKSurface NewSurface(int width, int height)
    {
        var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("Could not create a Skia surface.");
        surface.Canvas.Clear(SKColors.White);
        return surface;
    }

    static SKFont Font(float size, bool bold = false)
    {
        var tf = ReportFonts.Typeface;
        // Bold via embolden keeps us to the one face we know exists.
        return tf is null ? new SKFont { Size = size } : new SKFont(tf, size) { Embolden = bold, Subpixel = true, Edging = SKFontEdging.Antialias };
    }

    /// <summary>Text anchored left, centre or right at (x, baseline y); SkiaSharp 2.88 has no aligned SKFont overload.</summary>
    static void DrawText(SKCanvas c, string text, float x, float y, SKTextAlign align, SKFont font, SKPaint paint)
    {
        using var measure = new SKPaint { Typeface = font.Typeface, TextSize = font.Size, FakeBoldText = font.Embolden };
        var width = align == SKTextAlign.Left ? 0 : measure.MeasureText(text);
        c.DrawText(text, align switch { SKTextAlign.Center => x - width / 2, SKTextAlign.Right => x - width, _ => x }, y, font, paint);
    }

    // ---- Confusion matrix --------------------------------------------------------------------------------------

    /// <summary>2x2 heatmap: rows actual, columns predicted; colour and percentage are normalised per actual class.</summary>
    public static byte[] ConfusionMatrix(SplitMetrics m)
    {
        int w = ReportWriter.PlotWidth, h = ReportWriter.PlotHeight;
        using var surface = NewSurface(w, h);
        var c = surface.Canvas;
        long[,] counts = { { m.TrueNegatives, m.FalsePositives }, { m.FalseNegatives, m.TruePositives } };

        const float cell = 150, left = 190, top = 70;
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var title = Font(17, bold: true);
        using var label = Font(15);
        using var big = Font(24, bold: true);
        using var small = Font(14);

        DrawText(c, $"Confusion matrix - {m.Split} (n={m.Rows})", w / 2f, 36, SKTextAlign.Center, title, text);

        for (var r = 0; r < 2; r++)
        {
            var rowTotal = counts[r, 0] + counts[r, 1];
            for (var col = 0; col < 2; col++)
            {
                var frac = rowTotal == 0 ? 0 : (double)counts[r, col] / rowTotal;
                var rect = SKRect.Create(left + col * cell, top + r * cell, cell, cell);
                using (var fill = new SKPaint { Color = Blue(frac), Style = SKPaintStyle.Fill })
                    c.DrawRect(rect, fill);
                using (var border = new SKPaint { Color = SKColors.White, Style = SKPaintStyle.Stroke, StrokeWidth = 2 })
                    c.DrawRect(rect, border);
                using var ink = new SKPaint { Color = frac > 0.5 ? SKColors.White : SKColors.Black, IsAntialias = true };
                DrawText(c, counts[r, col].ToString("N0", Inv), rect.MidX, rect.MidY, SKTextAlign.Center, big, ink);
                var pct = rowTotal == 0 ? "n/a" : (100 * frac).ToString("0.0", Inv) + "%";
                DrawText(c, $"{pct} of row", rect.MidX, rect.MidY + 26, SKTextAlign.Center, small, ink);
                DrawText(c, CellName(r, col), rect.MidX, rect.Top + 22, SKTextAlign.Center, small, ink);
            }
            // Row (actual class) tick labels, right-aligned against the matrix.
            DrawText(c, ClassNames[r], left - 10, top + r * cell + cell / 2 + 5, SKTextAlign.Right, label, text);
        }
        for (var col = 0; col < 2; col++)
            DrawText(c, ClassNames[col], left + col * cell + cell / 2, top + 2 * cell + 24, SKTextAlign.Center, label, text);

        DrawText(c, "Predicted", left + cell, top + 2 * cell + 52, SKTextAlign.Center, title, text);
        c.Save();
        c.RotateDegrees(-90, 40, top + cell);
        DrawText(c, "Actual", 40, top + cell + 6, SKTextAlign.Center, title, text);
        c.Restore();
        return EncodePng(surface);
    }

    static string CellName(int actual, int predicted) => (actual, predicted) switch
    {
        (0, 0) => "TN", (0, 1) => "FP", (1, 0) => "FN", _ => "TP",
    };

    static SKColor Blue(double t)
    {
        // White -> dark blue; linear in RGB is enough for a 2x2 matrix.
        t = Math.Clamp(t, 0, 1);
        byte Lerp(byte a, byte b) => (byte)Math.Round(a + (b - a) * t);
        return new SKColor(Lerp(247, 8), Lerp(251, 48), Lerp(255, 107));
    }

    // ---- Error gallery -----------------------------------------------------------------------------------------

    /// <summary>Size of a gallery with <paramref name="tiles"/> tiles (public so callers and tests can rely on it).</summary>
    public static (int Width, int Height) GallerySize(int tiles)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tiles, 1);
        var cols = Math.Min(tiles, ReportWriter.GalleryColumns);
        var rows = (tiles + ReportWriter.GalleryColumns - 1) / ReportWriter.GalleryColumns;
        return (ReportWriter.GalleryPadding + cols * (ReportWriter.GalleryTileSize + ReportWriter.GalleryPadding),
                ReportWriter.GalleryPadding + rows * (ReportWriter.GalleryTileSize + ReportWriter.GalleryCaptionHeight + ReportWriter.GalleryPadding));
    }

    public static byte[] Gallery(IReadOnlyList<ScoredPatch> patches, Action<long, byte[]> readPatch, SKColor accent)
    {
        const int side = PatchSide, scale = ReportWriter.GalleryTileSize / side;
        var (w, h) = GallerySize(patches.Count);
        using var surface = NewSurface(w, h);
        var c = surface.Canvas;
        var hwc = new byte[side * side * 3];
        using var bitmap = new SKBitmap(new SKImageInfo(side, side, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var font = Font(13);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var frame = new SKPaint { Color = accent, Style = SKPaintStyle.Stroke, StrokeWidth = 2, IsAntialias = false };
        using var centre = new SKPaint { Color = new SKColor(0, 255, 0), Style = SKPaintStyle.Stroke, StrokeWidth = 2, IsAntialias = false };

        for (var i = 0; i < patches.Count; i++)
        {
            var p = patches[i];
            Array.Clear(hwc);
            readPatch(p.Index, hwc);
            PatchImageEncoder.CopyRgbToBitmap(hwc, bitmap);
            using var image = SKImage.FromBitmap(bitmap);

            float x = ReportWriter.GalleryPadding + i % ReportWriter.GalleryColumns * (ReportWriter.GalleryTileSize + ReportWriter.GalleryPadding);
            float y = ReportWriter.GalleryPadding + i / ReportWriter.GalleryColumns * (ReportWriter.GalleryTileSize + ReportWriter.GalleryCaptionHeight + ReportWriter.GalleryPadding);
            var dest = SKRect.Create(x, y, ReportWriter.GalleryTileSize, ReportWriter.GalleryTileSize);
            // Nearest neighbour: show the real pixels, not an interpolated blur.
            using (var nearest = new SKPaint { FilterQuality = SKFilterQuality.None, IsAntialias = false })
                c.DrawImage(image, dest, nearest);
            c.DrawRect(SKRect.Inflate(dest, 1, 1), frame);
            // The label depends only on the centre 32x32 pixels; outline just outside them so none are hidden.
            var o = (side - 32) / 2f * scale;
            c.DrawRect(new SKRect(x + o - 1, y + o - 1, x + o + 32 * scale + 1, y + o + 32 * scale + 1), centre);

            var baseY = y + ReportWriter.GalleryTileSize + 16;
            DrawText(c, $"#{p.Index.ToString(Inv)}", x + 2, baseY, SKTextAlign.Left, font, ink);
            DrawText(c, $"p(tumour) = {p.Probability.ToString("0.0000", Inv)}", x + 2, baseY + 16, SKTextAlign.Left, font, ink);
        }
        return EncodePng(surface);
    }

    internal const int PatchSide = 96;
    internal const int PatchBytes = PatchSide * PatchSide * 3;
}
