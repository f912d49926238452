using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using PCam.MLNet.Data;

namespace PCam.MLNet.Vision;

/// <summary>
/// The one resize rule, the same in Fit and in the saved model: decode (PNG, JPEG, BMP, GIF, WebP through SkiaSharp,
/// TIFF through LibTiff.NET; grey is expanded to RGB, alpha dropped) and stretch to side x side by bilinear
/// interpolation with half-pixel centres (the aspect ratio is not kept, as ML.NET's trainer does with TensorFlow's
/// resize_bilinear; nothing is cropped). Stretching a 96 px PCam patch to 192 px gives the same pixels as the PCam
/// featurizer's in-graph resize, rounded to bytes.
/// </summary>
public static class ImageDecoding
{
    /// <summary>The decoded image column the featurizer graph reads.</summary>
    public const string OutputColumn = "Image";
    /// <summary>The column the encoded bytes are copied to before decoding.</summary>
    public const string EncodedColumn = "PCamEncodedImage";
    /// <summary>The CustomMapping contract of each side: this prefix + the side.</summary>
    public const string ContractPrefix = "PCam.MLNet.Vision.DecodeImage.";
    /// <summary>The sides a saved model can decode to (each has its mapping class; the backbone's side must be one of them).</summary>
    public static readonly int[] Sides = [96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 480, 512];

    /// <summary>Decodes <paramref name="bytes"/> and stretches the image to <paramref name="side"/> x <paramref name="side"/> HWC RGB bytes.
    /// <paramref name="row"/> names the image in errors (e.g. "row 12 (cat/1.jpg)"); null in a loaded model.</summary>
    public static byte[] DecodeStretched(byte[]? bytes, int side, string? row)
    {
        var name = row ?? "image";
        if (bytes is null || bytes.Length == 0) throw new PCamDataException($"{name}: no image bytes (empty column value)");
        var rgb = PatchImageDecoder.DecodeAnySize(bytes, $"{name} ({bytes.Length} bytes)", out int w, out int h);
        var output = new byte[side * side * 3];
        Stretch(rgb, w, h, output, side);
        return output;
    }

    /// <summary>Bilinear resize with half-pixel centres (ONNX Resize linear/half_pixel), edges clamped.</summary>
    internal static void Stretch(byte[] src, int w, int h, byte[] dst, int side)
    {
        float sx = (float)w / side, sy = (float)h / side;
        var x0 = new int[side]; var x1 = new int[side]; var fx = new float[side];
        for (int x = 0; x < side; x++)
        {
            float u = Math.Clamp((x + 0.5f) * sx - 0.5f, 0, w - 1);
            x0[x] = (int)u; x1[x] = Math.Min(x0[x] + 1, w - 1); fx[x] = u - x0[x];
        }
        for (int y = 0; y < side; y++)
        {
            float v = Math.Clamp((y + 0.5f) * sy - 0.5f, 0, h - 1);
            int y0 = (int)v, y1 = Math.Min(y0 + 1, h - 1);
            float fy = v - y0;
            long r0 = (long)y0 * w * 3, r1 = (long)y1 * w * 3;
            int o = y * side * 3;
            for (int x = 0; x < side; x++, o += 3)
            {
                long a = r0 + x0[x] * 3, b = r0 + x1[x] * 3, c = r1 + x0[x] * 3, d = r1 + x1[x] * 3;
                float f = fx[x];
                for (int ch = 0; ch < 3; ch++)
                {
                    float top = src[a + ch] + (src[b + ch] - src[a + ch]) * f;
                    float bottom = src[c + ch] + (src[d + ch] - src[c + ch]) * f;
                    dst[o + ch] = (byte)Math.Clamp(MathF.Round(top + (bottom - top) * fy), 0, 255);
                }
            }
        }
    }

