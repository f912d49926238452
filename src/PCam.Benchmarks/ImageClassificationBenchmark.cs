using System.Diagnostics;
using Microsoft.ML;
using PCam.MLNet.Featurization;
using PCam.MLNet.Vision;
using SkiaSharp;

namespace PCam.Benchmarks;

/// <summary>One timed Fit of the image-classification trainer.</summary>
/// <param name="Images">Rows fitted on (train + validation).</param>
/// <param name="BottleneckSeconds">First to last bottleneck (decode + stretch + featurize), measured by the metrics callback.</param>
/// <param name="FitSeconds">The whole Fit: graph, int8 calibration and check, bottlenecks, softmax layer, model.</param>
public sealed record ImageClassificationBenchRun(int Images, double BottleneckSeconds, double FitSeconds, int Epochs, string Precision);

/// <summary>
/// `pcam bench image-classification`: ML.NET's ImageClassificationTrainer workload (photos of about 320x240 px, a few
/// classes, encoded JPEG bytes) through this engine's trainer, decode included. The photos are generated textures
/// (each class its own colour, stripe frequency and angle, with per-image noise), written as JPEG at quality 90.
/// </summary>
public static class ImageClassificationBenchmark
{
    /// <summary>Encoded JPEGs of <paramref name="count"/> photos in <paramref name="classes"/> classes (round robin).</summary>
    public static (byte[] Image, string Label)[] Generate(int count, int classes, int width, int height, int seed)
    {
        var rng = new Random(seed);
        var result = new (byte[], string)[count];
        for (int i = 0; i < count; i++)
        {
            int c = i % classes;
            using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
            double freq = 0.03 + 0.025 * c, angle = 0.6 * c + rng.NextDouble() * 0.3, phase = rng.NextDouble() * 6.28;
            byte baseR = (byte)(60 + 35 * c), baseG = (byte)(200 - 30 * c), baseB = (byte)(90 + 20 * ((c * 3) % 5));
            var pixels = new byte[width * height * 4];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double s = Math.Sin((x * Math.Cos(angle) + y * Math.Sin(angle)) * freq * 6.28 + phase);
                    int n = rng.Next(-25, 26);
                    int o = (y * width + x) * 4;
                    pixels[o] = (byte)Math.Clamp(baseR + 50 * s + n, 0, 255);
                    pixels[o + 1] = (byte)Math.Clamp(baseG + 40 * s + n, 0, 255);
                    pixels[o + 2] = (byte)Math.Clamp(baseB - 45 * s + n, 0, 255);
                    pixels[o + 3] = 255;
                }
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
            result[i] = (data.ToArray(), $"class{c}");
        }
        return result;
    }

    private sealed class Row
    {
        public byte[] Image { get; set; } = [];
        public string Label { get; set; } = "";
    }

    /// <summary>Fits the trainer (default options but <paramref name="precision"/>) on the photos; 10% are held out for validation as ML.NET does.</summary>
    public static ImageClassificationBenchRun Run((byte[] Image, string Label)[] photos, FeaturizerPrecision precision, int seed)
    {
        var ml = new MLContext(seed);
        var view = ml.Data.LoadFromEnumerable(photos.Select(p => new Row { Image = p.Image, Label = p.Label }));
        var data = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label").Fit(view).Transform(view);
        // Bottleneck callbacks arrive after each batch of 32: the span from the first to the last covers every batch but
        // the first, so images/s = (images - 32) / span.
        var clock = new Stopwatch();
        int seen = 0;
        double span = 0;
        var options = new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "Image", LabelColumnName = "LabelAsKey", Precision = precision, Seed = seed,
            MetricsCallback = m =>
            {
                if (m.Bottleneck is null) return;
                if (seen++ == 0) clock.Start();
                span = clock.Elapsed.TotalSeconds;
            },
        };
        var watch = Stopwatch.StartNew();
        using var model = ml.MulticlassClassification.Trainers.ImageClassification(options).Fit(data);
        watch.Stop();
        const int firstBatch = 32;
        double perImage = seen > firstBatch && span > 0 ? span / (seen - firstBatch) : double.NaN;
        return new(photos.Length, perImage * photos.Length, watch.Elapsed.TotalSeconds, model.EpochsRun, model.Precision);
    }
}
