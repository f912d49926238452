using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Tests.Featurization;

/// <summary>Backbones written by the tests themselves with the ONNX protobuf classes.</summary>
internal static class TinyBackbones
{
    static ValueInfoProto Info(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
    }

    static ModelProto Model(GraphProto g, int opset = 13) => new()
    {
        IrVersion = 7,
        ProducerName = "pcam-tests",
        Graph = g,
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = opset } },
    };

    /// <summary>x [N,3,H,W] -> 1x1 Conv with the identity 3x3 weight -> Relu -> "maps" [N,3,H,W] (so pooled features are channel means).</summary>
    public static void IdentityConv(string path)
    {
        var w = new TensorProto { Name = "w", DataType = (int)DataType.Float, Dims = { 3, 3, 1, 1 }, FloatData = { 1, 0, 0, 0, 1, 0, 0, 0, 1 } };
        var g = new GraphProto
        {
            Name = "tiny",
            Initializer = { w },
            Input = { Info("x", "batch", 3, 64, 64) },
            Output = { Info("maps", "batch", 3, 64, 64) },
        };
        g.Node.Add(new NodeProto { OpType = "Conv", Name = "conv", Input = { "x", "w" }, Output = { "conv_out" } });
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "relu", Input = { "conv_out" }, Output = { "maps" } });
        File.WriteAllBytes(path, Model(g).ToByteArray());
    }

    /// <summary>A tabular model (x [N,10] -> Relu): not an image backbone.</summary>
    public static void Tabular(string path)
    {
        var g = new GraphProto { Name = "tab", Input = { Info("x", "batch", 10) }, Output = { Info("y", "batch", 10) } };
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "relu", Input = { "x" }, Output = { "y" } });
        File.WriteAllBytes(path, Model(g).ToByteArray());
    }
}

/// <summary>Small ViT-like backbones (random weights, C#-built ONNX) and their backbone JSON files.</summary>
internal static class TinyVits
{
    /// <summary>Writes DIR/NAME.onnx (+ .onnx.data) and DIR/NAME.json (ImageNet-style 0.5 mean/std, 32 px, patch 8).</summary>
    public static string Write(string dir, string name, Action<PCam.Benchmarks.Synthetic.RandomVitOptions>? configure = null,
        string tokenPooling = "cls+mean", bool opaqueFixedBatch = false)
    {
        var o = new PCam.Benchmarks.Synthetic.RandomVitOptions { RegisterTokens = 2 };
        configure?.Invoke(o);
        if (opaqueFixedBatch) o.FixedBatch = true;
        var onnx = Path.Combine(dir, name + ".onnx");
        PCam.Benchmarks.Synthetic.RandomVit.Write(onnx, o);
        if (opaqueFixedBatch) MakeBatchOpaque(onnx);
        var json = $$"""
            { "name": "{{name}}", "onnxPath": "{{name}}.onnx", "channelOrder": "RGB", "scale": 0.00392156863,
              "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "inputSize": {{o.ImageSize}}, "patchSize": {{o.PatchSize}},
              "acceptedSizes": [{{o.ImageSize}}], "tokenPooling": "{{tokenPooling}}", "prefixTokens": {{1 + o.RegisterTokens}} }
            """;
        var jsonPath = Path.Combine(dir, name + ".json");
        File.WriteAllText(jsonPath, json);
        return jsonPath;
    }

