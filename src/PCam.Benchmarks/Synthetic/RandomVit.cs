using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.Benchmarks.Synthetic;

/// <summary>What a random-weight ViT export exposes.</summary>
public enum VitOutput { Tokens, Pooled }

/// <summary>Shape and export form of a random-weight ViT (defaults: a tiny one).</summary>
public sealed class RandomVitOptions
{
    public int ImageSize { get; set; } = 32;
    public int PatchSize { get; set; } = 8;
    public int Dim { get; set; } = 16;
    public int Depth { get; set; } = 1;
    public int Heads { get; set; } = 2;
    /// <summary>Register tokens after the class token (DINOv2-reg, Virchow2, UNI2-h style).</summary>
    public int RegisterTokens { get; set; }
    /// <summary>Tokens = last_hidden_state [N,T,D] (a Hugging Face export); Pooled = the class token [N,D] (torchvision style).</summary>
    public VitOutput Output { get; set; } = VitOutput.Tokens;
    /// <summary>Export with batch fixed at 1 (shape constants start with 1), as torch.onnx.export without dynamic axes.</summary>
    public bool FixedBatch { get; set; }
    /// <summary>float16 input, weights and output.</summary>
    public bool Float16 { get; set; }
    /// <summary>Store weights as ONNX external data in NAME.onnx.data beside the graph.</summary>
    public bool ExternalData { get; set; }
    public int Seed { get; set; } = 1;

    /// <summary>ViT-S/16, ViT-B/16 and ViT-L/16 at 224 px (22M, 86M, 304M parameters).</summary>
    public static RandomVitOptions Preset(string name) => name.ToLowerInvariant() switch
    {
        "s16" => new() { ImageSize = 224, PatchSize = 16, Dim = 384, Depth = 12, Heads = 6 },
        "b16" => new() { ImageSize = 224, PatchSize = 16, Dim = 768, Depth = 12, Heads = 12 },
        "l16" => new() { ImageSize = 224, PatchSize = 16, Dim = 1024, Depth = 24, Heads = 16 },
        _ => throw new ArgumentException($"Unknown ViT preset '{name}': use s16, b16 or l16."),
    };

    public int Tokens => 1 + RegisterTokens + (ImageSize / PatchSize) * (ImageSize / PatchSize);
}

