using System.Globalization;
using System.Runtime.InteropServices;
using PCam.MLNet.Reporting;
using PCam.MLNet.Slides.Windows;
using SkiaSharp;

namespace PCam.MLNet.Slides.Heatmap;

/// <summary>The two images of a slide: the probability heatmap over the thumbnail with its colour bar, and the tissue mask.</summary>
public static class HeatmapImages
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static readonly byte[] Stops = [49, 54, 149, 116, 173, 209, 255, 255, 191, 244, 109, 67, 165, 0, 38];

    /// <summary>Writes STEM.heatmap.png and STEM.tissue.png.</summary>
    public static void Write(HeatmapResult r, string heatmapPng, string tissuePng)
    {
        File.WriteAllBytes(heatmapPng, HeatmapPng(r));
        File.WriteAllBytes(tissuePng, TissuePng(r.Mask));
    }

    /// <summary>The tissue-mask thumbnail (at most 1,024 px): tissue as scanned, background washed out in blue.</summary>
    public static byte[] TissuePng(TissueMask mask)
    {
        const int MaxSide = 1024;
        double scale = Math.Min(1.0, (double)MaxSide / Math.Max(mask.Width, mask.Height));
        int dw = Math.Max(1, (int)Math.Round(mask.Width * scale)), dh = Math.Max(1, (int)Math.Round(mask.Height * scale));
        using var thumb = Bitmap(mask.Width, mask.Height, (px, i) =>
        {
            bool tissue = mask.Tissue[i] != 0;
            for (int c = 0; c < 3; c++)
            {
                int v = mask.Rgb[i * 3 + c];
                px[i * 4 + c] = tissue ? (byte)v : (byte)((v + (c == 2 ? 255 : 160)) / 2);
            }
            px[i * 4 + 3] = 255;
        });
        using var surface = SKSurface.Create(new SKImageInfo(dw, dh, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("Could not create a Skia surface.");
        surface.Canvas.DrawBitmap(thumb, new SKRect(0, 0, dw, dh));
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("PNG encoding failed.");
        return data.ToArray();
    }

    /// <summary>Blue (0) to yellow (0.5) to red (1), ColorBrewer RdYlBu reversed.</summary>
    public static SKColor Colour(double p, byte alpha = 255)
    {
        double t = Math.Clamp(p, 0, 1) * 4;
        int k = Math.Min(3, (int)t);
        double f = t - k;
        byte C(int c) => (byte)Math.Round(Stops[k * 3 + c] * (1 - f) + Stops[(k + 1) * 3 + c] * f);
        return new SKColor(C(0), C(1), C(2), alpha);
    }

    /// <summary>The thumbnail with each scored window's centre stride x stride cell coloured by probability, and a colour bar.</summary>
    public static byte[] HeatmapPng(HeatmapResult r)
    {
        var mask = r.Mask;
        const int MaxSide = 1024, Bar = 110, Margin = 10;
        double scale = Math.Min(1.0, (double)MaxSide / Math.Max(mask.Width, mask.Height));
        int dw = Math.Max(1, (int)Math.Round(mask.Width * scale)), dh = Math.Max(1, (int)Math.Round(mask.Height * scale));
        int width = dw + Bar + 2 * Margin, height = Math.Max(dh, 220) + 2 * Margin;

        using var thumb = Bitmap(mask.Width, mask.Height, (px, i) =>
        {
            px[i * 4] = mask.Rgb[i * 3]; px[i * 4 + 1] = mask.Rgb[i * 3 + 1]; px[i * 4 + 2] = mask.Rgb[i * 3 + 2]; px[i * 4 + 3] = 255;
        });
        using var overlay = Bitmap(r.GridWidth, r.GridHeight, (px, i) =>
        {
            var p = r.Probability[i];
            var c = float.IsNaN(p) ? SKColors.Transparent : Colour(p, 170);
            px[i * 4] = c.Red; px[i * 4 + 1] = c.Green; px[i * 4 + 2] = c.Blue; px[i * 4 + 3] = c.Alpha;
        });
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("Could not create a Skia surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.DrawBitmap(thumb, new SKRect(Margin, Margin, Margin + dw, Margin + dh));
        // Level pixel -> display pixel; cell (i, j) covers the window's centre stride x stride square.
        double k = (double)dw / (mask.Width * mask.Factor);
        double offset = (r.Sampling.LevelWindow - r.LevelStride) / 2.0;
        canvas.Save();
        canvas.ClipRect(new SKRect(Margin, Margin, Margin + dw, Margin + dh));
        canvas.DrawBitmap(overlay, new SKRect(
            (float)(Margin + k * offset), (float)(Margin + k * offset),
            (float)(Margin + k * (offset + r.GridWidth * r.LevelStride)), (float)(Margin + k * (offset + r.GridHeight * r.LevelStride))));
        canvas.Restore();

        // Colour bar: 1 at the top, 0 at the bottom.
        float bx = Margin + dw + 20, by = Margin + 20, bh = Math.Max(dh, 220) - 40, bw = 18;
        using var fill = new SKPaint { IsAntialias = false };
        for (int y = 0; y < (int)bh; y++)
        {
            fill.Color = Colour(1 - y / (bh - 1));
            canvas.DrawRect(new SKRect(bx, by + y, bx + bw, by + y + 1), fill);
        }
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var frame = new SKPaint { Color = SKColors.Black, IsStroke = true, StrokeWidth = 1 };
        canvas.DrawRect(new SKRect(bx, by, bx + bw, by + bh), frame);
        var typeface = ReportFonts.Typeface;
        using var font = typeface is null ? new SKFont { Size = 12 } : new SKFont(typeface, 12);
        foreach (var v in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
        {
            float y = by + (float)((1 - v) * bh);
            canvas.DrawLine(bx + bw, y, bx + bw + 4, y, ink);
            canvas.DrawText(v.ToString("0.00", Inv), bx + bw + 7, y + 4, font, ink);
        }
        canvas.DrawText("P(tumour)", bx - 24, by - 6, font, ink);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("PNG encoding failed.");
        return data.ToArray();
    }

    private static SKBitmap Bitmap(int w, int h, Action<byte[], int> pixel)
    {
        var bytes = new byte[w * h * 4];
        for (int i = 0; i < w * h; i++) pixel(bytes, i);
        var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        Marshal.Copy(bytes, 0, bmp.GetPixels(), bytes.Length);
        return bmp;
    }
}
