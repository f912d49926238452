using SkiaSharp;

namespace PCam.MLNet.Data;

/// <summary>
/// Packed RGB bytes (the patch layout) into Skia's RGBA8888: the one RGB -> RGBA pixel copy, used by the report
/// galleries, the Model Builder export's PNGs and the stock-pipeline benchmark.
/// </summary>
public static class PatchImageEncoder
{
    /// <summary>Copies packed RGB pixels into opaque RGBA (alpha 255); <paramref name="rgba"/> holds 4 bytes per pixel.</summary>
    public static void CopyRgbToRgba(ReadOnlySpan<byte> rgb, Span<byte> rgba)
    {
        if (rgba.Length / 4 != rgb.Length / 3) throw new ArgumentException($"RGBA buffer of {rgba.Length} bytes for {rgb.Length / 3} RGB pixels.", nameof(rgba));
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgba[j] = rgb[i]; rgba[j + 1] = rgb[i + 1]; rgba[j + 2] = rgb[i + 2]; rgba[j + 3] = 255;
        }
    }

    /// <summary>Copies packed RGB pixels into an opaque RGBA8888 bitmap of the same size with a tight stride.</summary>
    public static unsafe void CopyRgbToBitmap(ReadOnlySpan<byte> rgb, SKBitmap bitmap)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888 || bitmap.RowBytes != bitmap.Width * 4)
            throw new ArgumentException("Expected an RGBA8888 bitmap with rows of width x 4 bytes.", nameof(bitmap));
        CopyRgbToRgba(rgb, new Span<byte>((void*)bitmap.GetPixels(), bitmap.Width * bitmap.Height * 4));
        bitmap.NotifyPixelsChanged();
    }

    /// <summary>Lossless PNG of 96x96 HWC RGB bytes.</summary>
    public static byte[] EncodePng(byte[] rgb) => EncodePng(rgb, PatchSchema.Width, PatchSchema.Height);

    /// <summary>Lossless PNG of <paramref name="width"/> x <paramref name="height"/> HWC RGB bytes.</summary>
    public static byte[] EncodePng(byte[] rgb, int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        CopyRgbToBitmap(rgb, bitmap);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