/// <summary>
/// Writes a pre-norm ViT (patch-embedding Conv, class + register tokens, fixed position embeddings, attention and
/// Erf-GELU MLP blocks, final LayerNorm) with seeded random weights as ONNX opset 17: for tests and for measuring a
/// backbone's cost before downloading gated weights. Not a trained model.
/// </summary>
public static class RandomVit
{
    /// <summary>Writes the ONNX file (and NAME.onnx.data with external data); returns the parameter count.</summary>
    public static long Write(string path, RandomVitOptions o)
    {
        if (o.Dim % o.Heads != 0) throw new ArgumentException($"Dim {o.Dim} is not a multiple of Heads {o.Heads}.");
        if (o.ImageSize % o.PatchSize != 0) throw new ArgumentException($"ImageSize {o.ImageSize} is not a multiple of PatchSize {o.PatchSize}.");
        var b = new Builder(o);
        b.Build();
        var dataFile = Path.GetFileName(path) + ".data";
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        if (o.ExternalData)
        {
            using var data = new FileStream(Path.Combine(dir, dataFile), FileMode.Create, FileAccess.Write);
            foreach (var t in b.Graph.Initializer)
            {
                if (t.RawData.Length < 1024) continue;
                long offset = data.Position;
                t.RawData.WriteTo(data);
                t.RawData = ByteString.Empty;
                t.DataLocation = TensorProto.Types.DataLocation.External;
                t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataFile });
                t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString() });
                t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = (data.Position - offset).ToString() });
                // Page-align the next tensor (ORT can then map it).
                long pad = (4096 - data.Position % 4096) % 4096;
                if (pad > 0) data.Write(new byte[pad]);
            }
        }
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "pcam-random-vit",
            Graph = b.Graph,
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 } },
        };
        using (var f = File.Create(path)) model.WriteTo(f);
        return b.Parameters;
    }

    sealed class Builder(RandomVitOptions o)
    {
        public GraphProto Graph { get; } = new() { Name = "random_vit" };
        public long Parameters { get; private set; }
        readonly Random _rng = new(o.Seed);
        int _n;
        DataType T => o.Float16 ? DataType.Float16 : DataType.Float;

        string Fresh(string hint) => $"{hint}_{_n++}";

        string Node(string op, string[] inputs, string hint, params AttributeProto[] attrs)
        {
            var output = Fresh(hint);
            var n = new NodeProto { OpType = op, Name = output + "_node" };
            n.Input.AddRange(inputs);
            n.Output.Add(output);
            n.Attribute.AddRange(attrs);
            Graph.Node.Add(n);
            return output;
        }

        static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
        static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
        static AttributeProto Ints(string name, params long[] v) { var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints }; a.Ints.AddRange(v); return a; }

        /// <summary>A weight with values std * N(0,1) (or the constant `fill`), stored as raw bytes of the model's type.</summary>
        string Weight(string hint, long[] dims, float std, float? fill = null, bool counts = true)
        {
            long count = dims.Aggregate(1L, (a, d) => a * d);
            if (counts) Parameters += count;
            var bytes = new byte[count * (o.Float16 ? 2 : 4)];
            for (long i = 0; i < count; i++)
            {
                float v = fill ?? (float)(std * Gaussian());
                if (o.Float16) BitConverter.TryWriteBytes(bytes.AsSpan((int)(i * 2), 2), (Half)v);
                else BitConverter.TryWriteBytes(bytes.AsSpan((int)(i * 4), 4), v);
            }
            var t = new TensorProto { Name = Fresh(hint), DataType = (int)T, RawData = ByteString.CopyFrom(bytes) };
            t.Dims.AddRange(dims);
            Graph.Initializer.Add(t);
            return t.Name;
        }

        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - _rng.NextDouble())) * Math.Cos(2 * Math.PI * _rng.NextDouble());

        string Int64s(string hint, params long[] v)
        {
            var t = new TensorProto { Name = Fresh(hint), DataType = (int)DataType.Int64 };
            t.Dims.Add(v.Length);
            t.Int64Data.AddRange(v);
            Graph.Initializer.Add(t);
            return t.Name;
        }

        ValueInfoProto Info(string name, params object[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
                shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)T, Shape = shape } } };
        }

        string Linear(string x, int din, int dout, string hint) =>
            Node("Add", [Node("MatMul", [x, Weight(hint + "_w", [din, dout], 0.02f)], hint), Weight(hint + "_b", [dout], 0, 0f)], hint + "_out");

        string LayerNorm(string x, string hint) =>
            Node("LayerNormalization", [x, Weight(hint + "_g", [o.Dim], 0, 1f), Weight(hint + "_b", [o.Dim], 0, 0f)], hint, Int("axis", -1), Float("epsilon", 1e-6f));

        public void Build()
        {
            int d = o.Dim, dh = d / o.Heads, grid = o.ImageSize / o.PatchSize;
            object batch = o.FixedBatch ? 1 : "batch";
            long b0 = o.FixedBatch ? 1 : 0; // Reshape: 0 copies the batch; a fixed export bakes in 1
            Graph.Input.Add(Info("pixel_values", batch, 3, o.ImageSize, o.ImageSize));

            var patches = Node("Conv", ["pixel_values", Weight("patch_w", [d, 3, o.PatchSize, o.PatchSize], 0.02f), Weight("patch_b", [d], 0, 0f)],
                "patch_embed", Ints("kernel_shape", o.PatchSize, o.PatchSize), Ints("strides", o.PatchSize, o.PatchSize));
            patches = Node("Transpose", [Node("Reshape", [patches, Int64s("flat_shape", b0, d, -1)], "patch_flat")], "patch_tokens", Ints("perm", 0, 2, 1));
            int prefix = 1 + o.RegisterTokens;
            string prefixShape = o.FixedBatch
                ? Int64s("prefix_shape", 1, prefix, d)
                : Node("Concat", [Node("Slice", [Node("Shape", ["pixel_values"], "in_shape"), Int64s("s", 0), Int64s("e", 1), Int64s("a", 0)], "n"), Int64s("rest", prefix, d)], "prefix_shape", Int("axis", 0));
            var prefixTokens = Node("Expand", [Weight("cls_and_registers", [1, prefix, d], 0.02f), prefixShape], "prefix_tokens");
            var x = Node("Concat", [prefixTokens, patches], "tokens", Int("axis", 1));
            x = Node("Add", [x, Weight("pos_embed", [1, prefix + grid * grid, d], 0.02f)], "pos");
            var scale = Weight("attn_scale", [], 0, (float)(1 / Math.Sqrt(dh)), counts: false);
            var half = Weight("half", [], 0, 0.5f, counts: false);
            var one = Weight("one", [], 0, 1f, counts: false);
            var invSqrt2 = Weight("inv_sqrt2", [], 0, (float)(1 / Math.Sqrt(2)), counts: false);
            var headShape = Int64s("head_shape", b0, 0, o.Heads, dh);
            var mergeShape = Int64s("merge_shape", b0, 0, d);
            for (int l = 0; l < o.Depth; l++)
            {
                var h = LayerNorm(x, $"b{l}_ln1");
                string Heads(string t, params long[] perm) => Node("Transpose", [Node("Reshape", [t, headShape], "split")], "heads", Ints("perm", perm));
                var q = Heads(Linear(h, d, d, $"b{l}_q"), 0, 2, 1, 3);
                var k = Heads(Linear(h, d, d, $"b{l}_k"), 0, 2, 3, 1);
                var v = Heads(Linear(h, d, d, $"b{l}_v"), 0, 2, 1, 3);
                var att = Node("Softmax", [Node("Mul", [Node("MatMul", [q, k], "qk"), scale], "scaled")], "attn", Int("axis", -1));
                var ctx = Node("Reshape", [Node("Transpose", [Node("MatMul", [att, v], "ctx")], "ctx_t", Ints("perm", 0, 2, 1, 3)), mergeShape], "merged");
                x = Node("Add", [x, Linear(ctx, d, d, $"b{l}_proj")], "res1");
                var m = Linear(LayerNorm(x, $"b{l}_ln2"), d, 4 * d, $"b{l}_fc1");
                // GELU(x) = 0.5 x (1 + erf(x / sqrt 2))
                var gelu = Node("Mul", [Node("Mul", [m, half], "gh"), Node("Add", [Node("Erf", [Node("Mul", [m, invSqrt2], "gs")], "erf"), one], "g1")], "gelu");
                x = Node("Add", [x, Linear(gelu, 4 * d, d, $"b{l}_fc2")], "res2");
            }
            var norm = LayerNorm(x, "final_norm");
            if (o.Output == VitOutput.Tokens)
            {
                Graph.Node.Add(new NodeProto { OpType = "Identity", Name = "last_hidden_state_node", Input = { norm }, Output = { "last_hidden_state" } });
                Graph.Output.Add(Info("last_hidden_state", batch, o.Tokens, d));
            }
            else
            {
                var idx = new TensorProto { Name = "cls_index", DataType = (int)DataType.Int64, Int64Data = { 0 } }; // scalar: Gather drops the token axis
                Graph.Initializer.Add(idx);
                Graph.Node.Add(new NodeProto { OpType = "Gather", Name = "pooled_node", Input = { norm, idx.Name }, Output = { "pooler_output" }, Attribute = { Int("axis", 1) } });
                Graph.Output.Add(Info("pooler_output", batch, d));
            }
        }
    }
}
