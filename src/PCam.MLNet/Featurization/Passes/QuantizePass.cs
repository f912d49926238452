using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Static INT8 quantisation of a composed featurizer graph in ONNX Runtime's QDQ format, done on the ONNX proto:
/// BatchNormalization folded into the preceding Conv; Conv weights per-output-channel symmetric int8
/// (DequantizeLinear with axis 0), Conv biases int32 with scale = input scale x weight scale (zero point 0);
/// activations uint8 (asymmetric, from calibrated ranges) with one QuantizeLinear after the producing node and one
/// DequantizeLinear per consumer. A Relu that follows a Conv or Add is left in place with its output quantised at
/// zero point 0, so ORT's QDQ selectors see DQ -> Conv -> Relu -> Q, drop the Relu as made redundant by Q and fuse the
/// group into QLinearConv (Add into QLinearAdd; DQ -> MaxPool -> Q with equal parameters runs MaxPool on uint8).
/// MatMul (and Gemm, rewritten as MatMul + Add) with a constant 2-D weight: weight per-output-column symmetric int8
/// (DequantizeLinear with axis 1), input activation uint8 per tensor, output left float, so ORT runs
/// DQ -> MatMul as MatMulIntegerToFloat (a transformer's q/k/v, projection and MLP layers).
/// Only float tensors are touched (element types are inferred over the graph: a torch export's int64 shape arithmetic
/// Shape -> Gather -> Add -> Concat -> Reshape is never quantised); activation x activation MatMuls (attention's
/// q @ k^T and softmax @ v), LayerNorm, Softmax, GELU, preprocessing, pooling and TTA averaging stay float.
/// </summary>
public static class QuantizePass
{
    /// <summary>ONNX Runtime's x86 default: uint8 activations with int8 weights (U8S8; fast with AVX-512 VNNI).</summary>
    const int ActivationMax = 255;
    const int WeightMax = 127;

    /// <summary>Copy of the model with every BatchNormalization that directly follows a Conv folded into its weights and bias.</summary>
    public static ModelProto FoldBatchNorm(ModelProto model)
    {
        var m = model.Clone();
        var g = m.Graph;
        var init = g.Initializer.ToDictionary(t => t.Name);
        var consumers = Consumers(g);
        var producer = Producers(g);
        var remove = new HashSet<NodeProto>();
        foreach (var bn in g.Node.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            if (bn.Output.Count != 1 || !producer.TryGetValue(bn.Input[0], out var conv) || conv.OpType != "Conv") continue;
            if (consumers[bn.Input[0]].Count != 1 || !init.TryGetValue(conv.Input[1], out var wT)) continue;
            if (bn.Input.Skip(1).Any(i => !init.ContainsKey(i))) continue;
            var gamma = ReadFloats(init[bn.Input[1]]);
            var beta = ReadFloats(init[bn.Input[2]]);
            var mean = ReadFloats(init[bn.Input[3]]);
            var variance = ReadFloats(init[bn.Input[4]]);
            var eps = bn.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            var w = ReadFloats(wT);
            int outC = (int)wT.Dims[0], per = w.Length / outC;
            var b = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? ReadFloats(init[conv.Input[2]]) : new float[outC];
            var w2 = new float[w.Length];
            var b2 = new float[outC];
            for (int c = 0; c < outC; c++)
            {
                double s = gamma[c] / Math.Sqrt(Math.Max(variance[c] + eps, 1e-12));
                for (int i = 0; i < per; i++) w2[c * per + i] = (float)(w[c * per + i] * s);
                b2[c] = (float)((b[c] - mean[c]) * s + beta[c]);
            }
            var wName = conv.Input[1] + "_bnfolded";
            var bName = conv.Input[1] + "_bnbias";
            g.Initializer.Add(FloatTensor(wName, wT.Dims.ToArray(), w2));
            g.Initializer.Add(FloatTensor(bName, [outC], b2));
            conv.Input[1] = wName;
            if (conv.Input.Count > 2) conv.Input[2] = bName; else conv.Input.Add(bName);
            conv.Output[0] = bn.Output[0];
            remove.Add(bn);
        }
        var keep = g.Node.Where(n => !remove.Contains(n)).ToList();
        g.Node.Clear();
        g.Node.AddRange(keep);
        DropUnusedInitializers(g);
        return m;
    }