    /// <summary>The saved decoding step for <paramref name="side"/>: ML.NET's CustomMapping over the registered mapping of that side.</summary>
    internal static ITransformer Transformer(MLContext ml, int side, IDataView input)
    {
        IEstimator<ITransformer> mapping = side switch
        {
            96 => ml.Transforms.CustomMapping(new DecodeImage96().GetMapping(), ImageDecoding.ContractPrefix + "96"),
            128 => ml.Transforms.CustomMapping(new DecodeImage128().GetMapping(), ImageDecoding.ContractPrefix + "128"),
            160 => ml.Transforms.CustomMapping(new DecodeImage160().GetMapping(), ImageDecoding.ContractPrefix + "160"),
            192 => ml.Transforms.CustomMapping(new DecodeImage192().GetMapping(), ImageDecoding.ContractPrefix + "192"),
            224 => ml.Transforms.CustomMapping(new DecodeImage224().GetMapping(), ImageDecoding.ContractPrefix + "224"),
            256 => ml.Transforms.CustomMapping(new DecodeImage256().GetMapping(), ImageDecoding.ContractPrefix + "256"),
            288 => ml.Transforms.CustomMapping(new DecodeImage288().GetMapping(), ImageDecoding.ContractPrefix + "288"),
            320 => ml.Transforms.CustomMapping(new DecodeImage320().GetMapping(), ImageDecoding.ContractPrefix + "320"),
            352 => ml.Transforms.CustomMapping(new DecodeImage352().GetMapping(), ImageDecoding.ContractPrefix + "352"),
            384 => ml.Transforms.CustomMapping(new DecodeImage384().GetMapping(), ImageDecoding.ContractPrefix + "384"),
            416 => ml.Transforms.CustomMapping(new DecodeImage416().GetMapping(), ImageDecoding.ContractPrefix + "416"),
            448 => ml.Transforms.CustomMapping(new DecodeImage448().GetMapping(), ImageDecoding.ContractPrefix + "448"),
            480 => ml.Transforms.CustomMapping(new DecodeImage480().GetMapping(), ImageDecoding.ContractPrefix + "480"),
            512 => ml.Transforms.CustomMapping(new DecodeImage512().GetMapping(), ImageDecoding.ContractPrefix + "512"),
            _ => throw new PCamBackboneException($"the image side {side} px has no decoding step; use one of {string.Join(", ", Sides)}."),
        };
        return mapping.Fit(input);
    }
}

/// <summary>The encoded image bytes a saved model decodes (copied from the trainer's feature column).</summary>
public sealed class EncodedImage
{
    /// <summary>Encoded bytes (PNG, JPEG, TIFF, ...).</summary>
    [ColumnName(ImageDecoding.EncodedColumn)] public byte[] Bytes { get; set; } = [];
}

/// <summary>A decoded image, stretched to 96x96 px (HWC RGB).</summary>
public sealed class DecodedImage96 { /// <summary>96x96x3 bytes.</summary>
    [VectorType(96, 96, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 96x96 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "96")]
public sealed class DecodeImage96 : CustomMappingFactory<EncodedImage, DecodedImage96>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage96> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 96, null);
}

/// <summary>A decoded image, stretched to 128x128 px (HWC RGB).</summary>
public sealed class DecodedImage128 { /// <summary>128x128x3 bytes.</summary>
    [VectorType(128, 128, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 128x128 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "128")]
public sealed class DecodeImage128 : CustomMappingFactory<EncodedImage, DecodedImage128>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage128> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 128, null);
}

/// <summary>A decoded image, stretched to 160x160 px (HWC RGB).</summary>
public sealed class DecodedImage160 { /// <summary>160x160x3 bytes.</summary>
    [VectorType(160, 160, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 160x160 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "160")]
public sealed class DecodeImage160 : CustomMappingFactory<EncodedImage, DecodedImage160>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage160> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 160, null);
}

/// <summary>A decoded image, stretched to 192x192 px (HWC RGB).</summary>
public sealed class DecodedImage192 { /// <summary>192x192x3 bytes.</summary>
    [VectorType(192, 192, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 192x192 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "192")]
public sealed class DecodeImage192 : CustomMappingFactory<EncodedImage, DecodedImage192>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage192> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 192, null);
}

