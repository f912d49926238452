using BitMiracle.LibTiff.Classic;
using SkiaSharp;

namespace PCam.Predict;

/// <summary>Decodes a 96x96 PNG/JPEG (SkiaSharp) or TIFF (LibTiff.NET) patch to HWC RGB bytes.</summary>
public static class PatchImage
{
    public const int Side = 96;

    public static byte[] Decode(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image not found.");
        var bytes = File.ReadAllBytes(path);
        // TIFF starts "II*\0" or "MM\0*"; SkiaSharp cannot decode it.
        var isTiff = bytes.Length > 4 && ((bytes[0] == 'I' && bytes[1] == 'I' && bytes[2] == 42) || (bytes[0] == 'M' && bytes[1] == 'M' && bytes[3] == 42));
        return isTiff ? DecodeTiff(path) : DecodeSkia(path, bytes);
    }

    private static byte[] DecodeSkia(string path, byte[] bytes)
    {
        using var codec = SKCodec.Create(new MemoryStream(bytes)) ?? throw new InvalidDataException($"{path}: not a readable PNG, JPEG or TIFF image.");
        CheckSize(path, codec.Info.Width, codec.Info.Height);
        // Decode straight into RGBA bytes, then drop alpha: one pass, no per-pixel calls.
        var rgba = new byte[Side * Side * 4];
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(rgba, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            var result = codec.GetPixels(new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Unpremul), handle.AddrOfPinnedObject());
            if (result != SKCodecResult.Success) throw new InvalidDataException($"{path}: image could not be decoded ({result}).");
        }
        finally
        {
            handle.Free();
        }
        var rgb = new byte[Side * Side * 3];
        for (int i = 0, o = 0; i < rgba.Length; i += 4, o += 3)
        {
            rgb[o] = rgba[i]; rgb[o + 1] = rgba[i + 1]; rgb[o + 2] = rgba[i + 2];
        }
        return rgb;
    }

    private static byte[] DecodeTiff(string path)
    {
        Tiff.SetErrorHandler(new QuietTiffErrors());
        using var tiff = Tiff.Open(path, "r") ?? throw new InvalidDataException($"{path}: not a readable TIFF image.");
        var width = tiff.GetField(TiffTag.IMAGEWIDTH)[0].ToInt();
        var height = tiff.GetField(TiffTag.IMAGELENGTH)[0].ToInt();
        CheckSize(path, width, height);
        var raster = new int[width * height];
        if (!tiff.ReadRGBAImageOriented(width, height, raster, Orientation.TOPLEFT))
            throw new InvalidDataException($"{path}: TIFF pixels could not be read.");
        var rgb = new byte[width * height * 3];
        for (var i = 0; i < raster.Length; i++)
        {
            rgb[i * 3] = (byte)Tiff.GetR(raster[i]); rgb[i * 3 + 1] = (byte)Tiff.GetG(raster[i]); rgb[i * 3 + 2] = (byte)Tiff.GetB(raster[i]);
        }
        return rgb;
    }

    private static void CheckSize(string path, int width, int height)
    {
        if (width != Side || height != Side)
            throw new InvalidDataException($"{path}: image is {width}x{height}; a PCam patch is {Side}x{Side} RGB.");
    }

    private sealed class QuietTiffErrors : TiffErrorHandler
    {
        public override void WarningHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
    }
}