    /// <summary>The activation tensors the pass quantises (what calibration must measure), in graph order.</summary>
    public static IReadOnlyList<string> ActivationTensors(ModelProto folded) => Plan(folded.Graph).Tensors;

    /// <summary>Quantises a BatchNorm-folded model (<see cref="FoldBatchNorm"/>) with the calibrated activation ranges.</summary>
    public static ModelProto Apply(ModelProto folded, CalibrationTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var m = folded.Clone();
        var g = m.Graph;
        var aliases = GemmToMatMul(g);
        var plan = Plan(g);
        var init = g.Initializer.ToDictionary(t => t.Name);
        var consumers = Consumers(g);
        var q = new Dictionary<string, (float Scale, byte Zero)>();
        foreach (var t in plan.Tensors)
        {
            if (!table.Ranges.TryGetValue(aliases.GetValueOrDefault(t, t), out var r))
                throw new InvalidOperationException($"Calibration table has no range for tensor '{t}'; calibrate the same graph that is quantised.");
            q[t] = ActivationParams(r.Lo, r.Hi);
        }
        // DQ -> MaxPool -> Q runs on uint8 only when both sides share scale and zero point (max commutes with quantisation).
        foreach (var (input, output) in plan.SameParams) q[output] = q[input];

        var added = new List<NodeProto>();
        int counter = 0;
        string Fresh(string hint) => $"pcam_q_{hint}_{counter++}";
        string Scalar(float v) { var name = Fresh("scale"); g.Initializer.Add(FloatTensor(name, [], [v])); return name; }
        string ZeroU8(byte z) { var name = Fresh("zp"); g.Initializer.Add(new TensorProto { Name = name, DataType = (int)DataType.Uint8, RawData = ByteString.CopyFrom([z]) }); return name; }

        // Weights and biases of each quantised Conv (before activations are rewired: the Conv's input name is needed).
        foreach (var conv in plan.Convs)
        {
            var wT = init[conv.Input[1]];
            var w = ReadFloats(wT);
            int outC = (int)wT.Dims[0], per = w.Length / outC;
            var wScale = new float[outC];
            var wq = new sbyte[w.Length];
            for (int c = 0; c < outC; c++)
            {
                float max = 0;
                for (int i = 0; i < per; i++) max = Math.Max(max, Math.Abs(w[c * per + i]));
                wScale[c] = max > 0 ? max / WeightMax : 1f;
                for (int i = 0; i < per; i++) wq[c * per + i] = (sbyte)Math.Clamp(MathF.Round(w[c * per + i] / wScale[c], MidpointRounding.ToEven), -WeightMax, WeightMax);
            }
            var wqName = Fresh("w_int8");
            var wqT = new TensorProto { Name = wqName, DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(wq.AsSpan())) };
            wqT.Dims.AddRange(wT.Dims);
            g.Initializer.Add(wqT);
            var wsName = Fresh("w_scale");
            g.Initializer.Add(FloatTensor(wsName, [outC], wScale));
            var wzName = Fresh("w_zp");
            var wz = new TensorProto { Name = wzName, DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(new byte[outC]) };
            wz.Dims.Add(outC);
            g.Initializer.Add(wz);
            var wDq = Fresh("w_dq");
            added.Add(Node("DequantizeLinear", [wqName, wsName, wzName], wDq, Fresh("node"), axis: 0));
            conv.Input[1] = wDq;

            if (conv.Input.Count > 2 && conv.Input[2].Length > 0)
            {
                var b = ReadFloats(init[conv.Input[2]]);
                var xScale = q[conv.Input[0]].Scale;
                var bScale = new float[outC];
                var bq = new int[outC];
                for (int c = 0; c < outC; c++)
                {
                    bScale[c] = xScale * wScale[c];
                    bq[c] = (int)Math.Clamp(Math.Round(b[c] / (double)bScale[c], MidpointRounding.ToEven), int.MinValue + 1, int.MaxValue);
                }
                var bqName = Fresh("b_int32");
                var bqT = new TensorProto { Name = bqName, DataType = (int)DataType.Int32 };
                bqT.Dims.Add(outC);
                bqT.Int32Data.AddRange(bq);
                g.Initializer.Add(bqT);
                var bsName = Fresh("b_scale");
                g.Initializer.Add(FloatTensor(bsName, [outC], bScale));
                var bzName = Fresh("b_zp");
                var bz = new TensorProto { Name = bzName, DataType = (int)DataType.Int32 };
                bz.Dims.Add(outC);
                bz.Int32Data.AddRange(new int[outC]);
                g.Initializer.Add(bz);
                var bDq = Fresh("b_dq");
                added.Add(Node("DequantizeLinear", [bqName, bsName, bzName], bDq, Fresh("node"), axis: 0));
                conv.Input[2] = bDq;
            }
        }

