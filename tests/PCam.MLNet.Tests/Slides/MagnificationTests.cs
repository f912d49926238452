using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Data;
using Xunit;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Tests.Slides;

/// <summary>Windows cover 96 x 0.972 um whatever the slide's levels; level spacing comes from level 0's um/px and the sizes.</summary>
public sealed class MagnificationTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static byte[] Noise(int w, int h, int seed)
    {
        var b = new byte[w * h * 3];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A20xPyramidIsReadAtLevel0AndHalvedToPCamResolution(bool aperio)
    {
        const int W = 1536, H = 1024;
        var path = _dir[$"20x-{aperio}.tif"];
        SlideFixtures.Write20x(path, Noise(W, H, 1), W, H, aperio);
        using var slide = SlideImage.Open(path);
        Assert.Equal(0.486, slide.MicronsPerPixel!.Value, 6);
        Assert.Equal(aperio ? "Aperio MPP" : "TIFF resolution tags", slide.MicronsPerPixelSource);
        // Spacing from the sizes, not from each level's own (copied) tag.
        Assert.Equal([0.486, 1.944, 7.776], slide.Levels.Select(l => Math.Round(l.MicronsPerPixel!.Value, 6)));
        var s = WindowSampling.Choose(slide);
        Assert.Equal(0, s.Level);
        Assert.Equal(2.0, s.Scale, 9);
        Assert.Equal(192, s.RegionSize);
        var grid = new SlideWindows(slide, s, stride: 32);
        Assert.Equal(((W - 192) / 64 + 1, (H - 192) / 64 + 1), (grid.GridWidth, grid.GridHeight));
        Assert.Equal((128L, 64L, 192L, 192L), grid.Level0Rect(2, 1));
    }

    [Fact]
    public void LevelChoiceTakesTheCoarsestAtOrBelowTheTargetWithinTolerance()
    {
        // 0.25 um/px (40x) with 2x steps: 0.25, 0.5, 1.0 (3% coarser than 0.972, inside the 5% tolerance), 2.0.
        var path = _dir["40x.tif"];
        TiledTiffWriter.Write(path, [(2048, 2048, 0.25), (1024, 1024, null), (512, 512, null), (256, 256, null)], 128, (_, _, _, t) => Array.Fill(t, (byte)200));
        using var slide = SlideImage.Open(path);
        var s = WindowSampling.Choose(slide);
        Assert.Equal(2, s.Level);
        Assert.Equal(0.972, s.Scale, 9); // enlarged by 3%: still exactly 96 x 0.972 um
        Assert.Equal(94, s.RegionSize);
        // --mpp overrides the file; --level forces the level and still resamples to the target.
        Assert.Equal(1, WindowSampling.Choose(slide, mppOverride: 0.4).Level); // 0.4, 0.8, 1.6: 0.8 is the coarsest <= 0.972
        var forced = WindowSampling.Choose(slide, levelOverride: 0);
        Assert.Equal((0, 3.888), (forced.Level, Math.Round(forced.Scale, 3)));
    }

    [Fact]
    public void UnknownSpacingIsAnErrorUnlessMppOrLevelIsGiven()
    {
        var path = _dir["plain.tif"];
        TiledTiffWriter.Write(path, [(256, 256, null)], 128, (_, _, _, t) => Array.Fill(t, (byte)200));
        using var slide = SlideImage.Open(path);
        Assert.Null(slide.MicronsPerPixel);
        var e = Assert.Throws<PCamDataException>(() => WindowSampling.Choose(slide));
        Assert.Contains(path, e.Message);
        Assert.Contains("HeatmapOptions.MicronsPerPixel", e.Message); // the command line names it --mpp (FlagNames)
        Assert.True(WindowSampling.Choose(slide, levelOverride: 0).IsNative);
        Assert.Equal(2.0, WindowSampling.Choose(slide, mppOverride: 0.486).Scale, 9);
    }

    [Fact]
    public void A72DpiResolutionTagIsNotAMicroscopeSpacing()
    {
        var path = _dir["screen.tif"];
        TiledTiffWriter.Write(path, [(256, 256, 25400.0 / 72)], 128, (_, _, _, t) => Array.Fill(t, (byte)200));
        using var slide = SlideImage.Open(path);
        Assert.Null(slide.MicronsPerPixel);
    }

    [Fact]
    public void ResamplerAveragesAreasAndKeepsFlatColour()
    {
        var src = Noise(192, 192, 7);
        var out2 = new byte[96 * 96 * 3];
        new WindowResampler(192, 2.0).Resample(src, out2);
        Assert.Equal(SlideFixtures.Downsample(src, 192, 192, 2), out2); // scale 2 is exactly the 2x2 mean
        var flat = Enumerable.Repeat((byte)137, 150 * 150 * 3).ToArray();
        foreach (var scale in new[] { 1.5, 0.8 })
        {
            int n = (int)Math.Ceiling(96 * scale);
            var o = new byte[96 * 96 * 3];
            new WindowResampler(n, scale).Resample(flat.AsSpan(0, n * n * 3), o);
            Assert.All(o, v => Assert.Equal(137, v));
        }
    }

    /// <summary>
    /// Non-integer 20x-to-0.972 scales (1.62: a 0.6 um/px scanner; 2.5: 0.389 um/px) on noise, against a box filter written
    /// here from its definition: each output pixel is the mean of the source plane (pixels as unit squares of constant
    /// colour) over the output pixel's square, integrated in two dimensions at once in double precision. The product's
    /// separable float version may differ by one level where a mean sits on a rounding boundary, never more.
    /// </summary>
    [Theory]
    [InlineData(1.62, 11)]
    [InlineData(2.5, 12)]
    public void ResamplerMatchesAnIndependentBoxFilterOnTexture(double scale, int seed)
    {
        int n = (int)Math.Ceiling(96 * scale);
        var src = Noise(n, n, seed);
        var got = new byte[96 * 96 * 3];
        new WindowResampler(n, scale).Resample(src, got);
        var want = BoxFilter(src, n, scale, 96);
        int off = 0, maxDiff = 0;
        for (int i = 0; i < got.Length; i++)
        {
            int d = Math.Abs(got[i] - want[i]);
            maxDiff = Math.Max(maxDiff, d);
            if (d != 0) off++;
        }
        Assert.True(maxDiff <= 1, $"scale {scale}: largest difference {maxDiff} levels");
        Assert.True(off < got.Length / 100, $"scale {scale}: {off} of {got.Length} values off by one");
        // The texture makes the check bite: nearest-neighbour or bilinear sampling of the same noise is far off.
        var nearest = new byte[96 * 96 * 3];
        for (int y = 0; y < 96; y++)
            for (int x = 0; x < 96; x++)
                src.AsSpan(((int)(y * scale) * n + (int)(x * scale)) * 3, 3).CopyTo(nearest.AsSpan((y * 96 + x) * 3, 3));
        Assert.True(nearest.Zip(want).Average(p => Math.Abs(p.First - p.Second)) > 10);
    }

    static byte[] BoxFilter(byte[] src, int n, double scale, int size)
    {
        var dst = new byte[size * size * 3];
        for (int oy = 0; oy < size; oy++)
            for (int ox = 0; ox < size; ox++)
            {
                double y0 = oy * scale, y1 = Math.Min((oy + 1) * scale, n), x0 = ox * scale, x1 = Math.Min((ox + 1) * scale, n);
                var sum = new double[3];
                double area = 0;
                for (int y = (int)y0; y < n && y < y1; y++)
                    for (int x = (int)x0; x < n && x < x1; x++)
                    {
                        double w = (Math.Min(y + 1, y1) - Math.Max(y, y0)) * (Math.Min(x + 1, x1) - Math.Max(x, x0));
                        if (w <= 0) continue;
                        area += w;
                        for (int c = 0; c < 3; c++) sum[c] += w * src[(y * n + x) * 3 + c];
                    }
                for (int c = 0; c < 3; c++) dst[(oy * size + ox) * 3 + c] = (byte)Math.Round(sum[c] / area, MidpointRounding.AwayFromZero);
            }
        return dst;
    }
}

