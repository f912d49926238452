using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;

namespace PCam.MLNet.Training;

/// <summary>Calibration of the int8 featurizer on a seeded, class-balanced sample of train rows (never valid or test).</summary>
public static class Int8Calibration
{
    /// <summary>
    /// The activation ranges for an int8 featurizer, or null (after one warning) when <paramref name="fp32"/> cannot be
    /// quantised (<see cref="FeaturizerGraph.Int8Unsupported"/>): then the graph stays as exported and records that precision.
    /// </summary>
    public static CalibrationTable? TryCalibrate(PatchDataView train, FeaturizerGraph fp32, TrainingOptionConfig t, int? threads, ITrainingLog log) =>
        TryCalibrate(train, fp32, t.CalibrationRows, t.Seed, t.CalibrationMethod, threads, log);

    /// <summary>
    /// As above for any view with an Image column (what <see cref="PatchFeaturizerEstimator"/> is fitted on): a PCam view
    /// gives a seeded class-balanced sample, any other view its first <paramref name="rows"/> rows.
    /// </summary>
    public static CalibrationTable? TryCalibrate(IDataView train, FeaturizerGraph fp32, int rows, int seed, CalibrationMethod method, int? threads, ITrainingLog log)
    {
        if (fp32.Int8Unsupported() is { } why)
        {
            log.Warning($"Precision int8 is not applied: {why}; the featurizer stays as exported (recorded as {fp32.Precision} in the model and metrics). " +
                        "Set TrainingOption.Precision to fp32 to silence this.");
            return null;
        }
        var images = train is PatchDataView patches ? ReadSample(patches, rows, seed, out int n) : ReadFirst(train, rows, out n);
        using var task = log.StartTask("Calibrating int8", n);
        long done = 0;
        var stats = fp32.Calibrate(images, n, seed, threads, r => { task.Advance(r - done); done = r; });
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

    /// <summary>Reads <see cref="TrainingOptionConfig.CalibrationRows"/> balanced train rows (seed <see cref="TrainingOptionConfig.Seed"/>)
    /// and measures the activation ranges of the single-view fp32 graph <paramref name="fp32"/>.</summary>
    public static CalibrationTable Calibrate(PatchDataView train, FeaturizerGraph fp32, TrainingOptionConfig t, int? threads, ITrainingLog log)
    {
        var images = ReadSample(train, t.CalibrationRows, t.Seed, out int n);
        using var task = log.StartTask("Calibrating int8", n);
        long done = 0;
        var stats = fp32.Calibrate(images, n, t.Seed, threads, rows => { task.Advance(rows - done); done = rows; });
        return stats.ToTable(t.CalibrationMethod);
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
