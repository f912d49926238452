using BitMiracle.LibTiff.Classic;
using SkiaSharp;

namespace PCam.MLNet.Data;

public enum PatchImageFormat { Unknown, Png, Jpeg, Tiff, Bmp, Gif, Webp }

/// <summary>
/// Decodes one 96x96 RGB patch file into HWC RGB bytes. The format comes from the magic number, not the
/// extension; JPEG/PNG (and other Skia formats) via SkiaSharp, TIFF via LibTiff.NET (Skia cannot decode TIFF).
/// </summary>
public static class PatchImageDecoder
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".tif", ".tiff"];

    static PatchImageDecoder() => Tiff.SetErrorHandler(new QuietTiffHandler()); // errors become exceptions, not console noise

    public static PatchImageFormat DetectFormat(ReadOnlySpan<byte> b)
    {
        if (b.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47])) return PatchImageFormat.Png;
        if (b.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])) return PatchImageFormat.Jpeg;
        if (b.StartsWith("II*\0"u8) || b.StartsWith("MM\0*"u8) || b.StartsWith("II+\0"u8) || b.StartsWith("MM\0+"u8)) return PatchImageFormat.Tiff;
        if (b.StartsWith("BM"u8)) return PatchImageFormat.Bmp;
        if (b.StartsWith("GIF8"u8)) return PatchImageFormat.Gif;
        if (b.Length >= 12 && b.StartsWith("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8)) return PatchImageFormat.Webp;
        return PatchImageFormat.Unknown;
    }

    /// <summary>Reads and decodes <paramref name="path"/> into <paramref name="destination"/> (27,648 bytes).</summary>
    public static void DecodeFile(string path, Span<byte> destination)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PCamDataException($"{path}: cannot read image ({e.Message})", e); }
        Decode(bytes, path, destination);
    }

    public static void Decode(byte[] bytes, string name, Span<byte> destination)
    {
        var format = DetectFormat(bytes);
        switch (format)
        {
            case PatchImageFormat.Unknown:
                throw new PCamDataException($"{name}: not a PNG, JPEG or TIFF image (unrecognised file header)");
            case PatchImageFormat.Tiff:
                DecodeTiff(bytes, name, destination);
                break;
            default:
                DecodeSkia(bytes, name, format, destination);
                break;
        }
    }

    private static void CheckSize(string name, int w, int h, string what)
    {
        if (w != PatchSchema.Width || h != PatchSchema.Height)
            throw new PCamDataException($"{name}: expected a {PatchSchema.Width}x{PatchSchema.Height} RGB patch, found {w}x{h} {what}");
    }

    private static unsafe void DecodeSkia(byte[] bytes, string name, PatchImageFormat format, Span<byte> destination)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new PCamDataException($"{name}: cannot decode {format} image (damaged or truncated)");
        var info = codec.Info;
        CheckSize(name, info.Width, info.Height, format.ToString());
        if (info.ColorType is SKColorType.Gray8 or SKColorType.Alpha8)
            throw new PCamDataException($"{name}: expected an RGB patch, found a grayscale {format}");
        var rgba = new byte[PatchSchema.Width * PatchSchema.Height * 4];
        var target = new SKImageInfo(PatchSchema.Width, PatchSchema.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        SKCodecResult result;
        fixed (byte* p = rgba) result = codec.GetPixels(target, (IntPtr)p);
        if (result is not (SKCodecResult.Success))
            throw new PCamDataException($"{name}: cannot decode {format} image ({result}; damaged or truncated)");
        for (int i = 0, o = 0; i < rgba.Length; i += 4, o += 3)
        {
            destination[o] = rgba[i];
            destination[o + 1] = rgba[i + 1];
            destination[o + 2] = rgba[i + 2];
        }
    }

    private static void DecodeTiff(byte[] bytes, string name, Span<byte> destination)
    {
        using var ms = new MemoryStream(bytes, writable: false);
        using var tiff = Tiff.ClientOpen(name, "r", ms, new TiffStream())
            ?? throw new PCamDataException($"{name}: cannot decode TIFF image (damaged or truncated)");
        int w = tiff.GetField(TiffTag.IMAGEWIDTH)?[0].ToInt() ?? 0;
        int h = tiff.GetField(TiffTag.IMAGELENGTH)?[0].ToInt() ?? 0;
        CheckSize(name, w, h, "TIFF");
        int spp = tiff.GetField(TiffTag.SAMPLESPERPIXEL)?[0].ToInt() ?? 1;
        if (spp < 3) throw new PCamDataException($"{name}: expected an RGB patch, found a TIFF with {spp} sample(s) per pixel");
        var raster = new int[w * h];
        bool ok;
        try { ok = tiff.ReadRGBAImageOriented(w, h, raster, Orientation.TOPLEFT); }
        catch (Exception e) { throw new PCamDataException($"{name}: cannot decode TIFF image ({e.Message})", e); }
        if (!ok) throw new PCamDataException($"{name}: cannot decode TIFF image (damaged or unsupported encoding)");
        for (int i = 0, o = 0; i < raster.Length; i++, o += 3)
        {
            int px = raster[i]; // ABGR packed
            destination[o] = (byte)Tiff.GetR(px);
            destination[o + 1] = (byte)Tiff.GetG(px);
            destination[o + 2] = (byte)Tiff.GetB(px);
        }
    }

    private sealed class QuietTiffHandler : TiffErrorHandler
    {
        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
        public override void WarningHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
    }
}
