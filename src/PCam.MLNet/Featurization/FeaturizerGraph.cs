using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization.Passes;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization;

/// <summary>A contiguous block of the feature vector (which stage / pooling produced it).</summary>
public readonly record struct FeatureBlock(string Name, int Offset, int Length);

/// <summary>One composed ONNX graph: uint8 [N,96,96,3] RGB "Image" in, float [N,D] "Features" out.</summary>
public sealed partial class FeaturizerGraph
{
    public const string InputName = "Image";
    public const string OutputName = "Features";
    /// <summary>Bump when the composed graph changes meaning, so cached features are invalidated.</summary>
    public const int GraphVersion = 1;
    /// <summary>The opset the composed graph uses at least (Resize with sizes, Slice with steps, BatchNormalization without `spatial`).</summary>
    public const int MinOpset = 13;
    const string Prefix = "pcam_";

    FeaturizerGraph(byte[] bytes, int dim, string fingerprint, IReadOnlyList<FeatureBlock> layout, BackboneConfig backbone,
        FeaturizerOptions options, int imageSize, IReadOnlyList<ExternalDataFile> externalData, string? externalFolder, IReadOnlyList<string> warnings)
    {
        ModelBytes = bytes;
        FeatureDimension = dim;
        Fingerprint = fingerprint;
        Layout = layout;
        Backbone = backbone;
        Options = options;
        ImageSize = imageSize;
        ExternalData = externalData;
        ExternalDataFolder = externalFolder;
        Warnings = warnings;
    }

    /// <summary>The composed graph. With external data its backbone weights stay in <see cref="ExternalData"/>.</summary>
    public byte[] ModelBytes { get; }
    public int FeatureDimension { get; }
    /// <summary>Stable hash of backbone bytes (and external data) + preprocessing + options, for cache keys.</summary>
    public string Fingerprint { get; }
    /// <summary>Which stage/pooling fills which columns of the feature vector.</summary>
    public IReadOnlyList<FeatureBlock> Layout { get; }
    public BackboneConfig Backbone { get; }
    public FeaturizerOptions Options { get; }
    /// <summary>The side patches are resized to (Options.ImageSize, or the backbone's InputSize when that is 0).</summary>
    public int ImageSize { get; }
    /// <summary>The backbone's external weight files the graph reads (empty when all weights are inside ModelBytes).</summary>
    public IReadOnlyList<ExternalDataFile> ExternalData { get; }
    /// <summary>The folder the external data locations are relative to (null without external data).</summary>
    public string? ExternalDataFolder { get; }
    /// <summary>Things the user should know (e.g. a fixed-batch export that runs one row at a time); log each once.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Side of the square uint8 [N,side,side,3] "Image" input (96: a PCam patch).</summary>
    public int InputSide => Options.InputSide;

    /// <summary>Bytes of one input image (side x side x 3, HWC RGB).</summary>
    public int InputBytes => InputSide * InputSide * PatchSchema.Channels;

    /// <summary>The side of a composed graph's "Image" input, read from the model (96 when it does not say).</summary>
    public static int InputSideOf(ModelProto model)
    {
        var input = model.Graph.Input.FirstOrDefault(i => i.Name == InputName);
        var dims = input?.Type?.TensorType?.Shape?.Dim;
        return dims is { Count: 4 } && dims[1].HasDimValue ? (int)dims[1].DimValue : PatchSchema.Height;
    }

    /// <summary>Writes the graph; with external data, run it from a folder holding the ExternalData files (see ExternalDataManifest.Stage).</summary>
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
        int size = backbone.SideFor(options.ImageSize);
        backbone.CheckSize(size);
        var path = backbone.ResolveOnnxPath();
        if (!File.Exists(path))
            throw new PCamBackboneException($"{backbone.Where}: ONNX file not found: {path} (field 'onnxPath').");
        var backboneBytes = File.ReadAllBytes(path);

        // The probe runs preprocessing + backbone on two patches to learn each feature tensor's shape, and proves that a
        // fixed-batch export now takes a batch of 2; if not, the backbone is wrapped to run one row at a time.
        var warnings = new List<string>();
        bool singleRow = false;
        var probe = Adapt(backbone, path, backboneBytes, size, singleRow: false, options.InputSide);
        var external = Featurization.ExternalData.Resolve(backbone, path, probe.Model);
        string? folder = external.Count > 0 ? Path.GetDirectoryName(Path.GetFullPath(path)) : null;
        var shapes = ShapeProbe.Run(probe, backbone, path, size, folder);
        if (shapes is null)
        {
            if (probe.FixedBatch != 1)
                throw new PCamBackboneException($"{backbone.Where} (ONNX {path}): the export has a fixed batch of {probe.FixedBatch}, which could not be made dynamic; " +
                                                "re-export it with a dynamic batch axis (or batch 1).");
            singleRow = true;
            probe = Adapt(backbone, path, backboneBytes, size, singleRow: true, options.InputSide);
            shapes = ShapeProbe.Run(probe, backbone, path, size, folder)!;
            warnings.Add($"{backbone.Where}: the export has a fixed batch of {probe.FixedBatch} that could not be made dynamic, " +
                         "so the backbone runs one row at a time (slower; re-export with a dynamic batch axis for speed).");
        }

        var adapted = BackboneAdapterPass.Apply(backbone, path, backboneBytes, singleRow, options.InputSide);
        var model = adapted.Model;
        var w = new GraphWriter(model.Graph, Prefix);
        var rawFloat = PreprocessPass.Apply(w, backbone, adapted, size, options.Tta);
        var pooled = PoolingPass.Apply(w, adapted, shapes, backbone, options);
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
        MlNetCompatibilityPass.Apply(model);

        var extra = new List<string>(rewrites.Select(p => "pass:" + p.Name));
        if (shapes.Any(s => s.Length == 3)) extra.Add($"tokens:{backbone.TokenPooling},{backbone.PrefixTokens}");
        if (options.InputSide != PatchSchema.Height) extra.Add($"input:{options.InputSide}");
        extra.AddRange(external.Select(f => $"external:{f.Location}={f.Sha256}"));
        var fingerprint = ComputeFingerprint(backbone, backboneBytes, options, size, extra);
        return new FeaturizerGraph(model.ToByteArray(), dim, fingerprint, layout, backbone, options, size, external, folder, warnings);
    }

    static AdaptedBackbone Adapt(BackboneConfig backbone, string path, byte[] bytes, int size, bool singleRow, int inputSide)
    {
        var probe = BackboneAdapterPass.Apply(backbone, path, bytes, singleRow, inputSide);
        var writer = new GraphWriter(probe.Model.Graph, Prefix);
        PreprocessPass.Apply(writer, backbone, probe, size, tta: false);
        writer.FlushPreprocessing();
        return probe;
    }

    static string ComputeFingerprint(BackboneConfig b, byte[] backboneBytes, FeaturizerOptions o, int size, IReadOnlyList<string> extra)
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
        if (extra.Count > 0) key += "|" + string.Join("|", extra);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();
    }
}
