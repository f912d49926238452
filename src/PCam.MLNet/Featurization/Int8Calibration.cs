using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization.Passes;

namespace PCam.MLNet.Featurization;

/// <summary>Calibration of the int8 featurizer on a seeded, class-balanced sample of train rows (never valid or test).</summary>
public static class Int8Calibration
{
    /// <summary>
    /// Lowest mean feature cosine (int8 vs fp32, over the first <see cref="CheckRows"/> calibration rows) an int8
    /// featurizer may have; below it the backbone runs in fp32. ResNet18 and the ViT fixtures reach 0.999+.
    /// </summary>
    public const double MinMeanCosine = 0.98;
    /// <summary>Calibration rows the drift check featurizes in both precisions.</summary>
    public const int CheckRows = 64;

    /// <summary>
    /// The activation ranges for an int8 featurizer, or null (after one warning naming why) when the backbone runs
    /// in fp32 instead: <paramref name="fp32"/> cannot be quantised (<see cref="FeaturizerGraph.Int8Unsupported"/>),
    /// its quantised graph fails ONNX Runtime's load checks, or its features drift (mean cosine against fp32 on
    /// calibration rows below <paramref name="minCosine"/>, default <see cref="MinMeanCosine"/>). The graph then
    /// stays as exported and records that precision in the model and metrics.
    /// <paramref name="train"/> is any view with an Image column: a PCam view gives a seeded class-balanced sample of
    /// <paramref name="rows"/> rows, any other view its first <paramref name="rows"/> rows.
    /// <paramref name="reason"/> says why the featurizer runs at the precision it does (for the metrics and `pcam inspect`).
    /// </summary>
    public static CalibrationTable? TryCalibrate(IDataView train, FeaturizerGraph fp32, int rows, int seed, CalibrationMethod method, int? threads,
        ITrainingLog log, out string reason, double minCosine = MinMeanCosine)
    {
        var images = train is PatchDataView patches ? ReadSample(patches, rows, seed, out int n) : ReadFirst(train, rows, out n);
        return TryCalibrate(images, n, fp32, seed, method, threads, log, out reason, minCosine);
    }

    /// <summary>
    /// As above on images already read: <paramref name="count"/> images of the graph's input side
    /// (<see cref="FeaturizerGraph.InputBytes"/> each, HWC RGB), e.g. decoded and resized by the image-classification trainer.
    /// </summary>
    public static CalibrationTable? TryCalibrate(byte[] images, int count, FeaturizerGraph fp32, int seed, CalibrationMethod method, int? threads,
        ITrainingLog log, out string reason, double minCosine = MinMeanCosine)
    {
        string why = "";
        void Fallback(string because)
        {
            why = $"int8 not applied: {because}";
            log.Warning($"Precision int8 is not applied: {because}; the featurizer stays as exported (recorded as {fp32.Precision.Name()} in the model and metrics). " +
                        "Ask for fp32 (TrainingOption.Precision or PatchFeaturizerOptions.Precision) to silence this.");
        }
        if (fp32.Int8Unsupported() is { } unsupported) { Fallback(unsupported); reason = why; return null; }
        int n = count;
        var table = Calibrate(images, n, fp32, seed, method, threads, log);
        var check = Check(fp32, table, images, Math.Min(n, CheckRows), threads);
        if (check.Error is { } error) { Fallback($"backbone '{fp32.Backbone.Name}': its quantised graph fails ONNX Runtime's checks ({error})"); reason = why; return null; }
        if (check.MeanCosine < minCosine)
        {
            Fallback($"backbone '{fp32.Backbone.Name}': its int8 features drift from fp32 (mean cosine {check.MeanCosine:F4}, lowest {check.MinCosine:F4} on {check.Rows} calibration rows; floor {minCosine:F2})");
            reason = why;
            return null;
        }
        log.Info($"INT8 check: feature cosine vs fp32 mean {check.MeanCosine:F4}, lowest {check.MinCosine:F4} on {check.Rows} calibration rows (floor {minCosine:F2}).");
        reason = $"Conv/MatMul/Gemm weights int8 per channel, their inputs uint8 per tensor; feature cosine vs fp32 " +
                 $"mean {check.MeanCosine:F4}, lowest {check.MinCosine:F4} on {check.Rows} calibration rows (floor {minCosine:F2})";
        return table;
    }

