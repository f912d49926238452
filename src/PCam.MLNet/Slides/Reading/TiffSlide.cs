using System.Globalization;
using System.Text.RegularExpressions;
using BitMiracle.LibTiff.Classic;
using PCam.MLNet.Data;

namespace PCam.MLNet.Slides.Reading;

/// <summary>
/// TIFF read with LibTiff.NET one tile (or strip) at a time. Levels: IFD 0, then every other tiled IFD of the same
/// aspect ratio and smaller size (SVS/Camelyon16-style pyramids; stripped thumbnails, labels and macros are skipped),
/// then the SubIFDs of IFD 0 (OME-TIFF-style pyramids). Pixels must be 8-bit RGB (RGBA, JPEG-YCbCr decoded to RGB);
/// decoded tiles are cached until <see cref="Evict"/> drops the rows the reader has passed.
/// </summary>
public sealed partial class TiffSlide : SlideImage
{
    static TiffSlide() => Tiff.SetErrorHandler(new QuietTiffErrors());

    private readonly Tiff _tiff;
    private readonly List<SlideLevel> _levels = [];
    private readonly List<long> _offsets = [];
    private readonly Dictionary<int, byte[]> _cache = [];
    private bool _tiled;
    private int _tileW, _tileH, _tilesAcross, _spp, _rawSize;
    private string _compression = "";
    private byte[] _raw = [];
    private long _cacheBytes;

    public TiffSlide(string path) : base(path)
    {
        try { _tiff = Tiff.Open(path, "r") ?? throw new PCamDataException($"{path}: cannot open TIFF (damaged or truncated header or first directory)."); }
        catch (Exception e) when (e is not PCamDataException) { throw new PCamDataException($"{path}: cannot open TIFF ({e.Message}).", e); }
        try { FindLevels(); }
        catch (Exception e) when (e is not PCamDataException) { _tiff.Dispose(); throw new PCamDataException($"{path}: cannot read the TIFF directories ({e.Message}).", e); }
        catch { _tiff.Dispose(); throw; }
        OnSelectLevel(0);
    }

    /// <summary>Decoded tiles kept at most (256 MB); beyond it the cache is emptied.</summary>
    public const long MaxCacheBytes = 256L << 20;

    public override IReadOnlyList<SlideLevel> Levels => _levels;
    public override string Description => _description;
    private string _description = "";

    private void FindLevels()
    {
        var candidates = new List<(long Offset, int W, int H)>();
        int dirs = _tiff.NumberOfDirectories();
        double? mpp0 = null;
        int w0 = 0, h0 = 0;
        long[] subIfds = [];
        for (short d = 0; d < dirs; d++)
        {
            if (!_tiff.SetDirectory(d)) throw new PCamDataException($"{Path}: cannot read TIFF directory {d} (damaged or truncated).");
            int w = Int(TiffTag.IMAGEWIDTH), h = Int(TiffTag.IMAGELENGTH);
            if (d == 0)
            {
                (w0, h0) = (w, h);
                (mpp0, MicronsPerPixelSource) = ReadMpp();
                candidates.Add((_tiff.CurrentDirOffset(), w, h));
                if (_tiff.GetField(TiffTag.SUBIFD) is { Length: >= 2 } sub) subIfds = ToLongs(sub[1]);
                continue;
            }
            // Pyramid levels are tiled, smaller, and keep the aspect ratio (labels and macros do not).
            if (!_tiff.IsTiled() || w >= w0 || Math.Abs((double)w / h - (double)w0 / h0) > 0.02 * w0 / h0) continue;
            candidates.Add((_tiff.CurrentDirOffset(), w, h));
        }
        foreach (var offset in subIfds)
        {
            if (!_tiff.SetSubDirectory(offset)) throw new PCamDataException($"{Path}: cannot read TIFF SubIFD at offset {offset} (damaged or truncated).");
            candidates.Add((offset, Int(TiffTag.IMAGEWIDTH), Int(TiffTag.IMAGELENGTH)));
        }
        // Only level 0's resolution is read: writers often copy it to every level, so a level's spacing comes from its size.
        var ordered = candidates.OrderByDescending(c => (long)c.W * c.H).ToList();
        _levels.AddRange(BuildLevels(ordered.Select(c => (c.W, c.H)), mpp0));
        _offsets.AddRange(ordered.Select(c => c.Offset));
    }

