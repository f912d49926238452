using System.Globalization;
using System.Runtime.InteropServices;
using PCam.MLNet.Data;

namespace PCam.MLNet.Slides.Reading;

/// <summary>
/// A slide read with the system's OpenSlide (P/Invoke to libopenslide: Debian/Ubuntu `libopenslide0`, Homebrew
/// `openslide`, OpenSlide 3.4 or 4.x) for the formats LibTiff cannot read: Hamamatsu NDPI/VMS/VMU, MIRAX MRXS, Leica
/// SCN, Ventana BIF, Philips TIFF, Sakura SVSLIDE, and Aperio SVS or generic tiled TIFF when asked for. Level-0 um/px
/// comes from <c>openslide.mpp-x</c>, else from <c>tiff.XResolution</c>/<c>tiff.ResolutionUnit</c>. Pixels are OpenSlide's
/// premultiplied ARGB, un-premultiplied to RGB; transparent areas (outside MRXS scan regions) read as white.
/// </summary>
public sealed unsafe class OpenSlideSlide : SlideImage
{
    private nint _osr;
    private readonly List<SlideLevel> _levels;
    private readonly double[] _downsample;
    private uint[] _argb = [];

    public OpenSlideSlide(string path) : base(path)
    {
        var api = Api.Get(path, Format(path));
        _osr = api.Open(path);
        if (_osr == 0) throw new PCamDataException($"{path}: OpenSlide cannot open it (not a format it knows, or damaged).");
        try
        {
            CheckError();
            int count = api.LevelCount(_osr);
            if (count < 1) throw new PCamDataException($"{path}: OpenSlide reports no levels.");
            var sizes = new List<(int, int)>();
            _downsample = new double[count];
            for (int l = 0; l < count; l++)
            {
                long w, h;
                api.LevelDimensions(_osr, l, &w, &h);
                if (w <= 0 || h <= 0 || w > int.MaxValue || h > int.MaxValue) throw new PCamDataException($"{path}: OpenSlide reports level {l} as {w}x{h} px.");
                sizes.Add(((int)w, (int)h));
                _downsample[l] = api.LevelDownsample(_osr, l);
            }
            double? mpp = Plausible(Number(Property("openslide.mpp-x")));
            MicronsPerPixelSource = mpp is null ? null : "openslide.mpp-x";
            if (mpp is null && Number(Property("tiff.XResolution")) is { } res && res > 0)
            {
                mpp = Plausible(Property("tiff.ResolutionUnit") switch { "centimeter" => 1e4 / res, "inch" => 25400 / res, _ => null });
                MicronsPerPixelSource = mpp is null ? null : "TIFF resolution tags";
            }
            _levels = BuildLevels(sizes, mpp);
            Vendor = Property("openslide.vendor") ?? "unknown";
        }
        catch
        {
            api.Close(_osr);
            _osr = 0;
            throw;
        }
    }

    public string Vendor { get; } = "";
    public override IReadOnlyList<SlideLevel> Levels => _levels;
    public override string Description => $"OpenSlide ({Vendor})";

    /// <summary>The error for a slide that needs OpenSlide on a machine without it.</summary>
    internal static string NotInstalled(string path, string format) =>
        $"{path}: {format} slides are read with OpenSlide, which is not installed (no libopenslide found); install it " +
        "(Debian 12/Ubuntu: apt-get install libopenslide0; Debian 13: libopenslide1; macOS: brew install openslide).";

    /// <summary>True when libopenslide can be loaded on this machine.</summary>
    public static bool IsAvailable => Api.TryGet() is not null;

    /// <summary>OpenSlide's vendor for a file ("aperio", "hamamatsu", "generic-tiff", ...), or null when it does not recognise it or the library is missing.</summary>
    public static string? DetectVendor(string path) => Api.TryGet() is { } api && api.DetectVendor(path) is var p && p != 0 ? Marshal.PtrToStringUTF8(p) : null;

    private string? Property(string name) => Marshal.PtrToStringUTF8(Api.TryGet()!.PropertyValue(_osr, name));

