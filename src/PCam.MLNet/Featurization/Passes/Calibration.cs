using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Data;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>How an activation's quantisation range is read from the calibration rows.</summary>
public enum CalibrationMethod
{
    /// <summary>The observed minimum and maximum (no clipping; outliers widen the step).</summary>
    MinMax,
    /// <summary>Clip each tail at <see cref="CalibrationTable.DefaultPercentile"/> (ONNX Runtime's percentile default, 99.999).</summary>
    Percentile,
}

/// <summary>Calibrated float range [Lo, Hi] of each quantised activation tensor, and how it was obtained.</summary>
public sealed class CalibrationTable
{
    public const double DefaultPercentile = 99.999;

    public required CalibrationMethod Method { get; init; }
    public double Percentile { get; init; } = DefaultPercentile;
    /// <summary>Calibration rows (patches) the ranges were measured on.</summary>
    public required int Rows { get; init; }
    public required int Seed { get; init; }
    public required IReadOnlyDictionary<string, (float Lo, float Hi)> Ranges { get; init; }

    public string Describe() => Method == CalibrationMethod.MinMax
        ? $"min-max over {Rows} train rows (seed {Seed})"
        : $"percentile {Percentile} over {Rows} train rows (seed {Seed})";

    /// <summary>Stable hash of the method and every range (for cache keys: other ranges, other features).</summary>
    public string Hash()
    {
        var sb = new StringBuilder().Append(Method).Append('|').Append(Percentile.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (k, (lo, hi)) in Ranges.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sb.Append('|').Append(k).Append(':').Append(BitConverter.SingleToInt32Bits(lo)).Append(',').Append(BitConverter.SingleToInt32Bits(hi));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()))).ToLowerInvariant();
    }
}

/// <summary>
/// Activation statistics of a float featurizer graph over calibration patches: per tensor, min/max and histograms of
/// the positive and negative values (2048 bins each, re-binned as the range grows, as ONNX Runtime's histogram
/// calibrator does), from which both a min-max and a percentile <see cref="CalibrationTable"/> are read.
/// Deterministic: the same patches give the same table.
/// </summary>
public sealed class CalibrationStatistics
{
    const int Bins = 2048;

    sealed class TensorStats
    {
        public float Min = float.PositiveInfinity, Max = float.NegativeInfinity;
        public readonly Side Pos = new(), Neg = new();
        public long Zeros;
    }

    /// <summary>Histogram of magnitudes on one side of zero, over [0, Top].</summary>
    sealed class Side
    {
        public double[] Counts = new double[Bins];
        public float Top;
        public long Total;

        public void Grow(float top)
        {
            if (top <= Top) return;
            if (Total > 0)
            {
                var old = Counts;
                Counts = new double[Bins];
                double oldW = Top / Bins, newW = top / Bins;
                for (int i = 0; i < Bins; i++)
                    if (old[i] > 0) Counts[Math.Min(Bins - 1, (int)((i + 0.5) * oldW / newW))] += old[i];
            }
            Top = top;
        }

        public void Add(float magnitude) { Counts[Math.Min(Bins - 1, (int)(magnitude * Bins / Top))] += 1; Total++; }

        /// <summary>Smallest magnitude m with at most <paramref name="tail"/> values above it.</summary>
        public float Clip(double tail)
        {
            if (Total == 0) return 0;
            double above = 0;
            for (int i = Bins - 1; i >= 0; i--)
            {
                if (above + Counts[i] > tail) return (i + 1) * Top / Bins;
                above += Counts[i];
            }
            return Top / Bins;
        }
    }

    readonly Dictionary<string, TensorStats> _stats;
    readonly IReadOnlyList<string> _tensors;

    CalibrationStatistics(IReadOnlyList<string> tensors)
    {
        _tensors = tensors;
        _stats = tensors.ToDictionary(t => t, _ => new TensorStats());
    }

    public int Rows { get; private set; }
    public int Seed { get; private init; }

    /// <summary>
    /// Runs the BatchNorm-folded float model (see <see cref="QuantizePass.FoldBatchNorm"/>) on <paramref name="count"/>
    /// patches (count x 27648 HWC RGB bytes) and records the statistics of the tensors <see cref="QuantizePass"/> quantises.
    /// </summary>
    public static CalibrationStatistics Collect(ModelProto folded, ReadOnlySpan<byte> images, int count, int seed,
        int batchSize = 16, int? threads = null, Action<long>? onRows = null, string? externalFolder = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        int side = FeaturizerGraph.InputSideOf(folded), rowBytes = side * side * PatchSchema.Channels;
        if (images.Length < (long)count * rowBytes)
            throw new ArgumentException($"images holds {images.Length} bytes; {count} images need {(long)count * rowBytes}.", nameof(images));
        var tensors = QuantizePass.ActivationTensors(folded);
        var probe = folded.Clone();
        foreach (var t in tensors)
            probe.Graph.Output.Add(new ValueInfoProto { Name = t, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        var stats = new CalibrationStatistics(tensors) { Seed = seed };
        if (tensors.Count == 0) { stats.Rows = count; return stats; } // nothing to quantise (no Conv/Add in the graph)
        using var options = BatchFeaturizer.CreateOptions(threads, externalFolder);
        using var session = new InferenceSession(probe.ToByteArray(), options);
        using var run = new RunOptions();
        var names = tensors.ToArray();
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            var batch = images.Slice(start * rowBytes, n * rowBytes).ToArray();
            using var input = OrtValue.CreateTensorValueFromMemory(batch, [n, side, side, PatchSchema.Channels]);
            using var results = session.Run(run, [FeaturizerGraph.InputName], [input], names);
            // Tensors are independent: one task each; each tensor's own update order is fixed, so results are deterministic.
            Parallel.For(0, names.Length, i => stats.Update(names[i], results[i].GetTensorDataAsSpan<float>()));
            stats.Rows += n;
            onRows?.Invoke(stats.Rows);
        }
        return stats;
    }

    void Update(string tensor, ReadOnlySpan<float> values)
    {
        var s = _stats[tensor];
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in values) { if (v < min) min = v; if (v > max) max = v; }
        s.Min = Math.Min(s.Min, min);
        s.Max = Math.Max(s.Max, max);
        if (max > 0) s.Pos.Grow(max);
        if (min < 0) s.Neg.Grow(-min);
        foreach (var v in values)
        {
            if (v > 0) s.Pos.Add(v);
            else if (v < 0) s.Neg.Add(-v);
            else s.Zeros++;
        }
    }

    /// <summary>The ranges by <paramref name="method"/>; Percentile clips each tail to (100 - percentile)% of all values.</summary>
    public CalibrationTable ToTable(CalibrationMethod method, double percentile = CalibrationTable.DefaultPercentile)
    {
        if (percentile is <= 50 or > 100) throw new ArgumentOutOfRangeException(nameof(percentile), "must be in (50, 100].");
        var ranges = new Dictionary<string, (float, float)>();
        foreach (var t in _tensors)
        {
            var s = _stats[t];
            if (method == CalibrationMethod.MinMax) { ranges[t] = (Math.Min(s.Min, 0f), Math.Max(s.Max, 0f)); continue; }
            double tail = (s.Pos.Total + s.Neg.Total + s.Zeros) * (100 - percentile) / 100;
            ranges[t] = (-Math.Min(s.Neg.Clip(tail), Math.Max(0f, -s.Min)), Math.Min(s.Pos.Clip(tail), Math.Max(0f, s.Max)));
        }
        return new CalibrationTable { Method = method, Percentile = percentile, Rows = Rows, Seed = Seed, Ranges = ranges };
    }
}