    private static long[] ToLongs(FieldValue v)
    {
        var o = v.Value;
        return o switch
        {
            long[] l => l,
            ulong[] ul => ul.Select(x => (long)x).ToArray(),
            int[] i => i.Select(x => (long)x).ToArray(),
            uint[] ui => ui.Select(x => (long)x).ToArray(),
            _ => [],
        };
    }

    private int Int(TiffTag tag) => _tiff.GetField(tag) is { Length: > 0 } v ? v[0].ToInt() : 0;

    [GeneratedRegex(@"MPP\s*=\s*([0-9]*\.?[0-9]+)", RegexOptions.IgnoreCase)]
    private static partial Regex AperioMpp();

    /// <summary>Level 0's um/px: an Aperio "MPP = x" in the ImageDescription, else XResolution + ResolutionUnit (inch or
    /// cm); null when neither is there or the value is no microscope's (see <see cref="SlideImage.MaxPlausibleMicronsPerPixel"/>).</summary>
    private (double? Mpp, string? Source) ReadMpp()
    {
        if (_tiff.GetField(TiffTag.IMAGEDESCRIPTION) is { Length: > 0 } desc && AperioMpp().Match(desc[0].ToString() ?? "") is { Success: true } m
            && double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var aperio) && Plausible(aperio) is { } a)
            return (a, "Aperio MPP");
        var res = _tiff.GetField(TiffTag.XRESOLUTION);
        var unit = _tiff.GetField(TiffTag.RESOLUTIONUNIT) is { Length: > 0 } u ? (ResUnit)u[0].ToInt() : ResUnit.INCH;
        if (res is not { Length: > 0 }) return (null, null);
        double perUnit = res[0].ToDouble();
        if (perUnit <= 0 || !double.IsFinite(perUnit)) return (null, null);
        double? mpp = Plausible(unit switch { ResUnit.CENTIMETER => 1e4 / perUnit, ResUnit.INCH => 25400 / perUnit, _ => null });
        return mpp is null ? (null, null) : (mpp, "TIFF resolution tags");
    }

    protected override void OnSelectLevel(int level)
    {
        if (!_tiff.SetSubDirectory(_offsets[level]))
            throw new PCamDataException($"{Path}: cannot read the TIFF directory of level {level} (damaged or truncated).");
        var l = _levels[level];
        int bits = _tiff.GetField(TiffTag.BITSPERSAMPLE) is { Length: > 0 } b ? b[0].ToInt() : 1;
        _spp = Int(TiffTag.SAMPLESPERPIXEL) is var s && s > 0 ? s : 1;
        var photometric = (Photometric)Int(TiffTag.PHOTOMETRIC);
        var compression = _tiff.GetField(TiffTag.COMPRESSION) is { Length: > 0 } c ? (Compression)c[0].ToInt() : Compression.NONE;
        var format = _tiff.GetField(TiffTag.SAMPLEFORMAT) is { Length: > 0 } f ? (SampleFormat)f[0].ToInt() : SampleFormat.UINT;
        int planar = _tiff.GetField(TiffTag.PLANARCONFIG) is { Length: > 0 } p ? p[0].ToInt() : (int)PlanarConfig.CONTIG;
        string where = level == 0 ? "" : $" (level {level})";
        if (_spp < 3 || photometric is Photometric.MINISBLACK or Photometric.MINISWHITE or Photometric.PALETTE)
            throw new PCamDataException($"{Path}: expected an 8-bit RGB image, found {bits}-bit {(photometric == Photometric.PALETTE ? "palette" : "grey")} TIFF{where} ({_spp} sample(s) per pixel).");
        if (bits != 8 || format != SampleFormat.UINT)
            throw new PCamDataException($"{Path}: expected an 8-bit RGB image, found a {bits}-bit {(format == SampleFormat.IEEEFP ? "float " : "")}TIFF{where}.");
        if (planar != (int)PlanarConfig.CONTIG)
            throw new PCamDataException($"{Path}: separate colour planes (PlanarConfiguration 2) are not supported{where}; store the channels interleaved.");
        if (photometric == Photometric.YCBCR)
        {
            if (compression != Compression.JPEG)
                throw new PCamDataException($"{Path}: uncompressed YCbCr TIFF is not supported{where}; use RGB or JPEG compression.");
            _tiff.SetField(TiffTag.JPEGCOLORMODE, JpegColorMode.RGB);
            _spp = 3;
        }
        else if (photometric != Photometric.RGB)
            throw new PCamDataException($"{Path}: expected an RGB image, found photometric {photometric}{where}.");

        _tiled = _tiff.IsTiled();
        if (_tiled)
        {
            _tileW = Int(TiffTag.TILEWIDTH);
            _tileH = Int(TiffTag.TILELENGTH);
            _rawSize = _tiff.TileSize();
        }
        else
        {
            // Strips are tiles as wide as the image.
            _tileW = l.Width;
            _tileH = Math.Min(Int(TiffTag.ROWSPERSTRIP) is var r && r > 0 ? r : l.Height, l.Height);
            _rawSize = _tiff.StripSize();
        }
        if (_tileW <= 0 || _tileH <= 0 || _rawSize <= 0)
            throw new PCamDataException($"{Path}: invalid tile or strip layout{where}.");
        _tilesAcross = (l.Width + _tileW - 1) / _tileW;
        _raw = new byte[_rawSize];
        _compression = compression.ToString().ToLowerInvariant();
        _description = _tiled ? $"tiled TIFF ({_tileW}x{_tileH} tiles, {_compression})" : $"TIFF ({_tileH}-row strips, {_compression})";
    }

    /// <summary>Decodes one tile (or strip) into RGB, checking that LibTiff returned every byte.</summary>
    private byte[] Tile(int col, int row)
    {
        int key = row * _tilesAcross + col;
        if (_cache.TryGetValue(key, out var rgb)) return rgb;
        var l = Level;
        int rows = _tiled ? _tileH : Math.Min(_tileH, l.Height - row * _tileH);
        int expected = _tiled ? _rawSize : rows * _tiff.ScanlineSize();
        int got;
        try
        {
            got = _tiled
                ? _tiff.ReadEncodedTile(_tiff.ComputeTile(col * _tileW, row * _tileH, 0, 0), _raw, 0, _rawSize)
                : _tiff.ReadEncodedStrip(row, _raw, 0, _rawSize);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new PCamDataException($"{Path}: cannot decode {(_tiled ? "tile" : "strip")} at ({col * _tileW},{row * _tileH}) of level {LevelIndex} ({e.GetType().Name}: {e.Message.Split('\n')[0]}; damaged or truncated).", e);
        }
        if (got < expected)
            throw new PCamDataException($"{Path}: cannot decode {(_tiled ? "tile" : "strip")} at ({col * _tileW},{row * _tileH}) of level {LevelIndex} " +
                                        $"({(got < 0 ? "read error" : $"{got} of {expected} bytes")}; the file is damaged or truncated).");
        if (_cacheBytes > MaxCacheBytes) Evict(int.MaxValue); // random access (patch extraction) without Evict: stay bounded
        rgb = new byte[_tileW * rows * 3];
        if (_spp == 3) _raw.AsSpan(0, rgb.Length).CopyTo(rgb);
        else
            for (int i = 0, o = 0; o < rgb.Length; i += _spp, o += 3)
            {
                rgb[o] = _raw[i];
                rgb[o + 1] = _raw[i + 1];
                rgb[o + 2] = _raw[i + 2];
            }
        _cache[key] = rgb;
        _cacheBytes += rgb.Length;
        PeakCacheBytes = Math.Max(PeakCacheBytes, _cacheBytes);
        return rgb;
    }

    public override void ReadRegion(int x, int y, int w, int h, Span<byte> rgb)
    {
        CheckRegion(x, y, w, h, rgb.Length);
        for (int row = y / _tileH; row * _tileH < y + h; row++)
            for (int col = x / _tileW; col * _tileW < x + w; col++)
            {
                var tile = Tile(col, row);
                int tx0 = col * _tileW, ty0 = row * _tileH;
                int x0 = Math.Max(x, tx0), x1 = Math.Min(x + w, tx0 + _tileW);
                int y0 = Math.Max(y, ty0), y1 = Math.Min(y + h, ty0 + _tileH);
                int bytes = (x1 - x0) * 3;
                for (int yy = y0; yy < y1; yy++)
                    tile.AsSpan(((yy - ty0) * _tileW + (x0 - tx0)) * 3, bytes).CopyTo(rgb.Slice(((yy - y) * w + (x0 - x)) * 3, bytes));
            }
    }

    public override void Evict(int y)
    {
        if (_cache.Count == 0) return;
        foreach (var key in _cache.Keys.ToList())
        {
            int row = key / _tilesAcross;
            if ((row + 1) * _tileH <= y)
            {
                _cacheBytes -= _cache[key].Length;
                _cache.Remove(key);
            }
        }
    }

    public override void Dispose()
    {
        _tiff.Dispose();
        _cache.Clear();
        base.Dispose();
    }

    private sealed class QuietTiffErrors : TiffErrorHandler
    {
        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
        public override void WarningHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
    }
}
