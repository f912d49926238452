using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Image;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization;

/// <summary>Throughput figures (rows per second) measured on the same rows.</summary>
public sealed record FeaturizerBenchmarkResult(
    int Rows,
    int BatchSize,
    int FeatureDimension,
    string Device,
    double FeaturizerRowsPerSecond,
    double BareSessionRowsPerSecond,
    int StockRows,
    double? StockDnnRowsPerSecond)
{
    /// <summary>BatchFeaturizer / bare InferenceSession.Run (goal >= 0.9).</summary>
    public double RatioToBare => FeaturizerRowsPerSecond / BareSessionRowsPerSecond;
    /// <summary>BatchFeaturizer / ML.NET's stock DnnImageFeaturizer ResNet18 pipeline (goal >= 10).</summary>
    public double? SpeedupVsStock => StockDnnRowsPerSecond is { } s ? FeaturizerRowsPerSecond / s : null;
}

public static class FeaturizerBenchmark
{
    /// <summary>
    /// Featurizes <paramref name="count"/> patches (count x 27648 HWC RGB bytes) with the BatchFeaturizer, with a bare
    /// InferenceSession.Run loop over the same graph and batch size, and (if stockRows > 0) with ML.NET's stock
    /// LoadImages/ResizeImages(224)/ExtractPixels/DnnFeaturizeImage(ResNet18) pipeline on the first stockRows patches.
    /// </summary>
    public static FeaturizerBenchmarkResult Run(FeaturizerGraph graph, byte[] images, int count, ExecutionDevice device,
        int batchSize = 64, int? threads = null, int stockRows = 64, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(images);
        if (count <= 0 || images.Length < (long)count * PatchSchema.ImageBytes)
            throw new ArgumentException($"Need {count} patches of {PatchSchema.ImageBytes} bytes; got {images.Length} bytes.", nameof(images));

        using var featurizer = new BatchFeaturizer(graph, device, threads) { MaxBatch = batchSize };
        var features = new float[(long)count * graph.FeatureDimension];
        featurizer.Featurize(images, Math.Min(count, batchSize), features); // warm-up: allocations, kernels
        var sw = Stopwatch.StartNew();
        featurizer.Featurize(images, count, features);
        double ours = count / sw.Elapsed.TotalSeconds;
        log?.Invoke($"BatchFeaturizer ({featurizer.DeviceDescription}): {ours:F1} rows/s");

        double bare = BareSession(graph, images, count, device, batchSize, threads);
        log?.Invoke($"Bare InferenceSession.Run: {bare:F1} rows/s");

        double? stock = null;
        int sRows = Math.Min(stockRows, count);
        if (sRows > 0)
        {
            stock = StockDnnFeaturizer(images, sRows);
            log?.Invoke($"ML.NET DnnImageFeaturizer ResNet18 (224 px): {stock:F1} rows/s");
        }
        return new(count, batchSize, graph.FeatureDimension, featurizer.DeviceDescription, ours, bare, sRows, stock);
    }

    /// <summary>The straightforward way: copy each batch into an array, Run, copy the result out.</summary>
    static double BareSession(FeaturizerGraph graph, byte[] images, int count, ExecutionDevice device, int batchSize, int? threads)
    {
        var (session, _) = BatchFeaturizer.CreateSession(graph.ModelBytes, device, threads);
        using var _s = session;
        using var runOptions = new RunOptions();
        var output = new float[(long)count * graph.FeatureDimension];
        void Pass(int rows)
        {
            for (int start = 0; start < rows; start += batchSize)
            {
                int n = Math.Min(batchSize, rows - start);
                var batch = images.AsSpan(start * PatchSchema.ImageBytes, n * PatchSchema.ImageBytes).ToArray();
                using var input = OrtValue.CreateTensorValueFromMemory(batch, [n, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels]);
                using var results = session.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.OutputName]);
                results[0].GetTensorDataAsSpan<float>().CopyTo(output.AsSpan(start * graph.FeatureDimension));
            }
        }
        Pass(Math.Min(count, batchSize));
        var sw = Stopwatch.StartNew();
        Pass(count);
        return count / sw.Elapsed.TotalSeconds;
    }

    sealed class ImageRow
    {
        [ImageType(PatchSchema.Height, PatchSchema.Width)]
        public MLImage Image { get; set; } = null!;
    }

    /// <summary>ML.NET's documented recipe: images -> 224x224 -> planar pixels -> DnnFeaturizeImage(ResNet18) -> 512 floats.</summary>
    static double StockDnnFeaturizer(byte[] images, int rows)
    {
        var ml = new MLContext(seed: 0);
        var bitmaps = new List<ImageRow>(rows);
        var rgba = new byte[PatchSchema.Height * PatchSchema.Width * 4];
        for (int i = 0; i < rows; i++)
        {
            var src = images.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes);
            for (int p = 0; p < PatchSchema.Height * PatchSchema.Width; p++)
            {
                rgba[p * 4] = src[p * 3]; rgba[p * 4 + 1] = src[p * 3 + 1]; rgba[p * 4 + 2] = src[p * 3 + 2]; rgba[p * 4 + 3] = 255;
            }
            bitmaps.Add(new ImageRow { Image = MLImage.CreateFromPixels(PatchSchema.Width, PatchSchema.Height, MLPixelFormat.Rgba32, rgba) });
        }
        try
        {
            var data = ml.Data.LoadFromEnumerable(bitmaps);
            var pipeline = ml.Transforms.ResizeImages("Image", 224, 224)
                .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
                .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"));
            var model = pipeline.Fit(data);
            var warm = ml.Data.TakeRows(data, 1);
            _ = model.Transform(warm).GetColumn<float[]>("Features").Count();
            var sw = Stopwatch.StartNew();
            long n = model.Transform(data).GetColumn<float[]>("Features").LongCount();
            return n / sw.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var b in bitmaps) b.Image.Dispose();
        }
    }
}
