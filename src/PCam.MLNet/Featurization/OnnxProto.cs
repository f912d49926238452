using Google.Protobuf;
using Onnx;

namespace PCam.MLNet.Featurization;

/// <summary>Small helpers to append nodes and constants to an ONNX GraphProto.</summary>
internal sealed class GraphWriter(GraphProto graph, string prefix)
{
    int _counter;
    readonly List<NodeProto> _pre = [];

    public GraphProto Graph => graph;

    public string Fresh(string hint) => $"{prefix}{hint}_{_counter++}";

    /// <summary>Nodes that must run before the backbone are collected and inserted at the front (keeps topological order).</summary>
    public string Node(string op, IEnumerable<string> inputs, string hint, bool before = false, params AttributeProto[] attributes)
    {
        var output = Fresh(hint);
        NodeTo(op, inputs, output, before, attributes);
        return output;
    }

    public void NodeTo(string op, IEnumerable<string> inputs, string output, bool before = false, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = prefix + op + "_" + _counter++ };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        if (before) _pre.Add(node); else graph.Node.Add(node);
    }

    public void FlushPreprocessing()
    {
        for (int i = _pre.Count - 1; i >= 0; i--) graph.Node.Insert(0, _pre[i]);
        _pre.Clear();
    }

    public string Floats(string hint, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        graph.Initializer.Add(t);
        return t.Name;
    }

    public string Int64s(string hint, params long[] values)
    {
        var t = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        graph.Initializer.Add(t);
        return t.Name;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }
    public static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    public static ValueInfoProto TensorInfo(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
