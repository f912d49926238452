using Google.Protobuf;
using Onnx;
using PCam.MLNet.Data;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>The backbone graph after adaptation: its image input replaced by the composed graph's uint8 "Image".</summary>
/// <param name="BackboneInput">The tensor the preprocess pass must write (the backbone's input, or the Scan's).</param>
/// <param name="InputType">Float or Float16: what the preprocess pass casts to.</param>
/// <param name="FeatureTypes">Each feature tensor's element type (Float or Float16).</param>
/// <param name="FixedBatch">The export declared a fixed batch size (0 when dynamic).</param>
/// <param name="SingleRow">The backbone runs inside a Scan, one row at a time (its fixed batch could not be made dynamic).</param>
internal sealed record AdaptedBackbone(ModelProto Model, string BackboneInput, DataType InputType, string[] FeatureNames,
    DataType[] FeatureTypes, long FixedBatch, bool SingleRow)
{
    /// <summary>Side of the square uint8 "Image" input (96: a PCam patch).</summary>
    public int InputSide { get; init; } = PatchSchema.Height;
}

/// <summary>
/// Pass 1. Contract: parses the backbone ONNX, checks it has one NCHW float or float16 image input and that the
/// feature tensors exist with a float/float16 type, raises the opset to <see cref="FeaturizerGraph.MinOpset"/>,
/// makes whole-map AveragePools global, and removes everything the features do not need. A fixed exported batch is
/// made dynamic (Reshape/Expand targets that start with it read the batch at run time), or, with
/// <paramref name="singleRow"/>, the whole backbone is wrapped in a Scan over the batch so it always sees one row.
/// Finally the graph inputs become the composed graph's uint8 [N,96,96,3] "Image" (the preprocess pass writes the bridge).
/// </summary>
internal static class BackboneAdapterPass
{
    public static AdaptedBackbone Apply(BackboneConfig config, string path, byte[] bytes, bool singleRow = false, int inputSide = PatchSchema.Height)
    {
        string where = $"{config.Where} (ONNX {path})";
        PCamBackboneException Error(string problem) => new($"{where}: {problem}");
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e) { throw new PCamBackboneException($"{where}: not an ONNX model ({e.Message}).", e); }
        var g = model.Graph ?? throw Error("the ONNX file has no graph.");

        var initNames = g.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = g.Input.Where(i => !initNames.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
            throw Error($"must have exactly one image input; found {inputs.Count}: [{string.Join(", ", inputs.Select(i => i.Name))}].");
        var input = inputs[0];
        var tt = input.Type?.TensorType;
        var dims = tt?.Shape?.Dim;
        string Describe() => tt is null ? "a non-tensor" : $"{(DataType)tt.ElemType} [{(dims is null ? "?" : string.Join(",", dims.Select(d => d.HasDimValue ? d.DimValue.ToString() : d.DimParam is { Length: > 0 } p ? p : "?")))}]";
        if (tt is null || tt.ElemType is not ((int)DataType.Float or (int)DataType.Float16) || dims is not { Count: 4 } || (dims[1].HasDimValue && dims[1].DimValue != 3))
            throw Error($"input '{input.Name}' must be a 4-D NCHW float or float16 image tensor [N,3,H,W]; found {Describe()}.");
        long fixedBatch = dims[0].HasDimValue ? dims[0].DimValue : 0;

        var produced = g.Node.SelectMany(n => n.Output).ToHashSet();
        var featureNames = config.FeatureOutputs is { Length: > 0 } ? config.FeatureOutputs : g.Output.Select(o => o.Name).ToArray();
        var missing = featureNames.Where(f => !produced.Contains(f)).ToArray();
        if (missing.Length > 0)
            throw Error($"feature tensor{(missing.Length > 1 ? "s" : "")} [{string.Join(", ", missing)}] not produced by any node (field 'featureOutputs').");
        var declared = g.ValueInfo.Concat(g.Output).Where(v => v.Type?.TensorType is not null).GroupBy(v => v.Name).ToDictionary(x => x.Key, x => (DataType)x.First().Type.TensorType.ElemType);
        var featureTypes = featureNames.Select(f => declared.GetValueOrDefault(f, DataType.Float)).ToArray();
        for (int i = 0; i < featureNames.Length; i++)
            if (featureTypes[i] is not (DataType.Float or DataType.Float16 or DataType.Undefined))
                throw Error($"feature tensor '{featureNames[i]}' is {featureTypes[i]}; only float and float16 features are supported.");
            else if (featureTypes[i] == DataType.Undefined) featureTypes[i] = DataType.Float;

        UpgradeOpset(model, where);
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
        }
        Prune(g, featureNames);

        var inputType = (DataType)tt.ElemType;
        string backboneInput = input.Name;
        if (fixedBatch > 0 && !singleRow) MakeBatchDynamic(g, input.Name, fixedBatch);
        if (singleRow)
        {
            backboneInput = "pcam_scan_in";
            WrapInScan(g, input.Name, backboneInput, inputType, featureNames, featureTypes);
        }

