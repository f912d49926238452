using Google.Protobuf;
using Onnx;
using PCam.MLNet.Data;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>The backbone graph after adaptation: its image input replaced by the composed graph's uint8 "Image".</summary>
internal sealed record AdaptedBackbone(ModelProto Model, string BackboneInput, string[] FeatureNames, bool FixedBatch);

/// <summary>
/// Pass 1. Contract: parses the backbone ONNX, checks it has one NCHW float image input and that the feature tensors
/// exist, raises the opset to <see cref="FeaturizerGraph.MinOpset"/>, makes whole-map AveragePools global and a
/// fixed exported batch dynamic where Reshape targets allow, prunes everything the features do not need, and replaces
/// the graph inputs with the composed graph's uint8 [N,96,96,3] "Image" (the preprocess pass writes the bridge).
/// </summary>
internal static class BackboneAdapterPass
{
    public static AdaptedBackbone Apply(BackboneConfig config, string path, byte[] bytes)
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
        var featureNames = config.FeatureOutputs is { Length: > 0 } ? config.FeatureOutputs : g.Output.Select(o => o.Name).ToArray();
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
        g.Input.Add(TensorInfo(FeaturizerGraph.InputName, DataType.Uint8, "N", PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels));
        return new AdaptedBackbone(model, input.Name, featureNames, fixedBatch);
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
        if (onnxDomain is null) { onnxDomain = new OperatorSetIdProto { Domain = "", Version = FeaturizerGraph.MinOpset }; model.OpsetImport.Add(onnxDomain); }
        if (onnxDomain.Version < 9)
            foreach (var n in model.Graph.Node.Where(n => n.OpType == "BatchNormalization"))
            {
                // Opset 9 dropped `spatial`; spatial=1 (the only kind CNNs use) is what later opsets always do.
                var spatial = n.Attribute.FirstOrDefault(a => a.Name == "spatial");
                if (spatial is null) continue;
                if (spatial.I != 1) throw new InvalidDataException($"Backbone '{name}': BatchNormalization '{n.Name}' uses spatial=0, which opset {FeaturizerGraph.MinOpset} cannot express.");
                n.Attribute.Remove(spatial);
            }
        if (onnxDomain.Version < FeaturizerGraph.MinOpset) onnxDomain.Version = FeaturizerGraph.MinOpset;
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
}