/// <summary>A decoded image, stretched to 224x224 px (HWC RGB).</summary>
public sealed class DecodedImage224 { /// <summary>224x224x3 bytes.</summary>
    [VectorType(224, 224, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 224x224 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "224")]
public sealed class DecodeImage224 : CustomMappingFactory<EncodedImage, DecodedImage224>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage224> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 224, null);
}

/// <summary>A decoded image, stretched to 256x256 px (HWC RGB).</summary>
public sealed class DecodedImage256 { /// <summary>256x256x3 bytes.</summary>
    [VectorType(256, 256, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 256x256 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "256")]
public sealed class DecodeImage256 : CustomMappingFactory<EncodedImage, DecodedImage256>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage256> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 256, null);
}

/// <summary>A decoded image, stretched to 288x288 px (HWC RGB).</summary>
public sealed class DecodedImage288 { /// <summary>288x288x3 bytes.</summary>
    [VectorType(288, 288, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 288x288 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "288")]
public sealed class DecodeImage288 : CustomMappingFactory<EncodedImage, DecodedImage288>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage288> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 288, null);
}

/// <summary>A decoded image, stretched to 320x320 px (HWC RGB).</summary>
public sealed class DecodedImage320 { /// <summary>320x320x3 bytes.</summary>
    [VectorType(320, 320, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 320x320 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "320")]
public sealed class DecodeImage320 : CustomMappingFactory<EncodedImage, DecodedImage320>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage320> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 320, null);
}

/// <summary>A decoded image, stretched to 352x352 px (HWC RGB).</summary>
public sealed class DecodedImage352 { /// <summary>352x352x3 bytes.</summary>
    [VectorType(352, 352, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 352x352 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "352")]
public sealed class DecodeImage352 : CustomMappingFactory<EncodedImage, DecodedImage352>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage352> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 352, null);
}

/// <summary>A decoded image, stretched to 384x384 px (HWC RGB).</summary>
public sealed class DecodedImage384 { /// <summary>384x384x3 bytes.</summary>
    [VectorType(384, 384, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 384x384 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "384")]
public sealed class DecodeImage384 : CustomMappingFactory<EncodedImage, DecodedImage384>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage384> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 384, null);
}

/// <summary>A decoded image, stretched to 416x416 px (HWC RGB).</summary>
public sealed class DecodedImage416 { /// <summary>416x416x3 bytes.</summary>
    [VectorType(416, 416, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 416x416 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "416")]
public sealed class DecodeImage416 : CustomMappingFactory<EncodedImage, DecodedImage416>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage416> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 416, null);
}

/// <summary>A decoded image, stretched to 448x448 px (HWC RGB).</summary>
public sealed class DecodedImage448 { /// <summary>448x448x3 bytes.</summary>
    [VectorType(448, 448, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 448x448 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "448")]
public sealed class DecodeImage448 : CustomMappingFactory<EncodedImage, DecodedImage448>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage448> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 448, null);
}

/// <summary>A decoded image, stretched to 480x480 px (HWC RGB).</summary>
public sealed class DecodedImage480 { /// <summary>480x480x3 bytes.</summary>
    [VectorType(480, 480, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 480x480 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "480")]
public sealed class DecodeImage480 : CustomMappingFactory<EncodedImage, DecodedImage480>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage480> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 480, null);
}

/// <summary>A decoded image, stretched to 512x512 px (HWC RGB).</summary>
public sealed class DecodedImage512 { /// <summary>512x512x3 bytes.</summary>
    [VectorType(512, 512, 3), ColumnName(ImageDecoding.OutputColumn)] public byte[] Image { get; set; } = []; }

/// <summary>Decodes <see cref="EncodedImage"/> bytes into a 512x512 image (registered for <c>mlContext.Model.Load</c>).</summary>
[CustomMappingFactoryAttribute(ImageDecoding.ContractPrefix + "512")]
public sealed class DecodeImage512 : CustomMappingFactory<EncodedImage, DecodedImage512>
{
    /// <inheritdoc/>
    public override Action<EncodedImage, DecodedImage512> GetMapping() => (i, o) => o.Image = ImageDecoding.DecodeStretched(i.Bytes, 512, null);
}
