using System.Globalization;
using BitMiracle.LibTiff.Classic;
using SkiaSharp;

namespace PCam.Predict;

/// <summary>
/// Decodes a 96x96 PNG/JPEG/BMP (SkiaSharp) or TIFF (LibTiff.NET) patch to HWC RGB bytes, with the same strict rules
/// as PCam.MLNet's PatchImageDecoder: a truncated or damaged file is an error, never half an image; RGB is used as is,
/// RGBA / palette images convert only when every pixel is fully opaque, grey and translucent images are refused.
/// </summary>
public static class PatchImage
{
    public const int Side = 96;

    public static byte[] Decode(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image not found.");
        var bytes = File.ReadAllBytes(path);
        // TIFF starts "II*\0" or "MM\0*"; SkiaSharp cannot decode it.
        var isTiff = bytes.Length > 4 && ((bytes[0] == 'I' && bytes[1] == 'I' && bytes[2] == 42) || (bytes[0] == 'M' && bytes[1] == 'M' && bytes[3] == 42));
        try
        {
            return isTiff ? DecodeTiff(path, bytes) : DecodeSkia(path, bytes);
        }
        catch (Exception e) when (e is not (InvalidDataException or OutOfMemoryException))
        {
            throw new InvalidDataException($"{path}: image could not be decoded ({e.GetType().Name}: {e.Message}).", e);
        }
    }

    private static byte[] DecodeSkia(string path, byte[] bytes)
    {
        var isPng = bytes.Length > 25 && bytes[0] == 0x89 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G';
        if (isPng && bytes[25] is 0 or 4) throw new InvalidDataException($"{path}: image is a grayscale PNG; a PCam patch is {Side}x{Side} RGB.");
        using var codec = SKCodec.Create(new MemoryStream(bytes)) ?? throw new InvalidDataException($"{path}: not a readable PNG, JPEG, BMP or TIFF image.");
        CheckSize(path, codec.Info.Width, codec.Info.Height);
        if (codec.Info.ColorType is SKColorType.Gray8 or SKColorType.Alpha8)
            throw new InvalidDataException($"{path}: image is grayscale; a PCam patch is {Side}x{Side} RGB.");
        // Decode straight into RGBA bytes, then drop alpha: one pass, no per-pixel calls.
        var rgba = new byte[Side * Side * 4];
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(rgba, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            var result = codec.GetPixels(new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Unpremul), handle.AddrOfPinnedObject());
            // IncompleteInput (a truncated file) would leave part of the image blank.
            if (result != SKCodecResult.Success) throw new InvalidDataException($"{path}: image could not be decoded ({result}; damaged or truncated).");
        }
        finally
        {
            handle.Free();
        }
        var rgb = new byte[Side * Side * 3];
        for (int i = 0, o = 0; i < rgba.Length; i += 4, o += 3)
        {
            if (rgba[i + 3] != 255) throw new InvalidDataException($"{path}: image has translucent alpha; a PCam patch is opaque RGB.");
            rgb[o] = rgba[i]; rgb[o + 1] = rgba[i + 1]; rgb[o + 2] = rgba[i + 2];
        }
        return rgb;
    }

    private static byte[] DecodeTiff(string path, byte[] bytes)
    {
        Tiff.SetErrorHandler(new RecordingTiffErrors());
        RecordingTiffErrors.Clear();
        using var ms = new MemoryStream(bytes, writable: false);
        using var tiff = Tiff.ClientOpen(path, "r", ms, new TiffStream()) ?? throw new InvalidDataException($"{path}: not a readable TIFF image.");
        var width = tiff.GetField(TiffTag.IMAGEWIDTH)?[0].ToInt() ?? 0;
        var height = tiff.GetField(TiffTag.IMAGELENGTH)?[0].ToInt() ?? 0;
        CheckSize(path, width, height);
        var spp = tiff.GetField(TiffTag.SAMPLESPERPIXEL)?[0].ToInt() ?? 1;
        var photometric = (Photometric)(tiff.GetField(TiffTag.PHOTOMETRIC)?[0].ToInt() ?? (int)Photometric.MINISWHITE);
        var colour = photometric is Photometric.RGB or Photometric.YCBCR ? spp >= 3 : photometric == Photometric.PALETTE && spp == 1;
        if (!colour) throw new InvalidDataException($"{path}: TIFF is {photometric} with {spp} sample(s) per pixel; a PCam patch is {Side}x{Side} RGB.");
        var raster = new int[width * height];
        if (!tiff.ReadRGBAImageOriented(width, height, raster, Orientation.TOPLEFT, stopOnError: true) || RecordingTiffErrors.Last is not null)
            throw new InvalidDataException($"{path}: TIFF pixels could not be read ({RecordingTiffErrors.Last ?? "damaged"}; damaged or truncated).");
        var rgb = new byte[width * height * 3];
        for (var i = 0; i < raster.Length; i++)
        {
            if (Tiff.GetA(raster[i]) != 255) throw new InvalidDataException($"{path}: image has translucent alpha; a PCam patch is opaque RGB.");
            rgb[i * 3] = (byte)Tiff.GetR(raster[i]); rgb[i * 3 + 1] = (byte)Tiff.GetG(raster[i]); rgb[i * 3 + 2] = (byte)Tiff.GetB(raster[i]);
        }
        return rgb;
    }

    private static void CheckSize(string path, int width, int height)
    {
        if (width != Side || height != Side)
            throw new InvalidDataException($"{path}: image is {width}x{height}; a PCam patch is {Side}x{Side} RGB.");
    }

    private sealed class RecordingTiffErrors : TiffErrorHandler
    {
        [ThreadStatic] private static string? t_last;
        public static string? Last => t_last;
        public static void Clear() => t_last = null;

        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args)
        {
            if (t_last != null) return;
            try { t_last = $"{method}: {string.Format(CultureInfo.InvariantCulture, format, args)}"; }
            catch (FormatException) { t_last = $"{method}: {format}"; }
        }
        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
        public override void WarningHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
    }
}