    /// <summary>
    /// The fixed batch hidden where the adapter cannot rewrite it: the patch Reshape's target [1,D,-1] is computed by a
    /// Concat of Constant nodes (as older exporters write it), so at batch 2 the rows would be merged.
    /// </summary>
    static void MakeBatchOpaque(string path)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var g = model.Graph;
        var reshape = g.Node.First(n => n.OpType == "Reshape" && n.Output[0].StartsWith("patch_flat", StringComparison.Ordinal));
        var init = g.Initializer.First(t => t.Name == reshape.Input[1]);
        var rest = init.Int64Data.Skip(1).ToArray();
        NodeProto Constant(string name, params long[] v)
        {
            var t = new TensorProto { Name = name + "_value", DataType = (int)DataType.Int64, Dims = { v.Length } };
            t.Int64Data.AddRange(v);
            return new NodeProto { OpType = "Constant", Name = name, Output = { name }, Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = t } } };
        }
        g.Node.Insert(0, Constant("opaque_batch", 1));
        g.Node.Insert(1, Constant("opaque_rest", rest));
        g.Node.Insert(2, new NodeProto { OpType = "Concat", Name = "opaque_shape", Input = { "opaque_batch", "opaque_rest" }, Output = { "opaque_shape" }, Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 } } });
        reshape.Input[1] = "opaque_shape";
        File.WriteAllBytes(path, model.ToByteArray());
    }

    /// <summary>
    /// Tokens with known values: x [N,3,H,W] -> patch tokens [N,HW,3] (the pixels), after K prefix tokens: the class
    /// token (all 100) and K-1 register tokens (all -50). Output "tokens" [N,K+HW,3].
    /// </summary>
    public static void KnownTokens(string path, int prefix, int side)
    {
        var g = new GraphProto { Name = "known_tokens" };
        var shape = new TensorShapeProto();
        foreach (var d in new object[] { "batch", 3, side, side })
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        g.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } });
        g.Output.Add(new ValueInfoProto { Name = "tokens", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        TensorProto Ints(string name, params long[] v) { var t = new TensorProto { Name = name, DataType = (int)DataType.Int64, Dims = { v.Length } }; t.Int64Data.AddRange(v); return t; }
        var prefixValues = new TensorProto { Name = "prefix_values", DataType = (int)DataType.Float, Dims = { 1, prefix, 3 } };
        for (int k = 0; k < prefix; k++) prefixValues.FloatData.AddRange([k == 0 ? 100 : -50, k == 0 ? 100 : -50, k == 0 ? 100 : -50]);
        g.Initializer.Add(prefixValues);
        g.Initializer.Add(Ints("flat", 0, 3, -1));
        g.Initializer.Add(Ints("s0", 0));
        g.Initializer.Add(Ints("s1", 1));
        g.Initializer.Add(Ints("rest", prefix, 3));
        NodeProto N(string op, string[] i, string o, params AttributeProto[] a) { var n = new NodeProto { OpType = op, Name = o + "_n", Output = { o } }; n.Input.AddRange(i); n.Attribute.AddRange(a); return n; }
        var perm = new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 2, 1 } };
        var axis0 = new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 };
        var axis1 = new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 };
        g.Node.Add(N("Reshape", ["x", "flat"], "flat_x"));
        g.Node.Add(N("Transpose", ["flat_x"], "patch_tokens", perm));
        g.Node.Add(N("Shape", ["x"], "x_shape"));
        g.Node.Add(N("Slice", ["x_shape", "s0", "s1"], "n"));
        g.Node.Add(N("Concat", ["n", "rest"], "prefix_shape", axis0));
        g.Node.Add(N("Expand", ["prefix_values", "prefix_shape"], "prefix_tokens"));
        g.Node.Add(N("Concat", ["prefix_tokens", "patch_tokens"], "tokens", axis1));
        var model = new ModelProto { IrVersion = 7, ProducerName = "pcam-tests", Graph = g, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 13 } } };
        File.WriteAllBytes(path, model.ToByteArray());
    }

    /// <summary>x [N,3,224,224] -> "y": Cast to int64 (declared Int64) or Unsqueeze to rank 5 (declared float).</summary>
    public static void OddOutput(string path, string op)
    {
        var g = new GraphProto { Name = "odd" };
        var shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "batch" }, new TensorShapeProto.Types.Dimension { DimValue = 3 },
            new TensorShapeProto.Types.Dimension { DimValue = 224 }, new TensorShapeProto.Types.Dimension { DimValue = 224 } } };
        g.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } });
        var type = op == "Cast" ? DataType.Int64 : DataType.Float;
        g.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
        var node = new NodeProto { OpType = op, Name = "odd", Input = { "x" }, Output = { "y" } };
        if (op == "Cast") node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (int)DataType.Int64 });
        else
        {
            node.Input.Add("axes");
            g.Initializer.Add(new TensorProto { Name = "axes", DataType = (int)DataType.Int64, Dims = { 1 }, Int64Data = { 1 } });
        }
        g.Node.Add(node);
        var model = new ModelProto { IrVersion = 7, ProducerName = "pcam-tests", Graph = g, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 13 } } };
        File.WriteAllBytes(path, model.ToByteArray());
    }
}
