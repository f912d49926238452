using System.Diagnostics;
using BitMiracle.LibTiff.Classic;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using Xunit;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Tests.Slides;

/// <summary>The OpenSlide reader (system libopenslide) against the built-in LibTiff reader on the same generated files.</summary>
public sealed class OpenSlideTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    public const string Missing = "libopenslide is not installed (apt-get install libopenslide0 on Debian 12, libopenslide1 on Debian 13)";

    static byte[] Smooth(int w, int h)
    {
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                rgb[i] = (byte)(150 + 90 * Math.Sin(x / 23.0)); rgb[i + 1] = (byte)(90 + 60 * Math.Cos(y / 31.0)); rgb[i + 2] = (byte)(180 - (x + y) % 60);
            }
        return rgb;
    }

    static void AssertSameSlide(string path, double maxMeanError)
    {
        using var lib = SlideImage.Open(path, SlideReaderKind.LibTiff);
        using var os = SlideImage.Open(path, SlideReaderKind.OpenSlide);
        Assert.IsType<OpenSlideSlide>(os);
        Assert.Equal(lib.Levels.Select(l => (l.Width, l.Height)), os.Levels.Select(l => (l.Width, l.Height)));
        Assert.Equal(lib.MicronsPerPixel!.Value, os.MicronsPerPixel!.Value, 4);
        Assert.Equal(lib.Levels.Select(l => Math.Round(l.MicronsPerPixel!.Value, 4)), os.Levels.Select(l => Math.Round(l.MicronsPerPixel!.Value, 4)));
        // The same windows through the same sampling.
        var a = new SlideWindows(lib, WindowSampling.Choose(lib), 48);
        var b = new SlideWindows(os, WindowSampling.Choose(os), 48);
        Assert.Equal((a.Sampling.Level, a.Sampling.Scale, a.GridWidth, a.GridHeight), (b.Sampling.Level, b.Sampling.Scale, b.GridWidth, b.GridHeight));
        var wa = new byte[PatchSchema.ImageBytes];
        var wb = new byte[PatchSchema.ImageBytes];
        for (int j = 0; j < a.GridHeight; j++)
            for (int i = 0; i < a.GridWidth; i++)
            {
                a.Read(i, j, wa);
                b.Read(i, j, wb);
                double err = 0;
                for (int k = 0; k < wa.Length; k++) err += Math.Abs(wa[k] - wb[k]);
                Assert.True(err / wa.Length <= maxMeanError, $"window ({i},{j}) of {Path.GetFileName(path)}: mean |LibTiff - OpenSlide| = {err / wa.Length:F3}");
            }
    }

    [SkippableFact]
    public void GenericTiledTiffReadsTheSameWithBothReaders()
    {
        Skip.IfNot(NativeTools.OpenSlide, Missing);
        const int W = 640, H = 512;
        var rgb = Smooth(W, H);
        var half = SlideFixtures.Downsample(rgb, W, H, 2);
        var path = _dir["generic.tif"];
        TiledTiffWriter.Write(path, [(W, H, 0.486), (W / 2, H / 2, 0.972)], 128, (l, x, y, t) =>
            TiledTiffWriter.CopyTile(l == 0 ? rgb : half, l == 0 ? W : W / 2, l == 0 ? H : H / 2, x, y, t, 128));
        AssertSameSlide(path, 0.0); // lossless: identical pixels
    }

    [SkippableFact]
    public void AperioStyleSvsReadsTheSameWithBothReaders()
    {
        Skip.IfNot(NativeTools.OpenSlide, Missing);
        const int W = 1024, H = 768;
        var rgb = Smooth(W, H);
        var path = _dir["aperio.svs"];
        var l1 = SlideFixtures.Downsample(rgb, W, H, 4);
        TiledTiffWriter.Write(path, [(W, H, null), (W / 4, H / 4, null)], 256, (l, x, y, t) =>
            TiledTiffWriter.CopyTile(l == 0 ? rgb : l1, l == 0 ? W : W / 4, l == 0 ? H : H / 4, x, y, t, 256), Compression.JPEG,
            description: $"Aperio Image Library v11.2.1\r\n{W}x{H} [0,0 {W}x{H}] (256x256) JPEG/RGB Q=90|AppMag = 20|MPP = 0.4990");
        Assert.Equal("aperio", OpenSlideSlide.DetectVendor(path));
        using (var os = SlideImage.Open(path, SlideReaderKind.OpenSlide))
            Assert.Equal(("openslide.mpp-x", 0.499), (os.MicronsPerPixelSource, os.MicronsPerPixel));
        AssertSameSlide(path, 1.0); // both decode the same JPEG tiles (decoder rounding may differ by a level)
    }

    [SkippableFact]
    public void VipsJpegPyramidReadsTheSameWithBothReaders()
    {
        Skip.IfNot(NativeTools.OpenSlide, Missing);
        Skip.IfNot(NativeTools.Vips, "vips (libvips-tools) is not installed");
        const int W = 1200, H = 900;
        var png = _dir["src.png"];
        var rgb = Smooth(W, H);
        using (var bmp = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(W, H, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul)))
        {
            var rgba = new byte[W * H * 4];
            for (int i = 0; i < W * H; i++) { rgba[i * 4] = rgb[i * 3]; rgba[i * 4 + 1] = rgb[i * 3 + 1]; rgba[i * 4 + 2] = rgb[i * 3 + 2]; rgba[i * 4 + 3] = 255; }
            System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bmp.GetPixels(), rgba.Length);
            using var data = bmp.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(png, data.ToArray());
        }
        var tif = _dir["vips.tif"];
        // 0.25 um/px = 4000 px/mm.
        var p = Process.Start(new ProcessStartInfo("vips", ["tiffsave", png, tif, "--tile", "--pyramid", "--compression", "jpeg", "--Q", "90", "--tile-width", "256", "--tile-height", "256", "--xres", "4000", "--yres", "4000"]) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        using (var lib = SlideImage.Open(tif))
        {
            Assert.IsType<TiffSlide>(lib);
            Assert.True(lib.Levels.Count >= 3);
            Assert.Equal(0.25, lib.MicronsPerPixel!.Value, 3);
        }
        AssertSameSlide(tif, 1.0);
    }

    [SkippableFact]
    public void VendorFormatsGoToOpenSlide()
    {
        Skip.IfNot(NativeTools.OpenSlide, Missing);
        var ndpi = _dir["scan.ndpi"];
        TiledTiffWriter.Write(ndpi, [(256, 256, 0.5)], 128, (_, _, _, t) => Array.Fill(t, (byte)200));
        var mrxs = _dir["scan.mrxs"];
        File.WriteAllText(mrxs, "[GENERAL]\nSLIDE_ID=x\n");
        // Routed to OpenSlide (which reads a generic tiled TIFF under any name, and refuses the fake MRXS index).
        using (var s = SlideImage.Open(ndpi)) Assert.IsType<OpenSlideSlide>(s);
        var e = Assert.ThrowsAny<PCamDataException>(() => SlideImage.Open(mrxs));
        Assert.Contains(mrxs, e.Message);
        Assert.Contains("OpenSlide", e.Message);
    }

    [Fact]
    public void AMissingLibraryIsOneLineNamingTheFileAndEachReleasesPackage()
    {
        var message = OpenSlideSlide.NotInstalled("/slides/scan.mrxs", "MIRAX MRXS");
        Assert.StartsWith("/slides/scan.mrxs: MIRAX MRXS slides are read with OpenSlide", message);
        Assert.Contains("libopenslide0", message);
        Assert.Contains("libopenslide1", message);
        Assert.DoesNotContain('\n', message);
    }

    [Fact]
    public void InCiAMissingNativeToolFailsInsteadOfSkipping()
    {
        Assert.True(NativeTools.Resolve(true, "x", "true"));
        Assert.False(NativeTools.Resolve(false, "x", null));
        Assert.Throws<SharedSampleMissingException>(() => NativeTools.Resolve(false, "x", "true"));
    }
}
