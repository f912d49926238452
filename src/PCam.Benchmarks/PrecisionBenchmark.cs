using System.Diagnostics;
using PCam.MLNet.Data;

namespace PCam.Benchmarks;

/// <summary>fp32 vs int8 featurization of the same rows, timed alternately in one process, and how close the features are.</summary>
public sealed record PrecisionComparison(int Rows, int BatchSize, double Fp32RowsPerSecond, double Int8RowsPerSecond, double MinCosine, double MeanCosine)
{
    /// <summary>int8 rows/s over fp32 rows/s (goal >= 2).</summary>
    public double Speedup => Int8RowsPerSecond / Fp32RowsPerSecond;
}

public static class PrecisionBenchmark
{
    /// <summary>Runs both graphs over the same patches, alternating, <paramref name="repeats"/> times; keeps each one's best rate.</summary>
    public static PrecisionComparison Run(FeaturizerGraph fp32, FeaturizerGraph int8, byte[] images, int count, ExecutionDevice device,
        int batchSize = 64, int? threads = null, int repeats = 3)
    {
        ArgumentNullException.ThrowIfNull(fp32);
        ArgumentNullException.ThrowIfNull(int8);
        if (fp32.FeatureDimension != int8.FeatureDimension) throw new ArgumentException("The two graphs must produce the same features.");
        if (count <= 0 || images.Length < (long)count * PatchSchema.ImageBytes)
            throw new ArgumentException($"Need {count} patches of {PatchSchema.ImageBytes} bytes; got {images.Length} bytes.", nameof(images));
        using var a = new BatchFeaturizer(fp32, device, threads) { MaxBatch = batchSize };
        using var b = new BatchFeaturizer(int8, device, threads) { MaxBatch = batchSize };
        var fa = new float[(long)count * fp32.FeatureDimension];
        var fb = new float[fa.Length];
        int warm = Math.Min(count, batchSize);
        a.Featurize(images, warm, fa);
        b.Featurize(images, warm, fb);
        double ra = 0, rb = 0;
        for (int r = 0; r < Math.Max(1, repeats); r++)
        {
            var sw = Stopwatch.StartNew();
            a.Featurize(images, count, fa);
            ra = Math.Max(ra, count / sw.Elapsed.TotalSeconds);
            sw.Restart();
            b.Featurize(images, count, fb);
            rb = Math.Max(rb, count / sw.Elapsed.TotalSeconds);
        }
        var (min, mean) = FeatureCosines.Of(fa, fb, count, fp32.FeatureDimension);
        return new(count, batchSize, ra, rb, min, mean);
    }
}