/// <summary>Generated slides shared by the slide tests.</summary>
public static class SlideFixtures
{
    /// <summary>Nearest-neighbour enlargement by an integer factor.</summary>
    public static byte[] Upsample(byte[] rgb, int w, int h, int k)
    {
        var big = new byte[w * k * h * k * 3];
        for (int y = 0; y < h * k; y++)
            for (int x = 0; x < w * k; x++)
                rgb.AsSpan(((y / k) * w + x / k) * 3, 3).CopyTo(big.AsSpan((y * w * k + x) * 3, 3));
        return big;
    }

    /// <summary>Mean of k x k blocks.</summary>
    public static byte[] Downsample(byte[] rgb, int w, int h, int k)
    {
        int dw = w / k, dh = h / k;
        var small = new byte[dw * dh * 3];
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                for (int c = 0; c < 3; c++)
                {
                    int sum = 0;
                    for (int v = 0; v < k; v++)
                        for (int u = 0; u < k; u++) sum += rgb[((y * k + v) * w + x * k + u) * 3 + c];
                    small[(y * dw + x) * 3 + c] = (byte)((sum + k * k / 2) / (k * k));
                }
        return small;
    }

    /// <summary>
    /// A 20x slide in Aperio's layout: level 0 at 0.486 um/px, levels at 4x and 16x (1.944 and 7.776 um/px, none near
    /// 0.972). <paramref name="aperio"/>: MPP only in the ImageDescription; else every level carries level 0's
    /// resolution tag, as many writers do.
    /// </summary>
    public static void Write20x(string path, byte[] level0, int w, int h, bool aperio)
    {
        var l1 = Downsample(level0, w, h, 4);
        var l2 = Downsample(l1, w / 4, h / 4, 4);
        double? tag = aperio ? null : 0.486;
        TiledTiffWriter.Write(path, [(w, h, tag), (w / 4, h / 4, tag), (w / 16, h / 16, tag)], 128,
            (level, x, y, tile) =>
            {
                var (src, sw, sh) = level switch { 0 => (level0, w, h), 1 => (l1, w / 4, h / 4), _ => (l2, w / 16, h / 16) };
                TiledTiffWriter.CopyTile(src, sw, sh, x, y, tile, 128);
            },
            description: aperio ? "Aperio Image Library v12.0.15\r\n1536x1536 [0,0 1536x1536] (240x240) JPEG/RGB Q=70|AppMag = 20|MPP = 0.4860" : null);
    }
}
