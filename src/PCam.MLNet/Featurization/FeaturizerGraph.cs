using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using PCam.MLNet.Featurization.Passes;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization;

/// <summary>A contiguous block of the feature vector (which stage / pooling produced it).</summary>
public readonly record struct FeatureBlock(string Name, int Offset, int Length);

/// <summary>One composed ONNX graph: uint8 [N,96,96,3] RGB "Image" in, float [N,D] "Features" out.</summary>
public sealed class FeaturizerGraph
{
    public const string InputName = "Image";
    public const string OutputName = "Features";
    /// <summary>Bump when the composed graph changes meaning, so cached features are invalidated.</summary>
    public const int GraphVersion = 1;
    /// <summary>The opset the composed graph uses at least (Resize with sizes, Slice with steps, BatchNormalization without `spatial`).</summary>
    public const int MinOpset = 13;
    const string Prefix = "pcam_";

    FeaturizerGraph(byte[] bytes, int dim, string fingerprint, IReadOnlyList<FeatureBlock> layout, BackboneConfig backbone, FeaturizerOptions options)
    {
        ModelBytes = bytes;
        FeatureDimension = dim;
        Fingerprint = fingerprint;
        Layout = layout;
        Backbone = backbone;
        Options = options;
    }

    public byte[] ModelBytes { get; }
    public int FeatureDimension { get; }
    /// <summary>Stable hash of backbone bytes + preprocessing + options, for cache keys.</summary>
    public string Fingerprint { get; }
    /// <summary>Which stage/pooling fills which columns of the feature vector.</summary>
    public IReadOnlyList<FeatureBlock> Layout { get; }
    public BackboneConfig Backbone { get; }
    public FeaturizerOptions Options { get; }

    public void Save(string path) => File.WriteAllBytes(path, ModelBytes);

    /// <summary>
    /// Composes the featurizer from small passes (Passes/): adapt the backbone, preprocess, probe shapes, pool,
    /// average TTA views, append colour statistics, then the rewrite passes on the finished model.
    /// </summary>
    public static FeaturizerGraph Build(BackboneConfig backbone, FeaturizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(options);
        backbone.Validate();
        int size = options.ImageSize > 0 ? options.ImageSize : backbone.InputSize;
        var path = backbone.ResolveOnnxPath();
        if (!File.Exists(path))
            throw new FileNotFoundException($"Backbone '{backbone.Name}': ONNX file not found: {path}", path);
        var backboneBytes = File.ReadAllBytes(path);

        // The probe runs the graph once on one blank patch to learn each feature tensor's shape.
        var probe = BackboneAdapterPass.Apply(backbone, path, backboneBytes);
        var probeWriter = new GraphWriter(probe.Model.Graph, Prefix);
        PreprocessPass.Apply(probeWriter, backbone, probe.BackboneInput, size, tta: false);
        probeWriter.FlushPreprocessing();
        var shapes = ShapeProbe.Run(probe, backbone, size);

        var adapted = BackboneAdapterPass.Apply(backbone, path, backboneBytes);
        var model = adapted.Model;
        var w = new GraphWriter(model.Graph, Prefix);
        var rawFloat = PreprocessPass.Apply(w, backbone, adapted.BackboneInput, size, options.Tta);
        var pooled = PoolingPass.Apply(w, adapted.FeatureNames, shapes, options);
        var layout = pooled.Layout;
        int dim = pooled.Dimension;
        var features = pooled.Parts.Count == 1 ? pooled.Parts[0] : w.Node("Concat", pooled.Parts, "concat", false, Int("axis", 1));
        if (options.Tta) features = TtaPass.Apply(w, features, dim);
        if (options.ColorStats)
        {
            var stats = ColorStatsPass.Apply(w, rawFloat);
            layout.Add(new(ColorStatsPass.BlockName, dim, ColorStatsPass.Length));
            dim += ColorStatsPass.Length;
            features = w.Node("Concat", [features, stats], "withcolor", false, Int("axis", 1));
        }
        w.NodeTo("Identity", [features], OutputName);
        model.Graph.Output.Clear();
        model.Graph.Output.Add(TensorInfo(OutputName, DataType.Float, "N", dim));
        w.FlushPreprocessing();

        // Rewrites of the finished model (e.g. quantisation): see ComposedModelPasses.For.
        var rewrites = ComposedModelPasses.For(options).ToList();
        foreach (var pass in rewrites) pass.Apply(model, options);

        var fingerprint = ComputeFingerprint(backbone, backboneBytes, options, size, rewrites.Select(p => p.Name));
        return new FeaturizerGraph(model.ToByteArray(), dim, fingerprint, layout, backbone, options);
    }

    static string ComputeFingerprint(BackboneConfig b, byte[] backboneBytes, FeaturizerOptions o, int size, IEnumerable<string> rewrites)
    {
        // The path and name do not change the features; the bytes and every preprocessing/option field do.
        var key = JsonSerializer.Serialize(new
        {
            GraphVersion,
            Model = Convert.ToHexString(SHA256.HashData(backboneBytes)),
            Order = b.ChannelOrder.ToString(), b.Scale, b.Mean, b.Std, b.FeatureOutputs,
            ImageSize = size, o.Tta, o.CenterPool, o.ColorStats,
        });
        // Fields added after GraphVersion 1 are appended only when they are not at their default, so the fingerprints
        // (and feature caches) of existing graphs stay valid.
        var extra = string.Join("|", rewrites.Select(r => "pass:" + r));
        if (extra.Length > 0) key += "|" + extra;
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();
    }
}