        // Fixed shapes from export (batch 1, 224 px) would contradict dynamic batches and other sizes; ORT re-infers them.
        g.ValueInfo.Clear();
        g.Output.Clear();
        for (int i = g.Input.Count - 1; i >= 0; i--) g.Input.RemoveAt(i);
        g.Input.Add(TensorInfo(FeaturizerGraph.InputName, DataType.Uint8, "N", inputSide, inputSide, PatchSchema.Channels));
        return new AdaptedBackbone(model, backboneInput, inputType, featureNames, featureTypes, fixedBatch, singleRow) { InputSide = inputSide };
    }

    /// <summary>
    /// Shape constants that start with the exported batch: Reshape targets copy the batch (0), Expand targets read it
    /// from the input's shape. A false positive (a leading 1 that is not the batch) shows up in the batch-2 probe.
    /// </summary>
    static void MakeBatchDynamic(GraphProto g, string input, long batch)
    {
        var inits = g.Initializer.ToDictionary(t => t.Name);
        string? batchDim = null;
        var added = new List<NodeProto>();
        foreach (var n in g.Node)
        {
            if (n.Input.Count < 2 || !inits.TryGetValue(n.Input[1], out var shape) || shape.DataType != (int)DataType.Int64) continue;
            var values = Int64Values(shape);
            if (values.Length == 0 || values[0] != batch) continue;
            if (n.OpType == "Reshape")
            {
                values[0] = 0;
                n.Input[1] = AddInit(g, inits, n.Input[1] + "_pcam_dyn", values);
            }
            else if (n.OpType == "Expand")
            {
                if (batchDim is null)
                {
                    batchDim = "pcam_batch_dim";
                    added.Add(Node("Shape", [input], "pcam_input_shape"));
                    added.Add(Node("Slice", ["pcam_input_shape", AddInit(g, inits, "pcam_b0", [0]), AddInit(g, inits, "pcam_b1", [1])], batchDim));
                }
                var rest = AddInit(g, inits, n.Input[1] + "_pcam_rest", values[1..]);
                var dyn = n.Input[1] + "_pcam_dyn_" + added.Count;
                added.Add(Node("Concat", [batchDim, rest], dyn, Int("axis", 0)));
                n.Input[1] = dyn;
            }
        }
        for (int i = added.Count - 1; i >= 0; i--) g.Node.Insert(0, added[i]);
    }

    static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = "pcam_" + output };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        n.Attribute.AddRange(attributes);
        return n;
    }

    static string AddInit(GraphProto g, Dictionary<string, TensorProto> inits, string name, long[] values)
    {
        if (inits.ContainsKey(name)) return name;
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        g.Initializer.Add(t);
        inits[name] = t;
        return name;
    }

    static long[] Int64Values(TensorProto t)
    {
        if (t.Int64Data.Count > 0) return t.Int64Data.ToArray();
        var raw = t.RawData.Span;
        var v = new long[raw.Length / 8];
        for (int i = 0; i < v.Length; i++) v[i] = BitConverter.ToInt64(raw.Slice(i * 8, 8));
        return v;
    }

    /// <summary>
    /// Moves every backbone node into the body of a Scan over axis 0: each row [3,H,W] is unsqueezed to the export's
    /// [1,3,H,W], the outputs are squeezed back and stacked, so a batch-1-only export takes any batch.
    /// </summary>
    static void WrapInScan(GraphProto g, string input, string scanInput, DataType inputType, string[] features, DataType[] featureTypes)
    {
        var body = new GraphProto { Name = "pcam_single_row" };
        body.Input.Add(new ValueInfoProto { Name = "pcam_row", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)inputType } } });
        var axis0 = new TensorProto { Name = "pcam_axis0", DataType = (int)DataType.Int64, Dims = { 1 }, Int64Data = { 0 } };
        body.Initializer.Add(axis0);
        body.Node.Add(Node("Unsqueeze", ["pcam_row", axis0.Name], input));
        body.Node.AddRange(g.Node);
        for (int i = 0; i < features.Length; i++)
        {
            body.Node.Add(Node("Squeeze", [features[i], axis0.Name], "pcam_row_" + i));
            body.Output.Add(new ValueInfoProto { Name = "pcam_row_" + i, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)featureTypes[i] } } });
        }
        g.Node.Clear();
        var scan = new NodeProto { OpType = "Scan", Name = "pcam_scan", Input = { scanInput } };
        scan.Output.AddRange(features);
        scan.Attribute.Add(Int("num_scan_inputs", 1));
        scan.Attribute.Add(new AttributeProto { Name = "body", Type = AttributeProto.Types.AttributeType.Graph, G = body });
        g.Node.Add(scan);
    }

    static void UpgradeOpset(ModelProto model, string where)
    {
        var onnxDomain = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (onnxDomain is null) { onnxDomain = new OperatorSetIdProto { Domain = "", Version = FeaturizerGraph.MinOpset }; model.OpsetImport.Add(onnxDomain); }
        if (onnxDomain.Version < 9)
            foreach (var n in model.Graph.Node.Where(n => n.OpType == "BatchNormalization"))
            {
                // Opset 9 dropped `spatial`; spatial=1 (the only kind CNNs use) is what later opsets always do.
                var spatial = n.Attribute.FirstOrDefault(a => a.Name == "spatial");
                if (spatial is null) continue;
                if (spatial.I != 1) throw new PCamBackboneException($"{where}: BatchNormalization '{n.Name}' uses spatial=0, which opset {FeaturizerGraph.MinOpset} cannot express.");
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