    /// <summary>Result of <see cref="Check"/>: ONNX Runtime's load error, or the int8 vs fp32 cosines.</summary>
    public sealed record Int8Check(int Rows, double MinCosine, double MeanCosine, string? Error);

    /// <summary>Quantises single-view <paramref name="fp32"/> with <paramref name="table"/>, loads it in ONNX Runtime and
    /// compares its features with fp32 on the first <paramref name="rows"/> patches of <paramref name="images"/>.</summary>
    public static Int8Check Check(FeaturizerGraph fp32, CalibrationTable table, byte[] images, int rows, int? threads)
    {
        BatchFeaturizer? int8 = null;
        try
        {
            try { int8 = new BatchFeaturizer(fp32.Quantize(table), ExecutionDevice.Cpu, threads); }
            catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidOperationException or InvalidDataException)
            {
                return new(rows, double.NaN, double.NaN, FirstLine(e.Message));
            }
            using var reference = new BatchFeaturizer(fp32, ExecutionDevice.Cpu, threads);
            float[] a = reference.Featurize(images, rows), b;
            try { b = int8.Featurize(images, rows); }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e) { return new(rows, double.NaN, double.NaN, FirstLine(e.Message)); }
            var (min, mean) = FeatureCosines.Of(a, b, rows, fp32.FeatureDimension);
            // A row whose int8 features are all zero (or NaN) has no cosine: it counts as 0, i.e. as drift.
            return new(rows, double.IsFinite(min) ? min : 0, double.IsFinite(mean) ? mean : 0, null);
        }
        finally { int8?.Dispose(); }
    }

    static string FirstLine(string s) { var i = s.IndexOf('\n'); return (i < 0 ? s : s[..i]).Trim(); }

    static CalibrationTable Calibrate(byte[] images, int n, FeaturizerGraph fp32, int seed, CalibrationMethod method, int? threads, ITrainingLog log)
    {
        using var task = log.StartTask("Calibrating int8", n);
        long done = 0;
        var stats = fp32.Calibrate(images, n, seed, threads, rows => { task.Advance(rows - done); done = rows; });
        return stats.ToTable(method);
    }

    /// <summary>The pixels of the first (up to) <paramref name="rows"/> rows of a view with an Image column.</summary>
    internal static byte[] ReadFirst(IDataView data, int rows, out int count)
    {
        var column = data.Schema[PatchSchema.ImageColumn];
        var buffer = new List<byte>();
        count = 0;
        using (var cursor = data.GetRowCursor([column]))
        {
            var getter = cursor.GetGetter<VBuffer<byte>>(column);
            VBuffer<byte> image = default;
            while (count < rows && cursor.MoveNext())
            {
                getter(ref image);
                if (image.Length != PatchSchema.ImageBytes)
                    throw new PCamDataException($"row {count}: the Image column holds {image.Length} bytes, not {PatchSchema.ImageBytes} (96x96x3).");
                buffer.AddRange(image.DenseValues());
                count++;
            }
        }
        if (count == 0) throw new PCamDataException("no rows to calibrate the int8 featurizer on (the data the featurizer is fitted on is empty).");
        return buffer.ToArray();
    }

    /// <summary>The pixels of a seeded class-balanced sample of up to <paramref name="rows"/> rows, in source order.</summary>
    public static byte[] ReadSample(PatchDataView data, int rows, int seed, out int count)
    {
        var sample = data.SampleBalanced(rows, seed);
        count = (int)(sample.GetRowCount() ?? 0);
        if (count == 0) throw new PCamDataException($"{data.Source.Description}: no train rows to calibrate the int8 featurizer on.");
        var images = new byte[(long)count * PatchSchema.ImageBytes];
        var sourceRows = sample.Rows!;
        for (int i = 0; i < count; i++)
            data.Source.ReadImages(sourceRows[i], 1, images.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
        return images;
    }
}
