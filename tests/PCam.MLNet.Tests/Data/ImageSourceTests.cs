using BitMiracle.LibTiff.Classic;
using PCam.MLNet.Data;
using SkiaSharp;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>Image folder (Model Builder) and Kaggle layouts: the real sample and generated fixtures.</summary>
public sealed class ImageSourceTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void SampleFoldersHaveCountsLabelsIndicesAndSanePixels()
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        var root = Path.Combine(SharedSample.Root!, "folders");
        Assert.Equal(PatchSourceKind.ImageFolders, PCamData.Detect(root));
        using var view = PCamData.Open(root, PCamSplit.Valid);
        var src = view.Source;
        Assert.Equal(2907, view.GetRowCount());
        long pos = Enumerable.Range(0, 2907).Count(r => src.GetLabel(r));
        Assert.Equal(1407, pos);
        for (long r = 1; r < src.RowCount; r++) Assert.True(src.GetIndex(r) > src.GetIndex(r - 1)); // sorted by PCam index
        var path = src.GetPath(0)!;
        Assert.Equal(ImageFolderSource.NumberInName(path), src.GetIndex(0));
        Assert.Equal(src.GetLabel(0), Path.GetFileName(Path.GetDirectoryName(path)) == "1");

        var images = ViewReader.Images(view.Take(20));
        Assert.Equal(20, images.Count);
        foreach (var img in images.Values)
        {
            double mean = img.Average(b => (double)b);
            Assert.InRange(mean, 30, 254); // H&E tissue or light background, not black
            Assert.True(img.Distinct().Count() > 20);
        }
    }

    [SkippableFact]
    public void SampleKaggleHasLabelsFromCsvAndDecodesTiff()
    {
        Skip.If(SharedSample.Root == null, SharedSample.Missing);
        var root = Path.Combine(SharedSample.Root!, "kaggle");
        Assert.Equal(PatchSourceKind.Kaggle, PCamData.Detect(root));
        Assert.True(PCamData.HasSplit(root, PCamSplit.Train));
        Assert.False(PCamData.HasSplit(root, PCamSplit.Valid));
        using var view = PCamData.Open(root, PCamSplit.Train);
        var src = view.Source;
        Assert.Equal(15, view.GetRowCount());
        Assert.Equal(5, Enumerable.Range(0, 15).Count(r => src.GetLabel(r)));
        var csv = File.ReadAllLines(Path.Combine(root, "train_labels.csv"));
        Assert.Equal(csv[1].Split(',')[0] + ".tif", Path.GetFileName(src.GetPath(0)));
        Assert.Equal(csv[1].Split(',')[1] == "1", src.GetLabel(0));
        Assert.Equal(Enumerable.Range(0, 15).Select(i => (long)i), Enumerable.Range(0, 15).Select(r => src.GetIndex(r)));
        var img = ViewReader.Images(view)[0];
        Assert.InRange(img.Average(b => (double)b), 30, 254);

        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(root, PCamSplit.Valid));
        Assert.Contains("'valid'", e.Message);
        using var test = KaggleSource.OpenUnlabelledTest(root);
        Assert.False(test.IsLabelled);
        Assert.True(test.RowCount > 0);
    }

    private static byte[] Pattern(int seed)
    {
        var px = new byte[PatchSchema.ImageBytes];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i * 7 + seed * 13 + i / 288);
        return px;
    }

    private static byte[] EncodeSkia(byte[] rgb, int w, int h, SKEncodedImageFormat format)
    {
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * 3 % rgb.Length;
                bmp.SetPixel(x, y, new SKColor(rgb[o], rgb[o + 1], rgb[o + 2]));
            }
        using var data = bmp.Encode(format, 100);
        return data.ToArray();
    }

    private static void WriteTiff(string path, byte[] rgb)
    {
        using var t = Tiff.Open(path, "w");
        t.SetField(TiffTag.IMAGEWIDTH, 96);
        t.SetField(TiffTag.IMAGELENGTH, 96);
        t.SetField(TiffTag.SAMPLESPERPIXEL, 3);
        t.SetField(TiffTag.BITSPERSAMPLE, 8);
        t.SetField(TiffTag.PHOTOMETRIC, Photometric.RGB);
        t.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
        t.SetField(TiffTag.ROWSPERSTRIP, 96);
        for (int y = 0; y < 96; y++) t.WriteScanline(rgb, y * 288, y, 0);
    }

    [Fact]
    public void GeneratedFoldersDecodePngAndTiffExactlyByMagicNumber()
    {
        var split = _dir["train"];
        Directory.CreateDirectory(Path.Combine(split, "negative"));
        Directory.CreateDirectory(Path.Combine(split, "positive"));
        var a = Pattern(1);
        var b = Pattern(2);
        // A PNG named .jpg: the bytes decide the decoder.
        File.WriteAllBytes(Path.Combine(split, "negative", "patch0000042.jpg"), EncodeSkia(a, 96, 96, SKEncodedImageFormat.Png));
        WriteTiff(Path.Combine(split, "positive", "patch0000007.tif"), b);
        File.WriteAllBytes(Path.Combine(split, "positive", "notes.txt"), [1, 2, 3]); // ignored: not an image extension
        Assert.Equal(PatchSourceKind.ImageFolders, PCamData.Detect(_dir.Path));
        using var view = PCamData.Open(_dir.Path, PCamSplit.Train);
        Assert.Equal(2, view.GetRowCount());
        var src = view.Source;
        Assert.Equal(7, src.GetIndex(0));
        Assert.True(src.GetLabel(0));
        Assert.Equal(42, src.GetIndex(1));
        Assert.False(src.GetLabel(1));
        var images = ViewReader.Images(view);
        Assert.Equal(b, images[7]);
        Assert.Equal(a, images[42]);
        var e = Assert.Throws<PCamDataException>(() => PCamData.Open(_dir.Path, PCamSplit.Test));
        Assert.Contains("'test'", e.Message);
    }

    [Fact]
    public void Non96x96ImageIsAnErrorNamingTheFile()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir["train"], "1")).FullName;
        var file = Path.Combine(dir, "patch0000001.png");
        File.WriteAllBytes(file, EncodeSkia(Pattern(3), 64, 64, SKEncodedImageFormat.Png));
        using var view = PCamData.Open(_dir.Path, PCamSplit.Train);
        var e = Assert.Throws<PCamDataException>(() => ViewReader.Images(view));
        Assert.Contains(file, e.Message);
        Assert.Contains("64x64", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, "not a PNG, JPEG, TIFF or BMP")]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46 }, "cannot decode")]
    [InlineData(new byte[] { 0x49, 0x49, 0x2A, 0, 8, 0, 0, 0 }, "cannot decode")]
    public void Unreadable_image_is_an_error_naming_the_file(byte[] bytes, string expected)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir["valid"], "0")).FullName;
        var file = Path.Combine(dir, "bad.jpg");
        File.WriteAllBytes(file, bytes);
        using var view = PCamData.Open(_dir.Path, PCamSplit.Valid);
        Assert.Equal(0, view.Source.GetIndex(0)); // no number in the name: the row number
        var e = Assert.Throws<PCamDataException>(() => ViewReader.Images(view));
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