        // MatMul weights [K,N]: per output column (axis 1), symmetric int8; no bias here (it is the following Add, float).
        foreach (var mm in plan.MatMuls)
        {
            var wT = init[mm.Input[1]];
            var w = ReadFloats(wT);
            int k = (int)wT.Dims[0], n = (int)wT.Dims[1];
            var wScale = new float[n];
            for (int c = 0; c < n; c++)
            {
                float max = 0;
                for (int r = 0; r < k; r++) max = Math.Max(max, Math.Abs(w[r * n + c]));
                wScale[c] = max > 0 ? max / WeightMax : 1f;
            }
            var wq = new sbyte[w.Length];
            for (int r = 0; r < k; r++)
                for (int c = 0; c < n; c++)
                    wq[r * n + c] = (sbyte)Math.Clamp(MathF.Round(w[r * n + c] / wScale[c], MidpointRounding.ToEven), -WeightMax, WeightMax);
            var wqName = Fresh("w_int8");
            var wqT = new TensorProto { Name = wqName, DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(wq.AsSpan())) };
            wqT.Dims.AddRange(wT.Dims);
            g.Initializer.Add(wqT);
            var wsName = Fresh("w_scale");
            g.Initializer.Add(FloatTensor(wsName, [n], wScale));
            var wzName = Fresh("w_zp");
            var wz = new TensorProto { Name = wzName, DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(new byte[n]) };
            wz.Dims.Add(n);
            g.Initializer.Add(wz);
            var wDq = Fresh("w_dq");
            added.Add(Node("DequantizeLinear", [wqName, wsName, wzName], wDq, Fresh("node"), axis: 1));
            mm.Input[1] = wDq;
        }

        // Activations: one Q after the producer, a dedicated DQ in front of each consumer (of a MatMul input: in
        // front of the quantised MatMuls only; its other consumers, e.g. Shape, keep the float tensor).
        var matMuls = plan.MatMuls.ToHashSet();
        foreach (var t in plan.Tensors)
        {
            var (scale, zero) = q[t];
            var s = Scalar(scale);
            var z = ZeroU8(zero);
            var quantised = Fresh("u8");
            added.Add(Node("QuantizeLinear", [t, s, z], quantised, Fresh("node")));
            foreach (var consumer in consumers.TryGetValue(t, out var cs) ? cs : [])
            {
                if (plan.MatMulOnly.Contains(t) && !matMuls.Contains(consumer)) continue;
                var dq = Fresh("dq");
                added.Add(Node("DequantizeLinear", [quantised, s, z], dq, Fresh("node")));
                for (int i = 0; i < consumer.Input.Count; i++) if (consumer.Input[i] == t) consumer.Input[i] = dq;
            }
        }
        g.Node.AddRange(added);
        TopologicalSort(g);
        DropUnusedInitializers(g);
        return m;
    }

    /// <summary>uint8 scale and zero point for a range; the range is widened to hold 0 (exactly representable, as ONNX requires).</summary>
    public static (float Scale, byte Zero) ActivationParams(float lo, float hi)
    {
        lo = Math.Min(lo, 0f);
        hi = Math.Max(hi, 0f);
        if (hi - lo < 1e-6f) hi = lo + 1e-6f;
        float scale = (hi - lo) / ActivationMax;
        var zero = (byte)Math.Clamp(MathF.Round(-lo / scale, MidpointRounding.ToEven), 0, ActivationMax);
        return (scale, zero);
    }

    sealed record QuantPlan(List<string> Tensors, List<NodeProto> Convs, List<(string Input, string Output)> SameParams,
        List<NodeProto> MatMuls, HashSet<string> MatMulOnly);

    /// <summary>Which Convs, Adds, MaxPools and MatMuls are quantised and which float tensors around them get Q/DQ.</summary>
    static QuantPlan Plan(GraphProto g)
    {
        var init = g.Initializer.ToDictionary(t => t.Name);
        var constants = g.Node.Where(n => n.OpType == "Constant").SelectMany(n => n.Output).ToHashSet();
        var types = ElementTypes(g);
        bool IsFloat(string t) => types.TryGetValue(t, out var e) && e == (int)DataType.Float;
        bool Activation(string t) => t.Length > 0 && !init.ContainsKey(t) && !constants.Contains(t) && IsFloat(t);
        var consumers = Consumers(g);
        var graphOutputs = g.Output.Select(o => o.Name).ToHashSet();
        var tensors = new List<string>();
        var seen = new HashSet<string>();
        var convs = new List<NodeProto>();
        var convOutputs = new HashSet<string>();
        var same = new List<(string, string)>();
        var matMuls = new List<NodeProto>();
        var matMulInputs = new HashSet<string>();
        void Add(string t) { if (!graphOutputs.Contains(t) && seen.Add(t)) tensors.Add(t); }
        // A quantised op's output as ORT wants it: after a Relu that is its only consumer (the Relu becomes redundant).
        string Recorded(NodeProto n)
        {
            var o = n.Output[0];
            return consumers.TryGetValue(o, out var cs) && cs.Count == 1 && cs[0].OpType == "Relu" && !graphOutputs.Contains(o) ? cs[0].Output[0] : o;
        }
        foreach (var n in g.Node)
        {
            switch (n.OpType)
            {
                case "Conv" when n.Input.Count >= 2 && init.TryGetValue(n.Input[1], out var w) && w.DataType == (int)DataType.Float
                                 && Activation(n.Input[0]) && IsFloat(n.Output[0]):
                    convs.Add(n);
                    Add(n.Input[0]);
                    Add(Recorded(n));
                    convOutputs.Add(n.Output[0]);
                    convOutputs.Add(Recorded(n));
                    break;
                // A residual Add behind a quantised Conv (ResNet's blocks) runs as QLinearAdd. Other Adds stay float:
                // a transformer's residual stream has outliers a per-tensor uint8 step cannot hold.
                case "Add" when n.Input.Count == 2 && Activation(n.Input[0]) && Activation(n.Input[1])
                                && (convOutputs.Contains(n.Input[0]) || convOutputs.Contains(n.Input[1])):
                    Add(n.Input[0]);
                    Add(n.Input[1]);
                    Add(Recorded(n));
                    convOutputs.Add(Recorded(n));
                    break;
                case "MatMul" when n.Input.Count == 2 && Activation(n.Input[0]) && init.TryGetValue(n.Input[1], out var b)
                                   && b.DataType == (int)DataType.Float && b.Dims.Count == 2:
                    matMuls.Add(n);
                    matMulInputs.Add(n.Input[0]);
                    break;
                // Gemm is rewritten as MatMul + Add by Apply (GemmToMatMul); its input is calibrated as the MatMul's.
                case "Gemm" when GemmWeight(n, init) is not null && Activation(n.Input[0]):
                    matMulInputs.Add(n.Input[0]);
                    break;
            }
        }
        // A MaxPool between quantised tensors (ResNet's stem) runs on uint8 with its input's parameters.
        foreach (var n in g.Node.Where(n => n.OpType == "MaxPool" && n.Output.Count == 1 && seen.Contains(n.Output[0])))
        {
            Add(n.Input[0]);
            same.Add((n.Input[0], n.Output[0]));
        }
        var matMulOnly = new HashSet<string>();
        foreach (var t in matMulInputs) if (!seen.Contains(t)) { Add(t); matMulOnly.Add(t); }
        return new(tensors, convs, same, matMuls, matMulOnly);
    }

    /// <summary>The float 2-D weight of a Gemm that is exactly MatMul(A, B or B^T) + C (alpha 1, beta 1, no transA), else null.</summary>
    static TensorProto? GemmWeight(NodeProto n, IReadOnlyDictionary<string, TensorProto> init)
    {
        float Attr(string name, float fallback) => n.Attribute.FirstOrDefault(a => a.Name == name)?.F ?? fallback;
        long IntAttr(string name) => n.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? 0;
        if (n.Input.Count < 2 || Attr("alpha", 1f) != 1f || Attr("beta", 1f) != 1f || IntAttr("transA") != 0) return null;
        return init.TryGetValue(n.Input[1], out var w) && w.DataType == (int)DataType.Float && w.Dims.Count == 2 ? w : null;
    }

    /// <summary>
    /// Rewrites each eligible Gemm (see <see cref="GemmWeight"/>) as Reshape(A, [1,-1,K]) -> MatMul(W [K,N]) -> Add(C)
    /// -> Reshape([-1,N]). The 3-D form keeps ONNX Runtime's MatMul+Add -> Gemm fusion (which runs before its QDQ
    /// fusions) away, so DQ -> MatMul becomes MatMulIntegerToFloat. Returns each reshaped input's original name: the
    /// values are the same, so is the calibrated range.
    /// </summary>
    static Dictionary<string, string> GemmToMatMul(GraphProto g)
    {
        var init = g.Initializer.ToDictionary(t => t.Name);
        var aliases = new Dictionary<string, string>();
        var nodes = g.Node.ToList();
        var result = new List<NodeProto>(nodes.Count);
        int counter = 0;
        NodeProto Make(string op, string name, string output, params string[] inputs)
        {
            var n = new NodeProto { OpType = op, Name = name };
            n.Input.AddRange(inputs);
            n.Output.Add(output);
            return n;
        }
        string Shape(string name, long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
            t.Dims.Add(dims.Length);
            t.Int64Data.AddRange(dims);
            g.Initializer.Add(t);
            return name;
        }
        foreach (var n in nodes)
        {
            if (n.OpType != "Gemm" || GemmWeight(n, init) is not { } w) { result.Add(n); continue; }
            var name = $"pcam_gemm_{counter++}";
            var weight = n.Input[1];
            bool transB = (n.Attribute.FirstOrDefault(a => a.Name == "transB")?.I ?? 0) != 0;
            long k = transB ? w.Dims[1] : w.Dims[0], cols = transB ? w.Dims[0] : w.Dims[1];
            if (transB)
            {
                var v = ReadFloats(w);
                var t = new float[v.Length];
                for (long r = 0; r < cols; r++) for (long c = 0; c < k; c++) t[c * cols + r] = v[r * k + c];
                weight = name + "_weight";
                g.Initializer.Add(FloatTensor(weight, [k, cols], t));
            }
            var a3 = name + "_input";
            result.Add(Make("Reshape", name + "_reshape_in", a3, n.Input[0], Shape(name + "_shape_in", [1, -1, k])));
            aliases[a3] = n.Input[0];
            bool bias = n.Input.Count > 2 && n.Input[2].Length > 0;
            result.Add(Make("MatMul", name + "_matmul", name + "_product", a3, weight));
            var last = name + "_product";
            if (bias)
            {
                result.Add(Make("Add", name + "_bias", name + "_sum", last, n.Input[2]));
                last = name + "_sum";
            }
            result.Add(Make("Reshape", name + "_reshape_out", n.Output[0], last, Shape(name + "_shape_out", [-1, cols])));
        }
        g.Node.Clear();
        g.Node.AddRange(result);
        return aliases;
    }

    /// <summary>
    /// Element type of every tensor, inferred in graph order from the inputs, initializers, declared value infos and
    /// each op's rule (Shape -> int64, Cast -> its 'to', comparisons -> bool, most ops -> their first input's type).
    /// A tensor missing from the result has an unknown type and is never quantised.
    /// </summary>
    internal static Dictionary<string, int> ElementTypes(GraphProto g)
    {
        const int Int64 = (int)DataType.Int64, Bool = (int)DataType.Bool, Float = (int)DataType.Float;
        var types = new Dictionary<string, int>();
        foreach (var i in g.Input) if (i.Type?.TensorType is { ElemType: > 0 } tt) types[i.Name] = tt.ElemType;
        foreach (var i in g.Initializer) types[i.Name] = i.DataType;
        var declared = new Dictionary<string, int>();
        foreach (var v in g.ValueInfo) if (v.Type?.TensorType is { ElemType: > 0 } tt) declared[v.Name] = tt.ElemType;
        foreach (var n in g.Node)
        {
            int? In(int k) => n.Input.Count > k && types.TryGetValue(n.Input[k], out var e) ? e : null;
            AttributeProto? Attr(string name) => n.Attribute.FirstOrDefault(a => a.Name == name);
            int? first = n.OpType switch
            {
                "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => Int64,
                "Cast" => (int?)Attr("to")?.I,
                "CastLike" => In(1),
                "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "Not" or "And" or "Or" or "Xor"
                    or "IsNaN" or "IsInf" => Bool,
                "Constant" => Attr("value")?.T is { } t ? t.DataType
                    : Attr("value_float") is not null || Attr("value_floats") is not null ? Float
                    : Attr("value_int") is not null || Attr("value_ints") is not null ? Int64 : null,
                "ConstantOfShape" => Attr("value")?.T?.DataType ?? Float,
                "Where" => In(1) ?? In(2),
                "DequantizeLinear" => Float,
                "QuantizeLinear" => In(2) ?? (int)DataType.Uint8,
                _ => In(0),
            };
            for (int k = 0; k < n.Output.Count; k++)
            {
                var o = n.Output[k];
                if (o.Length == 0) continue;
                int? type = k == 0 ? first : n.OpType is "TopK" or "MaxPool" or "Unique" ? Int64 : first;
                if (declared.TryGetValue(o, out var d)) type = d;
                if (type is { } t) types[o] = t;
            }
        }
        return types;
    }

    static NodeProto Node(string op, string[] inputs, string output, string name, long? axis = null)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        if (axis is { } a) n.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = a });
        return n;
    }

    static Dictionary<string, List<NodeProto>> Consumers(GraphProto g)
    {
        var d = new Dictionary<string, List<NodeProto>>();
        foreach (var n in g.Node)
            foreach (var i in n.Input.Distinct())
                if (i.Length > 0) { if (!d.TryGetValue(i, out var l)) d[i] = l = []; l.Add(n); }
        return d;
    }

    static Dictionary<string, NodeProto> Producers(GraphProto g)
    {
        var d = new Dictionary<string, NodeProto>();
        foreach (var n in g.Node) foreach (var o in n.Output) d[o] = n;
        return d;
    }

    /// <summary>Orders nodes so each comes after the producers of its inputs (stable: keeps the original order where free).</summary>
    static void TopologicalSort(GraphProto g)
    {
        var nodes = g.Node.ToList();
        var producer = new Dictionary<string, int>();
        for (int i = 0; i < nodes.Count; i++) foreach (var o in nodes[i].Output) producer[o] = i;
        var state = new byte[nodes.Count];
        var order = new List<NodeProto>(nodes.Count);
        for (int i = 0; i < nodes.Count; i++) Visit(i);
        g.Node.Clear();
        g.Node.AddRange(order);

        void Visit(int root)
        {
            if (state[root] != 0) return;
            var stack = new Stack<(int Node, int Next)>();
            stack.Push((root, 0));
            state[root] = 1;
            while (stack.Count > 0)
            {
                var (n, next) = stack.Pop();
                var inputs = nodes[n].Input;
                bool pushed = false;
                for (int k = next; k < inputs.Count; k++)
                {
                    if (!producer.TryGetValue(inputs[k], out var p) || state[p] == 2) continue;
                    if (state[p] == 1) throw new InvalidOperationException($"Graph has a cycle at '{inputs[k]}'.");
                    stack.Push((n, k + 1));
                    stack.Push((p, 0));
                    state[p] = 1;
                    pushed = true;
                    break;
                }
                if (pushed) continue;
                state[n] = 2;
                order.Add(nodes[n]);
            }
        }
    }

    static void DropUnusedInitializers(GraphProto g)
    {
        var used = g.Node.SelectMany(n => n.Input).Concat(g.Output.Select(o => o.Name)).ToHashSet();
        var keep = g.Initializer.Where(t => used.Contains(t.Name)).ToList();
        g.Initializer.Clear();
        g.Initializer.AddRange(keep);
    }

    internal static float[] ReadFloats(TensorProto t)
    {
        if (t.DataType != (int)DataType.Float) throw new InvalidDataException($"Initializer '{t.Name}' is {(DataType)t.DataType}, expected float.");
        if (t.FloatData.Count > 0) return t.FloatData.ToArray();
        return MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
    }

    static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(dims);
        return t;
    }
}
