using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Data;
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

        // The probe runs the graph once on one blank patch to learn each feature map's [C,H,W] (ORT does the shape inference).
        var probeModel = LoadBackbone(backbone, path, backboneBytes, out var featureNames, out var backboneInput);
        var probeWriter = new GraphWriter(probeModel.Graph, Prefix);
        AddPreprocessing(probeWriter, backbone, backboneInput, size, tta: false, out _);
        probeWriter.FlushPreprocessing();
        foreach (var f in featureNames) probeModel.Graph.Output.Add(new ValueInfoProto { Name = f, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        var shapes = Probe(probeModel.ToByteArray(), featureNames, backbone.Name, size);

        var model = LoadBackbone(backbone, path, backboneBytes, out _, out _);
        var w = new GraphWriter(model.Graph, Prefix);
        AddPreprocessing(w, backbone, backboneInput, size, options.Tta, out var rawFloat);

        var parts = new List<string>();
        var layout = new List<FeatureBlock>();
        int dim = 0;
        void Part(string tensor, string name, int length) { parts.Add(tensor); layout.Add(new(name, dim, length)); dim += length; }

        for (int i = 0; i < featureNames.Length; i++)
        {
            var (f, shape) = (featureNames[i], shapes[i]);
            if (shape.Length == 2) { Part(w.Node("Flatten", [f], "flat", false, Int("axis", 1)), f, (int)shape[1]); continue; }
            int c = (int)shape[1];
            Part(w.Node("Flatten", [w.Node("GlobalAveragePool", [f], "gap")], "flat", false, Int("axis", 1)), f + ":global", c);
        }
        if (options.CenterPool)
            for (int i = 0; i < featureNames.Length; i++)
            {
                var (f, shape) = (featureNames[i], shapes[i]);
                if (shape.Length != 4) continue;
                var crop = CentreThird(w, f, shape[2], shape[3]);
                Part(w.Node("Flatten", [w.Node("GlobalAveragePool", [crop], "cgap")], "flat", false, Int("axis", 1)), f + ":centre", (int)shape[1]);
            }

        var features = parts.Count == 1 ? parts[0] : w.Node("Concat", parts, "concat", false, Int("axis", 1));
        if (options.Tta)
        {
            // [8N,D] is view-major: reshape to [8,N,D], move views last, average them with GlobalAveragePool.
            var r = w.Node("Reshape", [features, w.Int64s("ttashape", 8, -1, dim)], "ttar");
            var t = w.Node("Transpose", [r], "ttat", false, Ints("perm", 1, 2, 0));
            features = w.Node("Flatten", [w.Node("GlobalAveragePool", [t], "ttamean")], "ttaflat", false, Int("axis", 1));
        }
        if (options.ColorStats)
        {
            var stats = ColourStats(w, rawFloat);
            layout.Add(new("color:mean,std,centreMean,centreStd (RGB)", dim, 12));
            dim += 12;
            features = w.Node("Concat", [features, stats], "withcolor", false, Int("axis", 1));
        }
        w.NodeTo("Identity", [features], OutputName);
        model.Graph.Output.Clear();
        model.Graph.Output.Add(TensorInfo(OutputName, DataType.Float, "N", dim));
        w.FlushPreprocessing();

        var fingerprint = ComputeFingerprint(backbone, backboneBytes, options, size);
        return new FeaturizerGraph(model.ToByteArray(), dim, fingerprint, layout, backbone, options);
    }

    static string ComputeFingerprint(BackboneConfig b, byte[] backboneBytes, FeaturizerOptions o, int size)
    {
        // The path and name do not change the features; the bytes and every preprocessing/option field do.
        var key = JsonSerializer.Serialize(new
        {
            GraphVersion,
            Model = Convert.ToHexString(SHA256.HashData(backboneBytes)),
            Order = b.ChannelOrder.ToString(), b.Scale, b.Mean, b.Std, b.FeatureOutputs,
            ImageSize = size, o.Tta, o.CenterPool, o.ColorStats,
        });
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();
    }

    static ModelProto LoadBackbone(BackboneConfig config, string path, byte[] bytes, out string[] featureNames, out string backboneInput)
    {
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"Backbone '{config.Name}': {path} is not an ONNX model ({e.Message}).", e); }
        var g = model.Graph ?? throw new InvalidDataException($"Backbone '{config.Name}': {path} has no graph.");

        var initNames = g.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = g.Input.Where(i => !initNames.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new InvalidDataException($"Backbone '{config.Name}' ({path}) must have exactly one image input; found {inputs.Count}: [{string.Join(", ", inputs.Select(i => i.Name))}].");
        var input = inputs[0];
        var tt = input.Type?.TensorType;
        var dims = tt?.Shape?.Dim;
        string Describe() => tt is null ? "a non-tensor" : $"{(DataType)tt.ElemType} [{(dims is null ? "?" : string.Join(",", dims.Select(d => d.HasDimValue ? d.DimValue.ToString() : d.DimParam is { Length: > 0 } p ? p : "?")))}]";
        if (tt is null || tt.ElemType != (int)DataType.Float || dims is not { Count: 4 } || (dims[1].HasDimValue && dims[1].DimValue != 3))
            throw new InvalidDataException($"Backbone '{config.Name}' ({path}): input '{input.Name}' must be a 4-D NCHW float image tensor [N,3,H,W]; found {Describe()}.");
        bool fixedBatch = dims[0].HasDimValue;

        var produced = g.Node.SelectMany(n => n.Output).ToHashSet();
        featureNames = config.FeatureOutputs is { Length: > 0 } ? config.FeatureOutputs : g.Output.Select(o => o.Name).ToArray();
        var missing = featureNames.Where(f => !produced.Contains(f)).ToArray();
        if (missing.Length > 0)
            throw new InvalidDataException($"Backbone '{config.Name}' ({path}): feature outputs not produced by any node: [{string.Join(", ", missing)}].");

        UpgradeOpset(model, config.Name);
        var valueShapes = g.ValueInfo.Concat(g.Input).Concat(g.Output)
            .Where(v => v.Type?.TensorType?.Shape is not null)
            .GroupBy(v => v.Name).ToDictionary(x => x.Key, x => x.First().Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue : -1).ToArray());
        foreach (var n in g.Node)
        {
            // A fixed-window AveragePool over the whole map (ResNet's 7x7 at 224 px) becomes global so any input size works.
            if (n.OpType == "AveragePool" && valueShapes.TryGetValue(n.Input[0], out var s) && s.Length == 4
                && n.Attribute.FirstOrDefault(a => a.Name == "kernel_shape") is { } k && k.Ints.Count == 2 && k.Ints[0] == s[2] && k.Ints[1] == s[3])
            {
                n.OpType = "GlobalAveragePool";
                n.Attribute.Clear();
            }
            // A Reshape whose target starts with the exported fixed batch size copies the batch dim instead (0 = copy).
            if (fixedBatch && n.OpType == "Reshape" && n.Input.Count > 1 && g.Initializer.FirstOrDefault(t => t.Name == n.Input[1]) is { } shape)
                ReplaceLeadingBatch(shape, dims[0].DimValue);
        }

        Prune(g, featureNames);
        // Fixed shapes from export (batch 1, 224 px) would contradict dynamic batches and other sizes; ORT re-infers them.
        g.ValueInfo.Clear();
        g.Output.Clear();
        for (int i = g.Input.Count - 1; i >= 0; i--) g.Input.RemoveAt(i);
        g.Input.Add(TensorInfo(InputName, DataType.Uint8, "N", PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels));
        backboneInput = input.Name;
        return model;
    }

    static void ReplaceLeadingBatch(TensorProto shape, long batch)
    {
        if (shape.Int64Data.Count > 0) { if (shape.Int64Data[0] == batch) shape.Int64Data[0] = 0; return; }
        if (shape.RawData.Length >= 8)
        {
            var raw = shape.RawData.ToByteArray();
            if (BitConverter.ToInt64(raw, 0) == batch) { BitConverter.TryWriteBytes(raw.AsSpan(0, 8), 0L); shape.RawData = ByteString.CopyFrom(raw); }
        }
    }

    static void UpgradeOpset(ModelProto model, string name)
    {
        var onnxDomain = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (onnxDomain is null) { onnxDomain = new OperatorSetIdProto { Domain = "", Version = MinOpset }; model.OpsetImport.Add(onnxDomain); }
        if (onnxDomain.Version < 9)
            foreach (var n in model.Graph.Node.Where(n => n.OpType == "BatchNormalization"))
            {
                // Opset 9 dropped `spatial`; spatial=1 (the only kind CNNs use) is what later opsets always do.
                var spatial = n.Attribute.FirstOrDefault(a => a.Name == "spatial");
                if (spatial is null) continue;
                if (spatial.I != 1) throw new InvalidDataException($"Backbone '{name}': BatchNormalization '{n.Name}' uses spatial=0, which opset {MinOpset} cannot express.");
                n.Attribute.Remove(spatial);
            }
        if (onnxDomain.Version < MinOpset) onnxDomain.Version = MinOpset;
        if (model.IrVersion < 7) model.IrVersion = 7; // opset 13 needs IR >= 7
    }

    /// <summary>Keeps only the nodes and initializers the feature tensors depend on (drops classifier heads and their fixed-shape ops).</summary>
    static void Prune(GraphProto g, IEnumerable<string> needed)
    {
        var producer = new Dictionary<string, NodeProto>();
        foreach (var n in g.Node) foreach (var o in n.Output) producer[o] = n;
        var keep = new HashSet<NodeProto>();
        var used = new HashSet<string>();
        var stack = new Stack<string>(needed);
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            if (!used.Add(t)) continue;
            if (producer.TryGetValue(t, out var n) && keep.Add(n)) foreach (var i in n.Input) if (i.Length > 0) stack.Push(i);
        }
        var nodes = g.Node.Where(keep.Contains).ToList();
        g.Node.Clear(); g.Node.AddRange(nodes);
        var inits = g.Initializer.Where(t => used.Contains(t.Name)).ToList();
        g.Initializer.Clear(); g.Initializer.AddRange(inits);
    }

    /// <summary>Image uint8 NHWC RGB -> float -> [dihedral views] -> NCHW -> channel order -> normalise -> resize -> backbone input.</summary>
    static void AddPreprocessing(GraphWriter w, BackboneConfig b, string backboneInput, int size, bool tta, out string rawFloat)
    {
        var x = w.Node("Cast", [InputName], "f", true, Int("to", (int)DataType.Float));
        rawFloat = x;
        if (tta)
        {
            // D4 = {identity, flips} x {no transpose, H<->W transpose}: 8 views stacked view-major into the batch.
            string Flip(string t, long axis) => w.Node("Slice", [t, w.Int64s("s", -1), w.Int64s("e", long.MinValue), w.Int64s("a", axis), w.Int64s("st", -1)], "flip", true);
            var h = Flip(x, 2);
            var v = Flip(x, 1);
            var hv = Flip(h, 1);
            var four = w.Node("Concat", [x, h, v, hv], "views4", true, Int("axis", 0));
            var tr = w.Node("Transpose", [four], "viewsT", true, Ints("perm", 0, 2, 1, 3));
            x = w.Node("Concat", [four, tr], "views8", true, Int("axis", 0));
        }
        x = w.Node("Transpose", [x], "nchw", true, Ints("perm", 0, 3, 1, 2));
        if (b.ChannelOrder == ChannelOrder.BGR)
            x = w.Node("Gather", [x, w.Int64s("bgr", 2, 1, 0)], "bgr", true, Int("axis", 1));
        // (v*scale - mean)/std folded into one multiply-add per channel.
        var a = Enumerable.Range(0, 3).Select(c => b.Scale / b.Std[c]).ToArray();
        var o = Enumerable.Range(0, 3).Select(c => -b.Mean[c] / b.Std[c]).ToArray();
        x = w.Node("Mul", [x, w.Floats("scale", [1, 3, 1, 1], a)], "mul", true);
        x = w.Node("Add", [x, w.Floats("offset", [1, 3, 1, 1], o)], "norm", true);
        if (size != PatchSchema.Height)
        {
            // Sizes = [N, 3, size, size] with N read at run time (exact, unlike float scales).
            var nc = w.Node("Slice", [w.Node("Shape", [x], "shape", true), w.Int64s("s", 0), w.Int64s("e", 2), w.Int64s("a", 0)], "nc", true);
            var sizes = w.Node("Concat", [nc, w.Int64s("hw", size, size)], "sizes", true, Int("axis", 0));
            x = w.Node("Resize", [x, "", "", sizes], "resize", true, Str("mode", "linear"), Str("coordinate_transformation_mode", "half_pixel"));
        }
        w.NodeTo("Identity", [x], backboneInput, true);
    }

    static string CentreThird(GraphWriter w, string map, long h, long wd)
    {
        // The centre third of the map covers the label-defining centre 32x32 px of the 96x96 patch.
        long h0 = h / 3, w0 = wd / 3;
        return w.Node("Slice", [map, w.Int64s("s", h0, w0), w.Int64s("e", h - h0, wd - w0), w.Int64s("a", 2, 3)], "centre");
    }

    static string ColourStats(GraphWriter w, string rawNhwc)
    {
        var c = w.Node("Mul", [w.Node("Transpose", [rawNhwc], "cnchw", false, Ints("perm", 0, 3, 1, 2)), w.Floats("inv255", [], 1f / 255f)], "c01");
        var parts = new List<string>();
        foreach (var img in new[] { c, w.Node("Slice", [c, w.Int64s("s", 32, 32), w.Int64s("e", 64, 64), w.Int64s("a", 2, 3)], "ccentre") })
        {
            var m = w.Node("GlobalAveragePool", [img], "cmean");
            var m2 = w.Node("GlobalAveragePool", [w.Node("Mul", [img, img], "csq")], "cmean2");
            var variance = w.Node("Relu", [w.Node("Sub", [m2, w.Node("Mul", [m, m], "cm2")], "cvar")], "cvarpos");
            parts.Add(w.Node("Flatten", [m], "cflat", false, Int("axis", 1)));
            parts.Add(w.Node("Flatten", [w.Node("Sqrt", [variance], "cstd")], "cflat", false, Int("axis", 1)));
        }
        // Order: mean(whole), std(whole), mean(centre), std(centre).
        return w.Node("Concat", parts, "color", false, Int("axis", 1));
    }

    static long[][] Probe(byte[] probeBytes, string[] outputs, string name, int size)
    {
        using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(probeBytes, so);
        var image = new byte[PatchSchema.ImageBytes];
        using var input = OrtValue.CreateTensorValueFromMemory(image, [1, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels]);
        using var runOptions = new RunOptions();
        IDisposableReadOnlyCollection<OrtValue> results;
        try { results = session.Run(runOptions, [InputName], [input], outputs); }
        catch (OnnxRuntimeException e)
        {
            // E.g. the CNTK ResNet18's asymmetric stride-2 padding only lines up for input sides that are multiples of 32.
            throw new InvalidDataException($"Backbone '{name}' does not run at {size}x{size} px: {e.Message.Split('\n')[0]}", e);
        }
        using var _ = results;
        var shapes = results.Select(r => r.GetTensorTypeAndShape().Shape).ToArray();
        for (int i = 0; i < shapes.Length; i++)
            if (shapes[i].Length is not (2 or 4))
                throw new InvalidDataException($"Backbone '{name}': feature output '{outputs[i]}' has shape [{string.Join(",", shapes[i])}]; expected NCHW [N,C,H,W] or [N,D].");
        return shapes;
    }
}
