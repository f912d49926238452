using PCam.MLNet.Featurization;

namespace PCam.MLNet.Vision;

/// <summary>
/// The bottleneck phase: decodes and stretches encoded images (<see cref="ImageDecoding"/>, the saved model's own rule)
/// and runs the featurizer graph on them in batches (<see cref="BatchFeaturizer"/>). The trainer's one seam to the
/// featurizer: everything else (graph, int8, model zip) is the Featurization layer's.
/// </summary>
internal static class ImageFeaturizer
{
    /// <summary>Rows decoded and featurized per ONNX Runtime call.</summary>
    public const int Batch = 32;

    /// <summary>Features of every row (rows x graph.FeatureDimension); <paramref name="onImage"/> is called with each row index done.</summary>
    public static float[] Compute(ImageRows rows, FeaturizerGraph graph, ExecutionDevice device, Action<int>? onImage)
    {
        using var featurizer = new BatchFeaturizer(graph, device);
        int d = graph.FeatureDimension, side = graph.InputSide, bytes = graph.InputBytes;
        var features = new float[(long)rows.Count * d];
        var pixels = new byte[(long)Batch * bytes];
        for (int start = 0; start < rows.Count; start += Batch)
        {
            int n = Math.Min(Batch, rows.Count - start);
            ParallelDecode(n, i => ImageDecoding.DecodeStretched(rows.Images[start + i], side, rows.Names[start + i]).CopyTo(pixels, (long)i * bytes));
            featurizer.Featurize(pixels.AsSpan(0, n * bytes), n, features.AsSpan(start * d, n * d));
            for (int i = 0; i < n; i++) onImage?.Invoke(start + i);
        }
        return features;
    }

    /// <summary>Decoded pixels of the given rows (for int8 calibration).</summary>
    public static byte[] Decode(ImageRows rows, IReadOnlyList<int> which, int side)
    {
        int bytes = side * side * 3;
        var pixels = new byte[(long)which.Count * bytes];
        ParallelDecode(which.Count, i => ImageDecoding.DecodeStretched(rows.Images[which[i]], side, rows.Names[which[i]]).CopyTo(pixels, (long)i * bytes));
        return pixels;
    }

    /// <summary>Decodes on every core; a bad image surfaces as its own error (naming the row), not wrapped in an AggregateException.</summary>
    private static void ParallelDecode(int count, Action<int> decode)
    {
        try { Parallel.For(0, count, decode); }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
