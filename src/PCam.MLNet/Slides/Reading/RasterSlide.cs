using PCam.MLNet.Data;
using SkiaSharp;

namespace PCam.MLNet.Slides.Reading;

/// <summary>
/// A PNG or JPEG decoded whole with SkiaSharp (one level, resolution unknown). Strict: 8-bit RGB(A) only, and the
/// decoder must report complete success, so a truncated file is an error rather than a grey-filled image.
/// Large images belong in tiled TIFF, which is read tile by tile.
/// </summary>
public sealed class RasterSlide : SlideImage
{
    /// <summary>Largest decoded RGB raster accepted (1.5 GB, about 22,000 x 22,000 px); beyond it, use tiled TIFF.</summary>
    public const long MaxBytes = 1_500_000_000;

    private readonly byte[] _rgb;
    private readonly SlideLevel[] _levels;

    public RasterSlide(string path) : base(path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PCamDataException($"{path}: cannot read image ({e.Message}).", e); }
        var format = PatchImageDecoder.DetectFormat(bytes);
        if (format == PatchImageFormat.Png) CheckPngHeader(path, bytes);
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data) ?? throw new PCamDataException($"{path}: cannot decode {format} image (damaged or truncated).");
        var info = codec.Info;
        if (info.ColorType is SKColorType.Gray8 or SKColorType.Alpha8)
            throw new PCamDataException($"{path}: expected an 8-bit RGB image, found an 8-bit grey {format}.");
        if ((long)info.Width * info.Height * 3 > MaxBytes)
            throw new PCamDataException($"{path}: {info.Width}x{info.Height} is too large to decode whole; convert it to a tiled TIFF, which is read tile by tile.");
        var rgba = new byte[(long)info.Width * info.Height * 4];
        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(target, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
            throw new PCamDataException($"{path}: cannot decode {format} image ({result}: the file is damaged or truncated).");
        _rgb = new byte[(long)info.Width * info.Height * 3];
        for (long i = 0, o = 0; o < _rgb.LongLength; i += 4, o += 3)
        {
            _rgb[o] = rgba[i];
            _rgb[o + 1] = rgba[i + 1];
            _rgb[o + 2] = rgba[i + 2];
        }
        _levels = [new SlideLevel(0, info.Width, info.Height, null)];
        Description = $"{format} image";
        PeakCacheBytes = _rgb.LongLength;
    }

    public override IReadOnlyList<SlideLevel> Levels => _levels;
    public override string Description { get; }

    /// <summary>PNG IHDR: bit depth at byte 24, colour type at 25 (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA).</summary>
    private static void CheckPngHeader(string path, byte[] b)
    {
        if (b.Length < 33 || !b.AsSpan(12, 4).SequenceEqual("IHDR"u8))
            throw new PCamDataException($"{path}: cannot decode PNG image (no IHDR header; damaged or truncated).");
        int depth = b[24], colour = b[25];
        if (colour is 0 or 4)
            throw new PCamDataException($"{path}: expected an 8-bit RGB image, found a {depth}-bit grey PNG.");
        if (depth != 8 && colour != 3)
            throw new PCamDataException($"{path}: expected an 8-bit RGB image, found a {depth}-bit PNG.");
    }

    protected override void OnSelectLevel(int level) { }

    public override void ReadRegion(int x, int y, int w, int h, Span<byte> rgb)
    {
        CheckRegion(x, y, w, h, rgb.Length);
        int width = _levels[0].Width;
        for (int r = 0; r < h; r++)
            _rgb.AsSpan((int)(((long)(y + r) * width + x) * 3), w * 3).CopyTo(rgb.Slice(r * w * 3, w * 3));
    }

    public override void Evict(int y) { }
}
