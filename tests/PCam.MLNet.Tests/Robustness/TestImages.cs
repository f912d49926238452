using System.IO.Compression;
using BitMiracle.LibTiff.Classic;
using PCam.MLNet.Data;
using SkiaSharp;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>96x96 patch files in every supported format and colour type, written by the tests themselves.</summary>
internal static class TestImages
{
    public const int Side = 96;

    /// <summary>A deterministic RGB pattern with detail everywhere (so every part of a compressed file matters).</summary>
    public static byte[] Pattern(int seed)
    {
        var rng = new Random(seed);
        var px = new byte[PatchSchema.ImageBytes];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i * 7 + seed * 13 + i / 288 + rng.Next(32));
        return px;
    }

    public static byte[] Png(byte[] rgb) => SkiaEncode(rgb, SKEncodedImageFormat.Png, 100);
    public static byte[] Jpeg(byte[] rgb) => SkiaEncode(rgb, SKEncodedImageFormat.Jpeg, 95);

    static byte[] SkiaEncode(byte[] rgb, SKEncodedImageFormat format, int quality)
    {
        using var bmp = new SKBitmap(new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < Side; y++)
            for (int x = 0; x < Side; x++)
            {
                int o = (y * Side + x) * 3;
                bmp.SetPixel(x, y, new SKColor(rgb[o], rgb[o + 1], rgb[o + 2]));
            }
        using var data = bmp.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>A 24-bit bottom-up BMP (Skia decodes BMP but does not encode it).</summary>
    public static byte[] Bmp(byte[] rgb)
    {
        const int header = 54, row = Side * 3; // 288: already a multiple of 4, no padding
        var b = new byte[header + row * Side];
        "BM"u8.CopyTo(b);
        BitConverter.TryWriteBytes(b.AsSpan(2), b.Length);
        BitConverter.TryWriteBytes(b.AsSpan(10), header);
        BitConverter.TryWriteBytes(b.AsSpan(14), 40);
        BitConverter.TryWriteBytes(b.AsSpan(18), Side);
        BitConverter.TryWriteBytes(b.AsSpan(22), Side);
        BitConverter.TryWriteBytes(b.AsSpan(26), (short)1);
        BitConverter.TryWriteBytes(b.AsSpan(28), (short)24);
        BitConverter.TryWriteBytes(b.AsSpan(34), row * Side);
        for (int y = 0; y < Side; y++)
            for (int x = 0; x < Side; x++)
            {
                int s = (y * Side + x) * 3, d = header + (Side - 1 - y) * row + x * 3;
                b[d] = rgb[s + 2]; b[d + 1] = rgb[s + 1]; b[d + 2] = rgb[s];
            }
        return b;
    }

    /// <summary>An uncompressed TIFF in strips of 8 rows; <paramref name="samples"/> 1 = grey, 3 = RGB, 4 = RGBA (alpha given).</summary>
    public static byte[] Tiff(byte[] rgb, int samples = 3, byte alpha = 255)
    {
        using var ms = new MemoryStream();
        using (var t = BitMiracle.LibTiff.Classic.Tiff.ClientOpen("mem.tif", "w", ms, new TiffStream()))
        {
            t.SetField(TiffTag.IMAGEWIDTH, Side);
            t.SetField(TiffTag.IMAGELENGTH, Side);
            t.SetField(TiffTag.SAMPLESPERPIXEL, samples);
            t.SetField(TiffTag.BITSPERSAMPLE, 8);
            t.SetField(TiffTag.PHOTOMETRIC, samples == 1 ? Photometric.MINISBLACK : Photometric.RGB);
            if (samples == 4) t.SetField(TiffTag.EXTRASAMPLES, 1, new short[] { (short)ExtraSample.UNASSALPHA });
            t.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
            t.SetField(TiffTag.ROWSPERSTRIP, 8);
            var line = new byte[Side * samples];
            for (int y = 0; y < Side; y++)
            {
                for (int x = 0; x < Side; x++)
                {
                    int s = (y * Side + x) * 3;
                    if (samples == 1) { line[x] = rgb[s]; continue; }
                    line[x * samples] = rgb[s]; line[x * samples + 1] = rgb[s + 1]; line[x * samples + 2] = rgb[s + 2];
                    if (samples == 4) line[x * samples + 3] = alpha;
                }
                t.WriteScanline(line, y);
            }
            t.Flush();
            return ms.ToArray();
        }
    }

    /// <summary>A hand-written PNG of any colour type: 0 grey, 2 RGB, 3 palette (with optional tRNS), 4 grey+alpha, 6 RGBA.</summary>
    public static byte[] RawPng(int colourType, byte[] rgb, byte alpha = 255, bool paletteAlpha = false)
    {
        int channels = colourType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => throw new ArgumentOutOfRangeException(nameof(colourType)) };
        var palette = new List<(byte R, byte G, byte B)>();
        var raw = new MemoryStream();
        for (int y = 0; y < Side; y++)
        {
            raw.WriteByte(0); // filter: none
            for (int x = 0; x < Side; x++)
            {
                int s = (y * Side + x) * 3;
                byte r = rgb[s], g = rgb[s + 1], b = rgb[s + 2];
                switch (colourType)
                {
                    case 0: raw.WriteByte(r); break;
                    case 2: raw.Write([r, g, b]); break;
                    case 3:
                        var c = ((byte)(r & 0xC0), (byte)(g & 0xC0), (byte)(b & 0xC0)); // 64 colours
                        int i = palette.IndexOf(c);
                        if (i < 0) { palette.Add(c); i = palette.Count - 1; }
                        raw.WriteByte((byte)i);
                        break;
                    case 4: raw.Write([r, alpha]); break;
                    case 6: raw.Write([r, g, b, alpha]); break;
                }
            }
        }
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BigEndian(ihdr, 0, Side); BigEndian(ihdr, 4, Side);
        ihdr[8] = 8; ihdr[9] = (byte)colourType;
        Chunk(png, "IHDR", ihdr);
        if (colourType == 3)
        {
            if (palette.Count > 256) throw new InvalidOperationException("palette too large");
            Chunk(png, "PLTE", palette.SelectMany(p => new[] { p.R, p.G, p.B }).ToArray());
            if (paletteAlpha) Chunk(png, "tRNS", Enumerable.Repeat(alpha, palette.Count).ToArray());
        }
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(raw.ToArray());
        Chunk(png, "IDAT", z.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>The pixels a palette PNG from <see cref="RawPng"/> holds for <paramref name="rgb"/>.</summary>
    public static byte[] PaletteQuantised(byte[] rgb)
    {
        var q = (byte[])rgb.Clone();
        for (int i = 0; i < q.Length; i += 3) { q[i] &= 0xC0; q[i + 1] &= 0xC0; q[i + 2] &= 0xC0; }
        return q;
    }

    static void BigEndian(byte[] b, int at, int v) { b[at] = (byte)(v >> 24); b[at + 1] = (byte)(v >> 16); b[at + 2] = (byte)(v >> 8); b[at + 3] = (byte)v; }

    static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4];
        BigEndian(len, 0, data.Length);
        s.Write(len);
        var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(body);
        var crc = new byte[4];
        BigEndian(crc, 0, (int)Crc32(body));
        s.Write(crc);
    }

    static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
