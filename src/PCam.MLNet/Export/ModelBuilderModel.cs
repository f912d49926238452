using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using PCam.MLNet.Data;
using PCam.MLNet.Training;

namespace PCam.MLNet.Export;

/// <summary>
/// Model Builder's image-classification input: the encoded image file's bytes and an optional label, plus the decoded
/// image ML.NET's pipeline reads. ML.NET 5.0.1 has no transform that decodes a byte column (LoadImages takes file paths
/// only, and ONNX Runtime 1.31 has no ImageDecoder kernel), so the decoding is one property: ML.NET's own
/// <see cref="MLImage.CreateFromStream"/> (SkiaSharp: PNG, JPEG, BMP, GIF, WebP; not TIFF).
/// </summary>
public sealed class ModelBuilderInput
{
    [ColumnName(ModelBuilderModel.LabelColumn)]
    public string Label { get; set; } = "";

    [ColumnName(ModelBuilderModel.ImageSourceColumn)]
    public byte[] ImageSource { get; set; } = [];

    // The declared 96x96 is the type's label only: ResizeImages (IsoCrop, centre) brings any decoded size to 96x96.
    [ColumnName(ModelBuilderModel.DecodedColumn), ImageType(PatchSchema.Height, PatchSchema.Width)]
    public MLImage DecodedImage => ModelBuilderModel.Decode(ImageSource);
}

/// <summary>
/// Model Builder's image-classification input exactly as its generated consumption code declares it (Label, then the
/// encoded image file's bytes): the input of an exported ImageClassificationTrainer model, which decodes the bytes itself.
/// </summary>
public sealed class ModelBuilderImageInput
{
    /// <summary>The class name (optional when predicting).</summary>
    [LoadColumn(0), ColumnName(ModelBuilderModel.LabelColumn)]
    public string Label { get; set; } = "";

    /// <summary>The encoded image file's bytes.</summary>
    [LoadColumn(1), ColumnName(ModelBuilderModel.ImageSourceColumn)]
    public byte[] ImageSource { get; set; } = [];
}

/// <summary>Model Builder's image-classification output (as its generated consumption code declares it).</summary>
public sealed class ModelBuilderOutput
{
    [ColumnName(ModelBuilderModel.LabelColumn)]
    public uint Label { get; set; }

    [ColumnName(ModelBuilderModel.ImageSourceColumn)]
    public byte[] ImageSource { get; set; } = [];

    [ColumnName("PredictedLabel")]
    public string PredictedLabel { get; set; } = "";

    [ColumnName("Score")]
    public float[] Score { get; set; } = [];
}

/// <summary>
/// Wraps a PCam model zip in Model Builder's image-classification contract, with ML.NET transforms only:
/// Label -> MapValueToKey (keys "0", "1"); DecodedImage (ImageSource decoded by MLImage) -> ResizeImages
/// (96x96, IsoCrop, centre) -> ExtractPixels (interleaved RGB bytes = the zip's 96x96x3 HWC `Image`) -> the zip's own
/// transformers (ONNX featurizer, head, calibrator) -> Score = [P("0"), P("1")], PredictedLabel = "0" or "1".
/// </summary>
public static class ModelBuilderModel
{
    public const string LabelColumn = "Label";
    public const string ImageSourceColumn = "ImageSource";
    /// <summary>The label names in key order: Score[0] is P("0") (normal), Score[1] is P("1") (tumour).</summary>
    public static readonly string[] LabelNames = ["0", "1"];
    public const string DecodedColumn = "DecodedImage";
    internal const string ResizedColumn = "ImageSource_resized";
    internal const string NegativeColumn = "Probability_0";

    public static IDataView InputView(MLContext ml) => ml.Data.LoadFromEnumerable(Array.Empty<ModelBuilderInput>());

    /// <summary>
    /// Decodes an encoded image with ML.NET's ImageAnalytics (the decoder its LoadImages uses); one clear error for bytes
    /// it cannot decode.
    /// </summary>
    public static MLImage Decode(byte[]? encoded)
    {
        if (encoded is not { Length: > 0 }) throw new ArgumentException("ImageSource is empty: set it to the bytes of a PNG, JPEG or BMP file.");
        try
        {
            return MLImage.CreateFromStream(new MemoryStream(encoded, writable: false));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new ArgumentException($"ImageSource ({encoded.Length} bytes) is not an image ML.NET can decode " +
                                        "(PNG, JPEG, BMP, GIF or WebP; TIFF is not supported by ML.NET's SkiaSharp decoder).", e);
        }
    }

