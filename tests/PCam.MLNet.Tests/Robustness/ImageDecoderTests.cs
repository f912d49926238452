using PCam.MLNet.Data;
using Xunit;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>Strict decoding (no half images) and one colour-type rule for every format.</summary>
public class ImageDecoderTests
{
    public static TheoryData<string> Formats => new() { "png", "jpeg", "bmp", "tiff" };

    static byte[] Encode(string format, byte[] rgb) => format switch
    {
        "png" => TestImages.Png(rgb),
        "jpeg" => TestImages.Jpeg(rgb),
        "bmp" => TestImages.Bmp(rgb),
        "tiff" => TestImages.Tiff(rgb),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void IntactFileDecodes(string format)
    {
        var rgb = TestImages.Pattern(5);
        var decoded = new byte[PatchSchema.ImageBytes];
        PatchImageDecoder.Decode(Encode(format, rgb), "patch." + format, decoded);
        if (format == "jpeg") Assert.InRange(decoded.Average(b => (double)b) - rgb.Average(b => (double)b), -4, 4); // lossy: same overall brightness
        else Assert.Equal(rgb, decoded);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void TruncatedFileIsAnErrorNamingTheFileAtEveryLength(string format)
    {
        using var dir = new Data.TempDir();
        var bytes = Encode(format, TestImages.Pattern(6));
        // From inside the header to one byte short of the pixel data's end.
        var lengths = new[] { 10, 40, bytes.Length / 4, bytes.Length / 2, bytes.Length * 3 / 4, bytes.Length * 9 / 10 }.Distinct();
        foreach (var length in lengths)
        {
            var path = dir[$"cut{length}.{format}"];
            File.WriteAllBytes(path, bytes[..length]);
            var e = Assert.Throws<PCamDataException>(() => PatchImageDecoder.DecodeFile(path));
            Assert.Contains(path, e.Message);
        }
    }

    [Fact]
    public void OpaqueRgbaAndPalettePngConvertToRgb()
    {
        var rgb = TestImages.Pattern(7);
        Assert.Equal(rgb, Decode(TestImages.RawPng(2, rgb)));
        Assert.Equal(rgb, Decode(TestImages.RawPng(6, rgb, alpha: 255)));
        var quantised = TestImages.PaletteQuantised(rgb);
        Assert.Equal(quantised, Decode(TestImages.RawPng(3, rgb)));
        Assert.Equal(quantised, Decode(TestImages.RawPng(3, rgb, alpha: 255, paletteAlpha: true)));
        Assert.Equal(rgb, Decode(TestImages.Tiff(rgb, samples: 4, alpha: 255)));
    }

    [Theory]
    [InlineData("grey png", "grayscale")]
    [InlineData("grey+alpha png", "grayscale")]
    [InlineData("translucent rgba png", "translucent")]
    [InlineData("translucent palette png", "translucent")]
    [InlineData("grey tiff", "grayscale")]
    [InlineData("translucent rgba tiff", "translucent")]
    public void GreyAndTranslucentImagesAreRefused(string kind, string expected)
    {
        var rgb = TestImages.Pattern(8);
        var bytes = kind switch
        {
            "grey png" => TestImages.RawPng(0, rgb),
            "grey+alpha png" => TestImages.RawPng(4, rgb, alpha: 255),
            "translucent rgba png" => TestImages.RawPng(6, rgb, alpha: 128),
            "translucent palette png" => TestImages.RawPng(3, rgb, alpha: 10, paletteAlpha: true),
            "grey tiff" => TestImages.Tiff(rgb, samples: 1),
            "translucent rgba tiff" => TestImages.Tiff(rgb, samples: 4, alpha: 0),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var e = Assert.Throws<PCamDataException>(() => Decode(bytes, "user/patch.img"));
        Assert.Contains("user/patch.img", e.Message);
        Assert.Contains(expected, e.Message);
    }

    static byte[] Decode(byte[] bytes, string name = "patch")
    {
        var decoded = new byte[PatchSchema.ImageBytes];
        PatchImageDecoder.Decode(bytes, name, decoded);
        return decoded;
    }
}