    private static double? Number(string? s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    private void CheckError()
    {
        var e = Api.TryGet()!.GetError(_osr);
        if (e != 0) throw new PCamDataException($"{Path}: OpenSlide: {Marshal.PtrToStringUTF8(e)?.ReplaceLineEndings(" ")} (damaged or truncated?).");
    }

    protected override void OnSelectLevel(int level) { }

    public override void ReadRegion(int x, int y, int w, int h, Span<byte> rgb)
    {
        CheckRegion(x, y, w, h, rgb.Length);
        if (_argb.Length < w * h) _argb = new uint[w * h];
        long x0 = (long)Math.Round(x * _downsample[LevelIndex]), y0 = (long)Math.Round(y * _downsample[LevelIndex]);
        fixed (uint* p = _argb) Api.TryGet()!.ReadRegion(_osr, p, x0, y0, LevelIndex, w, h);
        CheckError();
        for (int i = 0; i < w * h; i++)
        {
            uint v = _argb[i];
            uint a = v >> 24;
            byte r = (byte)(v >> 16), g = (byte)(v >> 8), b = (byte)v;
            if (a == 255) { rgb[i * 3] = r; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = b; }
            else if (a == 0) { rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = 255; }
            else
            {
                // Un-premultiply, then composite on white.
                rgb[i * 3] = (byte)Math.Min(255, r + 255 - a);
                rgb[i * 3 + 1] = (byte)Math.Min(255, g + 255 - a);
                rgb[i * 3 + 2] = (byte)Math.Min(255, b + 255 - a);
            }
        }
    }

    public override void Evict(int y) { }

    public override void Dispose()
    {
        if (_osr != 0) Api.TryGet()?.Close(_osr);
        _osr = 0;
        base.Dispose();
    }

    /// <summary>A format name for the "not installed" error, from the extension.</summary>
    public static string Format(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".ndpi" => "Hamamatsu NDPI", ".vms" or ".vmu" => "Hamamatsu VMS", ".mrxs" => "MIRAX MRXS", ".scn" => "Leica SCN", ".bif" => "Ventana BIF",
        ".svslide" => "Sakura SVSLIDE", ".svs" => "Aperio SVS", ".tif" or ".tiff" => "TIFF", var e => e.Length > 1 ? e[1..].ToUpperInvariant() : "this",
    };

    /// <summary>The OpenSlide C API, bound once at first use.</summary>
    private sealed class Api
    {
        public static readonly string[] Names = ["libopenslide.so.1", "libopenslide.so.0", "libopenslide.1.dylib", "libopenslide.0.dylib", "libopenslide-1.dll", "libopenslide-0.dll", "openslide"];
        private static readonly Lazy<Api?> Instance = new(Load);

        public delegate* unmanaged<byte*, nint> OpenRaw;
        public delegate* unmanaged<byte*, nint> DetectRaw;
        public delegate* unmanaged<nint, void> Close;
        public delegate* unmanaged<nint, nint> GetError;
        public delegate* unmanaged<nint, int> LevelCount;
        public delegate* unmanaged<nint, int, long*, long*, void> LevelDimensions;
        public delegate* unmanaged<nint, int, double> LevelDownsample;
        public delegate* unmanaged<nint, uint*, long, long, int, long, long, void> ReadRegion;
        public delegate* unmanaged<nint, byte*, nint> PropertyRaw;

        public nint Open(string path) { fixed (byte* p = Utf8(path)) return OpenRaw(p); }
        public nint DetectVendor(string path) { fixed (byte* p = Utf8(path)) return DetectRaw(p); }
        public nint PropertyValue(nint osr, string name) { fixed (byte* p = Utf8(name)) return PropertyRaw(osr, p); }
        private static byte[] Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s + "\0");

        public static Api? TryGet() => Instance.Value;

        public static Api Get(string path, string format) => Instance.Value ?? throw new PCamDataException(NotInstalled(path, format));

        private static Api? Load()
        {
            nint lib = 0;
            foreach (var name in Names)
                if (NativeLibrary.TryLoad(name, out lib)) break;
            if (lib == 0) return null;
            try
            {
                nint F(string n) => NativeLibrary.GetExport(lib, n);
                return new Api
                {
                    OpenRaw = (delegate* unmanaged<byte*, nint>)F("openslide_open"),
                    DetectRaw = (delegate* unmanaged<byte*, nint>)F("openslide_detect_vendor"),
                    Close = (delegate* unmanaged<nint, void>)F("openslide_close"),
                    GetError = (delegate* unmanaged<nint, nint>)F("openslide_get_error"),
                    LevelCount = (delegate* unmanaged<nint, int>)F("openslide_get_level_count"),
                    LevelDimensions = (delegate* unmanaged<nint, int, long*, long*, void>)F("openslide_get_level_dimensions"),
                    LevelDownsample = (delegate* unmanaged<nint, int, double>)F("openslide_get_level_downsample"),
                    ReadRegion = (delegate* unmanaged<nint, uint*, long, long, int, long, long, void>)F("openslide_read_region"),
                    PropertyRaw = (delegate* unmanaged<nint, byte*, nint>)F("openslide_get_property_value"),
                };
            }
            catch (EntryPointNotFoundException) { return null; }
        }
    }
}
