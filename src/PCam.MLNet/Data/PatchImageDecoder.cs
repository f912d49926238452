using System.Globalization;
using BitMiracle.LibTiff.Classic;
using SkiaSharp;

namespace PCam.MLNet.Data;

public enum PatchImageFormat { Unknown, Png, Jpeg, Tiff, Bmp, Gif, Webp }

/// <summary>
/// Decodes one 96x96 patch file into HWC RGB bytes: the one strict entry point every reader uses (image folders,
/// Kaggle, import, predict, and any other code that reads patch files: call <see cref="DecodeFile(string)"/>).
/// The format comes from the magic number, not the extension; PNG/JPEG/BMP (and GIF/WebP) via SkiaSharp, TIFF via
/// LibTiff.NET (Skia cannot decode TIFF).
/// <para>Strict: a decoder error, a short read or a partial decode (a truncated file) is a
/// <see cref="PCamDataException"/> naming the file, never the pixels of half an image.</para>
/// <para>Colour rule (the same in the consuming app's PatchImage.cs): RGB is used as is; RGBA, palette and TIFF
/// extra-sample images are converted to RGB only when every pixel is fully opaque (alpha 255); grey (with or
/// without alpha), translucent alpha and other colour models (CMYK, Lab, ...) are refused with an error.</para>
/// </summary>
public static class PatchImageDecoder
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"];

    static PatchImageDecoder() => Tiff.SetErrorHandler(new RecordingTiffHandler()); // errors are recorded, not printed

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

    /// <summary>Reads and decodes <paramref name="path"/> strictly; returns 27,648 HWC RGB bytes.</summary>
    public static byte[] DecodeFile(string path)
    {
        var image = new byte[PatchSchema.ImageBytes];
        DecodeFile(path, image);
        return image;
    }

    /// <summary>Reads and decodes <paramref name="path"/> strictly into <paramref name="destination"/> (27,648 bytes).</summary>
    public static void DecodeFile(string path, Span<byte> destination)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException e) { throw new PCamDataException($"{path}: image not found", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PCamDataException($"{path}: cannot read image ({e.Message})", e); }
        Decode(bytes, path, destination);
    }

    /// <summary>Decodes image bytes strictly; <paramref name="name"/> (the file) is named in every error.</summary>
    public static void Decode(byte[] bytes, string name, Span<byte> destination)
    {
        if (destination.Length < PatchSchema.ImageBytes) throw new ArgumentException("destination too small", nameof(destination));
        var format = DetectFormat(bytes);
        try
        {
            switch (format)
            {
                case PatchImageFormat.Unknown:
                    throw new PCamDataException($"{name}: not a PNG, JPEG, TIFF or BMP image (unrecognised file header)");
                case PatchImageFormat.Tiff:
                    DecodeTiff(bytes, name, destination);
                    break;
                default:
                    DecodeSkia(bytes, name, format, destination);
                    break;
            }
        }
        catch (Exception e) when (e is not (PCamDataException or OutOfMemoryException))
        {
            // Decoders report damaged input with many exception types; the user gets one message naming the file.
            throw new PCamDataException($"{name}: cannot decode {format} image ({e.GetType().Name}: {e.Message}; damaged or truncated)", e);
        }
    }

    /// <summary>
    /// Decodes an image of any size into HWC RGB bytes (width x height x 3), for general image classification: the same
    /// formats and the same damage checks as <see cref="Decode"/>, but grey images are expanded to RGB and alpha is
    /// dropped (as TensorFlow's decoders do with three channels). <paramref name="name"/> is named in every error.
    /// </summary>
    public static unsafe byte[] DecodeAnySize(byte[] bytes, string name, out int width, out int height)
    {
        var format = DetectFormat(bytes);
        try
        {
            if (format == PatchImageFormat.Unknown)
                throw new PCamDataException($"{name}: not a PNG, JPEG, TIFF, BMP, GIF or WebP image (unrecognised file header)");
            if (format == PatchImageFormat.Tiff) return DecodeTiffAnySize(bytes, name, out width, out height);
            using var data = SKData.CreateCopy(bytes);
            using var codec = SKCodec.Create(data) ?? throw new PCamDataException($"{name}: cannot decode {format} image (damaged or truncated)");
            int w = codec.Info.Width, h = codec.Info.Height;
            var rgba = new byte[(long)w * h * 4];
            SKCodecResult result;
            fixed (byte* p = rgba) result = codec.GetPixels(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul), (IntPtr)p);
            if (result is not SKCodecResult.Success)
                throw new PCamDataException($"{name}: cannot decode {format} image ({result}; damaged or truncated)");
            var rgb = new byte[(long)w * h * 3];
            for (long i = 0, o = 0; i < rgba.Length; i += 4, o += 3) { rgb[o] = rgba[i]; rgb[o + 1] = rgba[i + 1]; rgb[o + 2] = rgba[i + 2]; }
            (width, height) = (w, h);
            return rgb;
        }
        catch (Exception e) when (e is not (PCamDataException or OutOfMemoryException))
        {
            throw new PCamDataException($"{name}: cannot decode {format} image ({e.GetType().Name}: {e.Message}; damaged or truncated)", e);
        }
    }

    /// <summary>Opens TIFF bytes (a MemoryStream the decoder owns for the read) and reads the image size; errors name the file.</summary>
    private static Tiff OpenTiff(byte[] bytes, string name, out int width, out int height)
    {
        RecordingTiffHandler.Clear();
        var tiff = Tiff.ClientOpen(name, "r", new MemoryStream(bytes, writable: false), new TiffStream())
            ?? throw new PCamDataException($"{name}: cannot decode TIFF image ({RecordingTiffHandler.Last ?? "damaged or truncated"})");
        width = tiff.GetField(TiffTag.IMAGEWIDTH)?[0].ToInt() ?? 0;
        height = tiff.GetField(TiffTag.IMAGELENGTH)?[0].ToInt() ?? 0;
        return tiff;
    }

    private static byte[] DecodeTiffAnySize(byte[] bytes, string name, out int width, out int height)
    {
        using var tiff = OpenTiff(bytes, name, out int w, out int h);
        if (w <= 0 || h <= 0) throw new PCamDataException($"{name}: TIFF image has no size ({w}x{h})");
        var raster = new int[(long)w * h];
        bool ok = tiff.ReadRGBAImageOriented(w, h, raster, Orientation.TOPLEFT, stopOnError: true);
        if (!ok || RecordingTiffHandler.Last is not null)
            throw new PCamDataException($"{name}: cannot decode TIFF image ({RecordingTiffHandler.Last ?? "damaged or unsupported encoding"}; damaged or truncated)");
        var rgb = new byte[(long)w * h * 3];
        for (long i = 0, o = 0; i < raster.Length; i++, o += 3)
        {
            int px = raster[i];
            rgb[o] = (byte)Tiff.GetR(px);
            rgb[o + 1] = (byte)Tiff.GetG(px);
            rgb[o + 2] = (byte)Tiff.GetB(px);
        }
        (width, height) = (w, h);
        return rgb;
    }

    private static void CheckSize(string name, int w, int h, string what)
    {
        if (w != PatchSchema.Width || h != PatchSchema.Height)
            throw new PCamDataException($"{name}: expected a {PatchSchema.Width}x{PatchSchema.Height} RGB patch, found {w}x{h} {what}");
    }

    private static unsafe void DecodeSkia(byte[] bytes, string name, PatchImageFormat format, Span<byte> destination)
    {
        if (format == PatchImageFormat.Png && bytes.Length > 25 && bytes[25] is 0 or 4) // IHDR colour type: 0 grey, 4 grey+alpha
            throw new PCamDataException($"{name}: expected an RGB patch, found a grayscale{(bytes[25] == 4 ? "+alpha" : "")} PNG");
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
        // IncompleteInput (truncated) and ErrorInInput would leave part of the image blank: refused.
        if (result is not SKCodecResult.Success)
            throw new PCamDataException($"{name}: cannot decode {format} image ({result}; damaged or truncated)");
        for (int i = 0, o = 0; i < rgba.Length; i += 4, o += 3)
        {
            if (rgba[i + 3] != 255) throw Translucent(name, format.ToString(), i / 4);
            destination[o] = rgba[i];
            destination[o + 1] = rgba[i + 1];
            destination[o + 2] = rgba[i + 2];
        }
    }

    private static PCamDataException Translucent(string name, string format, int pixel) =>
        new($"{name}: expected an opaque RGB patch, found a {format} with translucent alpha (pixel x={pixel % PatchSchema.Width}, y={pixel / PatchSchema.Width})");

    private static void DecodeTiff(byte[] bytes, string name, Span<byte> destination)
    {
        using var tiff = OpenTiff(bytes, name, out int w, out int h);
        CheckSize(name, w, h, "TIFF");
        int spp = tiff.GetField(TiffTag.SAMPLESPERPIXEL)?[0].ToInt() ?? 1;
        var photometric = (Photometric)(tiff.GetField(TiffTag.PHOTOMETRIC)?[0].ToInt() ?? (int)Photometric.MINISWHITE);
        switch (photometric)
        {
            case Photometric.MINISBLACK or Photometric.MINISWHITE:
                throw new PCamDataException($"{name}: expected an RGB patch, found a grayscale TIFF ({spp} sample(s) per pixel)");
            case Photometric.RGB or Photometric.YCBCR when spp >= 3:
            case Photometric.PALETTE when spp == 1:
                break;
            default:
                throw new PCamDataException($"{name}: expected an RGB patch, found a TIFF with photometric {photometric} and {spp} sample(s) per pixel");
        }
        var raster = new int[w * h];
        bool ok = tiff.ReadRGBAImageOriented(w, h, raster, Orientation.TOPLEFT, stopOnError: true);
        // LibTiff reports short strips through its error handler and may still return true: any error fails the decode.
        if (!ok || RecordingTiffHandler.Last is { } error)
            throw new PCamDataException($"{name}: cannot decode TIFF image ({RecordingTiffHandler.Last ?? "damaged or unsupported encoding"}; damaged or truncated)");
        for (int i = 0, o = 0; i < raster.Length; i++, o += 3)
        {
            int px = raster[i]; // ABGR packed
            if (Tiff.GetA(px) != 255) throw Translucent(name, "TIFF", i);
            destination[o] = (byte)Tiff.GetR(px);
            destination[o + 1] = (byte)Tiff.GetG(px);
            destination[o + 2] = (byte)Tiff.GetB(px);
        }
    }

    /// <summary>Keeps LibTiff's first error of the current decode (per thread) instead of printing it.</summary>
    private sealed class RecordingTiffHandler : TiffErrorHandler
    {
        [ThreadStatic] private static string? t_last;
        public static string? Last => t_last;
        public static void Clear() => t_last = null;

        private static void Record(string method, string format, object[] args)
        {
            if (t_last != null) return;
            string text;
            try { text = string.Format(CultureInfo.InvariantCulture, format, args); }
            catch (FormatException) { text = format; }
            t_last = $"{method}: {text}";
        }

        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args) => Record(method, format, args);
        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
        public override void WarningHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
    }
}