    /// <summary>The image front: the decoded image to the zip's 27,648-byte HWC RGB `Image` column.</summary>
    public static IEstimator<ITransformer> Decoder(MLContext ml) =>
        ml.Transforms.ResizeImages(ResizedColumn, PatchSchema.Width, PatchSchema.Height, DecodedColumn,
                ImageResizingEstimator.ResizingKind.IsoCrop, ImageResizingEstimator.Anchor.Center)
            .Append(ml.Transforms.ExtractPixels(PatchSchema.ImageColumn, ResizedColumn,
                ImagePixelExtractingEstimator.ColorBits.Rgb, ImagePixelExtractingEstimator.ColorsOrder.ARGB,
                interleavePixelColors: true, outputAsFloatArray: false));

    /// <summary>Builds the Model Builder flavour of a loaded PCam model (`zipModel` takes `Image` and gives `Probability`).</summary>
    public static ITransformer Build(MLContext ml, ITransformer zipModel)
    {
        var input = InputView(ml);
        var toKey = LabelToKey(ml, LabelNames, input);
        var keyed = toKey.Transform(input);
        var decoder = Decoder(ml).Fit(keyed);
        var decoded = decoder.Transform(keyed);
        var scored = zipModel.Transform(decoded);
        var tail = ml.Transforms.Expression(NegativeColumn, "p => 1 - p", "Probability")
            .Append(ml.Transforms.Concatenate("Score", NegativeColumn, "Probability"))
            .Append(ml.Transforms.Expression("PredictedLabel", "p => p >= 0.5 ? \"1\" : \"0\"", "Probability"))
            .Fit(scored);
        return new TransformerChain<ITransformer>(toKey, decoder, zipModel, tail);
    }

    /// <summary>
    /// Builds the Model Builder flavour of an ImageClassificationTrainer zip, with the zip's own steps in the middle:
    /// Label -> MapValueToKey (keys = the zip's class names, in its key order); ImageSource copied to the decoding step's
    /// column; the zip's decode + stretch, ONNX featurizer and softmax scorer; Score; PredictedLabel -> MapKeyToValue.
    /// Loading it needs the PCam.MLNet assembly (the decoding step), which the saved copy step names so that ML.NET
    /// loads it without registration code.
    /// </summary>
    public static ITransformer BuildImageClassifier(MLContext ml, ImageClassifierZip zip)
    {
        var input = ml.Data.LoadFromEnumerable(Array.Empty<ModelBuilderImageInput>());
        var toKey = LabelToKey(ml, zip.Classes, input);
        IDataView view = toKey.Transform(input);
        var copy = new Vision.LoadableStep(ml.Transforms.CopyColumns(Vision.ImageDecoding.EncodedColumn, ImageSourceColumn).Fit(view));
        var steps = new List<ITransformer> { toKey, copy };
        view = copy.Transform(view);
        foreach (var step in zip.Core)
        {
            steps.Add(step);
            view = step.Transform(view);
        }
        if (zip.ScoreColumn != "Score") Append(ml.Transforms.CopyColumns("Score", zip.ScoreColumn));
        Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", zip.PredictedLabelColumn));
        return new TransformerChain<ITransformer>(steps.ToArray());

        void Append(IEstimator<ITransformer> estimator)
        {
            var t = estimator.Fit(view);
            steps.Add(t);
            view = t.Transform(view);
        }
    }

    /// <summary>Label text to a key whose values are <paramref name="names"/> in that order (the order of Score).</summary>
    private static ITransformer LabelToKey(MLContext ml, IReadOnlyList<string> names, IDataView input) =>
        ml.Transforms.Conversion.MapValueToKey(LabelColumn, LabelColumn, keyData: ml.Data.LoadFromEnumerable(names.Select(l => new KeyRow { Label = l }))).Fit(input);

    private sealed class KeyRow
    {
        public string Label { get; set; } = "";
    }

    /// <summary>Saves with Model Builder's input schema (Label text, ImageSource bytes), through a temp file and rename.</summary>
    public static void Save(MLContext ml, ITransformer model, string path) => Save(model, InputView(ml).Schema, ml, path);

    /// <summary>Saves <paramref name="model"/> with <paramref name="inputSchema"/>, through a temp file and rename.</summary>
    public static void Save(ITransformer model, DataViewSchema inputSchema, MLContext ml, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            ml.Model.Save(model, inputSchema, tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
