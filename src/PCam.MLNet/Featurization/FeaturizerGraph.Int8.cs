using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Onnx;
using PCam.MLNet.Featurization.Passes;

namespace PCam.MLNet.Featurization;

/// <summary>Featurizer precision: the backbone as exported, or statically quantised (<see cref="QuantizePass"/>).</summary>
public enum FeaturizerPrecision
{
    /// <summary>The backbone as exported (float32, or float16 where the export is).</summary>
    Fp32,
    /// <summary>Static QDQ quantisation: Conv/MatMul/Gemm weights int8 per channel, their inputs uint8 per tensor.</summary>
    Int8,
}

/// <summary>The names users write ("fp32", "int8": config file, command line, model metadata), parsed once at the boundary.</summary>
public static class FeaturizerPrecisions
{
    /// <summary>Every precision's name, for error messages.</summary>
    public static readonly string[] Names = ["fp32", "int8"];

    /// <summary>"fp32" or "int8".</summary>
    public static string Name(this FeaturizerPrecision precision) => precision == FeaturizerPrecision.Int8 ? "int8" : "fp32";

    /// <summary>Parses "fp32" or "int8" (exact, as written in mlnet.config.json and on the command line).</summary>
    public static bool TryParse(string? name, out FeaturizerPrecision precision)
    {
        precision = name == "int8" ? FeaturizerPrecision.Int8 : FeaturizerPrecision.Fp32;
        return name is "fp32" or "int8";
    }

    /// <summary>As <see cref="TryParse"/>, or an ArgumentException naming the accepted values.</summary>
    public static FeaturizerPrecision Parse(string name) =>
        TryParse(name, out var p) ? p : throw new ArgumentException($"precision '{name}' is not one of {string.Join(", ", Names)}.");
}

// The hook between the composed graph and the quantisation pass: kept apart from the graph's composition.
public sealed partial class FeaturizerGraph
{
    /// <summary>The graph's precision (<see cref="FeaturizerPrecisions.Name"/> gives "fp32" or "int8").</summary>
    public FeaturizerPrecision Precision { get; private init; } = FeaturizerPrecision.Fp32;
    /// <summary>The activation ranges an int8 graph was quantised with; null for fp32.</summary>
    public CalibrationTable? Calibration { get; private init; }

    /// <summary>The float model calibration runs: this graph with BatchNormalization folded into the convolutions.</summary>
    public ModelProto CalibrationModel()
    {
        if (Precision != FeaturizerPrecision.Fp32) throw new InvalidOperationException("Only an fp32 graph can be calibrated.");
        return QuantizePass.FoldBatchNorm(ModelProto.Parser.ParseFrom(ModelBytes));
    }

    /// <summary>Activation statistics of this (fp32) graph over calibration patches (count x 27648 HWC RGB bytes).</summary>
    public CalibrationStatistics Calibrate(ReadOnlySpan<byte> images, int count, int seed, int? threads = null, Action<long>? onRows = null) =>
        CalibrationStatistics.Collect(CalibrationModel(), images, count, seed, threads: threads, onRows: onRows, externalFolder: ExternalDataFolder);

    /// <summary>
    /// Why this graph cannot be quantised, or null when it can. The quantisation pass rewrites weights held inside
    /// the graph, so a backbone whose weights are external data (or float16) stays as exported.
    /// </summary>
    public string? Int8Unsupported()
    {
        if (ExternalData.Count > 0) return $"backbone '{Backbone.Name}' keeps its weights as external data";
        var g = ModelProto.Parser.ParseFrom(ModelBytes).Graph;
        const int f16 = (int)TensorProto.Types.DataType.Float16;
        if (g.Initializer.Any(t => t.DataType == f16) || g.Node.Any(n => n.OpType == "Constant" && n.Attribute.Any(a => a.T is { DataType: f16 })))
            return $"backbone '{Backbone.Name}' is a float16 export";
        if (g.Node.Any(n => n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0)))
            return $"backbone '{Backbone.Name}' is wrapped in a Scan (its fixed batch could not be made dynamic)";
        return null;
    }

    /// <summary>
    /// The int8 graph: same input, output, layout and feature meaning, backbone convolutions quantised with
    /// <paramref name="table"/>. Its fingerprint covers the ranges, so cached fp32 features are never reused for it.
    /// </summary>
    public FeaturizerGraph Quantize(CalibrationTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var model = QuantizePass.Apply(CalibrationModel(), table);
        model.MetadataProps.Add(new StringStringEntryProto { Key = "pcam.precision", Value = FeaturizerPrecision.Int8.Name() });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "pcam.calibration", Value = table.Describe() });
        var fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{Fingerprint}|int8|{table.Hash()}"))).ToLowerInvariant();
        return new FeaturizerGraph(model.ToByteArray(), FeatureDimension, fingerprint, Layout, Backbone, Options, ImageSize, ExternalData, ExternalDataFolder, Warnings)
        {
            Precision = FeaturizerPrecision.Int8,
            Calibration = table,
        };
    }
}
